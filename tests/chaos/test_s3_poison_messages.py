"""Scenario 3: poison mixed into a stream of good events — malformed JSON, an unknown event type, a schema version
newer than the readers know, a payload of the wrong shape, and a message of ~950 KB (over the events' size limit
but within the broker's) — plus one that decodes but that placement cannot store (a headcount of 10^30: its
handler fails, is retried with backoff, and the retry budget runs out; matching keeps the number in a JSON
profile and applies it). Every good event is applied; every bad one is in the dead-letter topic of each group
that reads its topic, with its reason and the exact topic, partition and offset it came from; no partition
stalls: the time from the last message produced to the last good one applied is measured and shown.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import sqlalchemy as sa
from chaoskit import (
    GROUPS,
    Producer,
    System,
    dead_letters,
    report,
    rng,
    sizes,
    vacancy_event,
    wait_caught_up,
    wait_for,
    worker_event,
)

from shared.bus.consumer import DLQ_VALUE_LIMIT
from shared.events import MAX_EVENT_BYTES, TOPIC_VACANCIES, TOPIC_WORKERS, encode, make_event

pytestmark = pytest.mark.timeout(sizes().timeout_s)


def poison(r) -> list[tuple[str, str, bytes, str]]:
    """(kind, topic, value, expected reason prefix) of each bad message."""
    worker_id = str(uuid.uuid4())

    def envelope(**over) -> dict:
        base = {"event_id": str(uuid.uuid4()), "event_type": "WorkerRegistered", "schema_version": 1,
                "occurred_at": "2026-11-25T00:00:00.000+00:00", "producer": "chaos", "aggregate_id": worker_id,
                "payload": {"worker_id": worker_id, "version": 1, "region_code": "410923"}}
        base.update(over)
        return base

    unstorable = make_event("VacancyPosted", {
        "vacancy_id": str(uuid.uuid4()), "version": 1, "employer_id": str(uuid.uuid4()), "title": "电焊工",
        "region_code": "410923", "headcount": 10**30, "vacancy_type": "regular"}, producer="chaos")
    oversized = envelope(payload={"worker_id": worker_id, "version": 1, "region_code": "410923",
                                  "skills": ["电焊" * 50] * 3100})
    raw_oversized = json.dumps(oversized, ensure_ascii=False).encode()
    assert MAX_EVENT_BYTES < len(raw_oversized) < 1_000_000, len(raw_oversized)
    return [
        ("malformed", TOPIC_WORKERS, b'{"event_id": "x", "event_type": "WorkerRegistered", "payl', "undecodable: not JSON"),
        ("unknown_type", TOPIC_VACANCIES, json.dumps(envelope(event_type="VacancyTeleported")).encode(),
         "undecodable: unknown event type"),
        ("future_version", TOPIC_WORKERS, json.dumps(envelope(schema_version=7)).encode(), "undecodable: WorkerRegistered schema_version 7"),
        ("wrong_shape", TOPIC_WORKERS, json.dumps(envelope(payload={"worker_id": worker_id, "version": "one"})).encode(),
         "undecodable: WorkerRegistered payload invalid"),
        ("oversized", TOPIC_WORKERS, raw_oversized, "undecodable: message of"),
        ("unstorable", TOPIC_VACANCIES, encode(unstorable), "handler failed:"),
    ]


def test_poison_goes_to_the_dead_letter_topics_and_every_good_event_is_applied(make_system):
    size = sizes()
    r = rng("s3")
    started = time.monotonic()
    system: System = make_system("s3")
    try:
        system.start_broker()
        system.create_topics()
        system.migrate("matching", "placement")
        for service in ("matching", "placement"):
            system.start_consumer(service)

        employer = str(uuid.uuid4())
        good = []
        workers = [str(uuid.uuid4()) for _ in range(size.poison_good * 4 // 5)]
        vacancies = [str(uuid.uuid4()) for _ in range(size.poison_good - len(workers))]
        good += [worker_event(w, 1, r) for w in workers] + [vacancy_event(v, 1, employer, r) for v in vacancies]
        r.shuffle(good)
        bad = poison(r)
        # Poison lands at random places: early, in the middle, near the end of the stream.
        slots = sorted(r.sample(range(1, len(good)), len(bad)))
        producer = Producer(system.bootstrap)
        where: dict[str, tuple[str, int, int]] = {}
        futures = []
        i = 0
        for slot, (kind, topic, value, _) in zip(slots, bad, strict=True):
            for event in good[i:slot]:
                producer.send(event)
            i = slot
            # A key of its own, so each bad message sits in some partition among good ones.
            futures.append((kind, producer.send_raw(topic, str(uuid.uuid4()), value, headers=[("event_type", b"?")])))
        for event in good[i:]:
            producer.send(event)
        producer.flush()
        for kind, future in futures:
            meta = future.get(timeout=30)
            where[kind] = (meta.topic, meta.partition, meta.offset)
        last_produced = time.monotonic()
        producer.close()

        unstorable_id = json.loads(bad[-1][2])["event_id"]
        expected = {"matching": {e.event_id for e in good} | {unstorable_id}, "placement": {e.event_id for e in good}}
        # Which group dead-letters what: matching stores the huge headcount, placement cannot.
        bad_for = {"matching": [b for b in bad if b[0] != "unstorable"], "placement": bad}

        def applied() -> bool:
            return all(system.inbox_count(s) >= len(expected[s]) for s in ("matching", "placement"))

        wait_for(applied, timeout=size.settle_s, what="every good event applied",
                 on_timeout=lambda: system.log_tail("matching-consumer", "placement-consumer", chars=2000))
        drained_s = time.monotonic() - last_produced
        wait_caught_up(system, "matching", "placement", timeout=size.settle_s)

        lost = duplicates = 0
        problems: list[str] = []
        for service in ("matching", "placement"):
            inbox = system.inbox_ids(service)
            lost += len(expected[service] - inbox)
            duplicates += len(inbox - expected[service])
        m_workers = system.table("matching", "m_workers")
        held = system.scalar("matching", sa.select(sa.func.count()).select_from(m_workers))
        if held != len(workers):
            problems.append(f"matching holds {held} workers, {len(workers)} sent")

        dlq_counts = {}
        for service in ("matching", "placement"):
            letters = dead_letters(system, service)
            dlq_counts[service] = len(letters)
            by_origin = {}
            for message in letters:
                headers = {k: v.decode() for k, v in message.headers}
                by_origin[(headers["origin_topic"], int(headers["origin_partition"]), int(headers["origin_offset"]))] = (
                    headers, message)
                if headers.get("consumer_group") != GROUPS[service]:
                    problems.append(f"{service}: dead letter from group {headers.get('consumer_group')}")
            for kind, _topic, value, reason in bad_for[service]:
                origin = where[kind]
                found = by_origin.get(origin)
                if found is None:
                    problems.append(f"{service}: {kind} at {origin} is not in the dead-letter topic")
                    continue
                headers, message = found
                if not headers["reason"].startswith(reason):
                    problems.append(f"{service}: {kind} reason {headers['reason']!r}, expected {reason!r}…")
                if kind == "oversized":
                    if int(headers.get("truncated_from", 0)) != len(value) or len(message.value) != DLQ_VALUE_LIMIT:
                        problems.append(f"{service}: oversized letter not cut to {DLQ_VALUE_LIMIT} with its size")
                elif message.value != value:
                    problems.append(f"{service}: {kind} letter does not carry the original message")
            if len(letters) != len(bad_for[service]):
                problems.append(f"{service}: {len(letters)} dead letters, {len(bad_for[service])} expected")

        report("s3 poison messages", sent=len(good) + len(bad), good=len(good),
               applied=sum(len(e) for e in expected.values()) - lost,
               duplicates=duplicates, lost=lost, dlq=sum(dlq_counts.values()), dlq_matching=dlq_counts["matching"],
               dlq_placement=dlq_counts["placement"], recover_s=drained_s, elapsed_s=time.monotonic() - started)
        assert lost == 0 and duplicates == 0
        assert not problems, problems
    finally:
        system.stop()
    assert not system.alive_pids()
