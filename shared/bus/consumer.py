"""The consumer loop every service uses.

For each poll: decode every record in our own code (an undecodable one goes to the dead-letter topic);
apply the batch in one database transaction with every `event_id` inserted into the inbox (a replay is a
no-op); commit the transaction; only then commit the offsets. The batch is first applied as a whole — runs of
consecutive events that a service applies in bulk (`bulk`) with a few multi-row statements, the others one by
one, no savepoints. Should any event fail, that transaction is rolled back and the batch applied again with
each event in a savepoint of its own; an event whose effect still fails is retried on its own with backoff,
then dead-lettered with the reason; the loop goes on. Both ways give the same database: the bulk path is the
cheap way of doing what the careful one does (docs/decisions/0010-consumer-fast-path.md).
On SIGTERM the current batch is finished and committed and the consumer leaves its group.

A broker that lost its data (the local one keeps nothing across a restart) comes back with its topics
recreated and refilled from the outboxes, but this consumer's positions, kept in memory, belong to the old logs:
reading on from them would skip whatever the refill put below them. So before a batch is applied (or an old
commit retried) the ids of its topics are compared with those seen before, and a topic with a new id is read
again from its beginning; the inbox skips what was applied already.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import groupby

import sqlalchemy as sa
from kafka import KafkaProducer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared import health, metrics, requestid
from shared.bus.kafka import ensure_topics, make_admin, make_consumer
from shared.bus.outbox import now
from shared.config import Settings
from shared.db import reading, transaction
from shared.events import Envelope, UndecodableEvent, decode, dlq_topic

log = logging.getLogger(__name__)

Handler = Callable[[Session, Envelope], None]
# Applies consecutive events of the types it is registered for, in their order, exactly as the Handler would one
# by one (same rows in the end); keyed by event type in `EventConsumer(bulk=...)`.
BulkHandler = Callable[[Session, list[Envelope]], None]
# Largest original message copied into a dead letter; beyond it the value is cut and a header says so.
DLQ_VALUE_LIMIT = 512 * 1024
# Fault injection, used by the chaos suite (tests/chaos) and inert when unset: set to n, the process dies
# (exit status 137, as if SIGKILLed) right after the n-th batch's database commit and before its offsets are
# committed: the one window in which a crash makes the broker redeliver what the inbox already holds.
# Ignored when JOBBRIDGE_ENV=production.
FAULT_KILL_AFTER_DB_COMMIT = "JOBBRIDGE_FAULT_KILL_AFTER_DB_COMMIT"


def _fault_kill_after(settings: Settings) -> int:
    raw = os.environ.get(FAULT_KILL_AFTER_DB_COMMIT, "").strip()
    if not raw or settings.is_production:
        return 0
    return max(0, int(raw))


@dataclass
class Decoded:
    record: object
    envelope: Envelope | None
    reason: str | None


class EventConsumer:
    """Runs one service's consumer group over its topics, applying each event exactly once."""

    def __init__(
        self,
        *,
        settings: Settings,
        group_id: str,
        topics: list[str],
        factory: sessionmaker[Session],
        inbox: sa.Table,
        handle: Handler,
        bulk: Mapping[str, BulkHandler] | None = None,
        client_id: str | None = None,
    ):
        self.settings = settings
        self.group_id = group_id
        self.topics = topics
        self.factory = factory
        self.inbox = inbox
        self.handle = handle
        self.bulk = dict(bulk or {})
        self._inbox_insert = inbox.insert()  # built once: building a statement per batch costs more than running it
        self.client_id = client_id or f"{group_id}-consumer"
        self._consumer = None
        self._dlq: KafkaProducer | None = None
        self._kill_after_batches = _fault_kill_after(settings)
        self._batches = 0
        self._admin = None
        self._topic_ids: dict[str, str] = {}

    # --- dead letters ------------------------------------------------------------------------------------

    def _dead_letter(self, record, reason: str) -> None:
        if self._dlq is None:
            self._dlq = KafkaProducer(acks="all", client_id=f"{self.client_id}-dlq", max_block_ms=5000,
                                      **self.settings.kafka.client_options())
        value = record.value or b""
        headers = [
            ("reason", reason[:500].encode()),
            ("origin_topic", record.topic.encode()),
            ("origin_partition", str(record.partition).encode()),
            ("origin_offset", str(record.offset).encode()),
            ("consumer_group", self.group_id.encode()),
        ]
        if len(value) > DLQ_VALUE_LIMIT:
            headers.append(("truncated_from", str(len(value)).encode()))
            value = value[:DLQ_VALUE_LIMIT]
        headers.extend((k, v) for k, v in (record.headers or []) if k in ("event_type", "schema_version", "event_id"))
        # Synchronous: the offset is committed only after the dead letter is safely stored.
        try:
            self._dlq.send(dlq_topic(self.group_id), key=record.key, value=value, headers=headers).get(
                timeout=self.settings.kafka.request_timeout_ms / 1000
            )
        except KafkaError:
            # A producer whose broker went away may never find another one (see _rebuild): the batch is
            # settled again later with a new producer.
            self._dlq.close(timeout=1)
            self._dlq = None
            raise
        kind = reason.split(":", 1)[0][:40]
        metrics.DLQ_MESSAGES.labels(self.settings.service, kind).inc()
        log.warning(
            "dead-lettered a message",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason[:200]},
        )

    # --- applying ----------------------------------------------------------------------------------------

    def _apply_one(self, session: Session, d: Decoded) -> bool:
        """Apply in the caller's transaction; return False if the inbox says it was applied already."""
        if not self._unseen(session, [d])[0]:
            return False
        self.handle(session, d.envelope)
        session.execute(self._inbox_insert, self._inbox_row(d, now()))
        return True

    def apply_batch(self, batch: list[Decoded]) -> None:
        """Apply decoded records; dead-letter the ones that cannot be applied. Returns when all are settled."""
        good = [d for d in batch if d.envelope is not None]
        failed: list[Decoded] = []
        applied: list[Envelope] = []
        duplicates = 0
        if good:
            try:
                try:
                    applied, duplicates = self._apply_whole(good)
                except OperationalError:
                    raise
                except Exception:  # noqa: BLE001 - some event failed: find which, with a savepoint each
                    log.info("a batch failed as a whole; applying its events one by one", exc_info=True)
                    metrics.BATCH_FALLBACKS.labels(self.settings.service).inc()
                    applied, duplicates, failed = self._apply_isolated(good)
            except OperationalError:
                log.warning("database error applying a batch; retrying record by record", exc_info=True)
                failed = good
                applied = []
                duplicates = 0
        for env in applied:
            metrics.EVENTS_APPLIED.labels(self.settings.service, env.event_type).inc()
        if applied:
            self._log_requests(good, applied)
        if duplicates:
            metrics.EVENTS_DUPLICATE.labels(self.settings.service).inc(duplicates)
        for d in failed:
            self._retry_alone(d)
        for d in batch:
            if d.envelope is None:
                self._dead_letter(d.record, d.reason or "undecodable")

    def _log_requests(self, good: list[Decoded], applied: list[Envelope]) -> None:
        """One line per request whose events were applied, carrying that request's X-Request-ID."""
        done = {env.event_id for env in applied}
        per_request: dict[str, list[str]] = {}
        for d in good:
            if d.envelope is None or d.envelope.event_id not in done:
                continue
            raw = dict(getattr(d.record, "headers", None) or []).get(requestid.EVENT_HEADER)
            rid = requestid.from_event_header(raw)
            if rid is not None:
                per_request.setdefault(rid, []).append(d.envelope.event_type)
        for rid, types in per_request.items():
            with requestid.bound(rid):
                log.info("applied events of a request", extra={"events": len(types),
                                                               "event_types": ",".join(sorted(set(types)))})

    def _unseen(self, session: Session, good: list[Decoded]) -> tuple[list[Decoded], int]:
        """The records whose events the inbox does not hold yet (and the first of any repeated in the batch)."""
        ids = [d.envelope.event_id for d in good]
        seen = set(session.execute(sa.select(self.inbox.c.event_id).where(self.inbox.c.event_id.in_(ids))).scalars())
        todo = []
        for d in good:
            if d.envelope.event_id not in seen:
                seen.add(d.envelope.event_id)
                todo.append(d)
        return todo, len(good) - len(todo)

    def _inbox_row(self, d: Decoded, at) -> dict:
        env = d.envelope
        return {"event_id": env.event_id, "event_type": env.event_type, "topic": d.record.topic, "processed_at": at}

    def _apply_whole(self, good: list[Decoded]) -> tuple[list[Envelope], int]:
        """The whole batch in one transaction without savepoints; raises if any event fails (nothing is kept)."""
        with transaction(self.factory) as session:
            todo, duplicates = self._unseen(session, good)
            # Runs of consecutive events with the same bulk handler go to it together; the others one by one.
            for bulk, run in groupby((d.envelope for d in todo), key=lambda env: self.bulk.get(env.event_type)):
                if bulk is None:
                    for env in run:
                        self.handle(session, env)
                else:
                    bulk(session, list(run))
            if todo:
                at = now()
                session.execute(self._inbox_insert, [self._inbox_row(d, at) for d in todo])
        return [d.envelope for d in todo], duplicates

    def _apply_isolated(self, good: list[Decoded]) -> tuple[list[Envelope], int, list[Decoded]]:
        """The batch again, each event in a savepoint: the ones that fail are returned to be retried alone."""
        failed: list[Decoded] = []
        applied: list[Envelope] = []
        with transaction(self.factory) as session:
            todo, duplicates = self._unseen(session, good)
            for d in todo:
                env = d.envelope
                try:
                    with session.begin_nested():
                        self.handle(session, env)
                        session.execute(self._inbox_insert, self._inbox_row(d, now()))
                    applied.append(env)
                except OperationalError:
                    raise  # the database itself is unwell: retry the whole batch
                except Exception:  # noqa: BLE001 - a handler failure is retried alone, then dead-lettered
                    log.warning("event failed in batch; retrying alone", extra={"event_type": env.event_type},
                                exc_info=True)
                    failed.append(d)
        return applied, duplicates, failed

    def _retry_alone(self, d: Decoded) -> None:
        env = d.envelope
        assert env is not None
        attempts = self.settings.consumer_retries + 1
        delay = self.settings.consumer_retry_backoff_ms / 1000
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                with transaction(self.factory) as session:
                    if self._apply_one(session, d):
                        metrics.EVENTS_APPLIED.labels(self.settings.service, env.event_type).inc()
                    else:
                        metrics.EVENTS_DUPLICATE.labels(self.settings.service).inc()
                return
            except IntegrityError as exc:
                last = exc
                # A concurrent replica may have applied it meanwhile: then the inbox has it.
                with reading(self.factory) as session:
                    if session.execute(sa.select(self.inbox.c.event_id).where(self.inbox.c.event_id == env.event_id)).first():
                        return
            except OperationalError:
                raise  # the database is down, not the event at fault: the caller waits and tries again
            except Exception as exc:  # noqa: BLE001 - every failure is retried, then dead-lettered
                last = exc
            if attempt + 1 < attempts:
                time.sleep(delay * (2**attempt))
        reason = f"handler failed: {last.__class__.__name__}: {str(last)[:300]}"
        self._dead_letter(d.record, reason)

    # --- the loop ----------------------------------------------------------------------------------------

    def _decode(self, record) -> Decoded:
        try:
            return Decoded(record, decode(record.value), None)
        except UndecodableEvent as exc:
            return Decoded(record, None, f"undecodable: {exc.reason}")

    def _update_lag(self, consumer) -> None:
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = consumer.position(tp, timeout_ms=100)
            except KafkaError:
                continue
            if position is not None:
                metrics.CONSUMER_LAG.labels(self.settings.service, tp.topic, str(tp.partition)).set(max(0, high - position))

    def run(self, stop: threading.Event) -> None:
        ensure_topics(self.settings.kafka, self.topics)
        consumer = make_consumer(self.settings.kafka, group_id=self.group_id, client_id=self.client_id, topics=self.topics)
        self._consumer = consumer
        log.info("consumer started", extra={"group": self.group_id, "topics": self.topics})
        # Offsets of applied batches whose commit has not succeeded yet. A commit refused during a rebalance is
        # tried again after the next poll: otherwise a partition that stays ours keeps no committed progress
        # until new records arrive on it, and a restart would read it all again.
        pending: dict = {}
        lost_since: float | None = None
        try:
            while not stop.is_set():
                try:
                    polled = consumer.poll(timeout_ms=200)
                except KafkaError as exc:
                    log.warning("poll failed; retrying", extra={"error": str(exc)[:200]})
                    health.beat("consumer", ok=False, detail=f"poll failed: {exc}")
                    stop.wait(0.5)
                    continue
                # kafka-python's poll returns nothing, not an error, when no broker answers: ready means a
                # coordinator is known, i.e. the group was reached.
                known = self._coordinator_known(consumer)
                health.beat("consumer", ok=known, detail="" if known else "no group coordinator reached yet")
                if known:
                    lost_since = None
                elif lost_since is None:
                    lost_since = time.monotonic()
                elif time.monotonic() - lost_since > self._rebuild_after_s:
                    # Every broker this client knows is gone. A client learns brokers from metadata only, and each
                    # broker of a local Tansu cluster names itself alone (same node id, its own address): after
                    # that one dies the client would retry it for ever. A new consumer starts again from the
                    # bootstrap list; what was applied but not committed is redelivered and the inbox skips it.
                    consumer = self._rebuild(consumer)
                    pending, lost_since = {}, None
                    continue
                if not polled:
                    if pending and self._recreated(consumer, pending, {tp.topic for tp in pending}) == set():
                        pending = self._commit(consumer, pending)
                    continue
                recreated = self._recreated(consumer, pending, {tp.topic for tp in polled})
                if recreated != set():
                    # Not applied: the partitions of recreated topics were rewound; the others are read again.
                    for tp, records in polled.items():
                        if recreated is None or tp.topic not in recreated:
                            consumer.seek(tp, records[0].offset)
                    stop.wait(0.2)
                    continue
                batch: list[Decoded] = []
                for tp, records in polled.items():
                    for record in records:
                        batch.append(self._decode(record))
                    pending[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
                self._settle(batch, stop)
                self._maybe_die_before_offset_commit()
                pending = self._commit(consumer, pending)
                self._update_lag(consumer)
        finally:
            try:
                if pending and self._recreated(consumer, pending, {tp.topic for tp in pending}) == set():
                    self._commit(consumer, pending)
                consumer.close()
            finally:
                if self._dlq is not None:
                    self._dlq.close(timeout=2)
                if self._admin is not None:
                    self._admin.close()
            log.info("consumer stopped", extra={"group": self.group_id})

    @property
    def _rebuild_after_s(self) -> float:
        return max(10.0, 2 * self.settings.kafka.session_timeout_ms / 1000)

    @staticmethod
    def _coordinator_known(consumer) -> bool:
        coordinator = getattr(consumer, "_coordinator", None)
        return coordinator is not None and not coordinator.coordinator_unknown()

    def _rebuild(self, consumer):
        log.warning("no broker reachable for a while: starting the consumer again from the bootstrap servers",
                    extra={"group": self.group_id, "after_s": self._rebuild_after_s})
        try:
            consumer.close(autocommit=False, timeout_ms=1000)
        except Exception:  # noqa: BLE001 - the old client is broken by definition; only the new one matters
            log.debug("closing the lost consumer failed", exc_info=True)
        if self._dlq is not None:
            self._dlq.close(timeout=1)
            self._dlq = None
        consumer = make_consumer(self.settings.kafka, group_id=self.group_id, client_id=self.client_id, topics=self.topics)
        self._consumer = consumer
        return consumer

    def _recreated(self, consumer, pending: dict, topics: set[str]) -> set[str] | None:
        """Which of `topics` were recreated since this consumer last looked (None: it cannot tell now).

        A recreated topic (a new topic id) has its assigned partitions rewound to their beginning, and its
        uncommitted offsets, which count records of the old log, are dropped.
        """
        try:
            if self._admin is None:
                self._admin = make_admin(self.settings.kafka, client_id=f"{self.client_id}-admin")
            described = self._admin.describe_topics(sorted(topics))
        except KafkaError as exc:
            log.warning("cannot check the topics' identity yet", extra={"error": str(exc)[:200]})
            if self._admin is not None:
                self._admin.close()
            self._admin = None
            return None
        current = {t["name"]: str(t["topic_id"]) for t in described if t.get("topic_id")}
        recreated = {name for name, topic_id in current.items() if self._topic_ids.get(name, topic_id) != topic_id}
        self._topic_ids.update(current)
        if recreated:
            log.warning("topics were recreated (the broker lost its data): reading them again from the beginning",
                        extra={"topics": sorted(recreated)})
            rewind = [tp for tp in consumer.assignment() if tp.topic in recreated]
            if rewind:
                consumer.seek_to_beginning(*rewind)
            for tp in [tp for tp in pending if tp.topic in recreated]:
                del pending[tp]
        return recreated

    def _commit(self, consumer, offsets: dict) -> dict:
        """Commit the offsets of applied records; return those worth trying again (none, or all after a
        retriable failure). Only partitions still assigned are committed."""
        assigned = consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
        if not offsets:
            return {}
        try:
            consumer.commit(offsets)
            return {}
        except CommitFailedError as exc:
            # The group completed a rebalance without us: the partitions' new owners read these records again,
            # and their inboxes skip them.
            log.warning("offset commit failed; the records will be read again", extra={"error": str(exc)[:200]})
            return {}
        except KafkaError as exc:
            # A rebalance in progress, the coordinator moving or unreachable: keep the offsets for the next try.
            log.warning("offset commit failed; will retry", extra={"error": str(exc)[:200]})
            return offsets

    def _maybe_die_before_offset_commit(self) -> None:
        if not self._kill_after_batches:
            return
        self._batches += 1
        if self._batches >= self._kill_after_batches:
            log.warning("fault injection: exiting between the database commit and the offset commit",
                        extra={"batches": self._batches})
            for handler in logging.getLogger().handlers:
                handler.flush()
            os._exit(137)  # no cleanup at all: a crash, not a shutdown

    def _settle(self, batch: list[Decoded], stop: threading.Event) -> None:
        """Apply a batch, waiting out database or broker outages rather than skipping records."""
        delay = 0.5
        while True:
            try:
                self.apply_batch(batch)
                return
            except (OperationalError, KafkaError) as exc:
                if stop.is_set():
                    raise
                log.warning("cannot settle a batch yet; waiting", extra={"error": str(exc)[:200]})
                health.beat("consumer", ok=False, detail=f"cannot settle a batch: {str(exc)[:150]}")
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
