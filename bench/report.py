"""results.json, results.md and the plots: every figure beside its floor, the ratio, the goal, PASS/MISS."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# (figure, floor or None, goal text, test) — the goals of issues 8 and 4.
Test = Callable[[float, float | None], bool]


@dataclass(frozen=True)
class Goal:
    key: str
    floor: str | None
    text: str
    test: Test | None
    source: str = "issue 8"


GOALS: tuple[Goal, ...] = (
    Goal("match_worker_p50_ms", "match_floor_p50_ms", "—", None),
    Goal("match_worker_p99_ms", "match_floor_ms", "≤ 50 ms and ≤ 3 × floor + 5 ms",
         lambda v, f: v <= 50 and f is not None and v <= 3 * f + 5),
    Goal("match_vacancy_p99_ms", "match_vacancy_floor_ms", "≤ 50 ms", lambda v, f: v <= 50, "issue 4"),
    Goal("match_http_p99_ms", "http_floor_p99_ms", "—", None),
    Goal("event_to_rankable_p99_ms", "broker_e2e_p99_ms", "≤ 1000 ms", lambda v, f: v <= 1000),
    Goal("pipeline_events_per_s", "raw_consume_per_s", "≥ 0.5 × floor",
         lambda v, f: f is not None and v >= 0.5 * f),
    Goal("decode_only_per_s", "raw_consume_per_s", "— (a ceiling: decoding alone)", None),
    Goal("write_api_rps", "bare_write_rps", "≥ 0.6 × floor", lambda v, f: f is not None and v >= 0.6 * f),
    Goal("write_api_p99_ms", "bare_write_p99_ms", "—", None),
    Goal("import_10k_rows_s", None, "≤ 20 s", lambda v, f: v <= 20),
    Goal("index_rss_mb", None, "≤ 2048 MiB", lambda v, f: v <= 2048),
    Goal("retrain_200k_s", None, "< 60 s", lambda v, f: v < 60, "issue 4"),
    Goal("console_page_p95_ms", "console_floor_p95_ms", "≤ 1.5 × floor + 50 ms",
         lambda v, f: f is not None and v <= 1.5 * f + 50, "issue 14"),
)


def evaluate(results: Mapping) -> list[dict]:
    rows = []
    for g in GOALS:
        value = results.get(g.key)
        floor = results.get(g.floor) if g.floor else None
        ratio = round(value / floor, 2) if isinstance(value, int | float) and floor else None
        verdict = None
        if g.test is not None and isinstance(value, int | float):
            verdict = "PASS" if g.test(value, floor) else "MISS"
        elif g.test is not None:
            verdict = "NOT MEASURED"
        rows.append({"key": g.key, "value": value, "floor_key": g.floor, "floor": floor, "ratio": ratio,
                     "goal": g.text, "source": g.source, "result": verdict})
    quality = results.get("quality")
    if isinstance(quality, Mapping) and "goals" in quality:
        # Issue 13's goals, evaluated by services.matching.evaluation.quality.goals from this run's numbers.
        for g in quality["goals"]:
            rows.append({"key": "quality: " + g["goal"], "value": g["value"], "floor_key": None, "floor": None,
                         "ratio": None, "source": "issue 13", "goal": "see figure", "result": g["result"]})
    elif isinstance(quality, Mapping) and "jobbridge_beats_baselines" in quality:
        beats = quality["jobbridge_beats_baselines"]
        rows.append({"key": "quality", "value": ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in beats.items()),
                     "floor_key": None, "floor": None, "ratio": None, "source": "issue 4",
                     "goal": "jobbridge beats BM25 and TF-IDF on every data set",
                     "result": "PASS" if all(beats.values()) else "MISS"})
        fairness = quality.get("fairness", {})
        without = next((f for k, f in fairness.items() if "without" in k), None)
        if without and without.get("impact_ratio") is not None:
            rows.append({"key": "4050 impact ratio without boost", "value": without["impact_ratio"],
                         "floor_key": None, "floor": None, "ratio": None, "source": "issue 4", "goal": "≥ 0.8",
                         "result": "PASS" if without["impact_ratio"] >= 0.8 else "MISS"})
    return rows


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def write_json(path: Path, results: Mapping) -> None:
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def markdown(results: Mapping, *, quality_md: str | None, images: Sequence[str]) -> str:
    run, m = results["run"], results["machine"]
    lines = [
        "# jobbridge benchmark results",
        "",
        f"`make bench{'-quick' if run['mode'] == 'quick' else ''}` ({run['mode']} mode), run `{run['id']}`, "
        f"{run['started_at']} → {run['finished_at']} ({run['seconds']:.0f} s).",
        "",
        f"**Machine:** {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GiB memory, {m['os']}, Python "
        f"{m['python']}, broker {m['broker']} (memory storage), SQLite databases. Libraries: "
        + ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v) + ".",
        "",
        f"**Same run:** every figure and its floor below come from this one run (`{run['id']}`), on the same "
        "machine, minutes apart at most; the latency pairs were measured interleaved (figure and floor "
        "alternating query by query), the write pair in alternating rounds, the consume pair on the same topic "
        "before and after. Dividing by the floor is what makes a figure comparable across machines and loads.",
        "",
    ]
    load = run.get("loadavg", {})
    peak = max((max(v) for v in load.values() if v), default=0.0)
    before = run.get("loadavg_at_start")
    if before is not None and before >= 0.5 * (m["cores"] or 1):
        lines += [f"**Load warning:** the 1-minute load average was {before:.1f} on {m['cores']} cores before the "
                  "bench started anything: other processes shared the machine, so absolute figures are noisy; "
                  "the ratios to the floors are the meaningful part.", ""]
    elif before is not None:
        lines += [f"**Load:** {before:.1f} (1-minute average) before the bench started anything; up to {peak:.1f} "
                  "during the run, from the bench's own processes (broker, services, load generators).", ""]
    elif peak > (m["cores"] or 1):
        lines += [f"**Load warning:** the 1-minute load average reached {peak:.1f} on {m['cores']} cores during "
                  "this run (the bench's own processes included).", ""]
    for notice in results.get("notices") or []:
        lines += [f"**Notice:** {notice}", ""]
    if results.get("errors"):
        lines += ["**Errors:** " + "; ".join(f"{k}: {v}" for k, v in results["errors"].items()), ""]
    lines += ["## Figures beside their floors", "",
              "| figure | value | floor | floor value | ratio | goal | result |",
              "|---|---:|---|---:|---:|---|---|"]
    for r in results["goals"]:
        goal = f"{r['goal']} ({r['source']})" if r["result"] else r["goal"]
        result = {"PASS": "PASS", "MISS": "**MISS**"}.get(r["result"], r["result"] or "")
        lines.append(f"| `{r['key']}` | {_fmt(r['value'])} | {('`' + r['floor_key'] + '`') if r['floor_key'] else '—'} "
                     f"| {_fmt(r['floor'])} | {_fmt(r['ratio'])} | {goal} | {result} |")
    lines += ["", "Units: `_ms` milliseconds, `_s` seconds, `_per_s`/`_rps` per second, `_mb` MiB. "
              "Latency floors are the same percentile as the figure (p99 beside p99).", ""]
    scaling = results.get("scaling", {}).get("points")
    if scaling:
        lines += ["## Scaling (bare index, 20,000 vacancies, workers growing)", "",
                  "| workers | load s | index MiB | matrices MiB | worker p50 / p99 ms | floor p50 / p99 ms "
                  "| vacancy p50 / p99 ms | floor p50 / p99 ms |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in scaling:
            def pp(s):
                return f"{s['p50']:.2f} / {s['p99']:.2f}"
            lines.append(f"| {p['workers']:,} | {p['load_s']:.1f} | {p['index_mb']:.0f} | {p['matrix_mb']:.0f} "
                         f"| {pp(p['match_worker_ms'])} | {pp(p['floor_worker_ms'])} | {pp(p['match_vacancy_ms'])} "
                         f"| {pp(p['floor_vacancy_ms'])} |")
        lines.append("")
    for image in images:
        lines += [f"![{image}]({image})", ""]
    if results.get("profiles"):
        lines += ["## What limits the missed goals", ""]
        for key, prof in results["profiles"].items():
            lines += [f"### `{key}`", "", prof["summary"], "", "Top frames (pyinstrument):", "", "```",
                      prof["frames"].rstrip(), "```", ""]
    if quality_md:
        lines += ["## Quality (services.matching.evaluation)", "", quality_md, ""]
    lines += ["## How each figure was measured", ""]
    lines += [f"- `{k}`: {v}" for k, v in results.get("definitions", {}).items()]
    lines += ["", "Design and reasons: docs/decisions/0009-bench.md. Detailed numbers (all percentiles, sample "
              "counts, per-round figures, process sizes): `bench/results.json`.", ""]
    return "\n".join(lines)


def plot_scaling(path: Path, points: Sequence[Mapping]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [p["workers"] for p in points]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = (("match_worker_ms", "vacancies for a worker", "o-"),
              ("floor_worker_ms", "  its floor (bare product + top-k)", "o--"),
              ("match_vacancy_ms", "workers for a vacancy", "s-"),
              ("floor_vacancy_ms", "  its floor (bare product + top-k)", "s--"))
    for i, (key, label, style) in enumerate(series):
        ax1.plot(n, [p[key]["p99"] for p in points], style, color=f"C{i}", label=f"{label}, p99")
        ax1.plot(n, [p[key]["p50"] for p in points], style, color=f"C{i}", alpha=0.3, label=f"{label}, p50")
    ax1.set(xscale="log", yscale="log", xlabel="active workers (20,000 vacancies)", ylabel="ms",
            title="top-20 latency vs N")
    ax1.axhline(50, color="red", lw=0.8, ls=":", label="goal 50 ms")
    ax1.legend(fontsize=7)
    ax1.grid(True, which="both", alpha=0.3)
    ax2.plot(n, [p["index_mb"] for p in points], "o-", label="index, workers + 20k vacancies (RSS growth)")
    ax2.plot(n, [p["matrix_mb"] for p in points], "o--", label="sparse matrices alone")
    ax2.axhline(2048, color="red", lw=0.8, ls=":", label="goal 2 GiB")
    ax2.set(xscale="log", yscale="log", xlabel="active workers (20,000 vacancies)", ylabel="MiB",
            title="memory vs N")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histograms(path: Path, pairs: Sequence[tuple[str, Sequence[float], str, Sequence[float]]]) -> None:
    """One panel per figure, its floor's histogram drawn over it (log-spaced bins)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pairs = [p for p in pairs if len(p[1])]
    cols = 2
    rows = max(1, (len(pairs) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.4 * rows), squeeze=False)
    for ax, (label, values, floor_label, floor) in zip(axes.flat, pairs, strict=False):
        both = np.concatenate([np.asarray(values, float), np.asarray(floor, float)]) if len(floor) else np.asarray(values)
        lo, hi = max(both.min(), 1e-3), both.max()
        bins = np.logspace(np.log10(lo), np.log10(hi * 1.01), 50)
        ax.hist(values, bins=bins, alpha=0.65, label=f"{label} (p99 {np.percentile(values, 99):.1f} ms)")
        if len(floor):
            ax.hist(floor, bins=bins, alpha=0.65, label=f"{floor_label} (p99 {np.percentile(floor, 99):.1f} ms)")
        ax.set(xscale="log", xlabel="ms", ylabel="requests")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
