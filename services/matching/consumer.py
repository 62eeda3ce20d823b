"""Matching's worker process: read models from intake's events, open referrals and outcomes from placement's,
upcoming courses from support's, automatic retraining after enough new outcomes, and the outbox relay.

Every change that alters what the index ranks is also written to `m_changes`, which the web processes tail
to keep their in-memory index current (an event is rankable well within a second).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.matching import bootstrap
from services.matching.adapters.tables import (
    changes,
    courses,
    inbox,
    outbox,
    outcomes,
    referrals,
    vacancies,
    workers,
)
from services.matching.courses import course_term_key
from services.matching.profiles import (
    pair_feature_dict,
    vacancy_profile_from_event,
    worker_profile_from_event,
)
from shared.config import Settings, load_settings
from shared.db import insert_or_update
from shared.events import (
    TOPIC_PLACEMENTS,
    TOPIC_REFERRALS,
    TOPIC_TRAINING,
    TOPIC_VACANCIES,
    TOPIC_WORKERS,
    Envelope,
)
from shared.runtime import run_worker

log = logging.getLogger(__name__)
# The bureau's synonym file, set once by main(): features must be computed as the web processes compute them.
_SYNONYMS: list[str | None] = [None]
TOPICS = [TOPIC_WORKERS, TOPIC_VACANCIES, TOPIC_REFERRALS, TOPIC_PLACEMENTS, TOPIC_TRAINING]

# Placement's rejection reasons mapped onto what the model's training understands as "not about the match".
REJECTION_REASONS = {
    "skills_mismatch": "skills_mismatch",
    "wage_not_accepted": "wage_not_accepted",
    "unreachable": "could_not_be_reached",
    "no_show": "no_show",
    "position_filled": "position_filled",
    "other": "other",
}


def _now() -> datetime:
    return datetime.now(UTC)


# Built once: constructing a statement per event cost more than executing it (bench/results.md, profile).
_INSERT_CHANGE = changes.insert()


def _changed(session: Session, kind: str, entity_id: str) -> None:
    session.execute(_INSERT_CHANGE, {"kind": kind, "entity_id": entity_id})


_WORKERS_STATE = (sa.select(workers.c.worker_id, workers.c.version, workers.c.status)
                  .where(workers.c.worker_id.in_(sa.bindparam("ids", expanding=True))).with_for_update())


def apply_worker_states(session: Session, events: list[Envelope]) -> None:
    """WorkerRegistered/WorkerUpdated events in their order — a stale version or an erased worker changes nothing,
    the newest wins — in four statements for the run (one event: the same, for a run of one). Every version that
    advances a worker writes its own change row, as applying the events one by one would: the change log is
    also the witness that each version was applied once and in order (tests/chaos)."""
    ids = list(dict.fromkeys(e.payload["worker_id"] for e in events))
    state = {r.worker_id: (r.version, r.status) for r in session.execute(_WORKERS_STATE, {"ids": ids})}
    existing = set(state)
    final: dict[str, dict] = {}
    advanced: list[dict] = []
    at = _now()
    for e in events:
        p = e.payload
        worker_id = p["worker_id"]
        current = state.get(worker_id)
        if current is not None and (current[0] >= p["version"] or current[1] == "erased"):
            continue
        values = {
            "version": p["version"],
            "region_code": p["region_code"],
            "willing_to_relocate": bool(p.get("willing_to_relocate")),
            "status": p.get("status") or "active",
            "profile": worker_profile_from_event(p),
            "updated_at": at,
        }
        state[worker_id] = (values["version"], values["status"])
        final[worker_id] = values
        advanced.append({"kind": "worker", "entity_id": worker_id})
    if not final:
        return
    insert_or_update(session, workers, "worker_id", final, existing)
    session.execute(_INSERT_CHANGE, advanced)


BULK = {"WorkerRegistered": apply_worker_states, "WorkerUpdated": apply_worker_states}


def _erase_worker(session: Session, p: dict) -> None:
    worker_id = p["worker_id"]
    row = session.execute(sa.select(workers.c.worker_id).where(workers.c.worker_id == worker_id)).first()
    tombstone = {"version": p["version"], "region_code": None, "willing_to_relocate": False, "status": "erased",
                 "profile": None, "updated_at": _now()}
    if row is None:
        session.execute(workers.insert().values(worker_id=worker_id, **tombstone))
    else:
        session.execute(workers.update().where(workers.c.worker_id == worker_id).values(**tombstone))
    session.execute(outcomes.update().where(outcomes.c.worker_id == worker_id).values(worker_id=None))
    session.execute(referrals.update().where(referrals.c.worker_id == worker_id).values(worker_id=None))
    _changed(session, "worker", worker_id)


def _upsert_vacancy(session: Session, p: dict) -> None:
    row = session.execute(
        sa.select(vacancies.c.version, vacancies.c.profile).where(vacancies.c.vacancy_id == p["vacancy_id"])
        .with_for_update()  # replicas of this consumer may touch the same row: read-modify-write under a lock
    ).first()
    if row is not None and row.version >= p["version"]:
        return
    profile = vacancy_profile_from_event(p)
    if row is not None:
        # Counters come from placement's events, not intake's: keep them.
        profile["filled"] = row.profile.get("filled", 0)
        profile["open_referrals"] = row.profile.get("open_referrals", 0)
    values = {"version": p["version"], "employer_id": p["employer_id"], "vacancy_type": p["vacancy_type"],
              "status": p.get("status") or "open", "profile": profile, "updated_at": _now()}
    if row is None:
        session.execute(vacancies.insert().values(vacancy_id=p["vacancy_id"], **values))
    else:
        session.execute(vacancies.update().where(vacancies.c.vacancy_id == p["vacancy_id"]).values(**values))
    _changed(session, "vacancy", p["vacancy_id"])


def _bump_vacancy(session: Session, vacancy_id: str | None, **deltas: int) -> None:
    if not vacancy_id:
        return
    row = session.execute(
        sa.select(vacancies.c.profile).where(vacancies.c.vacancy_id == vacancy_id).with_for_update()
    ).first()
    if row is None:
        return  # a vacancy we never heard of: counters will not matter for it
    profile = dict(row.profile)
    for key, delta in deltas.items():
        profile[key] = max(0, int(profile.get(key, 0)) + delta)
    session.execute(vacancies.update().where(vacancies.c.vacancy_id == vacancy_id).values(profile=profile))
    _changed(session, "vacancy", vacancy_id)


def _pair_features(session: Session, worker_id: str | None, vacancy_id: str | None) -> dict | None:
    if not worker_id or not vacancy_id:
        return None
    w = session.execute(sa.select(workers.c.profile).where(workers.c.worker_id == worker_id)).scalar_one_or_none()
    v = session.execute(sa.select(vacancies.c.profile).where(vacancies.c.vacancy_id == vacancy_id)).scalar_one_or_none()
    if not w or not v:
        return None
    return pair_feature_dict(w, v, synonyms_path=_SYNONYMS[0])


def _record_outcome(session: Session, event: Envelope, *, worker_id: str, vacancy_id: str | None, kind: str,
                    reason: str | None, features: dict | None) -> None:
    if features is None:
        features = _pair_features(session, worker_id, vacancy_id)
    if features is None:
        return  # nothing to learn from a pair we cannot describe
    session.execute(outcomes.insert().values(event_id=event.event_id, worker_id=worker_id, vacancy_id=vacancy_id,
                                             kind=kind, reason=reason, features=features, at=_now()))


def _upsert_course(session: Session, p: dict) -> None:
    row = session.execute(sa.select(courses.c.version, courses.c.enrolled).where(courses.c.course_id == p["course_id"])
                          .with_for_update()).first()
    if row is not None and row.version >= p["version"]:
        return
    values = {"version": p["version"], "title": p["title"], "skill_key": course_term_key(p["skill"]),
              "certificate_key": course_term_key(p["certificate"]), "region_code": p["region_code"],
              "starts_on": p["starts_on"], "capacity": p["capacity"],
              "enrolled": max(p.get("enrolled") or 0, row.enrolled if row is not None else 0)}
    if row is None:
        session.execute(courses.insert().values(course_id=p["course_id"], **values))
    else:
        session.execute(courses.update().where(courses.c.course_id == p["course_id"]).values(**values))


def _course_enrolled(session: Session, p: dict) -> None:
    # Enrolments only grow: the highest count seen wins, whatever order the events came in.
    session.execute(courses.update().where(courses.c.course_id == p["course_id"], courses.c.enrolled < p["enrolled"])
                    .values(enrolled=p["enrolled"]))


def handle(session: Session, event: Envelope) -> None:
    t, p = event.event_type, event.payload
    if t in ("WorkerRegistered", "WorkerUpdated"):
        apply_worker_states(session, [event])
    elif t == "WorkerErased":
        _erase_worker(session, p)
    elif t in ("VacancyPosted", "VacancyUpdated", "VacancyClosed"):
        _upsert_vacancy(session, p)
    elif t == "ReferralCreated":
        if session.execute(sa.select(referrals.c.referral_id).where(referrals.c.referral_id == p["referral_id"])).first():
            return
        session.execute(referrals.insert().values(referral_id=p["referral_id"], vacancy_id=p["vacancy_id"],
                                                  worker_id=p["worker_id"], open=True))
        _bump_vacancy(session, p["vacancy_id"], open_referrals=1)
    elif t == "ReferralStatusChanged":
        status = p["status"]
        if status in ("hired", "rejected", "withdrawn"):
            row = session.execute(sa.select(referrals.c.open).where(referrals.c.referral_id == p["referral_id"])
                                  .with_for_update()).first()
            if row is not None and row.open:
                session.execute(referrals.update().where(referrals.c.referral_id == p["referral_id"]).values(open=False))
                _bump_vacancy(session, p["vacancy_id"], open_referrals=-1)
        if status in ("hired", "rejected"):
            reason = REJECTION_REASONS.get(p.get("reason_code") or "", p.get("reason_code"))
            _record_outcome(session, event, worker_id=p["worker_id"], vacancy_id=p["vacancy_id"], kind=status,
                            reason=reason if status == "rejected" else None, features=None)
    elif t == "PlacementRecorded":
        _bump_vacancy(session, p.get("vacancy_id"), filled=1)
    elif t == "CourseOpened":
        _upsert_course(session, p)
    elif t == "TrainingEnrolled":
        _course_enrolled(session, p)
    elif t == "FollowUpRecorded":
        if p["month"] in (3, 6) or not p["employed"]:
            kind = f"retained_{p['month']}" if p["employed"] else "left"
            _record_outcome(session, event, worker_id=p["worker_id"], vacancy_id=p.get("vacancy_id"), kind=kind,
                            reason=p.get("left_reason"), features=None)


@cache
def _retrainer(settings: Settings):
    from services.matching.handlers import MatchingService

    return MatchingService(bootstrap.build(settings), with_index=False)


def retrain_loop(settings: Settings, *, every_s: float = 15.0):
    """Retrain once `retrain_after_outcomes` new outcomes have arrived since the last model or attempt."""

    def loop(stop: threading.Event) -> None:
        service = _retrainer(settings)
        attempted_at = -1  # outcomes seen by the last attempt that produced no model (e.g. too few rows)
        while not stop.wait(every_s):
            try:
                new = service.outcomes_since_active_model()
                if new < settings.retrain_after_outcomes or new < attempted_at + settings.retrain_after_outcomes:
                    continue
                result = service.retrain(trigger="automatic")
                attempted_at = -1 if result["version"] else new
                log.info("automatic retrain", extra={"promoted": result["promoted"], "version": result["version"],
                                                     "reason": result["reason"]})
            except sa.exc.OperationalError:
                log.warning("retrain check failed; will try again", exc_info=True)

    return loop


def main(*, only: str | None = None, settings: Settings | None = None) -> None:
    settings = settings or load_settings("matching")
    _SYNONYMS[0] = settings.synonyms_path
    container = bootstrap.build(settings)
    consume = only in (None, "consumer")
    run_worker(
        settings=settings,
        factory=container.factory,
        outbox=outbox,
        inbox=inbox,
        topics=TOPICS,
        handle=handle,
        bulk=BULK,
        relay=only in (None, "relay"),
        consume=consume,
        extra_loops=[retrain_loop(settings)] if consume else [],
    )
