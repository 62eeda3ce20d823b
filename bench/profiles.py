"""Profiles taken when a goal is missed: the same code path, in-process, under pyinstrument.

Each returns {"what", "summary", "frames"}: what was run, where the time went by library (from the profile's
own-time samples, not a guess), and the hottest frames (flat, by own time) followed by the trimmed call tree.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

from shared.devstack import ROOT

_STDLIB = os.path.dirname(os.__file__)


def _package(path: str | None) -> str:
    if not path:
        return "C code (builtins, sqlite3, cryptography)"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    root = str(ROOT) + "/"
    if path.startswith(root):
        parts = path[len(root):].split("/")
        return "/".join(parts[:2]) if parts[0] in ("services", "shared") else parts[0]
    if path.startswith(_STDLIB):
        return "stdlib " + path[len(_STDLIB) + 1 :].split("/", 1)[0].removesuffix(".py")
    if path.startswith("<"):
        return "C code (builtins, sqlite3, cryptography)" if path == "<built-in>" else "generated code"
    return path


def _by_package(root) -> list[tuple[str, float]]:
    acc: Counter = Counter()
    stack = [root]
    while stack:
        frame = stack.pop()
        if frame.is_synthetic and frame.function == "[self]":
            parent = frame.parent
            acc[_package(parent.file_path if parent is not None else None)] += frame.time
        stack.extend(frame.children)
    total = sum(acc.values()) or 1.0
    return [(pkg, t / total) for pkg, t in acc.most_common(8)]


def _profile(fn: Callable[[], None], *, what: str, per: int, unit: str) -> dict:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    t0 = time.perf_counter()
    profiler.start()
    try:
        fn()
    finally:
        profiler.stop()
    seconds = time.perf_counter() - t0
    session = profiler.last_session
    shares = _by_package(session.root_frame())
    flat = profiler.output_text(unicode=False, color=False, flat=True, time="percent_of_total")
    flat_lines = [ln for ln in flat.splitlines() if "%" in ln][:15]
    tree = profiler.output_text(unicode=False, color=False, time="percent_of_total")
    tree_lines = [ln for ln in tree.splitlines()[7:] if ln.strip()][:45]
    return {
        "what": f"{what}; {seconds / per * 1000:.2f} ms per {unit} under the profiler, "
                f"CPU {session.cpu_time / per * 1000:.2f} ms per {unit}",
        "by_package": [{"package": p, "share": round(s, 3)} for p, s in shares],
        "where": ", ".join(f"{p} {s:.0%}" for p, s in shares[:6]),
        "frames": "own time, hottest first:\n" + "\n".join(flat_lines) + "\n\ncall tree (trimmed):\n"
                  + "\n".join(tree_lines),
    }


def _env(work: Path) -> dict[str, str]:
    return {"JOBBRIDGE_DATA_DIR": str(work), "JOBBRIDGE_ENV": "development", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "JOBBRIDGE_LOG_LEVEL": "WARNING", "JOBBRIDGE_RATE_LIMIT_WRITES": "1000000/minute"}


def pipeline(work: Path, *, events: int = 3000) -> dict:
    """The matching consumer's decode + apply_batch (poll excluded) on a fresh database, 500 per batch."""
    from bench import data
    from services.matching import bootstrap
    from services.matching.adapters.tables import inbox
    from services.matching.consumer import BULK, handle
    from shared.bus.consumer import EventConsumer
    from shared.config import default_database_url, load_settings
    from shared.db import migrate
    from shared.events import TOPIC_WORKERS, encode, make_event

    work.mkdir(parents=True, exist_ok=True)
    env = _env(work)
    migrate("matching", default_database_url("matching", work))
    settings = load_settings("matching", env)
    container = bootstrap.build(settings)
    consumer = EventConsumer(settings=settings, group_id="bench-profile", topics=[TOPIC_WORKERS],
                             factory=container.factory, inbox=inbox, handle=handle, bulk=BULK)

    class Record:
        topic, partition, offset, key, headers = TOPIC_WORKERS, 0, 0, None, []

        def __init__(self, value: bytes):
            self.value = value

    records = [Record(encode(make_event("WorkerRegistered", p, producer="intake")))
               for p in data.worker_payloads(events, today=date.today(), seed=29)]

    def run() -> None:
        for i in range(0, len(records), 500):
            consumer.apply_batch([consumer._decode(r) for r in records[i : i + 500]])

    try:
        return _profile(run, what=f"{events} WorkerRegistered events decoded and applied by "
                                  "`EventConsumer.apply_batch` with matching's handler, 500 per batch (SQLite)",
                        per=events, unit="event")
    finally:
        container.engine.dispose()


def _with_intake(work: Path, take: Callable) -> dict:
    """Run `take(client, headers)` against intake's Flask app on a fresh database, as an admin."""
    from services.intake.http import create_app
    from shared.auth import issue_token
    from shared.config import default_database_url, load_settings
    from shared.db import migrate

    work.mkdir(parents=True, exist_ok=True)
    env = _env(work)
    migrate("intake", default_database_url("intake", work))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = load_settings("intake", env)
        app = create_app(settings)
        token = issue_token(secret=settings.secret, role="admin", sub="bench-profile", ttl_s=3600,
                            issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        return take(app.test_client(), {"Authorization": f"Bearer {token}"})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write(work: Path, *, requests: int = 600) -> dict:
    """`POST /workers` through intake's Flask app in-process (no gunicorn, no network), fresh SQLite database."""
    from bench import data

    bodies = [json.dumps(b, ensure_ascii=False).encode() for b in data.worker_bodies(requests + 50, today=date.today())]

    def take(client, headers) -> dict:
        def post(body: bytes) -> None:
            response = client.post("/workers", data=body, headers=headers, content_type="application/json")
            if response.status_code != 201:
                raise RuntimeError(f"POST /workers answered {response.status_code}: {response.data[:200]!r}")

        for body in bodies[:50]:
            post(body)

        def run() -> None:
            for body in bodies[50:]:
                post(body)

        return _profile(run, what=f"{requests} `POST /workers` through intake's Flask app in-process (test client, "
                                  "fresh SQLite database, no gunicorn or network)", per=requests, unit="request")

    return _with_intake(work, take)


def match(call: Callable[[str], object], ids: list[str]) -> dict:
    """The in-process handler call on the same workers as the measurement."""

    def run() -> None:
        for i in ids:
            call(i)

    return _profile(run, what=f"{len(ids)} `MatchingService.matches_for_worker(limit=20)` calls in-process",
                    per=len(ids), unit="query")


def import_xlsx(work: Path, xlsx: bytes, rows: int) -> dict:
    """`POST /workers/import` of the same XLSX through intake's Flask app in-process, fresh SQLite database."""
    import io

    def post(client, headers) -> None:
        response = client.post("/workers/import", headers=headers, content_type="multipart/form-data",
                               data={"consent": "false", "file": (io.BytesIO(xlsx), "workers.xlsx")})
        if response.status_code != 200:
            raise RuntimeError(f"import answered {response.status_code}: {response.data[:200]!r}")

    return _with_intake(work, lambda client, headers: _profile(
        lambda: post(client, headers), what=f"one `POST /workers/import` of the first {rows} rows of the XLSX through "
        "intake's Flask app in-process (test client, fresh SQLite database)", per=rows, unit="row"))


def summarise(key: str, results: Mapping, prof: dict) -> str:
    """One paragraph: the figure, its floor and goal, and where the profile says the time goes."""
    from bench.report import GOALS

    goal = next(g for g in GOALS if g.key == key)
    v = results.get(key)
    f = results.get(goal.floor) if goal.floor else None
    against = f" against a floor (`{goal.floor}`) of {f}, ratio {v / f:.3f}" if isinstance(v, int | float) and f else ""
    return (f"Measured {v}{against}; goal {goal.text}. Profile: {prof['what']}. Own time by library: "
            f"{prof['where']}.")


if __name__ == "__main__":  # pragma: no cover - a manual aid: python -m bench.profiles pipeline|write DIR
    which, folder = sys.argv[1], Path(sys.argv[2])
    out = {"pipeline": pipeline, "write": write}[which](folder)
    print(out["what"], out["where"], out["frames"], sep="\n\n")
