"""A service's worker process: its consumer loop and its outbox relay, stopped cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from shared import health, logs, metrics
from shared.bus.consumer import BulkHandler, EventConsumer, Handler
from shared.bus.outbox import OutboxRelay
from shared.config import Settings

log = logging.getLogger(__name__)


def group_id(service: str) -> str:
    return f"jobbridge-{service}"


def install_stop_signals() -> threading.Event:
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("stopping", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def run_worker(
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    outbox: sa.Table,
    inbox: sa.Table,
    topics: list[str],
    handle: Handler,
    bulk: Mapping[str, BulkHandler] | None = None,
    relay: bool = True,
    consume: bool = True,
    extra_loops: list[Callable[[threading.Event], None]] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the relay and the consumer until asked to stop; a crashed loop stops the process (and its supervisor restarts it)."""
    logs.configure(settings.service, settings.log_level)
    stop = stop or install_stop_signals()
    threads: list[threading.Thread] = []
    failed = threading.Event()

    def guard(name: str, loop: Callable[[threading.Event], None]) -> threading.Thread:
        def target():
            try:
                loop(stop)
            except Exception:  # noqa: BLE001 - a dead loop must take the process down, not linger half-alive
                log.exception("loop crashed", extra={"loop": name})
                failed.set()
                stop.set()

        return threading.Thread(target=target, name=name, daemon=True)

    if relay:
        threads.append(guard("relay", OutboxRelay(settings=settings, factory=factory, outbox=outbox).run))
    for i, loop in enumerate(extra_loops or []):
        threads.append(guard(f"loop-{i}", loop))
    if consume and topics:
        consumer = EventConsumer(
            settings=settings, group_id=group_id(settings.service), topics=topics, factory=factory, inbox=inbox, handle=handle,
            bulk=bulk,
        )
        threads.append(guard("consumer", consumer.run))
    # Liveness and readiness for the process supervisor (shared/health.py): the relay and the consumer beat,
    # this thread writes the heartbeat file that `jobbridge worker-health` reads.
    heartbeat = health.HeartbeatWriter(settings.service)
    metrics_port = os.environ.get("JOBBRIDGE_METRICS_PORT", "").strip()
    if metrics_port:
        # The worker's own figures (consumer lag, dead letters, outbox backlog and age) for a scraper, when it
        # does not share PROMETHEUS_MULTIPROC_DIR with the service's web processes (a container of its own).
        metrics.serve(int(metrics_port))
    for t in threads:
        if t.name in ("relay", "consumer"):
            health.register(t.name)
    heartbeat.tick()
    for t in threads:
        t.start()
    log.info("worker running", extra={"relay": relay, "consume": consume, "topics": topics})
    while not stop.is_set():
        heartbeat.tick()
        stop.wait(0.5)
    heartbeat.close()
    for t in threads:
        t.join(timeout=30)
    log.info("worker stopped")
    if failed.is_set():
        raise SystemExit(1)
