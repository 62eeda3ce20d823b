"""The bus guarantees, on the real broker and the real database (SQLite or PostgreSQL):
an event written while the broker is down arrives after it is back; a replayed event changes nothing;
a poison message goes to the dead-letter topic and the consumer goes on."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer
from support import eventually, read_topic

from shared.bus.consumer import EventConsumer
from shared.bus.kafka import ensure_topics
from shared.bus.outbox import OutboxRelay, record
from shared.config import load_settings
from shared.db import make_engine, make_session_factory, platform_tables, transaction
from shared.devstack import Stack, free_port
from shared.events import TOPIC_EMPLOYERS, dlq_topic, encode, make_event

metadata = sa.MetaData()
tables = platform_tables(metadata)
employers_seen = sa.Table(
    "employers_seen", metadata,
    sa.Column("employer_id", sa.String(36), primary_key=True),
    sa.Column("applied", sa.Integer, nullable=False),
)


def handle(session, event):
    if event.event_type != "EmployerRegistered":
        return
    eid = event.payload["employer_id"]
    row = session.execute(sa.select(employers_seen.c.applied).where(employers_seen.c.employer_id == eid)).first()
    if row is None:
        session.execute(employers_seen.insert().values(employer_id=eid, applied=1))
    else:
        # Counting applications, not setting a flag: a duplicate application would show as 2.
        session.execute(employers_seen.update().where(employers_seen.c.employer_id == eid).values(applied=row.applied + 1))


class Harness:
    """A minimal service: its own database with the platform tables, a relay and a consumer on threads."""

    def __init__(self, bootstrap: str, url: str, group: str):
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": url, "JOBBRIDGE_ENV": "test",
               "JOBBRIDGE_CONSUMER_RETRIES": "1", "JOBBRIDGE_CONSUMER_RETRY_BACKOFF_MS": "10"}
        self.settings = load_settings("intake", env)
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        self.factory = make_session_factory(self.engine)
        self.stop = threading.Event()
        self.group = group
        self.threads: list[threading.Thread] = []

    def start_relay(self):
        relay = OutboxRelay(settings=self.settings, factory=self.factory, outbox=tables["outbox"])
        self._start(relay.run)

    def start_consumer(self):
        consumer = EventConsumer(settings=self.settings, group_id=self.group, topics=[TOPIC_EMPLOYERS],
                                 factory=self.factory, inbox=tables["inbox"], handle=handle)
        self._start(consumer.run)

    def _start(self, target):
        t = threading.Thread(target=target, args=(self.stop,), daemon=True)
        t.start()
        self.threads.append(t)

    def write_event(self, employer_id: str):
        event = make_event("EmployerRegistered", {"employer_id": employer_id, "region_code": "410923",
                                                  "employer_name": "测试"}, producer="test")
        with transaction(self.factory) as session:
            record(session, tables["outbox"], event)
        return event

    def applied(self, employer_id: str) -> int:
        with self.factory() as session:
            return session.execute(
                sa.select(employers_seen.c.applied).where(employers_seen.c.employer_id == employer_id)
            ).scalar_one_or_none() or 0

    def unsent(self) -> int:
        with self.factory() as session:
            return session.execute(sa.select(sa.func.count()).select_from(tables["outbox"])
                                   .where(tables["outbox"].c.sent_at.is_(None))).scalar_one()

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=20)
        self.engine.dispose()


def dead_letters(broker: str, group: str, key: str) -> list:
    return [m for m in read_topic(broker, dlq_topic(group)) if m.key == key.encode()]


@pytest.fixture
def harness(broker, databases):
    h = Harness(broker, databases.url(f"bus_{uuid.uuid4().hex[:6]}"), group=f"test-{uuid.uuid4().hex[:8]}")
    yield h
    h.close()


def test_an_event_is_applied_once_through_outbox_relay_and_consumer(harness):
    harness.start_relay()
    harness.start_consumer()
    employer_id = str(uuid.uuid4())
    harness.write_event(employer_id)
    eventually(lambda: harness.applied(employer_id) == 1, what="event applied")
    assert harness.unsent() == 0


def test_a_replayed_event_changes_nothing(harness, broker):
    harness.start_consumer()
    employer_id = str(uuid.uuid4())
    event = make_event("EmployerRegistered", {"employer_id": employer_id, "region_code": "410923"}, producer="test")
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    ensure_topics(harness.settings.kafka, [TOPIC_EMPLOYERS])
    for _ in range(3):  # the same event three times, as a relay killed before marking would send it
        producer.send(TOPIC_EMPLOYERS, key=employer_id.encode(), value=encode(event)).get(timeout=10)
    marker = str(uuid.uuid4())
    producer.send(TOPIC_EMPLOYERS, key=employer_id.encode(),
                  value=encode(make_event("EmployerRegistered", {"employer_id": marker, "region_code": "410923"},
                                          producer="test"))).get(timeout=10)
    producer.close()
    # The marker follows the copies on the same partition: once it is applied, so were (or were not) they.
    eventually(lambda: harness.applied(marker) == 1, what="marker applied")
    assert harness.applied(employer_id) == 1


def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(harness, broker):
    harness.start_consumer()
    ensure_topics(harness.settings.kafka, [TOPIC_EMPLOYERS])
    key = str(uuid.uuid4())
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    producer.send(TOPIC_EMPLOYERS, key=key.encode(), value=b"{not json").get(timeout=10)
    future_version = {"event_id": str(uuid.uuid4()), "event_type": "EmployerRegistered", "schema_version": 99,
                      "payload": {"employer_id": key, "region_code": "410923"}}
    producer.send(TOPIC_EMPLOYERS, key=key.encode(), value=json.dumps(future_version).encode()).get(timeout=10)
    good = str(uuid.uuid4())
    producer.send(TOPIC_EMPLOYERS, key=key.encode(), value=encode(
        make_event("EmployerRegistered", {"employer_id": good, "region_code": "410923"}, producer="test"))).get(timeout=10)
    producer.close()
    eventually(lambda: harness.applied(good) == 1, what="the good event after the poison ones")
    dead = eventually(lambda: d if len(d := dead_letters(broker, harness.group, key)) >= 2 else None,
                      what="two dead letters")
    reasons = sorted(dict(m.headers)["reason"].decode() for m in dead)
    assert any("not JSON" in r for r in reasons)
    assert any("newer than this reader" in r for r in reasons)
    for m in dead:
        headers = dict(m.headers)
        assert headers["origin_topic"] == TOPIC_EMPLOYERS.encode()
        assert int(headers["origin_offset"]) >= 0


def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_retries(harness, broker, monkeypatch):
    poisoned = str(uuid.uuid4())

    def failing_handle(session, event):
        if event.payload["employer_id"] == poisoned:
            raise ValueError("cannot apply this one")
        handle(session, event)

    consumer = EventConsumer(settings=harness.settings, group_id=harness.group, topics=[TOPIC_EMPLOYERS],
                             factory=harness.factory, inbox=tables["inbox"], handle=failing_handle)
    harness._start(consumer.run)
    harness.start_relay()
    harness.write_event(poisoned)
    after = str(uuid.uuid4())
    harness.write_event(after)
    eventually(lambda: harness.applied(after) == 1, what="the event after the failing one")
    assert harness.applied(poisoned) == 0
    dead = eventually(lambda: [m for m in read_topic(broker, dlq_topic(harness.group))
                               if dict(m.headers).get("reason", b"").startswith(b"handler failed")], what="dead letter")
    assert b"cannot apply this one" in dict(dead[0].headers)["reason"]


def test_an_event_failing_inside_a_bulk_run_is_dead_lettered_and_the_rest_applied_once(harness, broker):
    """The batch fails as a whole, is applied again event by event, and only the failing event is set aside."""
    poisoned = str(uuid.uuid4())
    calls = []

    def bulk(session, events):
        calls.append(len(events))
        for event in events:
            if event.payload["employer_id"] == poisoned:
                raise ValueError("cannot apply this one")
            handle(session, event)

    def careful(session, event):
        if event.payload["employer_id"] == poisoned:
            raise ValueError("cannot apply this one")
        handle(session, event)

    before = [str(uuid.uuid4()) for _ in range(5)]
    after = [str(uuid.uuid4()) for _ in range(5)]
    for eid in [*before, poisoned, *after]:
        harness.write_event(eid)
    harness.start_relay()
    eventually(lambda: harness.unsent() == 0, what="all events on the broker")  # so that one poll reads them all
    consumer = EventConsumer(settings=harness.settings, group_id=harness.group, topics=[TOPIC_EMPLOYERS],
                             factory=harness.factory, inbox=tables["inbox"], handle=careful,
                             bulk={"EmployerRegistered": bulk})
    harness._start(consumer.run)
    eventually(lambda: all(harness.applied(e) == 1 for e in before + after), what="the events around the failing one")
    assert harness.applied(poisoned) == 0
    assert any(n > 1 for n in calls), f"the bulk handler was never given a run of events: {calls}"
    dead = eventually(lambda: [m for m in read_topic(broker, dlq_topic(harness.group))
                               if dict(m.headers).get("reason", b"").startswith(b"handler failed")], what="dead letter")
    assert len(dead) == 1 and b"cannot apply this one" in dict(dead[0].headers)["reason"]


def test_an_event_written_while_the_broker_is_down_arrives_after_it_restarts(databases, tmp_path):
    port = free_port()
    own = Stack(data_dir=tmp_path, env={})
    own.start_broker(port)
    h = Harness(own.bootstrap, databases.url(f"outage_{uuid.uuid4().hex[:6]}"), group=f"outage-{uuid.uuid4().hex[:6]}")
    try:
        h.start_relay()
        h.start_consumer()
        first = str(uuid.uuid4())
        h.write_event(first)
        eventually(lambda: h.applied(first) == 1, timeout=30, what="first event before the outage")
        own.stop_broker()
        during = str(uuid.uuid4())
        h.write_event(during)  # the write succeeds: it is only a row in the outbox
        assert h.unsent() >= 1
        own.start_broker(port)  # a new, empty broker (the local one keeps nothing)
        eventually(lambda: h.applied(during) == 1, timeout=60, what="event written during the outage")
        assert h.applied(first) == 1, "the replay after the broker lost its data must not apply anything twice"
        assert h.unsent() == 0
    finally:
        h.close()
        own.stop()
