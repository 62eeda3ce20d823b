"""The support service layer: each command is one transaction that changes the records, writes its events to
the outbox and its line to the audit log.

Support knows workers and placements only from intake's and placement's events (see consumer.py). A command
naming a worker support has not heard of, or an erased one, is refused with 422, as placement does.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.support.adapters.tables import (
    assistance,
    attendance,
    audit_log,
    courses,
    enrolments,
    helper_units,
    loan_outcomes,
    loan_schedule,
    loans,
    outbox,
    pairings,
    placements_seen,
    repayments,
    targets,
    workers,
)
from services.support.bootstrap import Container
from services.support.domain import assistance as aid
from services.support.domain import figures
from services.support.domain import loans as ln
from services.support.domain import training as tr
from shared.auth import Principal
from shared.bus.outbox import record
from shared.db import reading, transaction
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from shared.events import Envelope, make_event

PRODUCER = "support"


class UnknownWorker(Unprocessable):
    code = "unknown_worker"


class UnknownUnit(Unprocessable):
    code = "unknown_unit"


class UnknownPlacement(Unprocessable):
    code = "unknown_placement"


def _event(session: Session, event_type: str, payload: Mapping[str, Any]) -> Envelope:
    envelope = make_event(event_type, payload, producer=PRODUCER)
    record(session, outbox, envelope)
    return envelope


def audit(session: Session, actor: Principal | None, *, action: str, resource: str, resource_id: str | None,
          at: datetime, remote_addr: str | None = None, detail: str | None = None) -> None:
    """Who did what to which record: ids and codes only, never an amount or a note's text."""
    session.execute(audit_log.insert().values(
        at=at, actor=actor.sub if actor else "system", role=actor.role if actor else "system", action=action,
        resource=resource, resource_id=resource_id, remote_addr=remote_addr, detail=detail))


def region_clause(column: sa.ColumnElement, prefixes: Sequence[str] | None) -> sa.ColumnElement | None:
    if prefixes is None:
        return None
    return sa.or_(*[column.startswith(p) for p in prefixes]) if prefixes else sa.false()


def may_see_amounts(actor: Principal, region_code: str | None) -> bool:
    """Loan and assistance amounts are personal data: admins and the caseworkers of the worker's region only."""
    return actor.role == "admin" or (actor.role == "caseworker" and actor.covers_region(region_code))


def course_state(row: Mapping[str, Any]) -> dict:
    return {k: row[k] for k in ("course_id", "version", "title", "skill", "certificate", "occupation_code",
                                "region_code", "starts_on", "ends_on", "capacity", "enrolled", "employer_id",
                                "hiring_commitment")}


class SupportService:
    def __init__(self, container: Container):
        self.c = container
        self.settings = container.settings

    def now(self) -> datetime:
        return self.c.clock()

    def today(self) -> date:
        return self.now().date()

    # --- scope lookups for the policy ------------------------------------------------------------------

    def _region_of(self, table: sa.Table, key: str, value: str) -> dict | None:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(table.c.region_code).where(table.c[key] == value)).mappings().first()
        return dict(row) if row else None

    def course_scope(self, course_id: str) -> dict | None:
        return self._region_of(courses, "course_id", course_id)

    def enrolment_scope(self, enrolment_id: str) -> dict | None:
        return self._region_of(enrolments, "enrolment_id", enrolment_id)

    def loan_scope(self, loan_id: str) -> dict | None:
        return self._region_of(loans, "loan_id", loan_id)

    def unit_scope(self, unit_id: str) -> dict | None:
        return self._region_of(helper_units, "unit_id", unit_id)

    def reach(self, actor: Principal, region: str | None) -> tuple[str, ...] | None:
        """The region prefixes a list or report covers: None means everywhere (admin without a filter); every
        other role is held to the regions of its token."""
        if actor.role == "admin":
            return (region,) if region else None
        if region:
            if not actor.covers_region(region):
                raise Forbidden("the region is outside the caller's regions",
                                fields={"region": [f"outside {', '.join(actor.regions) or 'no region'}"]})
            return (region,)
        return tuple(actor.regions)

    @staticmethod
    def _own_region(actor: Principal, region_code: str, field: str = "region_code") -> None:
        if not actor.covers_region(region_code):
            raise Forbidden("the region is outside the caller's regions",
                            fields={field: ["outside the caller's regions"]})

    def _reachable_worker(self, session: Session, worker_id: str, actor: Principal) -> dict:
        """A live worker support knows and the caller may act for; else 422 (out of reach looks unknown)."""
        row = session.execute(sa.select(workers).where(workers.c.worker_id == worker_id)).mappings().first()
        if row is not None and row["erased"]:
            raise UnknownWorker("the worker's record was erased", fields={"worker_id": ["worker erased"]})
        if row is None or row["region_code"] is None or not actor.covers_region(row["region_code"]):
            raise UnknownWorker(
                "unknown worker: support has no record of this worker in the caller's reach (a worker "
                "registered a moment ago may take a few seconds to arrive; try again)",
                fields={"worker_id": ["unknown worker"]})
        return dict(row)

    def _page(self, stmt, query: Mapping[str, Any], *, order, present) -> dict:
        page, per_page = query["page"], query["per_page"]
        with reading(self.c.factory) as session:
            total = session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
            rows = session.execute(stmt.order_by(*order).limit(per_page).offset((page - 1) * per_page)).mappings().all()
        return {"items": [present(r) for r in rows], "page": page, "per_page": per_page, "total": total}

    # --- courses ---------------------------------------------------------------------------------------

    def create_course(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        self._own_region(actor, data["region_code"])
        tr.check_dates(data["starts_on"], data["ends_on"])
        tr.check_hiring(data.get("employer_id"), data.get("hiring_commitment"), data["capacity"])
        now = self.now()
        row = {
            "course_id": str(uuid.uuid4()), "version": 1, "title": data["title"], "skill": data["skill"],
            "occupation_code": data.get("occupation_code"), "certificate": data["certificate"],
            "provider": data["provider"], "region_code": data["region_code"], "starts_on": data["starts_on"],
            "ends_on": data["ends_on"], "capacity": data["capacity"], "enrolled": 0,
            "employer_id": data.get("employer_id"), "hiring_commitment": data.get("hiring_commitment"),
            "created_at": now, "created_by": actor.sub,
        }
        with transaction(self.c.factory) as session:
            session.execute(courses.insert().values(**row))
            _event(session, "CourseOpened", course_state(row))
            audit(session, actor, action="create", resource="course", resource_id=row["course_id"], at=now,
                  remote_addr=remote_addr)
        return self.present_course(row)

    def update_course(self, course_id: str, data: Mapping[str, Any], *, actor: Principal,
                      remote_addr: str | None = None) -> dict:
        now = self.now()
        with transaction(self.c.factory) as session:
            row = session.execute(sa.select(courses).where(courses.c.course_id == course_id).with_for_update()
                                  ).mappings().first()
            if row is None:
                raise NotFound("course not found")
            row = dict(row)
            changes = {k: data[k] for k in ("title", "provider", "starts_on", "ends_on", "capacity",
                                            "hiring_commitment") if k in data}
            merged = {**row, **changes}
            tr.check_dates(merged["starts_on"], merged["ends_on"])
            tr.check_capacity(merged["capacity"], row["enrolled"])
            tr.check_hiring(merged["employer_id"], merged["hiring_commitment"], merged["capacity"])
            changes["version"] = row["version"] + 1
            result = session.execute(courses.update().where(courses.c.course_id == course_id,
                                                            courses.c.version == row["version"]).values(**changes))
            if result.rowcount != 1:
                raise Conflict("the course was changed meanwhile; read it again")
            row.update(changes)
            _event(session, "CourseOpened", course_state(row))
            audit(session, actor, action="update", resource="course", resource_id=course_id, at=now,
                  remote_addr=remote_addr, detail=",".join(sorted(data)))
        return self.present_course(row)

    def present_course(self, row: Mapping[str, Any]) -> dict:
        out = course_state(row)
        out.pop("version")
        out["provider"] = row["provider"]
        out["free_places"] = max(0, row["capacity"] - row["enrolled"])
        out["upcoming"] = tr.is_upcoming(row["starts_on"], self.today())
        return out

    def get_course(self, course_id: str) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(courses).where(courses.c.course_id == course_id)).mappings().first()
        if row is None:
            raise NotFound("course not found")
        return self.present_course(row)

    def list_courses(self, query: Mapping[str, Any]) -> dict:
        stmt = sa.select(courses)
        if query.get("region"):
            stmt = stmt.where(courses.c.region_code.startswith(query["region"]))
        if query.get("skill"):
            stmt = stmt.where(courses.c.skill == query["skill"])
        if query.get("upcoming") is not None:
            today = self.today()
            stmt = stmt.where(courses.c.starts_on >= today if query["upcoming"] else courses.c.starts_on < today)
        return self._page(stmt, query, order=[courses.c.starts_on, courses.c.course_id], present=self.present_course)

    # --- enrolments ------------------------------------------------------------------------------------

    def enrol(self, course_id: str, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        worker_id = data["worker_id"]
        try:
            with transaction(self.c.factory) as session:
                course = session.execute(sa.select(courses).where(courses.c.course_id == course_id).with_for_update()
                                         ).mappings().first()
                if course is None:
                    raise NotFound("course not found")
                worker = self._reachable_worker(session, worker_id, actor)
                existing = session.execute(sa.select(enrolments.c.enrolment_id).where(
                    enrolments.c.course_id == course_id, enrolments.c.worker_id == worker_id)).scalar_one_or_none()
                if existing:
                    raise tr.AlreadyEnrolled("the worker is enrolled in this course already",
                                             fields={"worker_id": ["enrolled already"]},
                                             extra={"enrolment_id": existing})
                if course["ends_on"] < self.today():
                    raise Conflict("the course is over", fields={"course_id": ["the course ended"]})
                tr.check_room(course["capacity"], course["enrolled"])
                enrolled = course["enrolled"] + 1
                result = session.execute(courses.update().where(
                    courses.c.course_id == course_id, courses.c.enrolled == course["enrolled"]).values(enrolled=enrolled))
                if result.rowcount != 1:
                    raise Conflict("the course was changed meanwhile; try again")
                row = {"enrolment_id": str(uuid.uuid4()), "course_id": course_id, "worker_id": worker_id,
                       "region_code": worker["region_code"], "status": tr.ENROLLED, "passed": None,
                       "certificate_no": None, "completed_on": None, "created_at": now}
                session.execute(enrolments.insert().values(**row))
                _event(session, "TrainingEnrolled", {"course_id": course_id, "enrolment_id": row["enrolment_id"],
                                                     "worker_id": worker_id, "enrolled": enrolled,
                                                     "capacity": course["capacity"]})
                audit(session, actor, action="enrol", resource="enrolment", resource_id=row["enrolment_id"], at=now,
                      remote_addr=remote_addr, detail=f"course={course_id}")
        except IntegrityError:
            raise tr.AlreadyEnrolled("the worker is enrolled in this course already",
                                     fields={"worker_id": ["enrolled already"]}) from None
        return self.present_enrolment(row, days=[])

    @staticmethod
    def present_enrolment(row: Mapping[str, Any], *, days: Sequence[Mapping[str, Any]]) -> dict:
        return {"enrolment_id": row["enrolment_id"], "course_id": row["course_id"], "worker_id": row["worker_id"],
                "status": row["status"], "passed": row["passed"], "certificate_no": row["certificate_no"],
                "completed_on": row["completed_on"], "created_at": row["created_at"],
                "days_present": sum(1 for d in days if d["present"]), "days_recorded": len(days)}

    def _enrolment(self, session: Session, enrolment_id: str, *, lock: bool = False) -> tuple[dict, dict]:
        stmt = sa.select(enrolments).where(enrolments.c.enrolment_id == enrolment_id)
        row = session.execute(stmt.with_for_update() if lock else stmt).mappings().first()
        if row is None:
            raise NotFound("enrolment not found")
        course = session.execute(sa.select(courses).where(courses.c.course_id == row["course_id"])).mappings().one()
        return dict(row), dict(course)

    def _days(self, session: Session, enrolment_ids: Sequence[str]) -> dict[str, list]:
        out: dict[str, list] = defaultdict(list)
        for r in session.execute(sa.select(attendance).where(attendance.c.enrolment_id.in_(list(enrolment_ids)))
                                 .order_by(attendance.c.on_date)).mappings():
            out[r["enrolment_id"]].append(r)
        return out

    def get_enrolment(self, enrolment_id: str) -> dict:
        with reading(self.c.factory) as session:
            row, _course = self._enrolment(session, enrolment_id)
            days = self._days(session, [enrolment_id])[enrolment_id]
        return self.present_enrolment(row, days=days)

    def list_enrolments(self, course_id: str, *, actor: Principal) -> dict:
        with reading(self.c.factory) as session:
            if session.execute(sa.select(courses.c.course_id).where(courses.c.course_id == course_id)).first() is None:
                raise NotFound("course not found")
            stmt = sa.select(enrolments).where(enrolments.c.course_id == course_id)
            scope = region_clause(enrolments.c.region_code, self.reach(actor, None))
            if scope is not None:
                stmt = stmt.where(scope)
            rows = session.execute(stmt.order_by(enrolments.c.created_at, enrolments.c.enrolment_id)).mappings().all()
            days = self._days(session, [r["enrolment_id"] for r in rows])
        return {"course_id": course_id, "items": [self.present_enrolment(r, days=days[r["enrolment_id"]]) for r in rows]}

    def record_attendance(self, enrolment_id: str, data: Mapping[str, Any], *, actor: Principal,
                          remote_addr: str | None = None) -> dict:
        now = self.now()
        with transaction(self.c.factory) as session:
            row, course = self._enrolment(session, enrolment_id, lock=True)
            tr.check_attendance_day(data["on"], starts_on=course["starts_on"], ends_on=course["ends_on"])
            if data["on"] > self.today():
                raise InvalidInput("the day is in the future", fields={"on": ["must not be in the future"]})
            found = session.execute(sa.select(attendance.c.present).where(
                attendance.c.enrolment_id == enrolment_id, attendance.c.on_date == data["on"])).first()
            if found is None:
                session.execute(attendance.insert().values(enrolment_id=enrolment_id, on_date=data["on"],
                                                           present=data["present"]))
            else:  # the same day again corrects it
                session.execute(attendance.update().where(
                    attendance.c.enrolment_id == enrolment_id, attendance.c.on_date == data["on"]
                ).values(present=data["present"]))
            audit(session, actor, action="attendance", resource="enrolment", resource_id=enrolment_id, at=now,
                  remote_addr=remote_addr, detail=f"on={data['on'].isoformat()};present={data['present']}")
            days = self._days(session, [enrolment_id])[enrolment_id]
        return self.present_enrolment(row, days=days)

    def complete(self, enrolment_id: str, data: Mapping[str, Any], *, actor: Principal,
                 remote_addr: str | None = None) -> dict:
        now = self.now()
        today = self.today()
        with transaction(self.c.factory) as session:
            row, course = self._enrolment(session, enrolment_id, lock=True)
            erased = session.execute(sa.select(workers.c.erased).where(workers.c.worker_id == row["worker_id"])
                                     ).scalar_one_or_none()
            if erased:
                raise UnknownWorker("the worker's record was erased", fields={"passed": ["worker erased"]})
            status = tr.check_completion(row["status"], passed=data["passed"], certificate_no=data.get("certificate_no"),
                                         starts_on=course["starts_on"], today=today)
            changes = {"status": status, "passed": data["passed"], "certificate_no": data.get("certificate_no"),
                       "completed_on": today}
            session.execute(enrolments.update().where(enrolments.c.enrolment_id == enrolment_id).values(**changes))
            row.update(changes)
            _event(session, "TrainingCompleted", {
                "course_id": course["course_id"], "enrolment_id": enrolment_id, "worker_id": row["worker_id"],
                "passed": data["passed"], "skill": course["skill"],
                "certificate": course["certificate"] if data["passed"] else None, "completed_on": today})
            audit(session, actor, action="complete", resource="enrolment", resource_id=enrolment_id, at=now,
                  remote_addr=remote_addr, detail=f"course={course['course_id']};passed={data['passed']}")
            days = self._days(session, [enrolment_id])[enrolment_id]
        return self.present_enrolment(row, days=days)

    # --- micro-loans -----------------------------------------------------------------------------------

    def apply_loan(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        with transaction(self.c.factory) as session:
            worker = self._reachable_worker(session, data["worker_id"], actor)
            row = {"loan_id": str(uuid.uuid4()), "worker_id": worker["worker_id"], "region_code": worker["region_code"],
                   "amount": data["amount"], "purpose": data["purpose"], "project": data.get("project"),
                   "guarantor_unit": data["guarantor_unit"], "status": ln.APPLIED, "reason_code": None,
                   "reason_text": None, "term_months": data.get("term_months"), "applied_on": self.today(),
                   "disbursed_on": None, "closed_on": None, "version": 1, "created_at": now, "created_by": actor.sub}
            session.execute(loans.insert().values(**row))
            _event(session, "LoanStatusChanged", {"loan_id": row["loan_id"], "worker_id": row["worker_id"],
                                                  "from_status": None, "status": ln.APPLIED})
            audit(session, actor, action="create", resource="loan", resource_id=row["loan_id"], at=now,
                  remote_addr=remote_addr)
        return self.get_loan(row["loan_id"], actor=actor)

    def _loan_facts(self, session: Session, loan_ids: Sequence[str]) -> tuple[dict, dict, dict]:
        ids = list(loan_ids)
        plan: dict[str, list[ln.Instalment]] = defaultdict(list)
        paid: dict[str, list] = defaultdict(list)
        outcomes: dict[str, dict[int, dict]] = defaultdict(dict)
        for first in range(0, len(ids), 500):
            chunk = ids[first:first + 500]
            for r in session.execute(sa.select(loan_schedule).where(loan_schedule.c.loan_id.in_(chunk))
                                     .order_by(loan_schedule.c.seq)).mappings():
                plan[r["loan_id"]].append(ln.Instalment(r["seq"], r["due_on"], r["amount"]))
            for r in session.execute(sa.select(repayments).where(repayments.c.loan_id.in_(chunk))
                                     .order_by(repayments.c.paid_on, repayments.c.recorded_at)).mappings():
                paid[r["loan_id"]].append(dict(r))
            for r in session.execute(sa.select(loan_outcomes).where(loan_outcomes.c.loan_id.in_(chunk))).mappings():
                outcomes[r["loan_id"]][r["month"]] = dict(r)
        return plan, paid, outcomes

    def present_loan(self, row: Mapping[str, Any], *, actor: Principal, plan: Sequence[ln.Instalment],
                     paid: Sequence[Mapping], outcomes: Mapping[int, Mapping]) -> dict:
        repaid = sum(p["amount"] for p in paid)
        overdue = ln.overdue_amount(plan, repaid, self.today()) if row["status"] == ln.DISBURSED else 0
        show = may_see_amounts(actor, row["region_code"])

        def money(value):
            return value if show else None

        return {
            "loan_id": row["loan_id"], "worker_id": row["worker_id"], "status": row["status"],
            "amount": money(row["amount"]), "amounts_masked": not show,
            "purpose": row["purpose"] if show else None, "project": row["project"] if show else None,
            "guarantor_unit": row["guarantor_unit"], "reason": row["reason_code"],
            "reason_text": row["reason_text"] if show else None, "term_months": row["term_months"],
            "applied_on": row["applied_on"], "disbursed_on": row["disbursed_on"], "closed_on": row["closed_on"],
            "repaid": money(repaid), "owed": money(ln.owed(row["amount"], repaid) if row["disbursed_on"] else None),
            "overdue": overdue > 0, "overdue_amount": money(overdue),
            "schedule": [{"seq": i.seq, "due_on": i.due_on, "amount": money(i.amount)} for i in plan],
            "repayments": [{"amount": money(p["amount"]), "paid_on": p["paid_on"]} for p in paid],
            "outcomes": [{"month": m, "running": o["running"], "monthly_income": money(o["monthly_income"]),
                          "out_of_poverty": o["out_of_poverty"]} for m, o in sorted(outcomes.items())],
        }

    def get_loan(self, loan_id: str, *, actor: Principal) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(loans).where(loans.c.loan_id == loan_id)).mappings().first()
            if row is None:
                raise NotFound("loan not found")
            plan, paid, outcomes = self._loan_facts(session, [loan_id])
        return self.present_loan(row, actor=actor, plan=plan[loan_id], paid=paid[loan_id], outcomes=outcomes[loan_id])

    def list_loans(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        stmt = sa.select(loans)
        scope = region_clause(loans.c.region_code, self.reach(actor, query.get("region")))
        if scope is not None:
            stmt = stmt.where(scope)
        if query.get("status"):
            stmt = stmt.where(loans.c.status == query["status"])
        if query.get("worker_id"):
            stmt = stmt.where(loans.c.worker_id == query["worker_id"])
        if query.get("overdue") is not None:
            stmt = stmt.where(loans.c.status == ln.DISBURSED) if query["overdue"] else stmt
        with reading(self.c.factory) as session:
            rows = session.execute(stmt.order_by(loans.c.applied_on.desc(), loans.c.loan_id)).mappings().all()
            plan, paid, outcomes = self._loan_facts(session, [r["loan_id"] for r in rows])
        items = [self.present_loan(r, actor=actor, plan=plan[r["loan_id"]], paid=paid[r["loan_id"]],
                                   outcomes=outcomes[r["loan_id"]]) for r in rows]
        if query.get("overdue") is not None:
            items = [i for i in items if i["overdue"] == query["overdue"]]
        page, per_page = query["page"], query["per_page"]
        return {"items": items[(page - 1) * per_page: page * per_page], "page": page, "per_page": per_page,
                "total": len(items)}

    def _lock_loan(self, session: Session, loan_id: str) -> dict:
        row = session.execute(sa.select(loans).where(loans.c.loan_id == loan_id).with_for_update()).mappings().first()
        if row is None:
            raise NotFound("loan not found")
        return dict(row)

    def _repaid(self, session: Session, loan_id: str) -> int:
        return int(session.execute(sa.select(sa.func.coalesce(sa.func.sum(repayments.c.amount), 0))
                                   .where(repayments.c.loan_id == loan_id)).scalar_one())

    def change_loan_status(self, loan_id: str, data: Mapping[str, Any], *, actor: Principal,
                           remote_addr: str | None = None) -> dict:
        now, today = self.now(), self.today()
        target = data["status"]
        with transaction(self.c.factory) as session:
            row = self._lock_loan(session, loan_id)
            repaid = self._repaid(session, loan_id)
            owed = ln.owed(row["amount"], repaid) if row["disbursed_on"] else row["amount"]
            ln.check_transition(row["status"], target, reason=data.get("reason"), owed=owed)
            changes: dict[str, Any] = {"status": target, "version": row["version"] + 1}
            if target == ln.REJECTED:
                changes.update(reason_code=data["reason"], reason_text=data.get("reason_text"))
            if target == ln.DISBURSED:
                on = data.get("on") or today
                if on > today or on < row["applied_on"]:
                    raise InvalidInput("the disbursement date is outside the loan's life",
                                       fields={"on": [f"must be between {row['applied_on'].isoformat()} and today"]})
                term = data.get("term_months") or row["term_months"] or ln.DEFAULT_TERM_MONTHS
                changes.update(disbursed_on=on, term_months=term)
                session.execute(loan_schedule.insert(), [
                    {"loan_id": loan_id, "seq": i.seq, "due_on": i.due_on, "amount": i.amount}
                    for i in ln.schedule(row["amount"], term, on)])
            if target == ln.CLOSED:
                changes["closed_on"] = today
            session.execute(loans.update().where(loans.c.loan_id == loan_id).values(**changes))
            _event(session, "LoanStatusChanged", {"loan_id": loan_id, "worker_id": row["worker_id"],
                                                  "from_status": row["status"], "status": target,
                                                  "reason_code": changes.get("reason_code")})
            audit(session, actor, action="status", resource="loan", resource_id=loan_id, at=now,
                  remote_addr=remote_addr, detail=f"{row['status']}->{target}")
        return self.get_loan(loan_id, actor=actor)

    def record_repayment(self, loan_id: str, data: Mapping[str, Any], *, actor: Principal,
                         remote_addr: str | None = None) -> dict:
        now, today = self.now(), self.today()
        with transaction(self.c.factory) as session:
            row = self._lock_loan(session, loan_id)
            repaid = self._repaid(session, loan_id)
            if data["paid_on"] > today:
                raise InvalidInput("the repayment is dated in the future", fields={"paid_on": ["must not be in the future"]})
            ln.check_repayment(data["amount"], status=row["status"], amount=row["amount"], repaid=repaid,
                               paid_on=data["paid_on"], disbursed_on=row["disbursed_on"])
            session.execute(repayments.insert().values(repayment_id=str(uuid.uuid4()), loan_id=loan_id,
                                                       amount=data["amount"], paid_on=data["paid_on"], recorded_at=now))
            audit(session, actor, action="repayment", resource="loan", resource_id=loan_id, at=now,
                  remote_addr=remote_addr)
            if ln.owed(row["amount"], repaid + data["amount"]) == 0:
                # Repaid in full: the loan closes by itself.
                session.execute(loans.update().where(loans.c.loan_id == loan_id).values(
                    status=ln.CLOSED, closed_on=data["paid_on"], version=row["version"] + 1))
                _event(session, "LoanStatusChanged", {"loan_id": loan_id, "worker_id": row["worker_id"],
                                                      "from_status": row["status"], "status": ln.CLOSED,
                                                      "reason_code": "repaid"})
        return self.get_loan(loan_id, actor=actor)

    def record_loan_outcome(self, loan_id: str, data: Mapping[str, Any], *, actor: Principal,
                            remote_addr: str | None = None) -> dict:
        now = self.now()
        try:
            with transaction(self.c.factory) as session:
                row = self._lock_loan(session, loan_id)
                done = set(session.execute(sa.select(loan_outcomes.c.month).where(loan_outcomes.c.loan_id == loan_id))
                           .scalars())
                ln.check_outcome(data["month"], status=row["status"], disbursed_on=row["disbursed_on"],
                                 today=self.today(), done=done)
                session.execute(loan_outcomes.insert().values(
                    loan_id=loan_id, month=data["month"], running=data["running"],
                    monthly_income=data.get("monthly_income"), out_of_poverty=data["out_of_poverty"], recorded_at=now))
                audit(session, actor, action="outcome", resource="loan", resource_id=loan_id, at=now,
                      remote_addr=remote_addr, detail=f"month={data['month']}")
        except IntegrityError:
            raise ln.OutcomeRecorded("the outcome is recorded already", fields={"month": ["recorded already"]}) from None
        return self.get_loan(loan_id, actor=actor)

    # --- helper units, pairings, targets ---------------------------------------------------------------

    def create_unit(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        self._own_region(actor, data["region_code"])
        now = self.now()
        row = {"unit_id": str(uuid.uuid4()), "name": data["name"], "kind": data["kind"],
               "region_code": data["region_code"], "created_at": now}
        with transaction(self.c.factory) as session:
            session.execute(helper_units.insert().values(**row))
            audit(session, actor, action="create", resource="helper_unit", resource_id=row["unit_id"], at=now,
                  remote_addr=remote_addr)
        return self.get_unit(row["unit_id"])

    def _unit(self, session: Session, unit_id: str) -> dict:
        row = session.execute(sa.select(helper_units).where(helper_units.c.unit_id == unit_id)).mappings().first()
        if row is None:
            raise NotFound("helper unit not found")
        return dict(row)

    def pair(self, unit_id: str, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        try:
            with transaction(self.c.factory) as session:
                self._unit(session, unit_id)
                worker = self._reachable_worker(session, data["worker_id"], actor)
                found = session.execute(sa.select(pairings.c.worker_id).where(
                    pairings.c.unit_id == unit_id, pairings.c.worker_id == worker["worker_id"])).first()
                if found:
                    raise aid.AlreadyPaired("the worker is paired with this unit already",
                                            fields={"worker_id": ["paired already"]})
                session.execute(pairings.insert().values(unit_id=unit_id, worker_id=worker["worker_id"],
                                                         started_on=data.get("started_on") or self.today()))
                audit(session, actor, action="pair", resource="helper_unit", resource_id=unit_id, at=now,
                      remote_addr=remote_addr, detail=f"worker={worker['worker_id']}")
        except IntegrityError:
            raise aid.AlreadyPaired("the worker is paired with this unit already",
                                    fields={"worker_id": ["paired already"]}) from None
        return self.get_unit(unit_id)

    def set_target(self, unit_id: str, data: Mapping[str, Any], *, actor: Principal,
                   remote_addr: str | None = None) -> dict:
        now = self.now()
        with transaction(self.c.factory) as session:
            self._unit(session, unit_id)
            key = (targets.c.unit_id == unit_id, targets.c.year == data["year"], targets.c.metric == data["metric"])
            if session.execute(sa.select(targets.c.target).where(*key)).first() is None:
                session.execute(targets.insert().values(unit_id=unit_id, year=data["year"], metric=data["metric"],
                                                        target=data["target"]))
            else:  # an agreement is revised, not doubled
                session.execute(targets.update().where(*key).values(target=data["target"]))
            audit(session, actor, action="target", resource="helper_unit", resource_id=unit_id, at=now,
                  remote_addr=remote_addr, detail=f"year={data['year']};metric={data['metric']};target={data['target']}")
        return self.get_unit(unit_id)

    @staticmethod
    def _achieved(session: Session, unit_ids: Sequence[str], year_from: int, year_to: int) -> dict:
        """(unit_id, year, metric) -> how many paired workers reached it."""
        out: dict[tuple[str, int, str], int] = defaultdict(int)
        if not unit_ids:
            return out
        paired: dict[str, set[str]] = defaultdict(set)
        for unit_id, worker_id in session.execute(sa.select(pairings.c.unit_id, pairings.c.worker_id)
                                                  .where(pairings.c.unit_id.in_(list(unit_ids)))):
            paired[unit_id].add(worker_id)
        workers_all = sorted({w for ws in paired.values() for w in ws})
        starts: dict[str, set[int]] = defaultdict(set)
        for worker_id, start in session.execute(sa.select(placements_seen.c.worker_id, placements_seen.c.start_date)
                                                .where(placements_seen.c.worker_id.in_(workers_all))):
            starts[worker_id].add(start.year)
        helped: dict[tuple[str, int], set[str]] = defaultdict(set)
        for unit_id, worker_id, given_on in session.execute(
                sa.select(assistance.c.unit_id, assistance.c.worker_id, assistance.c.given_on)
                .where(assistance.c.unit_id.in_(list(unit_ids)))):
            helped[(unit_id, given_on.year)].add(worker_id)
        for unit_id, ws in paired.items():
            for year in range(year_from, year_to + 1):
                out[(unit_id, year, "reemployed")] = sum(1 for w in ws if year in starts[w])
                out[(unit_id, year, "assisted")] = len(helped[(unit_id, year)] & ws)
        return out

    def get_unit(self, unit_id: str) -> dict:
        with reading(self.c.factory) as session:
            unit = self._unit(session, unit_id)
            paired = session.execute(sa.select(pairings).where(pairings.c.unit_id == unit_id)
                                     .order_by(pairings.c.started_on, pairings.c.worker_id)).mappings().all()
            agreed = session.execute(sa.select(targets).where(targets.c.unit_id == unit_id)
                                     .order_by(targets.c.year, targets.c.metric)).mappings().all()
            years = [t["year"] for t in agreed]
            achieved = self._achieved(session, [unit_id], min(years), max(years)) if years else {}
        return {
            "unit_id": unit["unit_id"], "name": unit["name"], "kind": unit["kind"], "region_code": unit["region_code"],
            "pairings": [{"worker_id": p["worker_id"], "started_on": p["started_on"]} for p in paired],
            "targets": [{"year": t["year"], "metric": t["metric"], "target": t["target"],
                         "achieved": achieved.get((unit_id, t["year"], t["metric"]), 0),
                         "score": aid.score(achieved.get((unit_id, t["year"], t["metric"]), 0), t["target"]),
                         "met": achieved.get((unit_id, t["year"], t["metric"]), 0) >= t["target"]} for t in agreed],
        }

    def list_units(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        stmt = sa.select(helper_units.c.unit_id)
        scope = region_clause(helper_units.c.region_code, self.reach(actor, query.get("region")))
        if scope is not None:
            stmt = stmt.where(scope)
        page = self._page(stmt, query, order=[helper_units.c.unit_id], present=lambda r: r["unit_id"])
        page["items"] = [self.get_unit(u) for u in page["items"]]
        return page

    # --- assistance ------------------------------------------------------------------------------------

    def record_assistance(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        now = self.now()
        given_on = data.get("given_on") or self.today()
        if given_on > self.today():
            raise InvalidInput("the help is dated in the future", fields={"given_on": ["must not be in the future"]})
        aid.check_entry(data["kind"], amount=data.get("amount"), equipment=data.get("equipment"),
                        quantity=data.get("quantity"))
        with transaction(self.c.factory) as session:
            worker = self._reachable_worker(session, data["worker_id"], actor)
            unit = session.execute(sa.select(helper_units.c.unit_id).where(
                helper_units.c.unit_id == data["helper_unit"])).first()
            if unit is None:
                raise UnknownUnit("unknown helper unit", fields={"helper_unit": ["unknown helper unit"]})
            placement_id = data.get("placement_id")
            if placement_id:
                owner = session.execute(sa.select(placements_seen.c.worker_id).where(
                    placements_seen.c.placement_id == placement_id)).scalar_one_or_none()
                if owner != worker["worker_id"]:
                    raise UnknownPlacement("no such placement of this worker",
                                           fields={"placement_id": ["not a placement of this worker"]})
            elif data.get("equipment"):
                # Equipment goes with the worker's self-employment where there is one: the latest.
                placement_id = session.execute(
                    sa.select(placements_seen.c.placement_id)
                    .where(placements_seen.c.worker_id == worker["worker_id"],
                           placements_seen.c.placement_type == "self_employment")
                    .order_by(placements_seen.c.start_date.desc()).limit(1)).scalar_one_or_none()
            row = {"assistance_id": str(uuid.uuid4()), "worker_id": worker["worker_id"],
                   "region_code": worker["region_code"], "unit_id": data["helper_unit"], "kind": data["kind"],
                   "amount": data.get("amount"), "equipment": data.get("equipment"), "quantity": data.get("quantity"),
                   "placement_id": placement_id, "given_on": given_on, "note": data.get("note"),
                   "recorded_at": now, "recorded_by": actor.sub}
            session.execute(assistance.insert().values(**row))
            _event(session, "AssistanceRecorded", {"assistance_id": row["assistance_id"], "worker_id": row["worker_id"],
                                                   "unit_id": row["unit_id"], "kind": row["kind"], "given_on": given_on,
                                                   "placement_id": placement_id})
            audit(session, actor, action="create", resource="assistance", resource_id=row["assistance_id"], at=now,
                  remote_addr=remote_addr, detail=f"kind={row['kind']}")
        return self.present_assistance(row, actor=actor)

    @staticmethod
    def present_assistance(row: Mapping[str, Any], *, actor: Principal) -> dict:
        show = may_see_amounts(actor, row["region_code"])
        return {"assistance_id": row["assistance_id"], "worker_id": row["worker_id"], "helper_unit": row["unit_id"],
                "kind": row["kind"], "amount": row["amount"] if show else None, "amounts_masked": not show,
                "equipment": row["equipment"], "quantity": row["quantity"], "placement_id": row["placement_id"],
                "given_on": row["given_on"], "note": row["note"] if show else None}

    def list_assistance(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        stmt = sa.select(assistance)
        scope = region_clause(assistance.c.region_code, self.reach(actor, query.get("region")))
        if scope is not None:
            stmt = stmt.where(scope)
        for key, column in (("worker_id", assistance.c.worker_id), ("kind", assistance.c.kind),
                            ("helper_unit", assistance.c.unit_id)):
            if query.get(key):
                stmt = stmt.where(column == query[key])
        return self._page(stmt, query, order=[assistance.c.given_on.desc(), assistance.c.assistance_id],
                          present=lambda r: self.present_assistance(r, actor=actor))

    # --- the figures -----------------------------------------------------------------------------------

    def report(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        today = self.today()
        start = query.get("from") or date(today.year, 1, 1)
        end = query.get("to") or date(today.year, 12, 31)
        if start > end:
            raise InvalidInput("from is after to", fields={"to": ["must not be before from"]})
        prefixes = self.reach(actor, query.get("region"))
        cutoff = min(end, today)

        def scoped(stmt, column):
            clause = region_clause(column, prefixes)
            return stmt.where(clause) if clause is not None else stmt

        with reading(self.c.factory) as session:
            course_rows = session.execute(scoped(sa.select(courses.c.course_id, courses.c.starts_on, courses.c.ends_on)
                                                 .where(courses.c.starts_on >= start, courses.c.starts_on <= end),
                                                 courses.c.region_code)).mappings().all()
            spans = {r["course_id"]: (r["starts_on"], r["ends_on"]) for r in course_rows}
            trainee_rows = session.execute(sa.select(enrolments.c.worker_id, enrolments.c.course_id,
                                                     enrolments.c.status)
                                           .where(enrolments.c.course_id.in_(list(spans)))).mappings().all()
            placed: dict[str, list[date]] = defaultdict(list)
            for worker_id, start_date in session.execute(
                    sa.select(placements_seen.c.worker_id, placements_seen.c.start_date)
                    .where(placements_seen.c.worker_id.in_(sorted({r["worker_id"] for r in trainee_rows})))):
                placed[worker_id].append(start_date)
            loan_rows = session.execute(scoped(sa.select(loans.c.loan_id, loans.c.amount)
                                               .where(loans.c.disbursed_on >= start, loans.c.disbursed_on <= end),
                                               loans.c.region_code)).mappings().all()
            plan, paid, outcomes = self._loan_facts(session, [r["loan_id"] for r in loan_rows])
            help_rows = session.execute(scoped(
                sa.select(assistance.c.kind, assistance.c.amount, assistance.c.equipment, assistance.c.quantity,
                          helper_units.c.name)
                .select_from(assistance.join(helper_units, helper_units.c.unit_id == assistance.c.unit_id))
                .where(assistance.c.given_on >= start, assistance.c.given_on <= end),
                assistance.c.region_code)).mappings().all()
            unit_rows = session.execute(scoped(sa.select(helper_units.c.unit_id, helper_units.c.name),
                                               helper_units.c.region_code)).mappings().all()
            names = {u["unit_id"]: u["name"] for u in unit_rows}
            target_rows = session.execute(sa.select(targets).where(
                targets.c.unit_id.in_(list(names)), targets.c.year >= start.year, targets.c.year <= end.year)
            ).mappings().all()
            achieved = self._achieved(session, list(names), start.year, end.year)

        def latest_outcome(loan_id: str) -> bool | None:
            done = outcomes.get(loan_id) or {}
            return done[max(done)]["out_of_poverty"] if done else None

        result = figures.summary(
            courses=len(course_rows),
            trainees=[figures.TraineeFact(worker_id=r["worker_id"], course_id=r["course_id"],
                                          starts_on=spans[r["course_id"]][0], ends_on=spans[r["course_id"]][1],
                                          passed=r["status"] == tr.PASSED) for r in trainee_rows],
            placements=placed,
            loans=[figures.LoanFact(amount=r["amount"], due=ln.due_by(plan[r["loan_id"]], cutoff),
                                    repaid=sum(p["amount"] for p in paid[r["loan_id"]] if p["paid_on"] <= end),
                                    out_of_poverty=latest_outcome(r["loan_id"])) for r in loan_rows],
            assistance=[figures.AssistanceFact(kind=r["kind"], unit=r["name"], amount=r["amount"],
                                               equipment=r["equipment"], quantity=r["quantity"]) for r in help_rows],
            targets=[figures.TargetFact(unit=names[t["unit_id"]], year=t["year"], metric=t["metric"], target=t["target"],
                                        achieved=achieved.get((t["unit_id"], t["year"], t["metric"]), 0))
                     for t in target_rows],
        )
        return {"region": ",".join(prefixes) if prefixes else None, "from": start, "to": end, **result}

    def audit_report(self, *, actor: Principal, detail: str, remote_addr: str | None) -> None:
        now = self.now()
        with transaction(self.c.factory) as session:
            audit(session, actor, action="report", resource="report", resource_id=None, at=now,
                  remote_addr=remote_addr, detail=detail[:500])
