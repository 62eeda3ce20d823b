"""A real worker process against the real broker: its heartbeat file says live and ready while it works, and
stops saying so when the process hangs (SIGSTOP) or dies (SIGKILL) — what the Kubernetes probes rely on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from support import base_env

from shared.devstack import ROOT, Stack, free_port


def _check(env, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", "worker-health", "intake", *extra],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def _until(predicate, timeout_s: float, what: str):
    """Run the check until it exits 0 (what="healthy") or 1 (what="unhealthy")."""
    want = 0 if what == "healthy" else 1
    deadline = time.monotonic() + timeout_s
    last = predicate()
    while last.returncode != want and time.monotonic() < deadline:
        time.sleep(0.3)
        last = predicate()
    assert last.returncode == want, f"worker not {what} after {timeout_s}s: {last.stdout}{last.stderr}"
    return last


def test_worker_heartbeat_follows_the_process(broker, databases, tmp_path):
    env = base_env(broker)
    env["INTAKE_DATABASE_URL"] = databases.url("intake")
    stack = Stack(data_dir=tmp_path, env=env, bootstrap=broker)
    try:
        stack.migrate(("intake",))
        metrics_port = free_port()
        worker = stack.start_worker("intake", env={"JOBBRIDGE_METRICS_PORT": str(metrics_port)})
        check_env = {**os.environ, "JOBBRIDGE_DATA_DIR": str(tmp_path)}
        ready = _until(lambda: _check(check_env, "--ready"), 90, "healthy")
        assert "ready: consumer, relay" in ready.stdout
        # The worker serves its own figures (a pod of its own shares no multiprocess folder with the web).
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        assert 'jobbridge_outbox_backlog{service="intake"} 0.0' in text
        assert 'jobbridge_outbox_oldest_unsent_seconds{service="intake"} 0.0' in text

        os.kill(worker.pid, signal.SIGSTOP)  # hung: alive, but writes nothing any more
        try:
            hung = _until(lambda: _check(check_env, "--max-age", "3"), 30, "unhealthy")
            assert "stuck" in hung.stderr  # the file, or a loop in it, is older than --max-age
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        _until(lambda: _check(check_env, "--max-age", "3"), 30, "healthy")

        stack.stop_proc(worker, sig=signal.SIGKILL)  # dead: the file stays behind, and goes stale
        dead = _until(lambda: _check(check_env, "--max-age", "3"), 30, "unhealthy")
        assert "stuck" in dead.stderr  # the file, or a loop in it, is older than --max-age
    finally:
        stack.stop()


def test_relay_exports_backlog_and_age_of_the_oldest_unsent_row(databases):
    """What the OutboxAge alert reads: rows waiting and how old the oldest is, with or without a broker."""
    import sqlalchemy as sa

    from shared import metrics
    from shared.bus.outbox import OutboxRelay, record
    from shared.config import load_settings
    from shared.db import make_engine, make_session_factory, platform_tables, transaction
    from shared.events import make_event

    url = databases.url("outboxage")
    metadata = sa.MetaData()
    tables = platform_tables(metadata)
    engine = make_engine(url)
    metadata.create_all(engine)
    factory = make_session_factory(engine)
    settings = load_settings("placement", {"DATABASE_URL": url, "JOBBRIDGE_ENV": "test",
                                           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    relay = OutboxRelay(settings=settings, factory=factory, outbox=tables["outbox"])
    backlog = metrics.OUTBOX_BACKLOG.labels("placement")
    age = metrics.OUTBOX_OLDEST_AGE.labels("placement")
    try:
        relay._observe_backlog(every_s=0)
        assert backlog._value.get() == 0 and age._value.get() == 0
        with transaction(factory) as session:
            for i in range(3):
                record(session, tables["outbox"], make_event(
                    "EmployerRegistered", {"employer_id": f"e{i}", "region_code": "410923"}, producer="test"))
        time.sleep(1.1)  # the oldest row must be measurably old; not a timing assertion on the code
        relay._observe_backlog(every_s=0)
        assert backlog._value.get() == 3
        assert age._value.get() >= 1.0
        with transaction(factory) as session:
            session.execute(tables["outbox"].update().values(sent_at=sa.func.now()))
        relay._observe_backlog(every_s=0)
        assert backlog._value.get() == 0 and age._value.get() == 0
    finally:
        engine.dispose()
