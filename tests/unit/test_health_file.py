"""The worker's heartbeat file and the check that a probe runs (shared/health.py, `jobbridge worker-health`)."""

from __future__ import annotations

import json
import time

import pytest

from shared import health
from shared.cli import main


@pytest.fixture(autouse=True)
def _clean_registry():
    health.reset()
    yield
    health.reset()


def _file(tmp_path, *, written_ago=0.0, loops=None):
    now = time.time()
    path = tmp_path / "worker-intake.health.json"
    path.write_text(json.dumps({
        "service": "intake", "pid": 1, "written_at": now - written_ago,
        "loops": {name: {"beat_at": now - ago, "ok": ok, "beats": beats, "detail": ""}
                  for name, (ago, ok, beats) in (loops or {}).items()},
    }))
    return path


def test_fresh_file_with_beating_loops_is_live_and_ready(tmp_path):
    path = _file(tmp_path, loops={"consumer": (1, True, 5), "relay": (2, True, 9)})
    assert health.check(path, max_age_s=10) == (True, "live: consumer, relay (pid 1)")
    assert health.check(path, max_age_s=10, ready=True)[0] is True


def test_a_file_not_rewritten_means_the_process_is_gone_or_stuck(tmp_path):
    path = _file(tmp_path, written_ago=30, loops={"consumer": (1, True, 5)})
    healthy, why = health.check(path, max_age_s=10)
    assert not healthy and "written 30s ago" in why


def test_a_loop_that_stopped_beating_fails_liveness(tmp_path):
    path = _file(tmp_path, loops={"consumer": (25, True, 5), "relay": (1, True, 3)})
    healthy, why = health.check(path, max_age_s=10)
    assert not healthy and why.startswith("consumer loop last beat 25s ago")


def test_a_loop_that_has_not_reached_the_broker_is_live_but_not_ready(tmp_path):
    path = _file(tmp_path, loops={"consumer": (1, False, 3), "relay": (1, True, 3)})
    assert health.check(path, max_age_s=10)[0] is True
    healthy, why = health.check(path, max_age_s=10, ready=True)
    assert not healthy and why.startswith("consumer loop not ready")


def test_missing_file_and_no_loops_are_unhealthy(tmp_path):
    assert health.check(tmp_path / "nothing.json")[0] is False
    assert health.check(_file(tmp_path, loops={}))[0] is False


def test_registry_writer_and_check_round_trip(tmp_path):
    path = tmp_path / "run" / "hb.json"
    writer = health.HeartbeatWriter("intake", path, every_s=0)
    health.register("consumer")
    writer.tick()
    assert health.check(path, ready=True)[0] is False  # registered, never beat: live, not ready
    assert health.check(path)[0] is True
    health.beat("consumer", ok=True)
    health.beat("unregistered-loop")  # ignored, not an error
    writer.tick()
    state = json.loads(path.read_text())
    assert list(state["loops"]) == ["consumer"] and state["loops"]["consumer"]["beats"] == 1
    assert health.check(path, ready=True)[0] is True
    writer.close()
    assert not path.exists()


def test_health_file_location(tmp_path):
    assert health.health_file("matching", {"JOBBRIDGE_DATA_DIR": "/tmp/jb"}).as_posix() == \
        "/tmp/jb/run/worker-matching.health.json"
    assert health.health_file("matching", {"JOBBRIDGE_HEALTH_FILE": "/x/hb.json"}).as_posix() == "/x/hb.json"


def test_command_exit_status(tmp_path, capsys):
    good = _file(tmp_path, loops={"consumer": (1, True, 2)})
    assert main(["worker-health", "intake", "--file", str(good), "--ready"]) == 0
    stale = _file(tmp_path, written_ago=120, loops={"consumer": (1, True, 2)})
    assert main(["worker-health", "intake", "--file", str(stale)]) == 1
    assert "stuck or gone" in capsys.readouterr().err
