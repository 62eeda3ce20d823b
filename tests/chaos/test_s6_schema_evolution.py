"""Scenario 6: running consumers meet events from the past and from a newer producer.

- The stored sample of every event version (tests/contract/samples) is produced to its topic: each consumer
  that reads the topic applies it, none is dead-lettered.
- A newer producer adds optional fields (in the payload, in the envelope, in the headers) without changing
  `schema_version`, as docs/decisions/0002 allows: the consumers apply those events, keep the fields they know,
  and go on with the next events.
- For contrast, a `schema_version` newer than the readers know is dead-lettered (never guessed at), and the
  consumers go on after it too.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from chaoskit import (
    CONSUMED,
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

from shared.events import LATEST, encode, make_event

pytestmark = pytest.mark.timeout(sizes().timeout_s)

SAMPLES = Path(__file__).resolve().parent.parent / "contract" / "samples"
SERVICES = ("intake", "matching", "placement")


def with_extras(event, payload_extra: dict, *, version: int | None = None) -> tuple[str, bytes, list]:
    """The event as a newer producer would write it: extra payload and envelope fields, an extra header."""
    body = event.as_dict()
    body["payload"] = {**body["payload"], **payload_extra}
    body["trace_id"] = uuid.uuid4().hex
    body["tenant"] = "henan"
    if version is not None:
        body["schema_version"] = version
    headers = [("event_type", event.event_type.encode()), ("schema_version", str(body["schema_version"]).encode()),
               ("event_id", event.event_id.encode()), ("traceparent", b"00-" + uuid.uuid4().hex.encode() + b"-01")]
    return event.topic, json.dumps(body, ensure_ascii=False, default=str).encode(), headers


def test_consumers_apply_old_samples_and_newer_optional_fields_and_go_on(make_system):
    size = sizes()
    r = rng("s6")
    started = time.monotonic()
    system: System = make_system("s6")
    try:
        system.start_broker()
        system.create_topics()
        system.migrate(*SERVICES)
        for service in SERVICES:
            system.start_consumer(service)
        producer = Producer(system.bootstrap)
        expected: dict[str, set[str]] = {s: set() for s in SERVICES}

        def expect(event_id: str, topic: str) -> None:
            for service in SERVICES:
                if topic in CONSUMED[service]:
                    expected[service].add(event_id)

        # 1. every stored sample of every version
        samples = sorted(SAMPLES.glob("*.json"))
        assert samples, "no stored samples"
        for path in samples:
            raw = path.read_bytes()
            body = json.loads(raw)
            topic = LATEST[body["event_type"]].topic
            producer.send_raw(topic, body["aggregate_id"], raw, headers=[
                ("event_type", body["event_type"].encode()), ("schema_version", str(body["schema_version"]).encode())])
            expect(body["event_id"], topic)

        # 2. a newer producer's optional fields, same schema_version
        worker_id, vacancy_id, employer_id = (str(uuid.uuid4()) for _ in range(3))
        registered = worker_event(worker_id, 1, r)
        posted = vacancy_event(vacancy_id, 1, employer_id, r)
        placed = make_event("PlacementRecorded", {"placement_id": str(uuid.uuid4()), "worker_id": worker_id,
                                                  "placement_type": "self_employment",
                                                  "start_date": date(2026, 3, 1)}, producer="chaos")
        newer = [
            (registered, {"languages": ["粤语", "普通话"], "preferred_shift": "night", "skills_detail": {"电焊": "高级"}}),
            (posted, {"benefits": ["五险一金"], "shift_pattern": "两班倒"}),
            (placed, {"contract_type": "fixed_term", "contract_months": 12}),
        ]
        for event, extra in newer:
            topic, raw, headers = with_extras(event, extra)
            producer.send_raw(topic, event.aggregate_id, raw, headers)
            expect(event.event_id, topic)

        # 3. a schema_version no reader knows: dead-lettered by each group that reads the topic
        future = worker_event(str(uuid.uuid4()), 1, r)
        topic, raw, headers = with_extras(future, {"given_name_hash": "x"}, version=LATEST["WorkerRegistered"].version + 1)
        producer.send_raw(topic, future.aggregate_id, raw, headers)

        # 4. and life goes on: ordinary events after all of it, on every topic the consumers read
        after = [worker_event(worker_id, 2, r), vacancy_event(vacancy_id, 2, employer_id, r),
                 make_event("EmployerRegistered", {"employer_id": employer_id, "region_code": "410923"},
                            producer="chaos"),
                 make_event("ReferralCreated", {"referral_id": str(uuid.uuid4()), "worker_id": worker_id,
                                                "vacancy_id": vacancy_id}, producer="chaos")]
        for event in after:
            producer.send_raw(event.topic, event.aggregate_id, encode(event), event.headers())
            expect(event.event_id, event.topic)
        producer.flush()
        producer.close()
        produced = time.monotonic()

        wait_for(lambda: all(system.inbox_ids(s) >= expected[s] for s in SERVICES), timeout=size.settle_s,
                 what="every sample, newer and ordinary event applied",
                 on_timeout=lambda: str({s: len(expected[s] - system.inbox_ids(s)) for s in SERVICES})
                 + system.log_tail(chars=3000))
        took = time.monotonic() - produced
        wait_caught_up(system, *SERVICES, timeout=size.settle_s)

        problems: list[str] = []
        lost = sum(len(expected[s] - system.inbox_ids(s)) for s in SERVICES)
        extra = sum(len(system.inbox_ids(s) - expected[s]) for s in SERVICES)
        m_workers = system.table("matching", "m_workers")
        row = system.rows("matching", sa.select(m_workers).where(m_workers.c.worker_id == worker_id))[0]
        if row.version != 2 or "languages" in row.profile or "preferred_shift" in row.profile:
            problems.append(f"matching's worker row: version {row.version}, profile keys {sorted(row.profile)}")
        p_workers = system.table("placement", "workers")
        if system.scalar("placement", sa.select(p_workers.c.version).where(p_workers.c.worker_id == worker_id)) != 2:
            problems.append("placement did not follow the worker to version 2")
        seen = system.table("intake", "placements_seen")
        if not system.rows("intake", sa.select(seen).where(seen.c.placement_id == placed.payload["placement_id"])):
            problems.append("intake did not record the placement that carried extra fields")
        letters = {s: dead_letters(system, s) for s in SERVICES}
        for service in ("matching", "placement"):
            reasons = [dict(m.headers)["reason"].decode() for m in letters[service]]
            if len(reasons) != 1 or "newer than this reader" not in reasons[0]:
                problems.append(f"{service}: dead letters {reasons}, expected the one future version")
        if letters["intake"]:
            problems.append(f"intake dead-lettered {len(letters['intake'])} messages")
        sent = len(samples) + len(newer) + 1 + len(after)
        report("s6 schema evolution", sent=sent, samples=len(samples), newer_minor=len(newer),
               applied=sum(len(expected[s]) for s in SERVICES) - lost, duplicates=extra, lost=lost,
               dlq=sum(len(v) for v in letters.values()), recover_s=took, elapsed_s=time.monotonic() - started)
        assert lost == 0 and extra == 0
        assert not problems, problems
    finally:
        system.stop()
    assert not system.alive_pids()
