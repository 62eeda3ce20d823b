"""Intake's worker process: its outbox relay, its consumer of placement events, and the daily closing of
vacancies whose `open_until` has passed.

Placement owns placements; intake owns a worker's status and a vacancy's status. A placement makes the
worker `placed`; its end makes the worker `active` again; hires that fill the headcount close the vacancy.
Each of these is an intake event (WorkerUpdated, VacancyClosed), so matching follows without knowing why.
Support owns training: a passed course (TrainingCompleted) adds the course's skill and certificate to the worker,
audited as a change by the system, and the WorkerUpdated that follows makes matching rank with them.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.intake import bootstrap
from services.intake.adapters.tables import inbox, outbox, placements_seen, vacancies, workers
from services.intake.domain.identity import InvalidValue
from services.intake.domain.normalise import normalise_terms
from services.intake.handlers import IntakeService, _event, _now, audit, vacancy_state, worker_state
from shared.config import Settings, load_settings
from shared.events import TOPIC_PLACEMENTS, TOPIC_TRAINING, Envelope
from shared.runtime import run_worker

log = logging.getLogger(__name__)
TOPICS = [TOPIC_PLACEMENTS, TOPIC_TRAINING]


def _set_worker_status(session: Session, worker_id: str, status: str) -> None:
    row = session.execute(sa.select(workers).where(workers.c.id == worker_id)).mappings().first()
    if row is None or row["status"] in ("erased", status):
        return
    row = dict(row)
    changes = {"status": status, "version": row["version"] + 1, "updated_at": _now()}
    session.execute(workers.update().where(workers.c.id == worker_id).values(**changes))
    row.update(changes)
    _event(session, "WorkerUpdated", worker_state(row))


def _close_if_full(session: Session, vacancy_id: str) -> None:
    row = session.execute(sa.select(vacancies).where(vacancies.c.id == vacancy_id)).mappings().first()
    if row is None or row["status"] != "open":
        return
    hires = session.execute(
        sa.select(sa.func.count()).select_from(placements_seen).where(placements_seen.c.vacancy_id == vacancy_id)
    ).scalar_one()
    if hires < row["headcount"]:
        return
    row = dict(row)
    changes = {"status": "closed", "close_reason": "filled", "version": row["version"] + 1, "updated_at": _now()}
    session.execute(vacancies.update().where(vacancies.c.id == vacancy_id).values(**changes))
    row.update(changes)
    _event(session, "VacancyClosed", vacancy_state(row))


def _add_training(session: Session, p: dict) -> None:
    """A passed course gives the worker its skill and certificate (once: a replay or a second pass adds nothing)."""
    if not p["passed"]:
        return
    row = session.execute(sa.select(workers).where(workers.c.id == p["worker_id"])).mappings().first()
    if row is None or row["status"] == "erased":
        return
    row = dict(row)
    try:
        skills = normalise_terms([*row["skills"], p["skill"]], max_items=30, max_len=40)
        certificates = normalise_terms([*row["certificates"], *([p["certificate"]] if p.get("certificate") else [])],
                                       max_items=30, max_len=40)
    except InvalidValue as exc:
        # A profile full already (30 terms) keeps what it has; the course stays on record in support.
        log.warning("training result not added to the worker", extra={"worker_id": p["worker_id"], "reason": str(exc)})
        return
    if skills == list(row["skills"]) and certificates == list(row["certificates"]):
        return
    changes = {"skills": skills, "certificates": certificates, "version": row["version"] + 1, "updated_at": _now()}
    session.execute(workers.update().where(workers.c.id == p["worker_id"]).values(**changes))
    row.update(changes)
    _event(session, "WorkerUpdated", worker_state(row))
    audit(session, None, action="update", resource="worker", resource_id=p["worker_id"],
          detail=f"training_completed;course={p['course_id']};enrolment={p['enrolment_id']}")


def handle(session: Session, event: Envelope) -> None:
    p = event.payload
    if event.event_type == "TrainingCompleted":
        _add_training(session, p)
    elif event.event_type == "PlacementRecorded":
        exists = session.execute(
            sa.select(placements_seen.c.placement_id).where(placements_seen.c.placement_id == p["placement_id"])
        ).first()
        if exists:
            return
        session.execute(placements_seen.insert().values(
            placement_id=p["placement_id"], worker_id=p["worker_id"], vacancy_id=p.get("vacancy_id"), ended=False))
        _set_worker_status(session, p["worker_id"], "placed")
        if p.get("vacancy_id"):
            _close_if_full(session, p["vacancy_id"])
    elif event.event_type == "PlacementEnded":
        session.execute(placements_seen.update().where(placements_seen.c.placement_id == p["placement_id"])
                        .values(ended=True))
        still_working = session.execute(
            sa.select(sa.func.count()).select_from(placements_seen)
            .where(placements_seen.c.worker_id == p["worker_id"], placements_seen.c.ended.is_(False))
        ).scalar_one()
        if not still_working:
            _set_worker_status(session, p["worker_id"], "active")
    # Other placement and training events say nothing that intake keeps.


def expiry_loop(service: IntakeService, *, every_s: float = 60.0):
    def loop(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                closed = service.close_expired_vacancies()
                if closed:
                    log.info("closed expired vacancies", extra={"count": closed})
            except sa.exc.OperationalError:
                log.warning("could not check for expired vacancies", exc_info=True)
            stop.wait(every_s)

    return loop


def main(*, only: str | None = None, settings: Settings | None = None) -> None:
    settings = settings or load_settings("intake")
    container = bootstrap.build(settings)
    service = IntakeService(container)
    run_worker(
        settings=settings,
        factory=container.factory,
        outbox=outbox,
        inbox=inbox,
        topics=TOPICS,
        handle=handle,
        relay=only in (None, "relay"),
        consume=only in (None, "consumer"),
        extra_loops=[expiry_loop(service)] if only in (None, "consumer") else [],
    )
