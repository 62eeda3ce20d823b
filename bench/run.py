"""`python -m bench.run [--quick]`: measure the system, each figure beside its floor, in one run.

Starts a broker and the services on 127.0.0.1 (free ports, a temporary data folder), pre-fills matching's
read model with 100,000 workers × 20,000 vacancies from the demo generator, measures, writes
bench/results.json, bench/results.md and bench/*.png, and stops every process it started, whatever happens.
Every load generator is bounded in count and in time. Definitions: docs/decisions/0009-bench.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from tqdm import tqdm

from bench import bus_bench, data, index_bench, machine, procs, profiles, report
from bench.httpclient import Client, post_load
from bench.stats import loadavg, summary
from shared.config import default_database_url, load_settings
from shared.devstack import ROOT, Proc, Stack, free_port, wait_http

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    mode: str
    queries: int  # in-process queries per side
    http_queries: int
    e2e_samples: int
    write_rounds: int
    write_round_s: float
    write_round_max: int
    pipeline_events: int
    scaling: tuple[int, ...]
    scaling_queries: int
    scaling_timeout_s: float
    quality: dict = field(default_factory=dict)
    workers: int = 100_000
    vacancies: int = 20_000
    write_threads: int = 8  # = gunicorn's 2 workers × 4 threads: every slot busy, none queued for long
    import_rows: int = 10_000
    retrain_outcomes: int = 200_000
    profile_requests: int = 600  # sizes of the profiles taken when a goal is missed
    profile_events: int = 3_000


QUICK = Plan(mode="quick", queries=300, http_queries=300, e2e_samples=100, write_rounds=2, write_round_s=6,
             write_round_max=2000, pipeline_events=5_000, scaling=(10_000, 100_000), scaling_queries=200,
             scaling_timeout_s=300, profile_requests=200, profile_events=1_500, quality={"quick": True})
FULL = Plan(mode="full", queries=2_000, http_queries=2_000, e2e_samples=300, write_rounds=3, write_round_s=20,
            write_round_max=8_000, pipeline_events=20_000, scaling=(10_000, 30_000, 100_000, 300_000, 1_000_000),
            scaling_queries=500, scaling_timeout_s=1800, quality={})

DEFINITIONS = {
    "match_worker_p50_ms / match_worker_p99_ms": "`MatchingService.matches_for_worker(limit=20)` in-process — "
    "the call the HTTP view makes, including its catch-up read of the change log — for sampled workers, "
    "with the service loaded from a read model of 100,000 workers × 20,000 vacancies (SQLite).",
    "match_floor_ms / match_floor_p50_ms": "`MatchIndex.floor_query_worker`: the bare sparse product of the "
    "worker's row with the vacancy matrix + argpartition top-20, for the same workers, interleaved (p99 / p50).",
    "match_vacancy_p99_ms / match_vacancy_floor_ms": "the same for `matches_for_vacancy` and "
    "`floor_query_vacancy` (the worker matrix).",
    "match_http_p99_ms / http_floor_p99_ms": "`GET /workers/{id}/matches?limit=20` through the matching "
    "service's gunicorn (admin token: authentication, authorization, schema, JSON), one keep-alive client, "
    "interleaved with `GET /ping` of a bare Flask app (bench/floor_app.py) run with the very same gunicorn argv.",
    "event_to_rankable_p99_ms / broker_e2e_p99_ms": "from intake's 201 to the first `GET "
    "/workers/{id}/matches` that answers 200 (polled every 10 ms), three services + broker running, sequential "
    "registrations; interleaved with one record produced (the product's producer) and read back by a bare "
    "kafka-python consumer (fetch_max_wait_ms=10) on the same broker.",
    "pipeline_events_per_s / raw_consume_per_s": "WorkerRegistered events pre-produced to a fresh broker; the "
    "matching worker (`--only consumer`: decode, inbox, read model, change log) started on an empty database, "
    "its inbox counted every 20 ms, rate from the first applied rows to the last; the floor: a bare consumer "
    "(no group, no decoding) reading the same topic with the same fetch settings, from its first poll to the "
    "last record (the better of a read before and one after the pipeline).",
    "decode_only_per_s": "`shared.events.decode` alone (JSON + the payload loader compiled from the schema) on the same kind of "
    "events, in-process: the ceiling of any consumer of ours before it stores anything.",
    "write_api_rps / write_api_p99_ms / bare_write_rps": "`POST /workers` (validation, encryption, DB, "
    "outbox, audit) through intake's gunicorn from 8 keep-alive client threads, bounded in count and time, vs "
    "`POST /write` of the bare app (marshmallow load + one SQLite insert, same gunicorn argv), rounds "
    "alternating; the system's workers (relay, consumers) run meanwhile, as in production.",
    "import_10k_rows_s": "`POST /workers/import` of a 10,000-row XLSX (Chinese headers, built with openpyxl "
    "from the demo generator), wall time of the request.",
    "index_rss_mb": "VmRSS of the larger matching gunicorn worker (each worker holds its own index) after the "
    "HTTP measurements, at 100,000 × 20,000.",
    "retrain_200k_s": "`ranker.retrain` (train on 80 %, held-out AUC of candidate and current) on 200,000 "
    "synthetic outcomes with known hidden preferences.",
    "scaling": "each point in a fresh subprocess: a bare `MatchIndex` bulk-loaded from the demo generator; "
    "memory = RSS growth over the load.",
    "quality": "`services.matching.evaluation.run_quality` (docs/decisions/0011): the development split of "
    "real posting titles (REPORT part) in both directions against four baselines with bootstrap intervals, "
    "the circular CSCO-22 names-vs-aliases sanity row, ESCO over 10 samples, learning against hidden traits, "
    "fairness with equal experience; quick mode samples 400 CSCO-22 occupations for the circular row and runs "
    "smaller learning and fairness simulations (the development split and ESCO are the same).",
}


def _goal_factor(key: str) -> float | None:
    """The factor of a "≥ F × floor" goal, read from the goals themselves (bench/report.py)."""
    import re

    goal = next((g for g in report.GOALS if g.key == key), None)
    found = re.search(r"([0-9.]+) × floor", goal.text) if goal else None
    return float(found.group(1)) if found else None


def _ratio_text(r: dict, key: str, floor_key: str) -> str:
    got, floor = r.get(key), r.get(floor_key)
    if not (got and floor):
        return ""
    return f"This run: {got:,.1f} against a floor of {floor:,.1f} (`{floor_key}`), {got / floor:.2f} × the floor. "


# Every number in these texts is computed from this run's results or read from the code and the goals: the
# heading they appear under says that every figure comes from the run.
def _pipeline_limit(r: dict) -> str:
    raw, dec, got, writes = (r.get(k) for k in ("raw_consume_per_s", "decode_only_per_s", "pipeline_events_per_s",
                                                  "write_api_rps"))
    factor = _goal_factor("pipeline_events_per_s")
    budget = ""
    if raw and dec and factor:
        budget = (f"At {factor} × the floor a consumer has {1e6 / (factor * raw):.0f} µs per event for everything; "
                  f"kafka-python's own fetching and record parsing, which the floor measures, takes {1e6 / raw:.0f} "
                  f"µs of it, and decoding alone (`decode_only_per_s`, same run) {1e6 / dec:.0f} µs, leaving "
                  f"{max(0.0, 1e6 / (factor * raw) - 1e6 / dec):.0f} µs to store the event's rows. ")
    if got:
        budget += f"The consumer took {1e6 / got:.0f} µs per event in this run. "
    follow = ""
    if got and writes and got > writes:
        follow = (f"The consumer applies events {got / writes:.0f} × faster than intake accepts registrations "
                  "(`write_api_rps`, same run), so it is not what limits the system. ")
    return (
        _ratio_text(r, "pipeline_events_per_s", "raw_consume_per_s")
        + "The floor hands out records kafka-python has already fetched, without decoding them. A consumer of ours "
        "decodes and validates each event (JSON, then the payload through a loader compiled from its marshmallow "
        "schema) and stores its effect durably: per poll one transaction with an inbox lookup, a versions lookup "
        "and multi-row inserts of the read model, the change log the web processes tail and the inbox row that "
        "makes a replay a no-op (docs/decisions/0010-consumer-fast-path.md). "
        + budget + "The profile beside this text shows where the rest goes in this run. Reaching the goal would "
        "take giving up the per-event inbox row or validation, which the delivery rules require, or a consumer "
        "outside Python. " + follow)


def _write_limit(r: dict) -> str:
    got, bare = r.get("write_api_rps"), r.get("bare_write_rps")
    factor = _goal_factor("write_api_rps")
    cores = os.cpu_count() or 1
    numbers = ""
    if got:
        numbers += (f"At the measured {got:,.1f} registrations/s the {cores} cores had {1000 * cores / got:.1f} ms "
                    "of CPU per registration for all of it (client, gunicorn, the request and its followers). ")
    if bare and factor:
        numbers += (f"At {factor} × the floor they would have {1000 * cores / (factor * bare):.1f} ms; the floor "
                    f"itself used {1000 * cores / bare:.1f} ms per request. ")
    return (
        _ratio_text(r, "write_api_rps", "bare_write_rps")
        + "The floor parses the body with marshmallow and inserts one row. `POST /workers` does what the contract "
        "requires on top: verify the bearer token, count the caller's writes for the rate limit (one upsert), "
        "validate the ID number (GB 11643), phone, region and free text, keyed-hash the ID (the unique index is "
        "the duplicate check), encrypt ID, name and phone (Fernet), insert the worker, build and validate the "
        "WorkerRegistered event into the outbox and write the audit row in the same transaction. Each "
        "registration also costs CPU on the same cores in its followers, which the floor does not have: the "
        "outbox relay, matching's and placement's consumers, matching's web processes loading the new worker "
        "into their index, and the broker. " + numbers + "The profile beside this text shows where the "
        "request's own CPU went in this run.")


def _import_limit(r: dict) -> str:
    from services.intake.handlers import IMPORT_CHUNK

    took = r.get("import_10k_rows_s")
    per_row = f"This run: {took:.1f} s, {1000 * took / 10_000:.2f} ms per row. " if took else ""
    return (per_row + "Each row goes through what `POST /workers` does (the same schema, ID validation, keyed hash, "
            f"three encryptions, the event and the audit row), stored {IMPORT_CHUNK} rows per transaction; reading "
            "the XLSX is openpyxl's pure-Python parser. The profile shows which of these dominates in this run.")


# Read beside the profile when a goal is missed: what the floor does and the figure cannot avoid doing.
LIMITS: dict[str, Callable[[dict], str]] = {
    "pipeline_events_per_s": _pipeline_limit,
    "write_api_rps": _write_limit,
    "match_worker_p99_ms": lambda r: (
        _ratio_text(r, "match_worker_p99_ms", "match_floor_ms")
        + "The floor is one sparse product and a top-k over all vacancies. The handler also applies the hard "
        "rules as numpy masks over all vacancies, computes the features for the most similar eligible ones in "
        "Python, scores them with the model and the policy, and writes explanations for the best ones asked "
        "for: work proportional to the pool, not to N (see the scaling table)."),
    "import_10k_rows_s": _import_limit,
}


class SkipPhase(Exception):
    """A phase that cannot run because one it needs did not."""


def _base_env() -> dict[str, str]:
    drop = ("KAFKA_BOOTSTRAP_SERVERS", "PROMETHEUS_MULTIPROC_DIR", "JOBBRIDGE_DATA_DIR",
            "JOBBRIDGE_FAULT_KILL_AFTER_DB_COMMIT")
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k not in drop}
    env.update({"JOBBRIDGE_ENV": "development", "JOBBRIDGE_LOG_LEVEL": "INFO",
                "JOBBRIDGE_RATE_LIMIT_WRITES": "1000000/minute", "JOBBRIDGE_RATE_LIMIT_IMPORTS": "1000/minute"})
    return env


class Bench:
    def __init__(self, plan: Plan, work_dir: Path):
        self.plan = plan
        self.work = work_dir
        self.today = date.today()
        self.env = _base_env()
        self.stack = Stack(data_dir=work_dir / "stack", env=dict(self.env))
        self.results: dict = {}
        self.details: dict = {}
        self.errors: dict[str, str] = {}
        self.samples: dict[str, list[float]] = {}
        self.phase_seconds: dict[str, float] = {}
        self.phase_load: dict[str, list[float]] = {}
        self.matching_web: Proc | None = None
        self.floor: Proc | None = None
        self.floor_port: int | None = None
        self.worker_ids: list[str] = []
        self.vacancy_ids: list[str] = []
        self.token = ""
        self.quality_md: str | None = None
        self.notices: list[str] = []
        self._matching_log_offset = 0

    # --- helpers ---------------------------------------------------------------------------------------

    def bar(self, total: int, desc: str, unit: str = "it") -> tqdm:
        return tqdm(total=total, desc=f"  {desc}", unit=unit, leave=False, mininterval=0.5, dynamic_ncols=True)

    def admin_token(self) -> str:
        if not self.token:
            from shared.auth import issue_token

            settings = load_settings("tool", self.env)
            self.token = issue_token(secret=settings.secret, role="admin", sub="bench", ttl_s=6 * 3600,
                                     issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        return self.token

    def db_path(self, stack: Stack, service: str) -> Path:
        return Path(default_database_url(service, stack.data_dir).split("///", 1)[1])

    def missed(self, key: str) -> bool:
        """Whether the goal on `key` was measured and missed (then the phase takes a profile)."""
        row = next((r for r in report.evaluate(self.results) if r["key"] == key), None)
        return row is not None and row["result"] == "MISS"

    def record_profile(self, key: str, take: Callable[[], dict]) -> None:
        try:
            prof = take()
        except Exception as exc:  # noqa: BLE001 - a failed profile must not lose the measurement
            tqdm.write(f"bench: profile for {key} failed: {traceback.format_exc()}", file=sys.stderr)
            self.errors[f"profile {key}"] = f"{exc.__class__.__name__}: {str(exc)[:200]}"
            return
        limit = LIMITS.get(key)
        prof["summary"] = profiles.summarise(key, self.results, prof) + (" " + limit(self.results) if limit else "")
        self.results.setdefault("profiles", {})[key] = prof

    def need(self, ok: bool, what: str) -> None:
        if not ok:
            raise SkipPhase(f"needs {what}")

    def matching_up(self) -> bool:
        return self.matching_web is not None and self.matching_web.popen.poll() is None

    # --- phases ----------------------------------------------------------------------------------------

    def phase_data(self) -> None:
        p = self.plan
        n = p.e2e_samples + 5 + p.write_rounds * p.write_round_max + p.import_rows
        bodies = data.worker_bodies(n, today=self.today)
        encoded = [json.dumps(b, ensure_ascii=False).encode() for b in bodies]
        self.e2e_bodies = encoded[: p.e2e_samples + 5]
        rest = encoded[p.e2e_samples + 5 :]
        self.write_bodies = [rest[i * p.write_round_max : (i + 1) * p.write_round_max] for i in range(p.write_rounds)]
        self.import_bodies = bodies[-p.import_rows :]
        self.xlsx = data.import_xlsx(self.import_bodies)
        self.details["data"] = {"intake_bodies": n, "xlsx_bytes": len(self.xlsx)}

    def phase_prefill(self) -> None:
        p = self.plan
        self.stack.ports["matching"] = free_port()
        self.stack.migrate(("matching",))
        t0 = time.perf_counter()
        with self.bar(p.workers + p.vacancies, "read model rows", "row") as bar:
            self.worker_ids, self.vacancy_ids = index_bench.prefill(
                default_database_url("matching", self.stack.data_dir), n_workers=p.workers,
                n_vacancies=p.vacancies, today=self.today, progress=bar.update)
        self.details["prefill"] = {"workers": len(self.worker_ids), "vacancies": len(self.vacancy_ids),
                                   "seconds": round(time.perf_counter() - t0, 1)}

    def _start_matching_web(self) -> None:
        if self.stack.broker is None:
            self.stack.start_broker()
        if "matching" not in self.stack.ports:
            self.stack.ports["matching"] = free_port()
            self.stack.migrate(("matching",))
        offset = procs.log_size(self.stack.log_dir / "matching-web.log")
        self.matching_web = self.stack.start_web("matching")
        self._matching_log_offset = offset

    def _wait_matching_ready(self) -> None:
        workers = load_settings("matching", self.stack.service_env("matching")).gunicorn_workers
        procs.wait_log(self.matching_web, "index loaded", workers, timeout_s=900, offset=self._matching_log_offset)
        wait_http(f"{self.stack.url('matching')}/readyz", timeout_s=120, procs=[self.matching_web])

    def _matching_web_ready(self) -> None:
        """Start matching's gunicorn on the pre-filled read model and wait until every worker holds its index.

        On a loaded machine its workers can fail to boot: each worker's index load is a long read, and on SQLite
        every transaction begins IMMEDIATE (shared/db.py), so the loads hold the write lock past the busy timeout
        of the rate-limit table's creation at app start. That is reported as a notice, and the service is started
        once more with the rate-limit counters in memory (GET requests, all that is measured here, are exempt from
        the write limits, so the measured path is the same)."""
        self._start_matching_web()
        try:
            self._wait_matching_ready()
            return
        except RuntimeError:
            if "database is locked" not in procs.log_since(self.matching_web, self._matching_log_offset):
                raise
        self.notices.append(
            "matching's gunicorn failed to boot on the 100k × 20k read model ('database is locked' at start-up: "
            "its workers' index loads hold SQLite's write lock, since every transaction begins IMMEDIATE, past the "
            "busy timeout of the rate-limit table's creation); it was started again with "
            "JOBBRIDGE_RATE_LIMIT_STORAGE=memory:// (GET requests are exempt from the write limits). See "
            f"{self.matching_web.log_path}.")
        self.stack.stop_proc(self.matching_web)
        self.stack.env["JOBBRIDGE_RATE_LIMIT_STORAGE"] = "memory://"
        try:
            self._start_matching_web()
        finally:
            del self.stack.env["JOBBRIDGE_RATE_LIMIT_STORAGE"]
            self.stack.env.update({k: v for k, v in self.env.items() if k == "JOBBRIDGE_RATE_LIMIT_STORAGE"})
        self._wait_matching_ready()

    def phase_match(self) -> None:
        from services.matching import bootstrap
        from services.matching.handlers import MatchingService

        self.need(bool(self.worker_ids), "the pre-filled read model")
        p = self.plan
        # The in-process copy loads only once the web workers have theirs: on SQLite every transaction, a read too,
        # begins IMMEDIATE (shared/db.py), so a third long read would hold their start-up writes up.
        self._matching_web_ready()
        settings = load_settings("matching", self.stack.service_env("matching"))
        service = MatchingService(bootstrap.build(settings))
        t0 = time.perf_counter()
        service.load()
        load_s = time.perf_counter() - t0
        w_ids = index_bench.sample(self.worker_ids, p.queries, seed=1)
        v_ids = index_bench.sample(self.vacancy_ids, p.queries, seed=2)
        found = {"worker": 0, "vacancy": 0}

        def worker_matches(i: str) -> None:
            found["worker"] += bool(service.matches_for_worker(i, limit=20, region=None, vacancy_type=None)["items"])

        def vacancy_matches(i: str) -> None:
            found["vacancy"] += bool(service.matches_for_vacancy(i, limit=20)["items"])

        with self.bar(2 * len(w_ids), "in-process queries", "query") as bar:
            w, wf = index_bench.interleaved(w_ids, worker_matches, lambda i: service.index.floor_query_worker(i, 20),
                                            progress=bar.update)
            v, vf = index_bench.interleaved(v_ids, vacancy_matches,
                                            lambda i: service.index.floor_query_vacancy(i, 20), progress=bar.update)
        sw, swf, sv, svf = summary(w), summary(wf), summary(v), summary(vf)
        self.results.update(match_worker_p50_ms=sw["p50"], match_worker_p99_ms=sw["p99"], match_floor_ms=swf["p99"],
                            match_floor_p50_ms=swf["p50"], match_vacancy_p50_ms=sv["p50"],
                            match_vacancy_p99_ms=sv["p99"], match_vacancy_floor_ms=svf["p99"])
        self.samples.update({"in-process: vacancies for a worker": w, "floor_worker": wf,
                             "in-process: workers for a vacancy": v, "floor_vacancy": vf})
        self.details["match"] = {
            "index_load_s": round(load_s, 1), "index": asdict(service.index.stats()),
            "matches_for_worker_ms": sw, "floor_query_worker_ms": swf,
            "matches_for_vacancy_ms": sv, "floor_query_vacancy_ms": svf,
            # Warm-up calls included: how many of the calls returned at least one item.
            "calls_with_items": {k: f"{n}/{len(w_ids) + min(index_bench.WARMUP, len(w_ids))}"
                                 for k, n in found.items()},
        }
        if self.missed("match_worker_p99_ms"):
            self.record_profile("match_worker_p99_ms", lambda: profiles.match(
                lambda i: service.matches_for_worker(i, limit=20, region=None, vacancy_type=None), w_ids[:300]))

    def phase_http(self) -> None:
        self.need(self.matching_up(), "the matching service")
        p = self.plan
        floor_env = procs.env_without_metrics(self.stack.env) | {"BENCH_FLOOR_DB": str(self.work / "floor.db")}
        self.floor, self.floor_port = procs.start_like(self.stack, self.matching_web,
                                                       app="bench.floor_app:create_app()", name="floor-web",
                                                       env=floor_env)
        matching = Client(self.stack.ports["matching"], token=self.admin_token())
        floor = Client(self.floor_port)

        def get(client: Client, path: str) -> None:
            status, body = client.get(path)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")

        w_ids = index_bench.sample(self.worker_ids, p.http_queries, seed=3)
        v_ids = index_bench.sample(self.vacancy_ids, p.http_queries // 2, seed=4)
        with self.bar(len(w_ids) + len(v_ids), "HTTP queries", "query") as bar:
            h, hf = index_bench.interleaved(w_ids, lambda i: get(matching, f"/workers/{i}/matches?limit=20"),
                                            lambda i: get(floor, "/ping"), progress=bar.update)
            hv, hvf = index_bench.interleaved(v_ids, lambda i: get(matching, f"/vacancies/{i}/matches?limit=20"),
                                              lambda i: get(floor, "/ping"), progress=bar.update)
        matching.close()
        floor.close()
        sh, shf, shv = summary(h), summary(hf), summary(hv)
        workers = {pid: round(procs.rss_mb(pid), 1) for pid in procs.gunicorn_workers(self.matching_web)}
        floor_workers = {pid: round(procs.rss_mb(pid), 1) for pid in procs.gunicorn_workers(self.floor)}
        self.results.update(match_http_p50_ms=sh["p50"], match_http_p99_ms=sh["p99"], http_floor_p50_ms=shf["p50"],
                            http_floor_p99_ms=shf["p99"], match_vacancy_http_p99_ms=shv["p99"],
                            index_rss_mb=max(workers.values()))
        self.samples.update({"HTTP: GET /workers/{id}/matches": h, "floor_http": hf})
        argv = procs.cmdline(self.matching_web.pid)
        self.details["http"] = {
            "worker_matches_ms": sh, "floor_ping_ms": shf, "vacancy_matches_ms": shv,
            "floor_ping_during_vacancy_ms": summary(hvf),
            "gunicorn_argv": argv[argv.index("--bind") - 1 :],
            "matching_worker_rss_mb": workers, "matching_master_rss_mb": round(procs.rss_mb(self.matching_web.pid), 1),
            "bare_flask_worker_rss_mb": floor_workers,
        }

    def phase_e2e(self) -> None:
        self.need(self.matching_up(), "the matching service")
        p = self.plan
        self.stack.start_services(("intake", "placement"))
        self.matching_worker = self.stack.start_worker("matching")
        kafka = load_settings("matching", self.stack.service_env("matching")).kafka
        probe = bus_bench.BrokerProbe(kafka)
        intake = Client(self.stack.ports["intake"], token=self.admin_token())
        matching = Client(self.stack.ports["matching"], token=self.admin_token())
        timeout_s = 10.0

        def registration(body: bytes, timeout: float) -> float | None:
            status, answer = intake.request("POST", "/workers", body)
            t201 = time.perf_counter()
            if status != 201:
                raise RuntimeError(f"POST /workers answered {status}: {answer[:300]!r}")
            path = f"/workers/{json.loads(answer)['worker_id']}/matches?limit=20"
            while time.perf_counter() - t201 < timeout:
                status, answer = matching.get(path)
                if status == 200:
                    return (time.perf_counter() - t201) * 1000.0
                if status != 404:
                    raise RuntimeError(f"GET {path} answered {status}: {answer[:300]!r}")
                time.sleep(0.01)
            return None

        try:
            # The first events also wait for the consumer to join its group: not part of the figure.
            for body in self.e2e_bodies[:5]:
                if registration(body, 120.0) is None:
                    raise TimeoutError("a warm-up registration never became rankable")
                probe.once()
            e2e, broker, timeouts = [], [], 0
            with self.bar(p.e2e_samples, "registrations", "event") as bar:
                for body in self.e2e_bodies[5:]:
                    broker.append(probe.once())
                    ms = registration(body, timeout_s)
                    if ms is None:
                        timeouts += 1
                        ms = timeout_s * 1000.0  # counted at the bound, so a timeout cannot flatter the p99
                    e2e.append(ms)
                    bar.update()
        finally:
            probe.close()
            intake.close()
            matching.close()
        se, sb = summary(e2e), summary(broker)
        self.results.update(event_to_rankable_p50_ms=se["p50"], event_to_rankable_p99_ms=se["p99"],
                            broker_e2e_p50_ms=sb["p50"], broker_e2e_p99_ms=sb["p99"])
        self.samples.update({"intake 201 → rankable": e2e, "floor_e2e": broker})
        self.details["event_to_rankable"] = {"samples_ms": se, "timeouts": timeouts, "timeout_ms": timeout_s * 1000,
                                             "poll_interval_ms": 10, "broker_e2e_ms": sb}

    def phase_writes(self) -> None:
        self.need("intake" in self.stack.ports and self.floor_port is not None, "intake and the bare app")
        p = self.plan
        real_lat, bare_lat, rounds = [], [], []
        real_ok = bare_ok = 0
        real_s = bare_s = 0.0
        with self.bar(p.write_rounds * 2, "write rounds", "round") as bar:
            for r, bodies in enumerate(self.write_bodies):
                order = ("real", "bare") if r % 2 == 0 else ("bare", "real")
                for which in order:
                    if which == "real":
                        res = post_load(self.stack.ports["intake"], "/workers", bodies, threads=p.write_threads,
                                        max_seconds=p.write_round_s, token=self.admin_token())
                        real_lat += res.latencies_ms
                        real_ok += res.ok
                        real_s += res.seconds
                    else:
                        res = post_load(self.floor_port, "/write", bodies, threads=p.write_threads,
                                        max_seconds=p.write_round_s)
                        bare_lat += res.latencies_ms
                        bare_ok += res.ok
                        bare_s += res.seconds
                    rounds.append({"round": r, "what": which, "ok": res.ok, "seconds": round(res.seconds, 2),
                                   "rps": round(res.rps, 1), "statuses": dict(res.statuses), "errors": res.errors})
                    bar.update()
        bad = [x for x in rounds if x["errors"] or set(x["statuses"]) - {201}]
        if bad:
            raise RuntimeError(f"write rounds with errors or non-201 answers: {bad}")
        sr, sb = summary(real_lat), summary(bare_lat)
        self.results.update(write_api_rps=round(real_ok / real_s, 1), write_api_p50_ms=sr["p50"],
                            write_api_p99_ms=sr["p99"], bare_write_rps=round(bare_ok / bare_s, 1),
                            bare_write_p99_ms=sb["p99"])
        self.samples.update({"POST /workers (8 clients)": real_lat, "floor_write": bare_lat})
        self.details["writes"] = {"threads": p.write_threads, "rounds": rounds, "write_api_ms": sr, "bare_write_ms": sb}
        if self.missed("write_api_rps"):
            self.record_profile("write_api_rps", lambda: profiles.write(self.work / "profile-write",
                                                                        requests=p.profile_requests))

    def _settle(self, timeout_s: float = 120.0) -> dict:
        """Wait until intake's outbox is sent and matching's inbox stops growing (bounded)."""
        import sqlite3

        intake_db, matching_db = self.db_path(self.stack, "intake"), self.db_path(self.stack, "matching")
        deadline = time.monotonic() + timeout_s
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with sqlite3.connect(f"file:{intake_db}?mode=ro", uri=True, timeout=5) as conn:
                unsent = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
            applied = bus_bench.inbox_count(matching_db)
            if applied != last:
                last, stable_since = applied, time.monotonic()
            if unsent == 0 and time.monotonic() - stable_since >= 1.0:
                return {"matching_inbox": applied}
            time.sleep(0.2)
        return {"matching_inbox": last, "unsettled_after_s": timeout_s}

    def phase_import(self) -> None:
        self.need("intake" in self.stack.ports, "intake")
        p = self.plan
        settled = self._settle()
        limit = load_settings("intake", self.stack.service_env("intake")).max_body_bytes
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"consent\"\r\n\r\nfalse\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"workers.xlsx\"\r\n"
                "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n").encode()
        body += self.xlsx + f"\r\n--{boundary}--\r\n".encode()
        if len(body) > limit:
            raise RuntimeError(f"the import body is {len(body)} bytes, over the {limit}-byte limit")
        client = Client(self.stack.ports["intake"], token=self.admin_token(), timeout=600)
        t0 = time.perf_counter()
        status, answer = client.request("POST", "/workers/import", body,
                                        content_type=f"multipart/form-data; boundary={boundary}")
        seconds = time.perf_counter() - t0
        client.close()
        if status != 200:
            raise RuntimeError(f"import answered {status}: {answer[:300]!r}")
        counts = {k: v for k, v in json.loads(answer).items() if k in ("created", "duplicate", "rejected")}
        if counts.get("created") != p.import_rows:
            raise RuntimeError(f"import created {counts}, expected {p.import_rows}")
        self.results["import_10k_rows_s"] = round(seconds, 2)
        self.details["import"] = {"rows": p.import_rows, "body_bytes": len(body), "limit_bytes": limit, **counts,
                                  "seconds": round(seconds, 2)}
        if p.mode == "full":
            # How long matching takes to make all of them rankable: an extra, only where time is no object.
            applied = bus_bench.wait_applied(self.db_path(self.stack, "matching"),
                                             settled["matching_inbox"] + p.import_rows, timeout_s=300, every_s=0.2)
            self.details["import"]["all_applied_by_matching_after_s"] = applied["since_start_s"]
        if self.missed("import_10k_rows_s"):
            rows = min(p.import_rows, p.profile_requests * 5)  # the cost is per row: a part of the file will do
            self.record_profile("import_10k_rows_s", lambda: profiles.import_xlsx(
                self.work / "profile-import", data.import_xlsx(self.import_bodies[:rows]), rows))

    def phase_pipeline(self) -> None:
        from shared.bus.kafka import ensure_topics
        from shared.events import ALL_TOPICS, TOPIC_WORKERS

        p = self.plan
        n = p.pipeline_events
        stack = Stack(data_dir=self.work / "pipeline", env=dict(self.env))
        try:
            stack.start_broker()
            stack.ports["matching"] = free_port()  # unused (no web process here), but part of its environment
            env = stack.service_env("matching")
            kafka = load_settings("matching", env).kafka
            ensure_topics(kafka, ALL_TOPICS)
            with self.bar(n, "produce", "event") as bar:
                bus_bench.produce_worker_events(kafka, data.worker_payloads(n, today=self.today, seed=23),
                                                progress=bar.update)
            raw_before = bus_bench.raw_consume(kafka, TOPIC_WORKERS, n, timeout_s=120)
            stack.migrate(("matching",))
            worker = stack.start_worker("matching", only="consumer")
            applied = bus_bench.wait_applied(self.db_path(stack, "matching"), n, timeout_s=60 + n / 50,
                                             alive=lambda: worker.popen.poll() is None)
            stack.stop_proc(worker)
            raw_after = bus_bench.raw_consume(kafka, TOPIC_WORKERS, n, timeout_s=120)
        finally:
            stack.stop()
        decoded = bus_bench.decode_rate(data.worker_payloads(min(n, 5000), today=self.today, seed=23))
        self.results.update(pipeline_events_per_s=applied["per_s"],
                            raw_consume_per_s=max(raw_before["per_s"], raw_after["per_s"]),
                            decode_only_per_s=decoded["per_s"])
        self.details["pipeline"] = {"events": n, "partitions": kafka.partitions, "consumer": applied,
                                    "raw_before": raw_before, "raw_after": raw_after, "decode_only": decoded}
        if self.missed("pipeline_events_per_s"):
            self.record_profile("pipeline_events_per_s", lambda: profiles.pipeline(self.work / "profile-pipeline",
                                                                                   events=p.profile_events))

    def phase_scaling(self) -> None:
        p = self.plan
        points = []
        with self.bar(len(p.scaling), "scaling points", "point") as bar:
            for n in p.scaling:
                bar.set_postfix_str(f"{n:,} workers")
                done = subprocess.run(
                    [sys.executable, "-m", "bench.index_bench", "--workers", str(n), "--vacancies",
                     str(p.vacancies), "--queries", str(p.scaling_queries)],
                    cwd=ROOT, capture_output=True, text=True, timeout=p.scaling_timeout_s, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"scaling point {n} failed: {done.stderr[-1500:]}")
                points.append(json.loads(done.stdout.strip().splitlines()[-1]))
                bar.update()
        self.results["scaling"] = {"vacancies": p.vacancies, "points": points}

    def phase_retrain(self) -> None:
        from services.matching.domain.ranker import PriorModel, retrain

        outcomes = synthetic_outcomes(self.plan.retrain_outcomes)
        t0 = time.perf_counter()
        result = retrain(outcomes, PriorModel())
        seconds = time.perf_counter() - t0
        self.results["retrain_200k_s"] = round(seconds, 2)
        self.details["retrain"] = {"outcomes": len(outcomes), "promoted": result.promoted, "reason": result.reason,
                                   "candidate_metrics": dict(result.candidate_metrics),
                                   "current_metrics": dict(result.current_metrics)}

    def phase_quality(self) -> None:
        from services.matching.evaluation import run_quality, to_markdown

        report_ = run_quality(**self.plan.quality)
        self.results["quality"] = report_
        self.quality_md = to_markdown(report_)

    # --- running ---------------------------------------------------------------------------------------

    def phase_console(self) -> None:
        """Console pages (worker page, 工作台) for 20 signed-in caseworkers on the demo county, beside the same
        API calls made directly (bench/console_bench.py). A stack of its own: the demo data, not the prefill."""
        from bench import console_bench
        from services.console.accounts import Accounts
        from services.console.config import load_console_settings
        from shared import demo_loader
        from shared.db import make_engine, make_session_factory

        stack = Stack(data_dir=self.work / "console-stack", env=_base_env())
        try:
            stack.start_broker()
            stack.start_services()
            stack.start_console()
            admin = self.admin_token()
            demo_loader.load_once(stack, token=admin, data_dir=stack.data_dir)
            env = stack.service_env("console")
            for service in ("intake", "matching", "placement"):
                env[f"JOBBRIDGE_{service.upper()}_URL"] = stack.url(service)
            settings = load_console_settings(env)
            accounts = Accounts(make_session_factory(make_engine(settings.base.database_url)))
            intake = Client(stack.ports["intake"], token=admin)
            status, body = intake.get("/workers?region=4109&per_page=100")
            intake.close()
            if status != 200:
                raise RuntimeError(f"GET /workers answered {status}")
            worker_ids = [w["worker_id"] for w in json.loads(body)["items"]]
            rounds = 5 if self.plan.mode == "quick" else 15
            out = console_bench.measure(console_url=stack.url("console"), settings=settings, accounts=accounts,
                                        worker_ids=worker_ids, rounds=rounds)
        finally:
            stack.stop()
        self.results.update(out["figures"])
        self.details["console"] = out["details"]

    def run(self, phases: list[str]) -> None:
        stack_phases = ("prefill", "match", "http", "e2e", "writes", "import")
        steps: list[tuple[str, Callable[[], None]]] = [(name, getattr(self, f"phase_{name}")) for name in phases]
        with tqdm(total=len(steps), desc="bench", unit="phase", dynamic_ncols=True) as bar:
            try:
                for i, (name, fn) in enumerate(steps):
                    self._run_phase(bar, name, fn)
                    after = steps[i + 1][0] if i + 1 < len(steps) else None
                    if name in stack_phases and after not in stack_phases:
                        self._stop_stack()
            finally:
                self._stop_stack()

    def _run_phase(self, bar: tqdm, name: str, fn: Callable[[], None]) -> None:
        bar.set_postfix_str(name)
        load0 = loadavg()
        t0 = time.perf_counter()
        try:
            fn()
        except SkipPhase as exc:
            self.errors[name] = f"skipped: {exc}"
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - one failed phase is reported; the others still run
            tqdm.write(f"bench: phase {name} failed:\n{traceback.format_exc()}", file=sys.stderr)
            self.errors[name] = f"{exc.__class__.__name__}: {str(exc)[:300]}"
        self.phase_seconds[name] = round(time.perf_counter() - t0, 1)
        self.phase_load[name] = [load0, loadavg()]
        bar.update()

    def _stop_stack(self) -> None:
        if self.stack.procs or self.stack.broker:
            killed = self.stack.stop()
            if killed:
                self.details.setdefault("stop", {})["needed_sigkill"] = killed
        self.matching_web = self.floor = None
        self.floor_port = None


def synthetic_outcomes(n: int, *, seed: int = 5) -> list:
    """n referral outcomes whose features follow a hidden preference (weights known), over n/10 vacancies."""
    import numpy as np

    from services.matching.domain.features import FEATURES
    from services.matching.domain.ranker import Outcome

    rng = np.random.default_rng(seed)
    X = rng.random((n, len(FEATURES)))
    hidden = np.array([2.5, 1.5, 1.2, 0.8, 0.6, 0.9, 0.4])[: len(FEATURES)]
    p = 1 / (1 + np.exp(-(X @ hidden - hidden.sum() / 2)))
    hired = rng.random(n) < p
    kinds = np.where(hired, np.where(rng.random(n) < 0.4, "retained", "hired"),
                     np.where(rng.random(n) < 0.15, "left", "rejected"))
    reasons = rng.choice(["skills_mismatch", "wage_not_accepted", "no_show", "position_filled"], size=n,
                         p=[0.5, 0.2, 0.2, 0.1])
    groups = rng.integers(0, max(1, n // 10), size=n)
    return [Outcome(features=dict(zip(FEATURES, map(float, row), strict=True)), label=str(kind),
                    reason=str(reason) if kind == "rejected" else None, group=f"v{g}")
            for row, kind, reason, g in zip(X, kinds, reasons, groups, strict=True)]


HISTOGRAMS = (
    ("in-process: vacancies for a worker", "floor_worker", "floor: sparse product + top-20"),
    ("in-process: workers for a vacancy", "floor_vacancy", "floor: sparse product + top-20"),
    ("HTTP: GET /workers/{id}/matches", "floor_http", "floor: bare Flask GET /ping"),
    ("intake 201 → rankable", "floor_e2e", "floor: broker produce → consume"),
    ("POST /workers (8 clients)", "floor_write", "floor: bare Flask + SQLite POST /write"),
)
PHASES = ("data", "prefill", "match", "http", "e2e", "writes", "import", "pipeline", "scaling", "retrain", "quality",
          "console")


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI variant: under 5 minutes, no 1M point")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.json, results.md, *.png go")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated subset of {','.join(PHASES)} (for working on the bench itself)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder (logs, databases)")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    phases = [p for p in PHASES if p in phases]
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="jobbridge-bench-"))
    load_at_start = loadavg()  # before the bench starts anything: what the rest of the machine was doing
    bench = Bench(plan, work)
    bench.load_at_start = load_at_start
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    started, t0 = datetime.now(UTC), time.perf_counter()
    interrupted = False
    try:
        bench.run(phases)
    except KeyboardInterrupt:
        interrupted = True
        bench.errors["run"] = "interrupted"
    finally:
        write_outputs(bench, args.out, run_id=run_id, started=started, seconds=time.perf_counter() - t0,
                      phases=phases)
        if args.keep or bench.errors:
            print(f"bench: data, databases and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if interrupted:
        return 130
    return 1 if bench.errors else 0


def write_outputs(bench: Bench, out: Path, *, run_id: str, started: datetime, seconds: float,
                  phases: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "run": {"id": run_id, "mode": bench.plan.mode, "started_at": started.isoformat(timespec="seconds"),
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": round(seconds, 1),
                "phases": phases, "phase_seconds": bench.phase_seconds, "loadavg": bench.phase_load,
                "loadavg_at_start": getattr(bench, "load_at_start", None),
                "plan": asdict(bench.plan),
                "same_run": "every figure and its floor in this file were measured in this run"},
        "machine": machine.describe(),
        **bench.results,
        "goals": [],
        "details": bench.details,
        "errors": bench.errors,
        "notices": bench.notices,
        "definitions": DEFINITIONS,
    }
    results["goals"] = report.evaluate(results)
    images = []
    scaling = bench.results.get("scaling", {}).get("points")
    if scaling:
        report.plot_scaling(out / "scaling.png", scaling)
        images.append("scaling.png")
    pairs = [(label, bench.samples.get(label, []), floor_label, bench.samples.get(floor, []))
             for label, floor, floor_label in HISTOGRAMS]
    if any(len(v) for _, v, _, _ in pairs):
        report.plot_histograms(out / "latency_histograms.png", pairs)
        images.append("latency_histograms.png")
    report.write_json(out / "results.json", results)
    (out / "results.md").write_text(report.markdown(results, quality_md=bench.quality_md, images=images),
                                    encoding="utf-8")
    print(f"bench: wrote {out / 'results.json'} and {out / 'results.md'} ({results['run']['seconds']:.0f} s)",
          file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
