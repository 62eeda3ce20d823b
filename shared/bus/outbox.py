"""The transactional outbox: events are rows written with the change, and a relay moves them to Kafka.

A row is marked sent only after the broker acknowledged it, so an event is never lost while the broker is
down; it may be sent twice (a relay killed between the ack and the mark), which the consumers' inboxes make
harmless. Sent rows are kept for a retention window so that a broker that lost its data can be refilled.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from kafka.errors import KafkaError, KafkaTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from shared import health, metrics, requestid
from shared.bus.kafka import ensure_topics, make_producer
from shared.config import Settings
from shared.db import reading, transaction
from shared.events import ALL_TOPICS, MAX_EVENT_BYTES, Envelope, encode

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def _row(envelope: Envelope, created_at: datetime) -> dict:
    body = encode(envelope)
    if len(body) > MAX_EVENT_BYTES:
        raise ValueError(f"{envelope.event_type} event of {len(body)} bytes is too large")
    return {
        "event_id": envelope.event_id,
        "topic": envelope.topic,
        "key": envelope.aggregate_id,
        "event_type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "body": body,
        "created_at": created_at,
        "sent_at": None,
        # The request that recorded it (X-Request-ID), or the event being applied when a consumer records it.
        "request_id": requestid.current.get(),
    }


@functools.cache
def _insert(outbox: sa.Table) -> sa.Insert:
    # One statement per outbox table: a new one per call would have its cache key computed again every time.
    return outbox.insert()


def record(session: Session | sa.Connection, outbox: sa.Table, *envelopes: Envelope) -> None:
    """Add events to the outbox inside the caller's transaction (an ORM Session's or a Connection's)."""
    if envelopes:
        created_at = now()
        session.execute(_insert(outbox), [_row(e, created_at) for e in envelopes])


def backlog(session: Session, outbox: sa.Table) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar_one()


def oldest_unsent(session: Session, outbox: sa.Table) -> datetime | None:
    return session.execute(sa.select(sa.func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))).scalar_one()


def requeue(factory: sessionmaker[Session], outbox: sa.Table, *, since: datetime | None) -> int:
    """Mark sent rows (created at or after `since`; all when None) as unsent so the relay sends them again."""
    with transaction(factory) as session:
        stmt = outbox.update().where(outbox.c.sent_at.is_not(None)).values(sent_at=None)
        if since is not None:
            stmt = stmt.where(outbox.c.created_at >= since)
        return session.execute(stmt).rowcount or 0


def prune(factory: sessionmaker[Session], outbox: sa.Table, *, older_than: datetime) -> int:
    with transaction(factory) as session:
        stmt = outbox.delete().where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < older_than)
        return session.execute(stmt).rowcount or 0


class OutboxRelay:
    """Sends unsent outbox rows in order, marks them sent after the broker's acknowledgement."""

    def __init__(self, *, settings: Settings, factory: sessionmaker[Session], outbox: sa.Table):
        self.settings = settings
        self.factory = factory
        self.outbox = outbox
        self._producer = None
        self._last_prune = 0.0
        self._last_observed = 0.0
        self.epoch_topic = f"jobbridge.epoch.{settings.service}"

    # The local broker keeps nothing across a restart; neither would a cluster that was rebuilt. A topic of
    # our own that the relay creates on first contact tells us: if it is gone, the broker lost everything,
    # and the outbox rows still within the retention window are sent again (consumers' inboxes dedupe).
    def _check_broker_epoch(self) -> None:
        created = ensure_topics(self.settings.kafka, [*ALL_TOPICS, self.epoch_topic])
        if self.epoch_topic in created:
            since = now() - timedelta(hours=self.settings.outbox_retention_hours)
            count = requeue(self.factory, self.outbox, since=since)
            log.warning("broker has no record of this relay: replaying the outbox", extra={"rows": count})

    def _connect(self) -> None:
        self._check_broker_epoch()
        self._producer = make_producer(self.settings.kafka, client_id=f"{self.settings.service}-relay")

    def _drop_producer(self) -> None:
        # An idempotent producer stays broken after a broker restart until it is recreated.
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:  # noqa: BLE001 - closing a broken client must not stop the relay
                log.debug("producer close failed", exc_info=True)
        self._producer = None

    def drain_once(self) -> int:
        """Send one batch; return how many rows were marked sent."""
        if self._producer is None:
            self._connect()
        with reading(self.factory) as session:
            rows = session.execute(
                sa.select(self.outbox.c.id, self.outbox.c.topic, self.outbox.c.key, self.outbox.c.body,
                          self.outbox.c.event_type, self.outbox.c.schema_version, self.outbox.c.event_id,
                          self.outbox.c.request_id)
                .where(self.outbox.c.sent_at.is_(None))
                .order_by(self.outbox.c.id)
                .limit(self.settings.relay_batch)
            ).all()
        if not rows:
            return 0
        futures = []
        for row in rows:
            headers = [
                ("event_type", row.event_type.encode()),
                ("schema_version", str(row.schema_version).encode()),
                ("event_id", row.event_id.encode()),
            ]
            if row.request_id:
                headers.append((requestid.EVENT_HEADER, row.request_id.encode()))
            futures.append((row.id, self._producer.send(row.topic, key=row.key.encode(), value=bytes(row.body), headers=headers)))
        self._producer.flush(timeout=self.settings.kafka.request_timeout_ms / 1000)
        acked: list[int] = []
        failure: Exception | None = None
        for row_id, future in futures:
            try:
                future.get(timeout=0)
            except (KafkaError, KafkaTimeoutError) as exc:
                failure = exc
                break  # keep order: what follows a failure is sent again, after it
            acked.append(row_id)
        if acked:
            with transaction(self.factory) as session:
                session.execute(self.outbox.update().where(self.outbox.c.id.in_(acked)).values(sent_at=now()))
            metrics.OUTBOX_SENT.labels(self.settings.service).inc(len(acked))
        if failure is not None:
            raise failure
        return len(acked)

    def run(self, stop: threading.Event) -> None:
        backoff = 0.2
        idle = self.settings.relay_poll_ms / 1000
        while not stop.is_set():
            self._observe_backlog()
            try:
                sent = self.drain_once()
                health.beat("relay", ok=True)
                backoff = 0.2
                self._maybe_prune()
                if sent == 0:
                    stop.wait(idle)
            except (KafkaError, KafkaTimeoutError, RuntimeError) as exc:
                log.warning("relay cannot reach the broker; will retry", extra={"error": str(exc)[:200]})
                health.beat("relay", ok=False, detail=f"broker: {str(exc)[:150]}")
                self._drop_producer()
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except sa.exc.OperationalError as exc:
                log.warning("relay cannot reach the database; will retry", extra={"error": str(exc)[:200]})
                health.beat("relay", ok=False, detail=f"database: {str(exc)[:150]}")
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        self._drop_producer()

    def _observe_backlog(self, every_s: float = 5.0) -> None:
        """Export how many rows wait and how old the oldest is: a relay that cannot send shows here first."""
        if time.monotonic() - self._last_observed < every_s:
            return
        self._last_observed = time.monotonic()
        try:
            with reading(self.factory) as session:
                count = backlog(session, self.outbox)
                oldest = oldest_unsent(session, self.outbox) if count else None
        except sa.exc.SQLAlchemyError:
            return  # the database is away: the loop says so; the gauges keep their last values
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)  # SQLite gives naive datetimes back
        age = max(0.0, (now() - oldest).total_seconds()) if oldest is not None else 0.0
        metrics.OUTBOX_BACKLOG.labels(self.settings.service).set(count)
        metrics.OUTBOX_OLDEST_AGE.labels(self.settings.service).set(age)

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < 600:
            return
        self._last_prune = time.monotonic()
        prune(self.factory, self.outbox, older_than=now() - timedelta(hours=self.settings.outbox_retention_hours))
