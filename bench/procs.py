"""Processes the benchmark starts beside the services: a bare gunicorn app with the services' exact flags."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from shared.devstack import ROOT, Proc, Stack, free_port, wait_http


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def children(pid: int) -> list[int]:
    """Direct children of a process (a gunicorn master's workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return sorted(out)


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for {pid}")


def spawn(stack: Stack, name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
    """Start a process in its own group, logged beside the services' logs and stopped with the stack."""
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = stack.log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(argv, env=dict(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    proc = Proc(name, popen, log_path)
    stack.procs.append(proc)
    stack.save()
    return proc


def start_like(stack: Stack, model: Proc, *, app: str, name: str, env: Mapping[str, str]) -> tuple[Proc, int]:
    """Start `app` under gunicorn with the very argv of a running service's gunicorn (read from /proc), only
    the application and the port changed: the floor cannot drift from the service's settings."""
    argv = cmdline(model.pid)
    app_index = next(i for i, a in enumerate(argv) if a.endswith(":create_app()"))
    bind_index = argv.index("--bind") + 1
    port = free_port()
    argv[app_index] = app
    argv[bind_index] = f"127.0.0.1:{port}"
    proc = spawn(stack, name, argv, env)
    wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60, procs=[proc])
    return proc, port


def log_size(proc_or_path) -> int:
    path = proc_or_path.log_path if isinstance(proc_or_path, Proc) else proc_or_path
    return path.stat().st_size if path and path.exists() else 0


def log_since(proc: Proc, offset: int) -> str:
    with open(proc.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def wait_log(proc: Proc, text: str, count: int, *, timeout_s: float, offset: int = 0) -> None:
    """Wait until `text` appears `count` times in a process's log after `offset` (e.g. each gunicorn worker's
    "index loaded"); raise if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log_path}")
        if log_since(proc, offset).count(text) >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name}: {count}× {text!r} not logged within {timeout_s:.0f}s; see {proc.log_path}")


def gunicorn_workers(master: Proc) -> list[int]:
    return children(master.pid)


def env_without_metrics(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | {"PYTHONUNBUFFERED": "1"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
