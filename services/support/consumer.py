"""Support's worker process: its outbox relay and its consumer of intake's worker events and placement's events.

Workers: the region (access checks, figures) and whether they still exist — an erased worker becomes a tombstone
that outranks every earlier event, its free text and certificate numbers are cleared, and nobody may enrol it,
lend to it or pair it any more. Placements: who started work when, for "employed within 3/6 months after a
course", target agreements and equipment given for self-employment.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.support import bootstrap
from services.support.adapters.tables import (
    assistance,
    enrolments,
    idempotency_keys,
    inbox,
    loans,
    outbox,
    placements_seen,
    workers,
)
from services.support.handlers import audit
from shared import idempotency
from shared.config import Settings, load_settings
from shared.db import insert_or_update
from shared.events import TOPIC_PLACEMENTS, TOPIC_WORKERS, Envelope
from shared.runtime import run_worker

log = logging.getLogger(__name__)
TOPICS = [TOPIC_WORKERS, TOPIC_PLACEMENTS]


def _now() -> datetime:
    return datetime.now(UTC)


_WORKERS_STATE = (sa.select(workers.c.worker_id, workers.c.version, workers.c.erased)
                  .where(workers.c.worker_id.in_(sa.bindparam("ids", expanding=True))).with_for_update())


def apply_worker_states(session: Session, events: list[Envelope]) -> None:
    """WorkerRegistered/WorkerUpdated in their order: a newer version wins, a tombstone outranks everything."""
    ids = list(dict.fromkeys(e.payload["worker_id"] for e in events))
    state = {r.worker_id: (r.version, r.erased) for r in session.execute(_WORKERS_STATE, {"ids": ids})}
    existing = set(state)
    final: dict[str, dict] = {}
    at = _now()
    for e in events:
        p = e.payload
        current = state.get(p["worker_id"])
        if current is not None and (current[1] or p["version"] <= current[0]):
            continue
        final[p["worker_id"]] = {"version": p["version"], "region_code": p["region_code"],
                                 "is_4050": bool(p.get("is_4050")), "status": p.get("status") or "active",
                                 "erased": False, "updated_at": at}
        state[p["worker_id"]] = (p["version"], False)
    insert_or_update(session, workers, "worker_id", final, existing)


BULK = {"WorkerRegistered": apply_worker_states, "WorkerUpdated": apply_worker_states}


def apply_worker_erased(session: Session, p: dict) -> None:
    worker_id, now = p["worker_id"], _now()
    row = session.execute(sa.select(workers).where(workers.c.worker_id == worker_id)).mappings().first()
    if row is None:
        session.execute(workers.insert().values(worker_id=worker_id, version=p["version"], region_code=None,
                                                is_4050=False, status="erased", erased=True, updated_at=now))
    elif not row["erased"]:
        session.execute(workers.update().where(workers.c.worker_id == worker_id).values(
            version=max(p["version"], row["version"]), status="erased", erased=True, updated_at=now))
    # Free text may name the person and a certificate number leads back to them: they go. Ids, dates, kinds
    # and amounts stay, for the figures, tied to an id that no longer leads to anyone.
    session.execute(loans.update().where(loans.c.worker_id == worker_id).values(
        purpose=None, project=None, reason_text=None))
    session.execute(assistance.update().where(assistance.c.worker_id == worker_id).values(note=None))
    session.execute(enrolments.update().where(enrolments.c.worker_id == worker_id).values(certificate_no=None))
    # Stored answers of retried POSTs may name the worker with an amount, a loan's purpose or a note: they go
    # too. An answer is filed under the first id it carries (keys sorted): a loan's, a repayment's and an
    # outcome's under the loan id, assistance under its own id, so forget by those of the worker as well as by
    # the worker id. (An enrolment's answer, filed under the course id, holds no more than the worker's id.)
    forgotten = {worker_id}
    for column, where in ((loans.c.loan_id, loans.c.worker_id), (assistance.c.assistance_id, assistance.c.worker_id)):
        forgotten.update(session.execute(sa.select(column).where(where == worker_id)).scalars())
    for resource_id in sorted(forgotten):
        idempotency.forget(session, idempotency_keys, resource_id)
    audit(session, None, action="erase", resource="worker", resource_id=worker_id, at=now)


def apply_placement(session: Session, p: dict) -> None:
    if session.execute(sa.select(placements_seen.c.placement_id)
                       .where(placements_seen.c.placement_id == p["placement_id"])).first():
        return
    session.execute(placements_seen.insert().values(placement_id=p["placement_id"], worker_id=p["worker_id"],
                                                    placement_type=p["placement_type"], start_date=p["start_date"]))


def handle(session: Session, event: Envelope) -> None:
    """Turn one of intake's or placement's events into a change of support's read models."""
    kind, p = event.event_type, dict(event.payload)
    if kind in BULK:
        apply_worker_states(session, [event])
    elif kind == "WorkerErased":
        apply_worker_erased(session, p)
    elif kind == "PlacementRecorded":
        apply_placement(session, p)
    # Other events on these topics say nothing support keeps.


def main(*, only: str | None = None, settings: Settings | None = None) -> None:
    settings = settings or load_settings("support")
    container = bootstrap.build(settings)
    run_worker(
        settings=settings,
        factory=container.factory,
        outbox=outbox,
        inbox=inbox,
        topics=TOPICS,
        handle=handle,
        bulk=BULK,
        relay=only in (None, "relay"),
        consume=only in (None, "consumer"),
    )
