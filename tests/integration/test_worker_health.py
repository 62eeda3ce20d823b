"""A real worker process against the real broker: its heartbeat file says live and ready while it works, and
stops saying so when the process hangs (SIGSTOP) or dies (SIGKILL) — what the Kubernetes probes rely on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import base_env

from shared.devstack import ROOT, Stack


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
        worker = stack.start_worker("intake")
        check_env = {**os.environ, "JOBBRIDGE_DATA_DIR": str(tmp_path)}
        ready = _until(lambda: _check(check_env, "--ready"), 90, "healthy")
        assert "ready: consumer, relay" in ready.stdout

        os.kill(worker.pid, signal.SIGSTOP)  # hung: alive, but writes nothing any more
        try:
            hung = _until(lambda: _check(check_env, "--max-age", "3"), 30, "unhealthy")
            assert "stuck or gone" in hung.stderr
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        _until(lambda: _check(check_env, "--max-age", "3"), 30, "healthy")

        stack.stop_proc(worker, sig=signal.SIGKILL)  # dead: the file stays behind, and goes stale
        dead = _until(lambda: _check(check_env, "--max-age", "3"), 30, "unhealthy")
        assert "stuck or gone" in dead.stderr
    finally:
        stack.stop()
