"""Matching's and placement's consumers apply a poll of worker events in bulk; the read model they leave must be
the one that applying the same events one by one, each in its savepoint, leaves — on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from services.matching import consumer as matching
from services.matching.adapters import tables as mt
from services.placement import consumer as placement
from services.placement.adapters import tables as pt
from shared.bus.consumer import Decoded, EventConsumer
from shared.config import load_settings
from shared.db import make_engine, make_session_factory
from shared.events import decode, encode, make_event

SKILLS = ["电焊", "缝纫", "电脑操作", "保洁", "叉车", "育婴"]


@dataclass
class Record:
    """What the consumer reads of a broker record when it applies one (the broker is not part of this test)."""

    topic: str
    value: bytes


def _events(rng: random.Random, n_workers: int = 40, n_events: int = 400) -> list:
    """Registrations, updates, stale and repeated versions, erasures and updates after erasure, interleaved."""
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n_workers)]
    version = dict.fromkeys(ids, 0)
    out = []
    for _ in range(n_events):
        wid = rng.choice(ids)
        roll = rng.random()
        if roll < 0.06:
            out.append(make_event("WorkerErased", {"worker_id": wid, "version": version[wid] + 1}, producer="test"))
            version[wid] += 1
            continue
        if roll < 0.2 and version[wid] > 1:
            v = rng.randint(1, version[wid])  # late or repeated
        else:
            version[wid] += 1
            v = version[wid]
        payload = {"worker_id": wid, "version": v, "region_code": rng.choice(["410923", "410902", "110101"]),
                   "skills": rng.sample(SKILLS, k=rng.randint(0, 3)), "is_4050": rng.random() < 0.3,
                   "willing_to_relocate": rng.random() < 0.5, "experience_years": rng.choice([0, 1.5, 12]),
                   "status": rng.choice(["active", "active", "placed"])}
        out.append(make_event("WorkerRegistered" if v == 1 else "WorkerUpdated", payload, producer="test"))
    out.extend(out[rng.randrange(len(out))] for _ in range(10))  # redelivered events, same event_id
    return out


SERVICES = {"matching": (matching, mt), "placement": (placement, pt)}


def _consumer(service: str, url: str, *, bulk: bool) -> tuple[EventConsumer, sa.Engine]:
    module, tables = SERVICES[service]
    engine = make_engine(url)
    tables.metadata.create_all(engine)
    settings = load_settings(service, {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "DATABASE_URL": url,
                                       "JOBBRIDGE_ENV": "test"})
    return EventConsumer(settings=settings, group_id="g", topics=[], factory=make_session_factory(engine),
                         inbox=tables.inbox, handle=module.handle, bulk=module.BULK if bulk else None), engine


def _state(service: str, engine: sa.Engine) -> tuple[list, dict, int]:
    tables = SERVICES[service][1]
    w = tables.workers
    columns = [c for c in w.c if c.name != "updated_at"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(w.c.worker_id)).all()
        changed = {}  # change rows per worker: one per version applied, the witness of order the chaos suite reads
        if service == "matching":
            changed = dict(conn.execute(sa.select(mt.changes.c.entity_id, sa.func.count())
                                        .where(mt.changes.c.kind == "worker").group_by(mt.changes.c.entity_id)).all())
        applied = conn.execute(sa.select(sa.func.count()).select_from(tables.inbox)).scalar_one()
    return [dict(r._mapping) for r in rows], changed, applied


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_and_one_by_one_leave_the_same_read_model(databases, seed, service):
    rng = random.Random(seed)
    events = _events(rng)
    decoded = [Decoded(Record("jobbridge.workers", encode(e)), decode(encode(e)), None) for e in events]
    bulk, bulk_engine = _consumer(service, databases.url(f"bulk_{seed}_{uuid.uuid4().hex[:6]}"), bulk=True)
    careful, careful_engine = _consumer(service, databases.url(f"careful_{seed}_{uuid.uuid4().hex[:6]}"), bulk=False)
    try:
        # Polls of uneven size, the same for both.
        cuts = sorted(rng.sample(range(1, len(decoded)), k=6))
        for lo, hi in zip([0, *cuts], [*cuts, len(decoded)], strict=True):
            chunk = decoded[lo:hi]
            bulk._apply_whole(chunk)
            careful._apply_isolated(chunk)
        got, expected = _state(service, bulk_engine), _state(service, careful_engine)
        assert got == expected
        rows, changed, applied = got
        assert applied == len({e.event_id for e in events})
        assert {r["status"] for r in rows} >= {"erased", "active", "placed"}, "the sequence must exercise erasure"
        if service == "matching":
            assert set(changed) == {r["worker_id"] for r in rows}
            assert sum(changed.values()) > len(changed), "some worker must have advanced more than once"
    finally:
        bulk_engine.dispose()
        careful_engine.dispose()


def test_a_stale_update_in_the_same_run_does_not_overwrite_a_newer_one(databases):
    wid = str(uuid.uuid4())
    newer = make_event("WorkerUpdated", {"worker_id": wid, "version": 3, "region_code": "410923"}, producer="t")
    older = make_event("WorkerUpdated", {"worker_id": wid, "version": 2, "region_code": "110101"}, producer="t")
    c, engine = _consumer("matching", databases.url(f"stale_{uuid.uuid4().hex[:6]}"), bulk=True)
    try:
        c._apply_whole([Decoded(Record("jobbridge.workers", b""), e, None) for e in (newer, older)])
        rows, _, applied = _state("matching", engine)
        assert [(r["version"], r["region_code"]) for r in rows] == [(3, "410923")]
        assert applied == 2
    finally:
        engine.dispose()
