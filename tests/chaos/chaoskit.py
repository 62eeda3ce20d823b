"""What every chaos scenario needs: sizes, a system of real processes, events, producers, and set-based checks.

A scenario starts its own broker and its own databases (SQLite files, or PostgreSQL per JOBBRIDGE_TEST_DB),
runs the services' web and worker processes through `shared.devstack.Stack`, injects its faults, then compares
what went in with what the read models hold. Nothing here reads a log. Every wait has a deadline; every
process is started by the Stack and stopped by its PID.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from shared.config import load_settings
from shared.devstack import ROOT, Proc, Stack, wait_http
from shared.events import ALL_TOPICS, Envelope, dlq_topic, encode, make_event

SERVICES = ("intake", "matching", "placement")
GROUPS = {s: f"jobbridge-{s}" for s in SERVICES}
# The topics each service's consumer reads, from the consumer itself: a topic it starts reading is expected here too.
CONSUMED = {s: tuple(importlib.import_module(f"services.{s}.consumer").TOPICS) for s in SERVICES}


# --- sizes --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizes:
    name: str
    timeout_s: int  # per scenario, enforced by pytest-timeout; the scenario's own deadlines are shorter
    consumer_events: int  # scenario 1
    consumer_kills: int  # scenario 1, per consumer
    consumer_flow_s: float  # scenario 1: how long the events keep coming
    api_writes: int  # scenario 2
    api_duration_s: float  # scenario 2: the writes are spread over at least this long
    relay_kills: int  # scenario 2
    outage_s: float  # scenario 2 and 5: how long the broker stays down
    poison_good: int  # scenario 3
    scaleout_workers: int  # scenario 4: workers with five versions each
    load_s: float  # scenario 5: how long the HTTP load runs
    load_threads: int
    settle_s: float  # how long a scenario may wait for its read models to catch up after the faults


SIZES = {
    "ci": Sizes(
        "ci", timeout_s=300, consumer_events=3000, consumer_kills=3, consumer_flow_s=14, api_writes=300,
        api_duration_s=24, relay_kills=3, outage_s=4, poison_good=1000, scaleout_workers=120, load_s=16,
        load_threads=4, settle_s=120),
    "full": Sizes(
        "full", timeout_s=3600, consumer_events=50_000, consumer_kills=20, consumer_flow_s=150, api_writes=10_000,
        api_duration_s=200, relay_kills=20, outage_s=20, poison_good=10_000, scaleout_workers=2000, load_s=180,
        load_threads=8, settle_s=900),
}


def sizes() -> Sizes:
    scale = os.environ.get("CHAOS_SCALE", "ci")
    if scale not in SIZES:
        raise RuntimeError(f"CHAOS_SCALE={scale!r}: expected one of {', '.join(SIZES)}")
    return SIZES[scale]


def rng(scenario: str) -> random.Random:
    """A seeded random source; CHAOS_SEED replays a run's fault schedule."""
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
    print(f"[chaos] {scenario}: seed {seed} (CHAOS_SEED={seed} repeats this schedule)", flush=True)
    return random.Random(seed)


# --- reporting ----------------------------------------------------------------------------------------------

REPORT: list[str] = []


def report(scenario: str, **counts) -> str:
    """One line of counts per scenario: printed now, and repeated in pytest's terminal summary."""
    parts = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in counts.items())
    line = f"[chaos] {scenario} scale={sizes().name} db={os.environ.get('JOBBRIDGE_TEST_DB', 'sqlite')}: {parts}"
    print(line, flush=True)
    REPORT.append(line)
    return line


# --- waiting ------------------------------------------------------------------------------------------------

class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.end


def wait_for(check: Callable[[], object], *, timeout: float, what: str, interval: float = 0.5,
             on_timeout: Callable[[], str] | None = None):
    """Poll `check` until it returns something truthy; fail with `what` (and a diagnosis) after `timeout`."""
    deadline = Deadline(timeout)
    last: object = None
    while not deadline.passed():
        last = check()
        if last:
            return last
        time.sleep(interval)
    detail = on_timeout() if on_timeout else ""
    raise AssertionError(f"{what}: not reached within {timeout:.0f}s (last: {str(last)[:300]}) {detail}")


# --- the system -----------------------------------------------------------------------------------------------

def chaos_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update({
        "JOBBRIDGE_ENV": "test",
        "JOBBRIDGE_LOG_LEVEL": "INFO",
        "JOBBRIDGE_RATE_LIMIT_WRITES": "1000000/minute",
        "JOBBRIDGE_RATE_LIMIT_IMPORTS": "1000/minute",
        # Automatic retraining is not what these scenarios are about, and it would eat the CPU they share.
        "JOBBRIDGE_RETRAIN_AFTER_OUTCOMES": "1000000",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("CHAOS_SCALE", None)
    return env


class System:
    """One scenario's broker, databases and service processes."""

    def __init__(self, *, tmp_path: Path, databases, name: str):
        self.name = name
        self.stack = Stack(data_dir=tmp_path / "stack", env=chaos_env())
        self.urls = {s: databases.url(f"{name}_{s}_{uuid.uuid4().hex[:6]}") for s in SERVICES}
        for service, url in self.urls.items():
            self.stack.env[f"{service.upper()}_DATABASE_URL"] = url
        self._engines: dict[str, sa.Engine] = {}
        self.port: int | None = None
        # Every process this system started, to prove at the end that none is left: asked of each Popen, never of
        # the PID number, which another process may have been given since (shared.devstack.stop_procs).
        self.started: list[Proc] = []

    # processes
    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap

    def start_broker(self, port: int | None = None) -> None:
        self.stack.start_broker(port)
        assert self.stack.bootstrap.startswith("127.0.0.1:"), "loopback only"
        self.port = int(self.stack.bootstrap.rsplit(":", 1)[1])
        self.started.append(self.stack.broker)

    def restart_broker_empty(self) -> None:
        """The local broker keeps nothing: a new one on the same port is a broker that lost all its data."""
        assert self.port is not None
        self.stack.start_broker(self.port)
        self.started.append(self.stack.broker)

    def start_cluster(self, brokers: int = 3) -> None:
        """Brokers sharing one S3-compatible store (`Stack.start_cluster`); the services get every address."""
        self.stack.start_cluster(brokers)
        assert all(a.startswith("127.0.0.1:") for a in self.bootstrap.split(",")), "loopback only"
        self.started += [p for p in self.stack.cluster.values() if p is not None] + [self.stack.store]

    def kill_cluster_broker(self, index: int) -> None:
        self.stack.kill_cluster_broker(index, sig=signal.SIGKILL)

    def start_cluster_broker(self, index: int) -> None:
        self.started.append(self.stack.start_cluster_broker(index))

    def create_topics(self) -> None:
        from shared.bus.kafka import ensure_topics

        ensure_topics(self.kafka_settings(), ALL_TOPICS)

    def kafka_settings(self):
        return load_settings("tool", {**self.stack.env, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}).kafka

    def migrate(self, *services: str) -> None:
        """Bring the services' databases up to date, all at once (each has its own database)."""
        env = {**self.stack.env, "JOBBRIDGE_DATA_DIR": str(self.stack.data_dir)}
        procs = [subprocess.Popen([sys.executable, "-m", "shared.cli", "migrate", service], env=env, cwd=ROOT)
                 for service in services]
        codes = [proc.wait(timeout=180) for proc in procs]
        assert codes == [0] * len(procs), f"migrations of {services} exited with {codes}"

    def start_web(self, service: str, *, timeout_s: float = 120) -> Proc:
        from shared.devstack import free_port

        self.stack.ports[service] = free_port()
        proc = self.stack.start_web(service)
        self.started.append(proc)
        wait_http(f"{self.stack.url(service)}/healthz", timeout_s=timeout_s, procs=[proc])
        return proc

    def url(self, service: str) -> str:
        return self.stack.url(service)

    def start_consumer(self, service: str, *, name: str | None = None, env: dict[str, str] | None = None) -> Proc:
        proc = self.stack.start_worker(service, only="consumer", name=name or f"{service}-consumer", env=env)
        self.started.append(proc)
        return proc

    def start_relay(self, service: str) -> Proc:
        proc = self.stack.start_worker(service, only="relay", name=f"{service}-relay")
        self.started.append(proc)
        return proc

    def kill(self, proc: Proc) -> None:
        self.stack.stop_proc(proc, sig=signal.SIGKILL)

    def cli(self, *args: str, service: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**self.stack.env, "JOBBRIDGE_DATA_DIR": str(self.stack.data_dir)}
        return subprocess.run([sys.executable, "-m", "shared.cli", *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, check=True)

    def stop(self) -> None:
        try:
            self.stack.stop()
        finally:
            for engine in self._engines.values():
                engine.dispose()

    def alive_pids(self) -> list[int]:
        return [proc.pid for proc in self.started if proc.popen.poll() is None]

    def log_tail(self, *names: str, chars: int = 3000) -> str:
        out = []
        for path in sorted(self.stack.log_dir.glob("*.log")):
            if names and not any(path.name.startswith(n) for n in names):
                continue
            noise = ("ECONNREFUSED", "No node available", "socket disconnected", "Connect attempt")
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if not any(n in ln for n in noise)]
            out.append(f"--- {path.name}\n" + "\n".join(lines)[-chars:])
        return "\n".join(out)

    # databases (read side only: the test never writes a service's database)
    def engine(self, service: str) -> sa.Engine:
        if service not in self._engines:
            url = self.urls[service]
            # A plain engine: the services' own one begins every transaction with BEGIN IMMEDIATE, which
            # would make the test's reads queue behind (and slow down) the consumers' writes.
            kw = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}
            self._engines[service] = sa.create_engine(url, **kw)
        return self._engines[service]

    def rows(self, service: str, stmt) -> list:
        with self.engine(service).connect() as conn:
            return conn.execute(stmt).all()

    def scalar(self, service: str, stmt):
        with self.engine(service).connect() as conn:
            return conn.execute(stmt).scalar()

    def table(self, service: str, name: str) -> sa.Table:
        module = __import__(f"services.{service}.adapters.tables", fromlist=["metadata"])
        return module.metadata.tables[name]

    def inbox_ids(self, service: str) -> set[str]:
        inbox = self.table(service, "inbox")
        return {r[0] for r in self.rows(service, sa.select(inbox.c.event_id))}

    def inbox_count(self, service: str) -> int:
        inbox = self.table(service, "inbox")
        return self.scalar(service, sa.select(sa.func.count()).select_from(inbox))

    def unsent(self, service: str) -> int:
        outbox = self.table(service, "outbox")
        return self.scalar(service, sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))

    # the broker, seen from outside
    def lag(self, service: str) -> int | None:
        """Messages the service's group has not committed yet over its topics; None when it cannot tell."""
        return group_lag(self.bootstrap, GROUPS[service], CONSUMED[service])

    def metric(self, service: str, name: str) -> float:
        """The sum of a counter over every process the service ran (dead ones included)."""
        from prometheus_client import CollectorRegistry, multiprocess

        path = self.stack.data_dir / "prom" / service
        if not path.is_dir():
            return 0.0
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(path))
        total = 0.0
        for family in registry.collect():
            for sample in family.samples:
                if sample.name == name:
                    total += sample.value
        return total


# The local broker (Tansu) answers ListOffsets with the last batch's base offset + 1, not the true log end
# (measured: 20 records sent in one batch to a fresh partition, end offset 1). So nothing here trusts end
# offsets: "caught up" means a fetch from the committed offsets finds nothing, and reading a topic goes on
# until the fetches come back empty.

def group_lag(bootstrap: str, group: str, topics: Iterable[str], *, probe_s: float = 1.0) -> int | None:
    """Records found after the group's committed offsets (0: caught up); None when the broker cannot tell."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    except KafkaError:
        return None
    consumer = None
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=5000,
                                 enable_auto_commit=False, fetch_max_wait_ms=10)
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        committed = admin.list_group_offsets({group: tps}).get(group, {})
        consumer.assign(tps)
        for tp in tps:
            done = committed.get(tp)
            consumer.seek(tp, done.offset if done is not None and done.offset >= 0 else 0)
        found = 0
        deadline = Deadline(probe_s)
        while not deadline.passed() and not found:
            found += sum(len(records) for records in consumer.poll(timeout_ms=100).values())
        return found
    except KafkaError:
        return None
    finally:
        if consumer is not None:
            consumer.close()
        admin.close()


def wait_caught_up(system: System, *services: str, timeout: float) -> None:
    """Every partition the services read is committed up to its end (so no redelivery is still to come)."""
    for service in services:
        wait_for(lambda s=service: system.lag(s) == 0, timeout=timeout, what=f"{service} consumer caught up",
                 interval=1.0, on_timeout=lambda s=service: f"{committed_offsets(system.bootstrap, GROUPS[s], CONSUMED[s])}\n"
                 + system.log_tail(f"{s}-consumer", chars=6000))


def committed_offsets(bootstrap: str, group: str, topics: Iterable[str]) -> dict:
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        committed = admin.list_group_offsets({group: tps}).get(group, {})
        return {f"{tp.topic}/{tp.partition}": getattr(committed.get(tp), "offset", None) for tp in tps}
    finally:
        consumer.close()
        admin.close()


# --- processes that must stay up: restart what died, kill on schedule ---------------------------------------

@dataclass
class Supervised:
    """A role (e.g. matching's consumer) whose process the scenario kills and restarts."""

    start: Callable[[], Proc]
    proc: Proc | None = None
    kills: int = 0
    crashes: list[int] = field(default_factory=list)  # exit statuses of processes that died on their own
    paused: bool = False  # killed on purpose and kept down for a while

    def ensure(self) -> None:
        if self.paused:
            return
        if self.proc is None:
            self.proc = self.start()
        elif self.proc.popen.poll() is not None:
            self.crashes.append(self.proc.popen.returncode)
            self.proc = self.start()


# --- events ---------------------------------------------------------------------------------------------------

REGIONS = ("410923", "410922", "410101", "440300", "320583")
SKILLS = ("电焊", "缝纫", "叉车", "厨师", "保洁", "育婴", "电工", "砌筑")


def worker_event(worker_id: str, version: int, r: random.Random, *, status: str = "active") -> Envelope:
    kind = "WorkerRegistered" if version == 1 else "WorkerUpdated"
    return make_event(kind, {
        "worker_id": worker_id, "version": version, "region_code": r.choice(REGIONS), "age": r.randrange(18, 60),
        "is_4050": r.random() < 0.3, "skills": r.sample(SKILLS, 2), "education": "junior_middle",
        "experience_years": r.randrange(0, 20), "desired_wage_min": 3000, "hardship": ["laid_off"],
        "status": status, "registered_on": date(2026, 1, 5),
    }, producer="chaos")


def vacancy_event(vacancy_id: str, version: int, employer_id: str, r: random.Random, *, headcount: int = 50,
                  status: str = "open") -> Envelope:
    kind = {1: "VacancyPosted"}.get(version, "VacancyClosed" if status == "closed" else "VacancyUpdated")
    return make_event(kind, {
        "vacancy_id": vacancy_id, "version": version, "employer_id": employer_id, "title": "电焊工",
        "occupation": "焊工", "required_skills": [r.choice(SKILLS)], "region_code": r.choice(REGIONS),
        "wage_min": 3500, "wage_max": 6000, "headcount": headcount, "vacancy_type": "regular", "status": status,
    }, producer="chaos")


def placement_event(worker_id: str, vacancy_id: str) -> Envelope:
    return make_event("PlacementRecorded", {
        "placement_id": str(uuid.uuid4()), "worker_id": worker_id, "vacancy_id": vacancy_id,
        "placement_type": "regular", "start_date": date(2026, 3, 1), "monthly_wage": 4200,
    }, producer="chaos")


class Producer:
    """A plain KafkaProducer writing envelopes (or raw bytes) to the topics, as a relay would."""

    def __init__(self, bootstrap: str):
        from kafka import KafkaProducer

        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=5,
                                      max_request_size=1_048_000, request_timeout_ms=30_000)
        self.sent = 0

    def send(self, envelope: Envelope):
        self.sent += 1
        return self.producer.send(envelope.topic, key=envelope.aggregate_id.encode(), value=encode(envelope),
                                  headers=envelope.headers())

    def send_raw(self, topic: str, key: str, value: bytes, headers: list | None = None):
        self.sent += 1
        return self.producer.send(topic, key=key.encode(), value=value, headers=headers or [])

    def flush(self, timeout: float = 60) -> None:
        self.producer.flush(timeout=timeout)

    def close(self) -> None:
        self.producer.close(timeout=10)


def read_all(bootstrap: str, topic: str, *, timeout_s: float = 60.0, idle_s: float = 1.5) -> list:
    """Every message of a topic from offset 0, read until fetches have come back empty for `idle_s`."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             fetch_max_wait_ms=10, max_partition_fetch_bytes=2_000_000)
    try:
        tps = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out = []
        deadline = Deadline(timeout_s)
        quiet = Deadline(idle_s)
        while not deadline.passed() and not quiet.passed():
            polled = consumer.poll(timeout_ms=100)
            for records in polled.values():
                out.extend(records)
            if polled:
                quiet = Deadline(idle_s)
        assert not deadline.passed(), f"reading {topic} took longer than {timeout_s}s"
        return out
    finally:
        consumer.close()


def dead_letters(system: System, service: str) -> list:
    return read_all(system.bootstrap, dlq_topic(GROUPS[service]))


def event_ids_on(bootstrap: str, topic: str) -> set[str]:
    ids = set()
    for message in read_all(bootstrap, topic):
        try:
            ids.add(json.loads(message.value)["event_id"])
        except (ValueError, KeyError, TypeError):
            continue
    return ids


# --- HTTP ---------------------------------------------------------------------------------------------------------

class NationalIds:
    """Valid resident IDs (GB 11643), all different within a scenario: one birth date per 500 order codes."""

    def __init__(self, region: str = "410923", born: date = date(1972, 3, 1)):
        from support import id_check

        self._check = id_check
        self.region = region
        self.born = born
        self.order = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            if self.order > 998:
                self.order = 0
                self.born = date.fromordinal(self.born.toordinal() + 1)
            first17 = f"{self.region}{self.born:%Y%m%d}{self.order:03d}"
            self.order += 1
        return first17 + self._check(first17)


class Http:
    """The load's client: loopback only, bounded, and honest about what the server said.

    A 503 that carries Retry-After is what a service says during an outage it expects to end; the client waits
    and tries again (within `retry_s`). Any other 5xx, and any request that got no answer, is counted as a
    failure of the scenario.
    """

    def __init__(self, token: str, *, retry_s: float = 60.0):
        self.token = token
        self.retry_s = retry_s
        self.local = threading.local()
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.retried_503 = 0
        self.failures: list[str] = []

    def _session(self):
        import requests

        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers["Authorization"] = f"Bearer {self.token}"
        return self.local.session

    def call(self, method: str, url: str, body: dict | None = None):
        import requests

        assert url.startswith("http://127.0.0.1:"), "loopback only"
        deadline = Deadline(self.retry_s)
        while True:
            try:
                response = self._session().request(method, url, json=body, timeout=60)
            except requests.RequestException as exc:
                with self.lock:
                    self.failures.append(f"{method} {url}: no answer ({exc.__class__.__name__})")
                return None
            retry_after = response.headers.get("Retry-After")
            if response.status_code == 503 and retry_after and not deadline.passed():
                with self.lock:
                    self.retried_503 += 1
                time.sleep(min(max(float(retry_after), 0.1), 2.0))
                continue
            with self.lock:
                self.statuses[response.status_code] += 1
                if response.status_code >= 500:
                    self.failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
            return response

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)
