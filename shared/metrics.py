"""Prometheus metrics of every process; gunicorn workers and the worker process share one directory per service.

With PROMETHEUS_MULTIPROC_DIR set (the process supervisor sets it), every process writes its samples there
and `/metrics` aggregates them; without it (unit tests), the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

HTTP_REQUESTS = Counter("jobbridge_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"])
HTTP_LATENCY = Histogram(
    "jobbridge_http_request_seconds",
    "HTTP request latency",
    ["service", "endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_APPLIED = Counter("jobbridge_events_applied_total", "Events applied by the consumer", ["service", "event_type"])
EVENTS_DUPLICATE = Counter("jobbridge_events_duplicate_total", "Redelivered events skipped by the inbox", ["service"])
BATCH_FALLBACKS = Counter("jobbridge_batch_fallbacks_total",
                          "Batches that failed as a whole and were applied again event by event", ["service"])
DLQ_MESSAGES = Counter("jobbridge_dlq_messages_total", "Messages sent to the dead-letter topic", ["service", "reason"])
CONSUMER_LAG = Gauge(
    "jobbridge_consumer_lag", "Messages behind the log end, per partition", ["service", "topic", "partition"],
    multiprocess_mode="max",
)
OUTBOX_SENT = Counter("jobbridge_outbox_sent_total", "Outbox rows acknowledged by the broker", ["service"])
OUTBOX_BACKLOG = Gauge("jobbridge_outbox_backlog", "Outbox rows not yet acknowledged", ["service"], multiprocess_mode="max")
OUTBOX_OLDEST_AGE = Gauge("jobbridge_outbox_oldest_unsent_seconds",
                          "Age of the oldest outbox row not yet acknowledged (0 when none)", ["service"],
                          multiprocess_mode="max")


def render() -> tuple[bytes, str]:
    """The metrics text of this service (all its processes when running under the supervisor)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - a pod's metrics port is scraped from outside
    """Serve /metrics of this service from a process with no web server of its own (the worker), on a thread."""
    from prometheus_client import REGISTRY, start_http_server

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = REGISTRY
    if directory and os.path.isdir(directory):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    start_http_server(port, addr=host, registry=registry)
