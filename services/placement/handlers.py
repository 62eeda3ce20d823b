"""The placement service layer: each command is one transaction that changes the records, writes its events to
the outbox and its line to the audit log.

Placement knows workers, employers and vacancies only from intake's events (see consumer.py). A command that
names one placement has not heard of is refused with 422 rather than waited for: docs/decisions/
0003-placement-ordering.md.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.placement.adapters.tables import (
    audit_log,
    employers,
    export_batches,
    export_checkins,
    export_income,
    export_members,
    followups,
    outbox,
    placements,
    referrals,
    vacancies,
    workers,
)
from services.placement.bootstrap import Container
from services.placement.domain import exports as ex
from services.placement.domain import figures
from services.placement.domain import placements as pl
from services.placement.domain import referrals as rf
from shared.auth import Principal
from shared.bus.outbox import record
from shared.db import reading, transaction
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from shared.events import Envelope, make_event

PRODUCER = "placement"
EARLIEST_DATE = date(2000, 1, 1)
# How far ahead a start or departure date may be announced.
MAX_DAYS_AHEAD = 366


class UnknownWorker(Unprocessable):
    code = "unknown_worker"


class UnknownVacancy(Unprocessable):
    code = "unknown_vacancy"


class VacancyClosed(Unprocessable):
    code = "vacancy_closed"


class UnknownEmployer(Unprocessable):
    code = "unknown_employer"


class DuplicatePlacement(Conflict):
    code = "duplicate_placement"


def _event(session: Session, event_type: str, payload: Mapping[str, Any]) -> Envelope:
    envelope = make_event(event_type, payload, producer=PRODUCER)
    record(session, outbox, envelope)
    return envelope


def audit(session: Session, actor: Principal | None, *, action: str, resource: str, resource_id: str | None,
          at: datetime, remote_addr: str | None = None, detail: str | None = None) -> None:
    """Who did what to which record: ids and codes only, never a note's text."""
    session.execute(audit_log.insert().values(
        at=at, actor=actor.sub if actor else "system", role=actor.role if actor else "system", action=action,
        resource=resource, resource_id=resource_id, remote_addr=remote_addr, detail=detail))


def region_clause(column: sa.ColumnElement, prefixes: Sequence[str] | None) -> sa.ColumnElement | None:
    if prefixes is None:
        return None
    return sa.or_(*[column.startswith(p) for p in prefixes]) if prefixes else sa.false()


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class PlacementService:
    def __init__(self, container: Container):
        self.c = container
        self.settings = container.settings

    # --- time ------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.c.clock()

    def today(self) -> date:
        # Dates are UTC dates, as intake's `registered_on` is.
        return self.now().date()

    def _check_date(self, value: date, field: str, *, allow_future: bool = True) -> None:
        latest = self.today() + timedelta(days=MAX_DAYS_AHEAD if allow_future else 0)
        if value < EARLIEST_DATE:
            raise InvalidInput(f"{field} is before {EARLIEST_DATE.isoformat()}",
                               fields={field: [f"must not be before {EARLIEST_DATE.isoformat()}"]})
        if value > latest:
            what = f"more than {MAX_DAYS_AHEAD} days ahead" if allow_future else "in the future"
            raise InvalidInput(f"{field} is {what}", fields={field: [f"must not be {what}"]})

    # --- scope lookups for the policy ------------------------------------------------------------------

    def referral_scope(self, referral_id: str) -> dict | None:
        """The worker's region and the employer of a referral, for the authorization rules."""
        with reading(self.c.factory) as session:
            row = session.execute(
                sa.select(referrals.c.employer_id, workers.c.region_code)
                .select_from(referrals.outerjoin(workers, workers.c.worker_id == referrals.c.worker_id))
                .where(referrals.c.referral_id == referral_id)
            ).mappings().first()
        return dict(row) if row else None

    def placement_scope(self, placement_id: str) -> dict | None:
        with reading(self.c.factory) as session:
            row = session.execute(
                sa.select(placements.c.employer_id, placements.c.placement_type, workers.c.region_code)
                .select_from(placements.outerjoin(workers, workers.c.worker_id == placements.c.worker_id))
                .where(placements.c.placement_id == placement_id)
            ).mappings().first()
        return dict(row) if row else None

    def report_regions(self, actor: Principal, region: str | None) -> tuple[str, ...] | None:
        """The region prefixes a list or report covers: None means everywhere (admin without a filter)."""
        if actor.role in ("caseworker", "manager"):
            if region:
                if not actor.covers_region(region):
                    raise Forbidden("the region is outside the caller's regions",
                                    fields={"region": [f"outside {', '.join(actor.regions)}"]})
                return (region,)
            return tuple(actor.regions)
        return (region,) if region else None

    # --- read model lookups ----------------------------------------------------------------------------

    def _reachable_worker(self, session: Session, worker_id: str, actor: Principal) -> dict:
        """A live worker placement knows and the caller may act for; else 422 (out of reach looks unknown)."""
        row = session.execute(sa.select(workers).where(workers.c.worker_id == worker_id)).mappings().first()
        if row is None or row["erased"] or row["region_code"] is None or not (
                actor.role != "caseworker" or actor.covers_region(row["region_code"])):
            raise UnknownWorker(
                "unknown worker: placement has no record of this worker in the caller's reach (a worker "
                "registered a moment ago may take a few seconds to arrive; try again)",
                fields={"worker_id": ["unknown worker"]})
        return dict(row)

    def _vacancy(self, session: Session, vacancy_id: str, *, lock: bool = False) -> dict:
        stmt = sa.select(vacancies).where(vacancies.c.vacancy_id == vacancy_id)
        if lock:
            stmt = stmt.with_for_update()
        row = session.execute(stmt).mappings().first()
        if row is None:
            raise UnknownVacancy("unknown vacancy", fields={"vacancy_id": ["unknown vacancy"]})
        return dict(row)

    def _employer_known(self, session: Session, employer_id: str) -> None:
        found = session.execute(
            sa.select(employers.c.employer_id).where(employers.c.employer_id == employer_id)).first()
        if found is None:
            raise UnknownEmployer("unknown employer", fields={"employer_id": ["unknown employer"]})

    @staticmethod
    def _hires(session: Session, vacancy_id: str) -> int:
        # Every placement into the vacancy fills a position, as intake counts it when closing a full vacancy.
        return session.execute(
            sa.select(sa.func.count()).select_from(placements).where(placements.c.vacancy_id == vacancy_id)
        ).scalar_one()

    # --- referrals -------------------------------------------------------------------------------------

    def create_referral(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        key = f"{data['worker_id']}:{data['vacancy_id']}"
        try:
            with transaction(self.c.factory) as session:
                worker = self._reachable_worker(session, data["worker_id"], actor)
                vacancy = self._vacancy(session, data["vacancy_id"], lock=True)
                if vacancy["status"] != "open":
                    raise VacancyClosed("the vacancy is closed", fields={"vacancy_id": ["the vacancy is closed"]})
                existing = session.execute(
                    sa.select(referrals.c.referral_id).where(referrals.c.open_key == key)).scalar_one_or_none()
                if existing:
                    raise rf.DuplicateReferral("this worker has an open referral to this vacancy already",
                                               fields={"vacancy_id": ["open referral exists"]},
                                               extra={"referral_id": existing})
                open_count = session.execute(
                    sa.select(sa.func.count()).select_from(referrals)
                    .where(referrals.c.vacancy_id == vacancy["vacancy_id"],
                           referrals.c.status.in_(rf.OPEN_STATUSES))
                ).scalar_one()
                rf.check_capacity(headcount=vacancy["headcount"], hires=self._hires(session, vacancy["vacancy_id"]),
                                  open_referrals=open_count, multiple=self.settings.referral_cap_multiple)
                values = {
                    "referral_id": str(uuid.uuid4()),
                    "worker_id": worker["worker_id"],
                    "vacancy_id": vacancy["vacancy_id"],
                    "employer_id": vacancy["employer_id"],
                    "status": rf.REFERRED,
                    "open_key": key,
                    "note": data.get("note"),
                    "reason_code": None,
                    "reason_text": None,
                    "placement_id": None,
                    "version": 1,
                    "created_at": now,
                    "status_changed_at": now,
                    "responded_at": None,
                    "created_by": actor.sub,
                }
                session.execute(referrals.insert().values(**values))
                _event(session, "ReferralCreated", {
                    "referral_id": values["referral_id"], "worker_id": values["worker_id"],
                    "vacancy_id": values["vacancy_id"], "employer_id": values["employer_id"], "status": rf.REFERRED})
                audit(session, actor, action="create", resource="referral", resource_id=values["referral_id"], at=now,
                      remote_addr=remote_addr)
        except IntegrityError:
            # Two requests raced for the same pair: the unique open key let one in.
            with reading(self.c.factory) as session:
                existing = session.execute(
                    sa.select(referrals.c.referral_id).where(referrals.c.open_key == key)).scalar_one_or_none()
            if existing is None:
                raise
            raise rf.DuplicateReferral("this worker has an open referral to this vacancy already",
                                       fields={"vacancy_id": ["open referral exists"]},
                                       extra={"referral_id": existing}) from None
        return self.present_referral(values)

    def change_referral_status(self, referral_id: str, data: Mapping[str, Any], *, actor: Principal,
                               remote_addr: str | None = None) -> dict:
        target = data["status"]
        now = self.now()
        with transaction(self.c.factory) as session:
            row = session.execute(
                sa.select(referrals).where(referrals.c.referral_id == referral_id).with_for_update()
            ).mappings().first()
            if row is None:
                raise NotFound("referral not found")
            row = dict(row)
            previous = row["status"]
            rf.check_transition(previous, target, role=actor.role)
            rf.check_status_fields(target, start_date=data.get("start_date"), monthly_wage=data.get("monthly_wage"),
                                   reason=data.get("reason"), reason_text=data.get("reason_text"))
            changes: dict[str, Any] = {"status": target, "status_changed_at": now, "version": row["version"] + 1}
            if target not in rf.OPEN_STATUSES:
                changes["open_key"] = None
            if row["responded_at"] is None and target in rf.RESPONSE_STATUSES:
                changes["responded_at"] = now
            if target in (rf.REJECTED, rf.WITHDRAWN):
                changes["reason_code"] = data.get("reason")
                changes["reason_text"] = data.get("reason_text")
            placement = None
            if target == rf.HIRED:
                self._check_date(data["start_date"], "start_date")
                vacancy = self._vacancy(session, row["vacancy_id"], lock=True)
                hires = self._hires(session, row["vacancy_id"])
                if rf.open_headcount(vacancy["headcount"], hires) == 0:
                    raise rf.VacancyFull(f"the vacancy is full: {hires} of {vacancy['headcount']} positions are filled",
                                         fields={"status": ["every position of the vacancy is filled"]},
                                         extra={"headcount": vacancy["headcount"], "hires": hires})
                worker = session.execute(sa.select(workers).where(workers.c.worker_id == row["worker_id"])).mappings().first()
                if worker is None or worker["erased"]:
                    raise UnknownWorker("the worker's record was erased", fields={"status": ["worker erased"]})
                placement = self._insert_placement(session, {
                    "worker_id": row["worker_id"], "placement_type": pl.type_for_vacancy(vacancy["vacancy_type"]),
                    "start_date": data["start_date"], "employer_id": row["employer_id"],
                    "vacancy_id": row["vacancy_id"], "referral_id": referral_id,
                    "monthly_wage": data.get("monthly_wage"), "micro_loan_amount": None,
                }, actor=actor, now=now)
                changes["placement_id"] = placement["placement_id"]
            result = session.execute(
                referrals.update()
                .where(referrals.c.referral_id == referral_id, referrals.c.version == row["version"])
                .values(**changes))
            if result.rowcount != 1:
                raise Conflict("the referral was changed meanwhile; read it again")
            row.update(changes)
            _event(session, "ReferralStatusChanged", {
                "referral_id": referral_id, "worker_id": row["worker_id"], "vacancy_id": row["vacancy_id"],
                "employer_id": row["employer_id"], "from_status": previous,
                "status": target, "reason_code": changes.get("reason_code")})
            audit(session, actor, action="status", resource="referral", resource_id=referral_id, at=now,
                  remote_addr=remote_addr, detail=f"{previous}->{target}")
            if placement is not None:
                self._placement_recorded(session, placement)
                audit(session, actor, action="create", resource="placement", resource_id=placement["placement_id"],
                      at=now, remote_addr=remote_addr, detail=f"hired via referral {referral_id}")
        return self.present_referral(row)

    def get_referral(self, referral_id: str) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(referrals).where(referrals.c.referral_id == referral_id)).mappings().first()
        if row is None:
            raise NotFound("referral not found")
        return self.present_referral(row)

    def list_referrals(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        stmt = sa.select(referrals).select_from(
            referrals.outerjoin(workers, workers.c.worker_id == referrals.c.worker_id))
        if actor.role == "employer":
            stmt = stmt.where(referrals.c.employer_id == actor.employer_id)
        elif actor.role in ("caseworker", "manager"):
            stmt = stmt.where(region_clause(workers.c.region_code, actor.regions))
        for key in ("worker_id", "vacancy_id", "status"):
            if query.get(key):
                stmt = stmt.where(referrals.c[key] == query[key])
        if query.get("stale") is not None:
            cutoff = rf.stale_cutoff(self.now(), self.settings.referral_stale_days)
            waiting = sa.and_(referrals.c.status.in_(rf.OPEN_STATUSES), referrals.c.status_changed_at < cutoff)
            stmt = stmt.where(waiting if query["stale"] else sa.not_(waiting))
        order = (referrals.c.status_changed_at.asc() if query.get("stale") else referrals.c.created_at.desc())
        return self._page(stmt, query, order=[order, referrals.c.referral_id], present=self.present_referral)

    def _page(self, stmt, query: Mapping[str, Any], *, order, present) -> dict:
        page, per_page = query["page"], query["per_page"]
        with reading(self.c.factory) as session:
            total = session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
            rows = session.execute(stmt.order_by(*order).limit(per_page).offset((page - 1) * per_page)).mappings().all()
        return {"items": [present(r) for r in rows], "page": page, "per_page": per_page, "total": total}

    def present_referral(self, row: Mapping[str, Any]) -> dict:
        now = self.now()
        waiting = rf.is_stale(row["status"], row["status_changed_at"], now=now,
                              stale_days=self.settings.referral_stale_days)
        return {
            "referral_id": row["referral_id"],
            "worker_id": row["worker_id"],
            "vacancy_id": row["vacancy_id"],
            "employer_id": row["employer_id"],
            "status": row["status"],
            "note": row["note"],
            "reason": row["reason_code"],
            "reason_text": row["reason_text"],
            "placement_id": row["placement_id"],
            "created_at": row["created_at"],
            "status_changed_at": row["status_changed_at"],
            "responded_at": row["responded_at"],
            "stale": waiting,
            "waiting_days": (now - row["status_changed_at"]).days if row["status"] in rf.OPEN_STATUSES else None,
        }

    # --- placements ------------------------------------------------------------------------------------

    def _insert_placement(self, session: Session, data: Mapping[str, Any], *, actor: Principal, now: datetime) -> dict:
        self._refuse_same_day_duplicate(session, data)
        values = {
            "placement_id": str(uuid.uuid4()),
            "worker_id": data["worker_id"],
            "placement_type": data["placement_type"],
            "start_date": data["start_date"],
            "employer_id": data.get("employer_id"),
            "vacancy_id": data.get("vacancy_id"),
            "referral_id": data.get("referral_id"),
            "monthly_wage": data.get("monthly_wage"),
            "micro_loan_amount": data.get("micro_loan_amount"),
            "status": pl.ACTIVE,
            "ended_on": None,
            "end_reason": None,
            "created_at": now,
            "created_by": actor.sub,
        }
        session.execute(placements.insert().values(**values))
        return values

    @staticmethod
    def _refuse_same_day_duplicate(session: Session, data: Mapping[str, Any]) -> None:
        """A second active placement of a worker starting the same day with the same employer or of the same type
        is the first one recorded twice (a retried request, two caseworkers): 409 naming it."""
        # The worker's row is locked first (PostgreSQL): two such requests at once are answered one after the other.
        session.execute(sa.select(workers.c.worker_id).where(workers.c.worker_id == data["worker_id"]).with_for_update())
        same = placements.c.placement_type == data["placement_type"]
        if data.get("employer_id"):
            same = sa.or_(same, placements.c.employer_id == data["employer_id"])
        twin = session.execute(sa.select(placements.c.placement_id).where(
            placements.c.worker_id == data["worker_id"], placements.c.status == pl.ACTIVE,
            placements.c.start_date == data["start_date"], same).limit(1)).scalar_one_or_none()
        if twin:
            raise DuplicatePlacement("the worker holds an active placement starting that day with the same employer or "
                                     "of the same type already", fields={"start_date": ["duplicate of an active "
                                                                                        "placement"]},
                                     extra={"placement_id": twin})

    @staticmethod
    def _placement_recorded(session: Session, values: Mapping[str, Any]) -> None:
        _event(session, "PlacementRecorded", {
            k: values[k] for k in ("placement_id", "worker_id", "vacancy_id", "employer_id", "referral_id",
                                   "placement_type", "start_date", "monthly_wage")})

    def record_placement(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        self._check_date(data["start_date"], "start_date")
        with transaction(self.c.factory) as session:
            worker = self._reachable_worker(session, data["worker_id"], actor)
            vacancy = self._vacancy(session, data["vacancy_id"], lock=True) if data.get("vacancy_id") else None
            pl.check_direct_placement(data, vacancy=vacancy)
            employer_id = data.get("employer_id") or (vacancy["employer_id"] if vacancy else None)
            if employer_id:
                self._employer_known(session, employer_id)
            if vacancy is not None:
                hires = self._hires(session, vacancy["vacancy_id"])
                if rf.open_headcount(vacancy["headcount"], hires) == 0:
                    raise rf.VacancyFull(f"the vacancy is full: {hires} of {vacancy['headcount']} positions are filled",
                                         fields={"vacancy_id": ["every position is filled"]},
                                         extra={"headcount": vacancy["headcount"], "hires": hires})
                twice = session.execute(
                    sa.select(placements.c.placement_id).where(
                        placements.c.worker_id == worker["worker_id"], placements.c.vacancy_id == vacancy["vacancy_id"],
                        placements.c.status == pl.ACTIVE)).scalar_one_or_none()
                if twice:
                    raise DuplicatePlacement("the worker holds an active placement in this vacancy already",
                                             fields={"vacancy_id": ["active placement exists"]},
                                             extra={"placement_id": twice})
            values = self._insert_placement(session, {**data, "employer_id": employer_id}, actor=actor, now=now)
            self._placement_recorded(session, values)
            audit(session, actor, action="create", resource="placement", resource_id=values["placement_id"], at=now,
                  remote_addr=remote_addr, detail=values["placement_type"])
        return self.get_placement(values["placement_id"])

    def get_placement(self, placement_id: str) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(
                sa.select(placements).where(placements.c.placement_id == placement_id)).mappings().first()
            if row is None:
                raise NotFound("placement not found")
            done = session.execute(
                sa.select(followups).where(followups.c.placement_id == placement_id).order_by(followups.c.month)
            ).mappings().all()
        return self.present_placement(row, done)

    def present_placement(self, row: Mapping[str, Any], done: Sequence[Mapping[str, Any]]) -> dict:
        recorded = {f["month"] for f in done}
        due = [{"month": m, "due_on": pl.followup_date(row["start_date"], m)}
               for m in pl.FOLLOWUP_MONTHS if m not in recorded] if row["status"] == pl.ACTIVE else []
        out = {k: row[k] for k in ("placement_id", "worker_id", "placement_type", "start_date", "employer_id",
                                   "vacancy_id", "referral_id", "monthly_wage", "micro_loan_amount", "status",
                                   "ended_on", "created_at")}
        out["end_reason"] = row["end_reason"]
        out["followups"] = [self.present_followup(f) for f in done]
        out["followups_pending"] = due
        return out

    @staticmethod
    def present_followup(row: Mapping[str, Any]) -> dict:
        return {k: row[k] for k in ("followup_id", "placement_id", "worker_id", "month", "employed", "monthly_wage",
                                   "left_reason", "left_reason_text", "note", "recorded_on", "recorded_at")}

    def list_placements(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        prefixes = self.report_regions(actor, query.get("region"))
        stmt = sa.select(placements).select_from(
            placements.outerjoin(workers, workers.c.worker_id == placements.c.worker_id))
        clause = region_clause(workers.c.region_code, prefixes)
        if clause is not None:
            stmt = stmt.where(clause)
        for key in ("worker_id", "vacancy_id", "status", "placement_type"):
            if query.get(key):
                stmt = stmt.where(placements.c[key] == query[key])
        page = self._page(stmt, query, order=[placements.c.start_date.desc(), placements.c.placement_id],
                          present=dict)
        done: dict[str, list] = defaultdict(list)
        with reading(self.c.factory) as session:
            for f in session.execute(sa.select(followups).where(
                    followups.c.placement_id.in_([p["placement_id"] for p in page["items"]]))
                    .order_by(followups.c.month)).mappings():
                done[f["placement_id"]].append(f)
        page["items"] = [self.present_placement(p, done[p["placement_id"]]) for p in page["items"]]
        return page

    def record_followup(self, placement_id: str, data: Mapping[str, Any], *, actor: Principal,
                        remote_addr: str | None = None) -> dict:
        now = self.now()
        today = now.date()
        try:
            with transaction(self.c.factory) as session:
                row = session.execute(
                    sa.select(placements).where(placements.c.placement_id == placement_id).with_for_update()
                ).mappings().first()
                if row is None:
                    raise NotFound("placement not found")
                recorded = session.execute(
                    sa.select(followups.c.month).where(followups.c.placement_id == placement_id)).scalars().all()
                pl.check_followup(month=data["month"], employed=data["employed"], left_reason=data.get("left_reason"),
                                  left_reason_text=data.get("left_reason_text"), monthly_wage=data.get("monthly_wage"),
                                  start_date=row["start_date"], status=row["status"], recorded=recorded, today=today)
                values = {
                    "followup_id": str(uuid.uuid4()), "placement_id": placement_id, "worker_id": row["worker_id"],
                    "month": data["month"], "employed": data["employed"], "monthly_wage": data.get("monthly_wage"),
                    "left_reason": data.get("left_reason"), "left_reason_text": data.get("left_reason_text"),
                    "note": data.get("note"), "recorded_on": today, "recorded_at": now, "recorded_by": actor.sub,
                }
                session.execute(followups.insert().values(**values))
                _event(session, "FollowUpRecorded", {
                    "placement_id": placement_id, "worker_id": row["worker_id"], "vacancy_id": row["vacancy_id"],
                    "month": data["month"], "employed": data["employed"], "monthly_wage": data.get("monthly_wage"),
                    "left_reason": data.get("left_reason")})
                audit(session, actor, action="followup", resource="placement", resource_id=placement_id, at=now,
                      remote_addr=remote_addr, detail=f"month={data['month']};employed={data['employed']}")
                if not data["employed"]:
                    session.execute(placements.update().where(placements.c.placement_id == placement_id).values(
                        status=pl.ENDED, ended_on=today, end_reason=data["left_reason"]))
                    _event(session, "PlacementEnded", {
                        "placement_id": placement_id, "worker_id": row["worker_id"], "vacancy_id": row["vacancy_id"],
                        "ended_on": today, "reason": data["left_reason"]})
                    audit(session, actor, action="end", resource="placement", resource_id=placement_id, at=now,
                          remote_addr=remote_addr, detail=data["left_reason"])
        except IntegrityError:
            raise pl.DuplicateFollowUp(f"the {data['month']}-month follow-up is recorded already",
                                       fields={"month": ["recorded already"]}) from None
        return self.present_followup(values)

    def due_followups(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        today = self.today()
        before = query.get("before") or today
        prefixes = self.report_regions(actor, query.get("region"))
        stmt = (sa.select(placements.c.placement_id, placements.c.worker_id, placements.c.start_date,
                          placements.c.placement_type, workers.c.region_code)
                .select_from(placements.outerjoin(workers, workers.c.worker_id == placements.c.worker_id))
                .where(placements.c.status == pl.ACTIVE, placements.c.start_date <= before))
        clause = region_clause(workers.c.region_code, prefixes)
        if clause is not None:
            stmt = stmt.where(clause)
        with reading(self.c.factory) as session:
            rows = session.execute(stmt).mappings().all()
            recorded: dict[str, set[int]] = defaultdict(set)
            ids = [r["placement_id"] for r in rows]
            for start in range(0, len(ids), 500):
                for pid, month in session.execute(
                        sa.select(followups.c.placement_id, followups.c.month)
                        .where(followups.c.placement_id.in_(ids[start:start + 500]))):
                    recorded[pid].add(month)
        info = {r["placement_id"]: r for r in rows}
        due = pl.due_followups(
            [pl.OpenPlacement(r["placement_id"], r["worker_id"], r["start_date"], frozenset(recorded[r["placement_id"]]))
             for r in rows], before=before, today=today)
        items = [{
            "placement_id": d.placement_id, "worker_id": d.worker_id, "month": d.month, "due_on": d.due_on,
            "overdue": d.overdue, "days_overdue": d.days_overdue,
            "placement_type": info[d.placement_id]["placement_type"],
            "region_code": info[d.placement_id]["region_code"],
        } for d in due]
        page, per_page = query["page"], query["per_page"]
        return {"before": before, "total": len(items), "overdue": sum(1 for i in items if i["overdue"]),
                "page": page, "per_page": per_page, "items": items[(page - 1) * per_page: page * per_page]}

    # --- export batches --------------------------------------------------------------------------------

    def create_batch(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        self._check_date(data["departure_date"], "departure_date")
        worker_ids = list(data["worker_ids"])
        with transaction(self.c.factory) as session:
            self._employer_known(session, data["employer_id"])
            if data.get("vacancy_id"):
                vacancy = self._vacancy(session, data["vacancy_id"])
                problems = {}
                if vacancy["employer_id"] != data["employer_id"]:
                    problems["vacancy_id"] = ["is not a vacancy of this employer"]
                elif vacancy["vacancy_type"] != "cross_region":
                    problems["vacancy_id"] = [f"is a {vacancy['vacancy_type']} vacancy, not cross_region"]
                if problems:
                    raise Unprocessable("the vacancy does not fit this batch", fields=problems)
            # Locked (PostgreSQL): two batches naming one worker at once are decided one after the other.
            known = {r["worker_id"]: dict(r) for r in session.execute(
                sa.select(workers.c.worker_id, workers.c.erased, workers.c.willing_to_relocate)
                .where(workers.c.worker_id.in_(worker_ids)).with_for_update()).mappings()}
            ex.check_members(worker_ids, known)
            away = session.execute(
                sa.select(export_members.c.worker_id, export_members.c.batch_id)
                .select_from(export_members.join(export_batches,
                                                 export_batches.c.batch_id == export_members.c.batch_id))
                .where(export_members.c.worker_id.in_(worker_ids), export_members.c.returned_on.is_(None),
                       export_batches.c.status != ex.RETURNED)).all()
            ex.check_not_away({w: b for w, b in away})
            values = {
                "batch_id": str(uuid.uuid4()), "destination_region": data["destination_region"],
                "employer_id": data["employer_id"], "vacancy_id": data.get("vacancy_id"),
                "departure_date": data["departure_date"], "status": ex.DEPARTED, "version": 1, "created_at": now,
                "created_by": actor.sub,
            }
            session.execute(export_batches.insert().values(**values))
            session.execute(export_members.insert(), [
                {"batch_id": values["batch_id"], "worker_id": w, "arrived_on": None, "returned_on": None,
                 "return_reason": None, "return_note": None} for w in worker_ids])
            _event(session, "ExportBatchCreated", {
                "batch_id": values["batch_id"], "destination_region": values["destination_region"],
                "employer_id": values["employer_id"], "vacancy_id": values["vacancy_id"], "worker_ids": worker_ids,
                "departure_date": values["departure_date"]})
            audit(session, actor, action="create", resource="export_batch", resource_id=values["batch_id"], at=now,
                  remote_addr=remote_addr, detail=f"workers={len(worker_ids)}")
        return self.get_batch(values["batch_id"])

    def _lock_batch(self, session: Session, batch_id: str) -> tuple[dict, dict[str, dict]]:
        row = session.execute(
            sa.select(export_batches).where(export_batches.c.batch_id == batch_id).with_for_update()
        ).mappings().first()
        if row is None:
            raise NotFound("export batch not found")
        members = {m["worker_id"]: dict(m) for m in session.execute(
            sa.select(export_members).where(export_members.c.batch_id == batch_id)).mappings()}
        return dict(row), members

    def _batch_changed(self, session: Session, batch: Mapping[str, Any], *, change: str, worker_ids: Sequence[str],
                       on: date, reason_code: str | None = None) -> None:
        """Recompute the batch's status, bump its version, and say what happened in an ExportBatchUpdated event."""
        members = session.execute(
            sa.select(export_members.c.arrived_on, export_members.c.returned_on)
            .where(export_members.c.batch_id == batch["batch_id"])).mappings().all()
        status, version = ex.batch_status(members), batch["version"] + 1
        session.execute(export_batches.update().where(export_batches.c.batch_id == batch["batch_id"]).values(
            status=status, version=version))
        _event(session, "ExportBatchUpdated", {
            "batch_id": batch["batch_id"], "version": version, "change": change, "worker_ids": list(worker_ids),
            "on": on, "reason_code": reason_code, "status": status})

    @staticmethod
    def _members_only(worker_ids: Sequence[str], members: Mapping[str, Any]) -> None:
        strangers = [w for w in worker_ids if w not in members]
        if strangers:
            raise ex.NotAMember(f"not in this batch: {', '.join(strangers)}",
                                fields={"worker_ids" if len(worker_ids) > 1 else "worker_id":
                                        [f"not in this batch: {', '.join(strangers)}"]},
                                extra={"worker_ids": strangers})

    def record_arrival(self, batch_id: str, data: Mapping[str, Any], *, actor: Principal,
                       remote_addr: str | None = None) -> dict:
        now = self.now()
        with transaction(self.c.factory) as session:
            batch, members = self._lock_batch(session, batch_id)
            ex.check_event_date(data["arrived_on"], field="arrived_on", departure=batch["departure_date"],
                                today=now.date())
            if data.get("worker_ids"):
                chosen = list(dict.fromkeys(data["worker_ids"]))
                self._members_only(chosen, members)
                done = [w for w in chosen if members[w]["arrived_on"] or members[w]["returned_on"]]
                if done:
                    raise ex.AlreadyRecorded(f"arrival or return recorded already for: {', '.join(done)}",
                                             fields={"worker_ids": [f"recorded already: {', '.join(done)}"]},
                                             extra={"worker_ids": done})
            else:
                chosen = [w for w, m in members.items() if not m["arrived_on"] and not m["returned_on"]]
                if not chosen:
                    raise ex.AlreadyRecorded("every worker's arrival (or return) is recorded already",
                                             fields={"worker_ids": ["nobody left to arrive"]})
            session.execute(export_members.update().where(
                export_members.c.batch_id == batch_id, export_members.c.worker_id.in_(chosen)
            ).values(arrived_on=data["arrived_on"]))
            self._batch_changed(session, batch, change="arrival", worker_ids=chosen, on=data["arrived_on"])
            audit(session, actor, action="arrival", resource="export_batch", resource_id=batch_id, at=now,
                  remote_addr=remote_addr, detail=f"workers={len(chosen)}")
        return self.get_batch(batch_id)

    def record_checkin(self, batch_id: str, data: Mapping[str, Any], *, actor: Principal,
                       remote_addr: str | None = None) -> dict:
        now = self.now()
        worker_id = data["worker_id"]
        try:
            with transaction(self.c.factory) as session:
                batch, members = self._lock_batch(session, batch_id)
                self._members_only([worker_id], members)
                member = members[worker_id]
                ex.check_event_date(data["on"], field="on", departure=batch["departure_date"], today=now.date())
                if member["returned_on"] and data["on"] > member["returned_on"]:
                    raise ex.AlreadyRecorded(f"the worker returned on {member['returned_on'].isoformat()}",
                                             fields={"on": [f"after the return on {member['returned_on'].isoformat()}"]})
                values = {"checkin_id": str(uuid.uuid4()), "batch_id": batch_id, "worker_id": worker_id,
                          "on_date": data["on"], "note": data.get("note"), "recorded_at": now}
                session.execute(export_checkins.insert().values(**values))
                self._batch_changed(session, batch, change="checkin", worker_ids=[worker_id], on=data["on"])
                audit(session, actor, action="checkin", resource="export_batch", resource_id=batch_id, at=now,
                      remote_addr=remote_addr)
        except IntegrityError:
            raise ex.AlreadyRecorded("a check-in for this worker on this day is recorded already",
                                     fields={"on": ["recorded already"]}) from None
        return self.get_batch(batch_id)

    def record_return(self, batch_id: str, data: Mapping[str, Any], *, actor: Principal,
                      remote_addr: str | None = None) -> dict:
        now = self.now()
        worker_id = data["worker_id"]
        with transaction(self.c.factory) as session:
            batch, members = self._lock_batch(session, batch_id)
            self._members_only([worker_id], members)
            member = members[worker_id]
            if member["returned_on"]:
                raise ex.AlreadyRecorded(f"the worker's return is recorded already ({member['returned_on'].isoformat()})",
                                         fields={"worker_id": ["return recorded already"]})
            ex.check_event_date(data["returned_on"], field="returned_on", departure=batch["departure_date"],
                                today=now.date(), not_before=member["arrived_on"], not_before_what="the arrival")
            session.execute(export_members.update().where(
                export_members.c.batch_id == batch_id, export_members.c.worker_id == worker_id
            ).values(returned_on=data["returned_on"], return_reason=data["reason"], return_note=data.get("note")))
            self._batch_changed(session, batch, change="return", worker_ids=[worker_id], on=data["returned_on"],
                                reason_code=data["reason"])
            audit(session, actor, action="return", resource="export_batch", resource_id=batch_id, at=now,
                  remote_addr=remote_addr, detail=data["reason"])
        return self.get_batch(batch_id)

    def record_income(self, batch_id: str, data: Mapping[str, Any], *, actor: Principal,
                      remote_addr: str | None = None) -> dict:
        now = self.now()
        period, amount, replace = data["period"], data["amount"], data.get("replace", False)
        try:
            with transaction(self.c.factory) as session:
                batch, _members = self._lock_batch(session, batch_id)
                ex.check_income_period(period, departure=batch["departure_date"], today=now.date())
                existing = session.execute(sa.select(export_income.c.amount).where(
                    export_income.c.batch_id == batch_id, export_income.c.period == period)).scalar_one_or_none()
                if existing is not None and not replace:
                    raise ex.DuplicateIncomePeriod(
                        f"income for {period} is recorded already ({existing}); send replace: true to correct it",
                        fields={"period": ["recorded already"]}, extra={"amount": existing})
                if existing is None:
                    session.execute(export_income.insert().values(batch_id=batch_id, period=period, amount=amount,
                                                                  recorded_at=now, updated_at=now))
                else:
                    session.execute(export_income.update().where(
                        export_income.c.batch_id == batch_id, export_income.c.period == period
                    ).values(amount=amount, updated_at=now))
                _event(session, "ExportIncomeRecorded", {"batch_id": batch_id, "period": period, "amount": amount,
                                                         "replaced": existing is not None})
                audit(session, actor, action="income", resource="export_batch", resource_id=batch_id, at=now,
                      remote_addr=remote_addr, detail=f"period={period};replaced={existing is not None}")
        except IntegrityError:
            raise ex.DuplicateIncomePeriod(f"income for {period} is recorded already",
                                           fields={"period": ["recorded already"]}) from None
        return self.get_batch(batch_id)

    def get_batch(self, batch_id: str) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(
                sa.select(export_batches).where(export_batches.c.batch_id == batch_id)).mappings().first()
            if row is None:
                raise NotFound("export batch not found")
            members = session.execute(sa.select(export_members).where(export_members.c.batch_id == batch_id)
                                      .order_by(export_members.c.worker_id)).mappings().all()
            checkins = session.execute(sa.select(export_checkins).where(export_checkins.c.batch_id == batch_id)
                                       .order_by(export_checkins.c.on_date, export_checkins.c.worker_id)).mappings().all()
            income = session.execute(sa.select(export_income).where(export_income.c.batch_id == batch_id)
                                     .order_by(export_income.c.period)).mappings().all()
        out = self.present_batch(row, members)
        out["workers"] = [{"worker_id": m["worker_id"], "arrived_on": m["arrived_on"], "returned_on": m["returned_on"],
                           "return_reason": m["return_reason"], "return_note": m["return_note"]} for m in members]
        out["checkins"] = [{"worker_id": c["worker_id"], "on": c["on_date"], "note": c["note"]} for c in checkins]
        out["income"] = [{"period": i["period"], "amount": i["amount"]} for i in income]
        out["income_total"] = sum(i["amount"] for i in income)
        return out

    @staticmethod
    def present_batch(row: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> dict:
        arrived = [m["arrived_on"] for m in members if m["arrived_on"]]
        return {
            "batch_id": row["batch_id"], "destination_region": row["destination_region"],
            "employer_id": row["employer_id"], "vacancy_id": row["vacancy_id"],
            "departure_date": row["departure_date"], "status": row["status"],
            "arrived_on": min(arrived) if arrived else None, "created_at": row["created_at"],
            "worker_ids": [m["worker_id"] for m in members],
            "counts": {"workers": len(members), "arrived": len(arrived),
                       "returned_early": sum(1 for m in members if m["returned_on"])},
        }

    def list_batches(self, query: Mapping[str, Any]) -> dict:
        stmt = sa.select(export_batches)
        if query.get("destination_region"):
            stmt = stmt.where(export_batches.c.destination_region.startswith(query["destination_region"]))
        if query.get("status"):
            stmt = stmt.where(export_batches.c.status == query["status"])
        if query.get("from"):
            stmt = stmt.where(export_batches.c.departure_date >= query["from"])
        if query.get("to"):
            stmt = stmt.where(export_batches.c.departure_date <= query["to"])
        if query.get("employer_id"):
            stmt = stmt.where(export_batches.c.employer_id == query["employer_id"])
        page = self._page(stmt, query, order=[export_batches.c.departure_date.desc(), export_batches.c.batch_id],
                          present=dict)
        ids = [b["batch_id"] for b in page["items"]]
        with reading(self.c.factory) as session:
            members: dict[str, list] = defaultdict(list)
            for m in session.execute(sa.select(export_members).where(export_members.c.batch_id.in_(ids))
                                     .order_by(export_members.c.worker_id)).mappings():
                members[m["batch_id"]].append(m)
            totals = dict(session.execute(
                sa.select(export_income.c.batch_id, sa.func.sum(export_income.c.amount))
                .where(export_income.c.batch_id.in_(ids)).group_by(export_income.c.batch_id)).all())
        page["items"] = [self.present_batch(b, members[b["batch_id"]]) | {"income_total": int(totals.get(b["batch_id"]) or 0)}
                         for b in page["items"]]
        return page

    # --- reports ---------------------------------------------------------------------------------------

    def summary(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        today = self.today()
        start = query.get("from") or date(today.year, 1, 1)
        end = query.get("to") or date(today.year, 12, 31)
        if start > end:
            raise InvalidInput("from is after to", fields={"to": ["must not be before from"]})
        prefixes = self.report_regions(actor, query.get("region"))
        in_region = region_clause(workers.c.region_code, prefixes)

        def scoped(stmt):
            return stmt.where(in_region) if in_region is not None else stmt

        with reading(self.c.factory) as session:
            # Retention needs placements whose 3- or 6-month date falls in the period: they started up to
            # six months before it.
            earliest = pl.add_months(start, -7)
            rows = session.execute(scoped(
                sa.select(placements.c.placement_id, placements.c.worker_id, placements.c.placement_type,
                          placements.c.start_date, workers.c.is_4050, workers.c.registered_on)
                .select_from(placements.join(workers, workers.c.worker_id == placements.c.worker_id))
                .where(placements.c.start_date >= earliest, placements.c.start_date <= end)
            )).mappings().all()
            outcomes: dict[str, dict[int, bool]] = defaultdict(dict)
            ids = [r["placement_id"] for r in rows]
            for first in range(0, len(ids), 500):
                for pid, month, employed in session.execute(
                        sa.select(followups.c.placement_id, followups.c.month, followups.c.employed)
                        .where(followups.c.placement_id.in_(ids[first:first + 500]))):
                    outcomes[pid][month] = bool(employed)
            referral_rows = session.execute(scoped(
                sa.select(referrals.c.created_at, referrals.c.status, referrals.c.responded_at)
                .select_from(referrals.join(workers, workers.c.worker_id == referrals.c.worker_id))
                .where(referrals.c.created_at >= _start_of(start),
                       referrals.c.created_at < _start_of(end + timedelta(days=1)))
            )).mappings().all()
            export_rows = session.execute(scoped(
                sa.select(export_members.c.worker_id, export_members.c.returned_on, export_batches.c.departure_date)
                .select_from(export_members.join(export_batches, export_batches.c.batch_id == export_members.c.batch_id)
                             .join(workers, workers.c.worker_id == export_members.c.worker_id))
                .where(export_batches.c.departure_date >= start, export_batches.c.departure_date <= end)
            )).mappings().all()
            income_rows = session.execute(
                sa.select(export_income.c.batch_id, export_income.c.period, export_income.c.amount)
                .where(export_income.c.period >= f"{start:%Y-%m}", export_income.c.period <= f"{end:%Y-%m}")
            ).mappings().all()
            shares = self._income_shares(session, {r["batch_id"] for r in income_rows}, in_region)

        facts = [figures.PlacementFact(worker_id=r["worker_id"], placement_type=r["placement_type"],
                                       start_date=r["start_date"], is_4050=bool(r["is_4050"]),
                                       registered_on=r["registered_on"], followups=outcomes.get(r["placement_id"], {}))
                 for r in rows]
        result = figures.summary(
            start=start, end=end, placements=facts,
            referrals=[figures.ReferralFact(created_on=r["created_at"].astimezone(UTC).date(),
                                            hired=r["status"] == rf.HIRED, responded=r["responded_at"] is not None)
                       for r in referral_rows],
            exports=[figures.ExportFact(worker_id=r["worker_id"], departure_date=r["departure_date"],
                                        returned_early=r["returned_on"] is not None) for r in export_rows],
            income=[figures.IncomeFact(period=r["period"], amount=int(r["amount"]), share=shares.get(r["batch_id"], 0.0))
                    for r in income_rows],
        )
        return {"region": ",".join(prefixes) if prefixes else None, "from": start, "to": end, **result}

    @staticmethod
    def _income_shares(session: Session, batch_ids: set[str], in_region) -> dict[str, float]:
        """The part of each batch's workers inside the report's regions: a batch's income is split by head."""
        if not batch_ids:
            return {}
        counted = (sa.func.count(export_members.c.worker_id) if in_region is None
                   else sa.func.sum(sa.case((in_region, 1), else_=0)))
        shares = {}
        for batch_id, inside, total in session.execute(
                sa.select(export_members.c.batch_id, counted, sa.func.count(export_members.c.worker_id))
                .select_from(export_members.outerjoin(workers, workers.c.worker_id == export_members.c.worker_id))
                .where(export_members.c.batch_id.in_(sorted(batch_ids)))
                .group_by(export_members.c.batch_id)):
            shares[batch_id] = (int(inside or 0) / total) if total else 0.0
        return shares

    def audit_report(self, *, actor: Principal, detail: str, remote_addr: str | None) -> None:
        now = self.now()
        with transaction(self.c.factory) as session:
            audit(session, actor, action="report", resource="report", resource_id=None, at=now,
                  remote_addr=remote_addr, detail=detail[:500])

