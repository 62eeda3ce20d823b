"""Placement's worker process: its outbox relay and its consumer of intake's events.

The consumer keeps read models of workers, employers and vacancies: only ids and the facts the rules and the
figures need. Each aggregate event carries the whole state and a version; a row is replaced only by a newer
version, so a duplicate or a late event changes nothing. An erased worker becomes a tombstone that keeps what
the anonymous figures need (region, 4050 flag, registration date) and outranks every earlier event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.placement import bootstrap
from services.placement.adapters.tables import (
    employers,
    export_checkins,
    export_members,
    followups,
    inbox,
    outbox,
    referrals,
    vacancies,
    workers,
)
from services.placement.domain import referrals as rf
from services.placement.handlers import _event, audit
from shared.config import Settings, load_settings
from shared.db import insert_or_update
from shared.events import TOPIC_EMPLOYERS, TOPIC_VACANCIES, TOPIC_WORKERS, Envelope
from shared.runtime import run_worker

log = logging.getLogger(__name__)
TOPICS = [TOPIC_WORKERS, TOPIC_EMPLOYERS, TOPIC_VACANCIES]


def _now() -> datetime:
    return datetime.now(UTC)


def _upsert(session: Session, table: sa.Table, key: str, values: dict) -> bool:
    """Insert, or replace when the incoming version is newer; return whether anything changed."""
    current = session.execute(
        sa.select(table.c.version).where(table.c[key] == values[key]).with_for_update()).scalar_one_or_none()
    if current is None:
        session.execute(table.insert().values(**values))
        return True
    if values["version"] <= current:
        return False
    session.execute(table.update().where(table.c[key] == values[key]).values(**values))
    return True


_WORKERS_STATE = (sa.select(workers.c.worker_id, workers.c.version, workers.c.erased)
                  .where(workers.c.worker_id.in_(sa.bindparam("ids", expanding=True))).with_for_update())


def apply_worker_states(session: Session, events: list[Envelope]) -> None:
    """WorkerRegistered/WorkerUpdated events in their order — a tombstone outranks everything (a late event must
    not bring personal facts back), a newer version stays — in at most three statements for the run."""
    ids = list(dict.fromkeys(e.payload["worker_id"] for e in events))
    state = {r.worker_id: (r.version, r.erased) for r in session.execute(_WORKERS_STATE, {"ids": ids})}
    existing = set(state)
    final: dict[str, dict] = {}
    at = _now()
    for e in events:
        p = e.payload
        worker_id = p["worker_id"]
        current = state.get(worker_id)
        if current is not None and (current[1] or p["version"] <= current[0]):
            continue
        final[worker_id] = {
            "version": p["version"], "region_code": p["region_code"], "is_4050": bool(p.get("is_4050")),
            "hardship": list(p.get("hardship") or []), "status": p.get("status") or "active",
            "registered_on": p.get("registered_on"), "willing_to_relocate": bool(p.get("willing_to_relocate")),
            "erased": False, "updated_at": at,
        }
        state[worker_id] = (p["version"], False)
    insert_or_update(session, workers, "worker_id", final, existing)


BULK = {"WorkerRegistered": apply_worker_states, "WorkerUpdated": apply_worker_states}


def apply_worker_erased(session: Session, p: dict) -> None:
    worker_id, now = p["worker_id"], _now()
    row = session.execute(sa.select(workers).where(workers.c.worker_id == worker_id)).mappings().first()
    if row is None:
        # Erased before we heard of it: a tombstone with no facts, so the late registration is ignored.
        session.execute(workers.insert().values(
            worker_id=worker_id, version=p["version"], region_code=None, is_4050=False, hardship=[],
            status="erased", registered_on=None, willing_to_relocate=False, erased=True, updated_at=now))
        return
    if row["erased"]:
        return
    session.execute(workers.update().where(workers.c.worker_id == worker_id).values(
        version=max(p["version"], row["version"]), status="erased", erased=True, hardship=[],
        willing_to_relocate=False, updated_at=now))
    # Free text may name the person: it goes. Ids, dates and codes stay, so the figures stay.
    session.execute(referrals.update().where(referrals.c.worker_id == worker_id).values(note=None, reason_text=None))
    session.execute(followups.update().where(followups.c.worker_id == worker_id).values(note=None, left_reason_text=None))
    session.execute(export_members.update().where(export_members.c.worker_id == worker_id).values(return_note=None))
    session.execute(export_checkins.update().where(export_checkins.c.worker_id == worker_id).values(note=None))
    # An erased worker cannot be placed: open referrals are withdrawn, freeing the vacancy's cap.
    still_open = session.execute(
        sa.select(referrals).where(referrals.c.worker_id == worker_id, referrals.c.status.in_(rf.OPEN_STATUSES))
    ).mappings().all()
    for ref in still_open:
        session.execute(referrals.update().where(referrals.c.referral_id == ref["referral_id"]).values(
            status=rf.WITHDRAWN, open_key=None, reason_code=rf.WORKER_ERASED, status_changed_at=now,
            version=ref["version"] + 1))
        _event(session, "ReferralStatusChanged", {
            "referral_id": ref["referral_id"], "worker_id": worker_id, "vacancy_id": ref["vacancy_id"],
            "employer_id": ref["employer_id"], "from_status": ref["status"], "status": rf.WITHDRAWN,
            "reason_code": rf.WORKER_ERASED})
        audit(session, None, action="status", resource="referral", resource_id=ref["referral_id"], at=now,
              detail=f"{ref['status']}->{rf.WITHDRAWN};worker erased")


def apply_employer(session: Session, p: dict) -> None:
    _upsert(session, employers, "employer_id", {
        "employer_id": p["employer_id"], "version": p.get("version") or 1, "region_code": p.get("region_code"),
        "updated_at": _now()})


def apply_vacancy_state(session: Session, p: dict) -> None:
    _upsert(session, vacancies, "vacancy_id", {
        "vacancy_id": p["vacancy_id"], "version": p["version"], "employer_id": p["employer_id"],
        "region_code": p.get("region_code"), "vacancy_type": p["vacancy_type"], "headcount": p["headcount"],
        "status": p.get("status") or "open", "updated_at": _now()})


def handle(session: Session, event: Envelope) -> None:
    """Turn one of intake's events into a change of placement's read models."""
    p = dict(event.payload)
    kind = event.event_type
    if kind in ("WorkerRegistered", "WorkerUpdated"):
        apply_worker_states(session, [event])
    elif kind == "WorkerErased":
        apply_worker_erased(session, p)
    elif kind == "EmployerRegistered":
        apply_employer(session, p)
    elif kind in ("VacancyPosted", "VacancyUpdated", "VacancyClosed"):
        apply_vacancy_state(session, p)
    # Other events on these topics say nothing placement keeps.


def main(*, only: str | None = None, settings: Settings | None = None) -> None:
    settings = settings or load_settings("placement")
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
