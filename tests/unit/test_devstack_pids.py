"""Stopping and counting processes by their Popen, not by PID number: a reaped child's PID may already belong
to a stranger (pid_max is 32768 here), which made `make chaos` fail its "no process left" check, and could
have signalled another process group."""

from __future__ import annotations

import subprocess
import sys

from shared.devstack import Proc, Stack, stop_procs


def _spawn(argv: list[str]) -> Proc:
    return Proc("t", subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL))


def test_a_reaped_child_whose_pid_was_reused_is_neither_signalled_nor_counted(tmp_path):
    gone = _spawn([sys.executable, "-c", "pass"])
    gone.popen.wait()
    stranger = _spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # The reuse, made certain: the reaped child's Popen now carries the stranger's PID number.
        gone.popen.pid = stranger.pid
        assert stop_procs([gone], grace_s=0.5) == []
        stack = Stack(data_dir=tmp_path, env={})
        stack.procs.append(gone)
        stack.stop()
        assert stranger.popen.poll() is None, "the stranger was signalled"
    finally:
        stranger.popen.kill()
        stranger.popen.wait()


def test_live_children_are_stopped():
    child = _spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_procs([child], grace_s=5)
    assert child.popen.poll() is not None
