"""Liveness and readiness of a worker process (`jobbridge worker <service>`), which has no HTTP port.

Each loop of the worker (the consumer, the outbox relay) calls `beat(name, ok=...)` once per iteration: `ok`
says whether that iteration reached what it needs (the broker answered the poll, the relay's batch was
acknowledged). The worker's main thread rewrites one small JSON file every second (`HeartbeatWriter`):
when it was written, and per loop the time of its last beat and whether that beat was ok.

`jobbridge worker-health <service>` reads the file (docs/decisions/0012-worker-health.md):
- live (exit 0) when the file was written within `max_age` seconds (the process runs) and every loop beat
  within `max_age` seconds (no loop is stuck); a dead or hung worker fails and its supervisor restarts it;
- ready (`--ready`, exit 0) when, in addition, every loop's last beat was ok and came after its start.

The file is `JOBBRIDGE_HEALTH_FILE`, or `<JOBBRIDGE_DATA_DIR>/run/worker-<service>.health.json`. The check
imports nothing beyond the standard library: a Kubernetes exec probe runs it every few seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_AGE_S = 60.0


@dataclass
class _Loop:
    beat_at: float
    ok: bool
    beats: int = 0
    detail: str = ""


_lock = threading.Lock()
_loops: dict[str, _Loop] = {}


def register(name: str) -> None:
    """Expect beats from a loop from now on: until its first one it counts as live (for `max_age`), not ready."""
    with _lock:
        _loops[name] = _Loop(beat_at=time.time(), ok=False)


def beat(name: str, *, ok: bool = True, detail: str = "") -> None:
    """A loop finished an iteration; cheap enough to call on every poll."""
    with _lock:
        loop = _loops.get(name)
        if loop is None:
            return  # not running under a worker (a test calling a loop directly): nothing to report
        loop.beat_at = time.time()
        loop.ok = ok
        loop.beats += 1
        loop.detail = detail[:200]


def reset() -> None:
    with _lock:
        _loops.clear()


def health_file(service: str, env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = (env.get("JOBBRIDGE_HEALTH_FILE") or "").strip()
    if explicit:
        return Path(explicit)
    data_dir = (env.get("JOBBRIDGE_DATA_DIR") or "").strip() or "data"
    return Path(data_dir) / "run" / f"worker-{service}.health.json"


def snapshot(service: str) -> dict:
    with _lock:
        loops = {name: {"beat_at": lp.beat_at, "ok": lp.ok, "beats": lp.beats, "detail": lp.detail}
                 for name, lp in _loops.items()}
    return {"service": service, "pid": os.getpid(), "written_at": time.time(), "loops": loops}


def write(path: Path, service: str) -> None:
    """Replace the file atomically, so that a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(snapshot(service)))
    os.replace(tmp, path)


class HeartbeatWriter:
    """Rewrites the health file every `every_s` seconds from the worker's main thread; removes it at the end."""

    def __init__(self, service: str, path: Path | None = None, *, every_s: float = 1.0):
        self.service = service
        self.path = path or health_file(service)
        self.every_s = every_s
        self._last = 0.0

    def tick(self) -> None:
        if time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        try:
            write(self.path, self.service)
        except OSError:
            pass  # a full or read-only disk must not stop the worker; the probe will say so

    def close(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass


def check(path: Path, *, max_age_s: float = DEFAULT_MAX_AGE_S, ready: bool = False,
          now: float | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why) for the health file at `path`."""
    now = time.time() if now is None else now
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return False, f"no health file at {path}: the worker is not running (or JOBBRIDGE_HEALTH_FILE differs)"
    except (OSError, ValueError) as exc:
        return False, f"unreadable health file {path}: {exc}"
    age = now - float(state.get("written_at", 0))
    if age > max_age_s:
        return False, f"health file written {age:.0f}s ago (> {max_age_s:.0f}s): the worker process is stuck or gone"
    loops = state.get("loops") or {}
    if not loops:
        return False, "the worker runs no loop"
    for name, loop in sorted(loops.items()):
        since = now - float(loop.get("beat_at", 0))
        if since > max_age_s:
            return False, f"{name} loop last beat {since:.0f}s ago (> {max_age_s:.0f}s): stuck"
        if ready and not (loop.get("ok") and loop.get("beats", 0) > 0):
            detail = loop.get("detail") or "not started yet"
            return False, f"{name} loop not ready: {detail}"
    names = ", ".join(sorted(loops))
    return True, f"{'ready' if ready else 'live'}: {names} (pid {state.get('pid')})"
