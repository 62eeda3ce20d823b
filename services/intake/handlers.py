"""The intake service layer: each command is one transaction that changes the records and writes its event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.intake.adapters.tables import audit_log, employers, idempotency_keys, outbox, vacancies, workers
from services.intake.bootstrap import Container
from services.intake.domain.identity import (
    age_on,
    is_4050,
    parse_national_id,
    validate_credit_code,
    validate_mobile,
)
from services.intake.domain.normalise import normalise_terms, normalise_text
from shared import idempotency
from shared.auth import Principal
from shared.bus.outbox import record
from shared.db import reading
from shared.errors import Conflict, Forbidden, NotFound, PreconditionFailed, Unprocessable
from shared.events import TOPIC_WORKERS, Envelope, make_event
from shared.pii import age_band, mask_phone, mask_worker

PRODUCER = "intake"

# Where statements run: the service's writes use a Connection (see `IntakeService._writing`); readers and the
# event consumer an ORM Session. Both execute the same statements.
Executor = Session | sa.Connection


class DuplicateWorker(Conflict):
    code = "duplicate_worker"


class DuplicateEmployer(Conflict):
    code = "duplicate_employer"


def _now() -> datetime:
    return datetime.now(UTC)


def _event(session: Executor, event_type: str, payload: Mapping[str, Any]) -> Envelope:
    envelope = make_event(event_type, payload, producer=PRODUCER)
    record(session, outbox, envelope)
    return envelope


# Statements built once: building one per call (and its cache key, from the values it carries) cost more than
# executing it. Parameters are given at execute time.
_INSERT_AUDIT = audit_log.insert()
_INSERT_WORKER = workers.insert()
_INSERT_EMPLOYER = employers.insert()
_INSERT_VACANCY = vacancies.insert()
_WORKER_ID_BY_HASH = sa.select(workers.c.id).where(workers.c.national_id_hash == sa.bindparam("national_id_hash"))
_WORKER_BY_ID = sa.select(workers).where(workers.c.id == sa.bindparam("worker_id"))
_WORKER_REGION = sa.select(workers.c.region_code, workers.c.willing_to_relocate, workers.c.status).where(
    workers.c.id == sa.bindparam("worker_id"))
_EMPLOYER_ID_BY_CODE = sa.select(employers.c.id).where(employers.c.credit_code == sa.bindparam("credit_code"))
_EMPLOYER_ID = sa.select(employers.c.id).where(employers.c.id == sa.bindparam("employer_id"))
_VACANCY_BY_ID = sa.select(vacancies).where(vacancies.c.id == sa.bindparam("vacancy_id"))
# Updates: the columns to SET are the keys of the parameters given at execute time (besides the b_* of WHERE).
_UPDATE_WORKER = workers.update().where(workers.c.id == sa.bindparam("b_id"))
_UPDATE_WORKER_VERSION = workers.update().where(workers.c.id == sa.bindparam("b_id"),
                                                workers.c.version == sa.bindparam("b_version"))
_DELETE_SENT_WORKER_EVENTS = outbox.delete().where(
    outbox.c.topic == TOPIC_WORKERS, outbox.c.key == sa.bindparam("worker_id"), outbox.c.sent_at.is_not(None))
_UPDATE_VACANCY = vacancies.update().where(vacancies.c.id == sa.bindparam("b_id"))
_UPDATE_VACANCY_VERSION = vacancies.update().where(vacancies.c.id == sa.bindparam("b_id"),
                                                  vacancies.c.version == sa.bindparam("b_version"))
_VACANCY_OWNER = sa.select(vacancies.c.employer_id, vacancies.c.region_code, vacancies.c.vacancy_type).where(
    vacancies.c.id == sa.bindparam("vacancy_id"))


def _check_version(version: int, if_match: frozenset[int] | None) -> None:
    """412 unless the resource is at one of the versions the caller's If-Match names."""
    if if_match is not None and version not in if_match:
        raise PreconditionFailed("the resource was changed since it was read; read it again",
                                 fields={"If-Match": [f"does not match the current version {version}"
                                                      if version >= 0 else "does not match the current version"]})


def audit(session: Executor, actor: Principal | None, *, action: str, resource: str, resource_id: str | None,
          remote_addr: str | None = None, detail: str | None = None) -> None:
    """Who did what to which record — never the personal values themselves."""
    session.execute(_INSERT_AUDIT, {
        "at": _now(), "actor": actor.sub if actor else "system", "role": actor.role if actor else "system",
        "action": action, "resource": resource, "resource_id": resource_id, "remote_addr": remote_addr,
        "detail": detail})


def _id_facts(national_id: str | None) -> tuple[date, str] | None:
    """(birth date, gender) as the resident ID says, for a full reader; None for an erased worker."""
    if not national_id or len(national_id) != 18:
        return None
    try:
        born = date(int(national_id[6:10]), int(national_id[10:12]), int(national_id[12:14]))
    except ValueError:
        return None
    return born, ("male" if int(national_id[16]) % 2 else "female")


def worker_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """The event payload of a worker: every fact other services need, nothing personal."""
    return {
        "worker_id": row["id"],
        "version": row["version"],
        "region_code": row["region_code"],
        "age": row["age"],
        "is_4050": bool(row["is_4050"]),
        "skills": list(row["skills"]),
        "certificates": list(row["certificates"]),
        "education": row["education"],
        "experience_years": float(row["experience_years"] or 0),
        "desired_occupations": list(row["desired_occupations"]),
        "desired_wage_min": row["desired_wage_min"],
        "willing_to_relocate": bool(row["willing_to_relocate"]),
        "target_regions": list(row["target_regions"]),
        "hardship": list(row["hardship"]),
        "status": row["status"],
        "registered_on": row["registered_at"].date() if row["registered_at"] else None,
    }


def vacancy_state(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "vacancy_id": row["id"],
        "version": row["version"],
        "employer_id": row["employer_id"],
        "title": row["title"],
        "occupation": row["occupation"],
        "required_skills": list(row["required_skills"]),
        "preferred_skills": list(row["preferred_skills"]),
        "required_certificates": list(row["required_certificates"]),
        "region_code": row["region_code"],
        "wage_min": row["wage_min"],
        "wage_max": row["wage_max"],
        "headcount": row["headcount"],
        "vacancy_type": row["vacancy_type"],
        "accommodation": bool(row["accommodation"]),
        "open_until": row["open_until"],
        "status": row["status"],
        "close_reason": row["close_reason"],
    }


class IntakeService:
    def __init__(self, container: Container):
        self.c = container
        self.vault = container.vault
        self.settings = container.settings

    def _writing(self):
        """One write transaction on a Connection of the engine: commit on success, roll back on any exception.
        (The service works on tables: an ORM Session would add only its own bookkeeping to every write.)"""
        return self.c.engine.begin()

    # --- workers -----------------------------------------------------------------------------------------

    def _worker_columns(self, data: Mapping[str, Any], plain: dict[str, str] | None = None) -> dict[str, Any]:
        """The columns `data` sets; `plain`, when given, receives the personal values in clear as stored."""
        columns: dict[str, Any] = {}
        if "name" in data:
            name = normalise_text(data["name"])
            columns["name_enc"] = self.vault.encrypt(name)
            if plain is not None:
                plain["name"] = name
        if "phone" in data:
            phone = validate_mobile(data["phone"])
            columns["phone_enc"] = self.vault.encrypt(phone)
            if plain is not None:
                plain["phone"] = phone
        for key in ("skills", "certificates", "desired_occupations"):
            if key in data:
                columns[key] = normalise_terms(data[key], max_items=30, max_len=40)
        if "target_regions" in data:
            columns["target_regions"] = list(dict.fromkeys(data["target_regions"]))
        if "hardship" in data:
            columns["hardship"] = list(dict.fromkeys(data["hardship"]))
        for key in ("region_code", "education", "experience_years", "desired_wage_min", "willing_to_relocate"):
            if key in data:
                columns[key] = data[key]
        return columns

    def _prepare_worker(self, data: Mapping[str, Any], *, today: date,
                        plain: dict[str, str] | None = None) -> dict[str, Any]:
        nid = parse_national_id(data["national_id"], today=today)
        if plain is not None:
            plain["national_id"] = nid.normalised
        age = age_on(nid.birth_date, today)
        now = _now()
        return {
            "id": str(uuid.uuid4()),
            "version": 1,
            "national_id_hash": self.vault.lookup_hash(nid.normalised),
            "national_id_enc": self.vault.encrypt(nid.normalised),
            # Only the year of birth is kept in clear (with the gender: the 4050 rule needs both); the full date
            # is inside the encrypted ID.
            "birth_year": nid.birth_date.year,
            "gender": nid.gender,
            "age": age,
            "is_4050": is_4050(gender=nid.gender, age=age, female_age=self.settings.age_4050_female,
                               male_age=self.settings.age_4050_male),
            "skills": [], "certificates": [], "desired_occupations": [], "target_regions": [], "hardship": [],
            "education": None, "experience_years": 0, "desired_wage_min": None, "willing_to_relocate": False,
            **self._worker_columns(data, plain),
            "status": "active",
            "consent_at": now,
            "registered_at": now,
            "updated_at": now,
        }

    def _refuse_if_registered_under_older_key(self, national_id: str) -> None:
        """During a key rotation a worker stored before it has its hash under an older key: look for that too."""
        existing = self._registered_under_older_key(national_id)
        if existing is not None:
            raise DuplicateWorker("a worker with this national ID is registered already",
                                  fields={"national_id": ["already registered"]}, extra={"worker_id": existing})

    def _registered_under_older_key(self, national_id: str) -> str | None:
        with reading(self.c.factory) as session:
            for older in self.vault.older_hashes(national_id.strip().upper()):
                existing = self._existing_worker_id(session, older)
                if existing is not None:
                    return existing
        return None

    def _existing_worker_id(self, session: Executor, national_id_hash: str) -> str | None:
        return session.execute(_WORKER_ID_BY_HASH, {"national_id_hash": national_id_hash}).scalar_one_or_none()

    def register_worker(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None,
                        plain: dict[str, str] | None = None) -> dict:
        """Store a new worker; `plain`, when given, receives its personal values in clear (for the answer)."""
        if not actor.covers_region(data["region_code"]):
            raise Forbidden("this caseworker may not register workers in that region",
                            fields={"region_code": ["outside the caller's regions"]})
        values = self._prepare_worker(data, today=date.today(), plain=plain)
        if self.vault.rotating:
            self._refuse_if_registered_under_older_key(data["national_id"])
        try:
            # The duplicate check is the unique index on the keyed hash: the insert of an ID registered already
            # fails (before the event and the audit row are written) and the transaction is rolled back. Asking
            # first would cost every registration a query, and two requests racing with one ID would still
            # need this path.
            with self._writing() as session:
                session.execute(_INSERT_WORKER, values)
                _event(session, "WorkerRegistered", worker_state(values))
                audit(session, actor, action="create", resource="worker", resource_id=values["id"], remote_addr=remote_addr)
        except IntegrityError:
            # The ID is registered already: the answer names the worker who has it.
            with reading(self.c.factory) as session:
                existing = self._existing_worker_id(session, values["national_id_hash"])
            if existing is None:
                raise
            raise DuplicateWorker("a worker with this national ID is registered already",
                                  fields={"national_id": ["already registered"]}, extra={"worker_id": existing}) from None
        return values

    def load_worker(self, session: Executor, worker_id: str) -> dict:
        row = session.execute(_WORKER_BY_ID, {"worker_id": worker_id}).mappings().first()
        if row is None or row["status"] == "erased":
            raise NotFound("worker not found")
        return dict(row)

    def worker_region(self, worker_id: str) -> dict | None:
        """Region and relocation flag of a live worker, for the authorization rules."""
        with reading(self.c.factory) as session:
            row = session.execute(_WORKER_REGION, {"worker_id": worker_id}).mappings().first()
        if row is None or row["status"] == "erased":
            return None
        return dict(row)

    def get_worker(self, worker_id: str, *, actor: Principal, remote_addr: str | None = None) -> dict:
        with self._writing() as session:
            row = self.load_worker(session, worker_id)
            full = self.may_see_pii(actor, row["region_code"])
            if full:
                audit(session, actor, action="read_pii", resource="worker", resource_id=worker_id, remote_addr=remote_addr)
        return self.present_worker(row, full=full)

    def may_see_pii(self, actor: Principal, region_code: str) -> bool:
        return actor.is_admin or (actor.role == "caseworker" and actor.covers_region(region_code))

    def present_worker(self, row: Mapping[str, Any], *, full: bool, plain: Mapping[str, str] | None = None) -> dict:
        """The worker as the API shows it; `plain` holds personal values already in clear (a record just written),
        which then need no decryption."""
        plain = plain or {}
        national_id = plain["national_id"] if "national_id" in plain else self.vault.decrypt(row["national_id_enc"])
        name = plain["name"] if "name" in plain else self.vault.decrypt(row["name_enc"])
        phone = plain["phone"] if "phone" in plain else self.vault.decrypt(row["phone_enc"])
        # The birth date and gender are not stored in clear: they are read from the (decrypted) ID when a full
        # reader asks (docs/privacy.md).
        born = _id_facts(national_id)
        out = {
            "worker_id": row["id"],
            "version": row["version"],
            "national_id": national_id,
            "name": name,
            "phone": phone,
            "birth_date": born[0] if born else None,
            "gender": born[1] if born else row.get("gender"),
            "pii_masked": False,
        }
        for key in ("age", "is_4050", "region_code", "skills", "certificates", "education", "experience_years",
                    "desired_occupations", "desired_wage_min", "willing_to_relocate", "target_regions", "status",
                    "registered_at", "updated_at"):
            out[key] = row[key]
        out["age_band"] = age_band(row["age"])
        out["hardship"] = list(row["hardship"])
        return out if full else mask_worker(out)

    def update_worker(self, worker_id: str, data: Mapping[str, Any], *, actor: Principal,
                      remote_addr: str | None = None, if_match: frozenset[int] | None = None) -> dict:
        """`if_match`: the versions the caller read (If-Match); None changes whatever the version is."""
        if "region_code" in data and not actor.covers_region(data["region_code"]):
            raise Forbidden("the new region is outside the caller's regions",
                            fields={"region_code": ["outside the caller's regions"]})
        with self._writing() as session:
            row = self.load_worker(session, worker_id)
            _check_version(row["version"], if_match)
            changes = self._worker_columns(data)
            changes["version"] = row["version"] + 1
            changes["updated_at"] = _now()
            result = session.execute(_UPDATE_WORKER_VERSION, {**changes, "b_id": worker_id, "b_version": row["version"]})
            if result.rowcount != 1:
                _check_version(-1, if_match)
                raise Conflict("the worker was changed meanwhile; try again")
            row.update(changes)
            _event(session, "WorkerUpdated", worker_state(row))
            audit(session, actor, action="update", resource="worker", resource_id=worker_id, remote_addr=remote_addr,
                  detail=",".join(sorted(data)))
        return self.present_worker(row, full=self.may_see_pii(actor, row["region_code"]))

    def erase_worker(self, worker_id: str, *, actor: Principal, remote_addr: str | None = None) -> None:
        """Remove every personal field; keep region, age, the 4050 flag and hardship categories for the figures."""
        with self._writing() as session:
            row = self.load_worker(session, worker_id)
            version = row["version"] + 1
            session.execute(_UPDATE_WORKER, dict(
                national_id_hash=None, national_id_enc=None, name_enc=None, phone_enc=None, birth_year=None,
                gender=None, skills=[], certificates=[], desired_occupations=[], target_regions=[],
                desired_wage_min=None, education=None, experience_years=0, status="erased", version=version,
                erased_at=_now(), updated_at=_now(), b_id=worker_id))
            # The worker's earlier events, kept in the outbox to refill a broker that lost its data, carry its free
            # text: those already sent go (a refill then brings WorkerErased alone, which every consumer takes).
            session.execute(_DELETE_SENT_WORKER_EVENTS, {"worker_id": worker_id})
            _event(session, "WorkerErased", {"worker_id": worker_id, "version": version})
            # A stored answer to a retried registration holds the personal data (encrypted): gone too.
            idempotency.forget(session, idempotency_keys, worker_id)
            audit(session, actor, action="erase", resource="worker", resource_id=worker_id, remote_addr=remote_addr)

    def list_workers(self, query: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        stmt = sa.select(workers).where(workers.c.status != "erased")
        if actor.role in ("caseworker", "manager"):
            stmt = stmt.where(sa.or_(*[workers.c.region_code.startswith(p) for p in actor.regions]))
        elif actor.role == "coordinator":
            stmt = stmt.where(workers.c.willing_to_relocate.is_(True))
        if query.get("region"):
            stmt = stmt.where(workers.c.region_code.startswith(query["region"]))
        if query.get("skill"):
            term = normalise_text(query["skill"]).replace("%", "").replace("_", "").replace('"', "")
            stmt = stmt.where(sa.cast(workers.c.skills, sa.Text).like(f'%"{term}"%'))
        if query.get("is_4050") is not None:
            stmt = stmt.where(workers.c.is_4050.is_(query["is_4050"]))
        if query.get("willing_to_relocate") is not None:
            stmt = stmt.where(workers.c.willing_to_relocate.is_(query["willing_to_relocate"]))
        if query.get("status"):
            stmt = stmt.where(workers.c.status == query["status"])
        page, per_page = query["page"], query["per_page"]
        with reading(self.c.factory) as session:
            total = session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
            rows = session.execute(
                stmt.order_by(workers.c.registered_at.desc(), workers.c.id).limit(per_page).offset((page - 1) * per_page)
            ).mappings().all()
        full = [self.may_see_pii(actor, r["region_code"]) for r in rows]
        items = [self.present_worker(r, full=f) for r, f in zip(rows, full, strict=True)]
        shown = [r["id"] for r, f in zip(rows, full, strict=True) if f]
        if shown:
            # One audit row per worker shown with full personal data, as GET /workers/{id} writes: "who saw this
            # worker's data" is then one query by resource_id, whichever way it was seen.
            now = _now()
            with self._writing() as session:
                session.execute(_INSERT_AUDIT, [
                    {"at": now, "actor": actor.sub, "role": actor.role, "action": "read_pii", "resource": "worker",
                     "resource_id": worker_id, "remote_addr": remote_addr, "status": None, "detail": "list"}
                    for worker_id in shown])
        return {"items": items, "page": page, "per_page": per_page, "total": total}

    # --- employers ---------------------------------------------------------------------------------------

    def register_employer(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        code = validate_credit_code(data["credit_code"])
        now = _now()
        values = {
            "id": str(uuid.uuid4()),
            "version": 1,
            "credit_code": code,
            "name": normalise_text(data["name"]),
            "region_code": data["region_code"],
            "contact_phone_enc": self.vault.encrypt(validate_mobile(data["contact_phone"])),
            "created_at": now,
        }
        try:
            with self._writing() as session:
                existing = session.execute(_EMPLOYER_ID_BY_CODE, {"credit_code": code}).scalar_one_or_none()
                if existing:
                    raise DuplicateEmployer("an employer with this credit code is registered already",
                                            fields={"credit_code": ["already registered"]}, extra={"employer_id": existing})
                session.execute(_INSERT_EMPLOYER, values)
                _event(session, "EmployerRegistered", {"employer_id": values["id"], "version": 1,
                                                       "employer_name": values["name"], "region_code": values["region_code"]})
                audit(session, actor, action="create", resource="employer", resource_id=values["id"], remote_addr=remote_addr)
        except IntegrityError:
            with reading(self.c.factory) as session:
                existing = session.execute(_EMPLOYER_ID_BY_CODE, {"credit_code": code}).scalar_one_or_none()
            if existing is None:
                raise
            raise DuplicateEmployer("an employer with this credit code is registered already",
                                    fields={"credit_code": ["already registered"]}, extra={"employer_id": existing}) from None
        return values

    def get_employer(self, employer_id: str, *, actor: Principal) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(employers).where(employers.c.id == employer_id)).mappings().first()
        if row is None:
            raise NotFound("employer not found")
        phone = self.vault.decrypt(row["contact_phone_enc"])
        full = actor.is_admin or actor.employer_id == employer_id or (
            actor.role == "caseworker" and actor.covers_region(row["region_code"]))
        return {
            "employer_id": row["id"], "name": row["name"], "credit_code": row["credit_code"],
            "region_code": row["region_code"], "contact_phone": phone if full else mask_phone(phone),
            "created_at": row["created_at"],
        }

    # --- vacancies ---------------------------------------------------------------------------------------

    def _vacancy_columns(self, data: Mapping[str, Any]) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for key in ("title", "occupation"):
            if key in data:
                columns[key] = normalise_text(data[key])
        for key in ("required_skills", "preferred_skills", "required_certificates"):
            if key in data:
                columns[key] = normalise_terms(data[key], max_items=30, max_len=40)
        for key in ("region_code", "wage_min", "wage_max", "headcount", "vacancy_type", "accommodation", "open_until"):
            if key in data:
                columns[key] = data[key]
        return columns

    def post_vacancy(self, data: Mapping[str, Any], *, actor: Principal, remote_addr: str | None = None) -> dict:
        if actor.role == "employer" and data["employer_id"] != actor.employer_id:
            raise Forbidden("an employer may post only its own vacancies", fields={"employer_id": ["not the caller's"]})
        if actor.role == "caseworker" and not actor.covers_region(data["region_code"]):
            raise Forbidden("this caseworker may not post vacancies in that region",
                            fields={"region_code": ["outside the caller's regions"]})
        now = _now()
        values = {
            "id": str(uuid.uuid4()),
            "version": 1,
            "employer_id": data["employer_id"],
            "required_skills": [], "preferred_skills": [], "required_certificates": [], "accommodation": False,
            **self._vacancy_columns(data),
            "status": "open",
            "close_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        with self._writing() as session:
            employer = session.execute(_EMPLOYER_ID, {"employer_id": data["employer_id"]}).scalar_one_or_none()
            if employer is None:
                raise Unprocessable("unknown employer", fields={"employer_id": ["no such employer"]})
            session.execute(_INSERT_VACANCY, values)
            _event(session, "VacancyPosted", vacancy_state(values))
            audit(session, actor, action="create", resource="vacancy", resource_id=values["id"], remote_addr=remote_addr)
        return values

    def get_vacancy(self, vacancy_id: str) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(_VACANCY_BY_ID, {"vacancy_id": vacancy_id}).mappings().first()
        if row is None:
            raise NotFound("vacancy not found")
        return present_vacancy(row)

    def vacancy_owner(self, vacancy_id: str) -> dict | None:
        with reading(self.c.factory) as session:
            row = session.execute(_VACANCY_OWNER, {"vacancy_id": vacancy_id}).mappings().first()
        return dict(row) if row else None

    def update_vacancy(self, vacancy_id: str, data: Mapping[str, Any], *, actor: Principal,
                       remote_addr: str | None = None, if_match: frozenset[int] | None = None) -> dict:
        """`if_match`: the versions the caller read (If-Match); None changes whatever the version is."""
        with self._writing() as session:
            row = session.execute(_VACANCY_BY_ID, {"vacancy_id": vacancy_id}).mappings().first()
            if row is None:
                raise NotFound("vacancy not found")
            row = dict(row)
            _check_version(row["version"], if_match)
            if row["status"] != "open":
                raise Conflict("a closed vacancy cannot be changed", fields={"status": ["closed"]})
            changes = self._vacancy_columns(data)
            low = changes.get("wage_min", row["wage_min"])
            high = changes.get("wage_max", row["wage_max"])
            if low is not None and high is not None and low > high:
                raise Unprocessable("wage range is inconsistent", fields={"wage_max": ["must not be below wage_min"]})
            changes["version"] = row["version"] + 1
            changes["updated_at"] = _now()
            if if_match is None:
                session.execute(_UPDATE_VACANCY, {**changes, "b_id": vacancy_id})
            elif session.execute(_UPDATE_VACANCY_VERSION, {**changes, "b_id": vacancy_id,
                                                           "b_version": row["version"]}).rowcount != 1:
                _check_version(-1, if_match)  # changed since it was read in this transaction
            row.update(changes)
            _event(session, "VacancyUpdated", vacancy_state(row))
            audit(session, actor, action="update", resource="vacancy", resource_id=vacancy_id, remote_addr=remote_addr)
        return present_vacancy(row)

    def close_vacancy(self, vacancy_id: str, *, reason: str, actor: Principal | None,
                      remote_addr: str | None = None) -> dict:
        with self._writing() as session:
            row = session.execute(_VACANCY_BY_ID, {"vacancy_id": vacancy_id}).mappings().first()
            if row is None:
                raise NotFound("vacancy not found")
            row = dict(row)
            if row["status"] == "closed":
                return present_vacancy(row)  # closing twice is harmless
            changes = {"status": "closed", "close_reason": reason, "version": row["version"] + 1, "updated_at": _now()}
            session.execute(_UPDATE_VACANCY, {**changes, "b_id": vacancy_id})
            row.update(changes)
            _event(session, "VacancyClosed", vacancy_state(row))
            audit(session, actor, action="close", resource="vacancy", resource_id=vacancy_id, remote_addr=remote_addr,
                  detail=reason)
        return present_vacancy(row)

    def close_expired_vacancies(self, *, today: date | None = None) -> int:
        """Close open vacancies whose `open_until` has passed; each gets its VacancyClosed event."""
        today = today or date.today()
        with reading(self.c.factory) as session:
            ids = session.execute(
                sa.select(vacancies.c.id).where(vacancies.c.status == "open", vacancies.c.open_until < today)
            ).scalars().all()
        for vacancy_id in ids:
            self.close_vacancy(vacancy_id, reason="expired", actor=None)
        return len(ids)

    def list_vacancies(self, query: Mapping[str, Any], *, actor: Principal) -> dict:
        stmt = sa.select(vacancies)
        if actor.role == "employer":
            stmt = stmt.where(vacancies.c.employer_id == actor.employer_id)
        elif actor.role == "coordinator":
            stmt = stmt.where(vacancies.c.vacancy_type == "cross_region")
        if query.get("region"):
            stmt = stmt.where(vacancies.c.region_code.startswith(query["region"]))
        if query.get("type"):
            stmt = stmt.where(vacancies.c.vacancy_type == query["type"])
        if query.get("status"):
            stmt = stmt.where(vacancies.c.status == query["status"])
        if query.get("employer_id"):
            stmt = stmt.where(vacancies.c.employer_id == query["employer_id"])
        page, per_page = query["page"], query["per_page"]
        with reading(self.c.factory) as session:
            total = session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
            rows = session.execute(
                stmt.order_by(vacancies.c.created_at.desc(), vacancies.c.id).limit(per_page).offset((page - 1) * per_page)
            ).mappings().all()
        return {"items": [present_vacancy(r) for r in rows], "page": page, "per_page": per_page, "total": total}


def present_vacancy(row: Mapping[str, Any]) -> dict:
    out = {k: row[k] for k in (
        "version", "employer_id", "title", "occupation", "required_skills", "preferred_skills", "required_certificates",
        "region_code", "wage_min", "wage_max", "headcount", "vacancy_type", "accommodation", "open_until", "status",
        "close_reason", "created_at", "updated_at")}
    out["vacancy_id"] = row["id"]
    return out


IMPORT_CHUNK = 500


def import_workers(service: IntakeService, rows, *, actor: Principal, consent_all: bool,
                   remote_addr: str | None = None) -> dict:
    """Register every good row of a spreadsheet; report each row as created, duplicate or rejected.

    Rows are validated one by one and stored in chunks, each chunk one transaction, so that good rows are
    kept whatever the bad ones say, and 10,000 rows take seconds rather than minutes.
    """
    from marshmallow import ValidationError

    from services.intake.schemas import WorkerCreateSchema
    from shared.http import _flatten

    schema = WorkerCreateSchema()
    today = date.today()
    results: dict[int, dict] = {}
    prepared: list[tuple[int, dict]] = []
    first_row_of: dict[str, int] = {}
    for number, body in rows:
        if "consent" not in body and consent_all:
            body["consent"] = {"data_processing": True}
        try:
            data = schema.load(body)
        except ValidationError as exc:
            results[number] = {"row": number, "status": "rejected", "worker_id": None, "errors": _flatten(exc.messages)}
            continue
        if not actor.covers_region(data["region_code"]):
            results[number] = {"row": number, "status": "rejected", "worker_id": None,
                               "errors": {"region_code": ["outside the caller's regions"]}}
            continue
        values = service._prepare_worker(data, today=today)
        if service.vault.rotating:
            existing = service._registered_under_older_key(data["national_id"])
            if existing is not None:
                results[number] = {"row": number, "status": "duplicate", "worker_id": existing,
                                   "errors": {"national_id": ["already registered"]}}
                continue
        earlier = first_row_of.get(values["national_id_hash"])
        if earlier is not None:
            results[number] = {"row": number, "status": "duplicate", "worker_id": None,
                               "errors": {"national_id": [f"same ID as row {earlier}"]}, "_same_as": earlier}
            continue
        first_row_of[values["national_id_hash"]] = number
        prepared.append((number, values))

    for start in range(0, len(prepared), IMPORT_CHUNK):
        chunk = prepared[start : start + IMPORT_CHUNK]
        try:
            _store_chunk(service, chunk, results, actor=actor, remote_addr=remote_addr)
        except IntegrityError:
            # A concurrent registration took one of these IDs: settle the chunk row by row.
            for number, values in chunk:
                try:
                    _store_chunk(service, [(number, values)], results, actor=actor, remote_addr=remote_addr)
                except IntegrityError:
                    with reading(service.c.factory) as session:
                        existing = service._existing_worker_id(session, values["national_id_hash"])
                    results[number] = {"row": number, "status": "duplicate", "worker_id": existing,
                                       "errors": {"national_id": ["already registered"]}}

    for result in results.values():
        same_as = result.pop("_same_as", None)
        if same_as is not None:
            result["worker_id"] = results.get(same_as, {}).get("worker_id")
    ordered = [results[n] for n in sorted(results)]
    counts = {k: sum(1 for r in ordered if r["status"] == k) for k in ("created", "duplicate", "rejected")}
    return {**counts, "rows": ordered}


def _store_chunk(service: IntakeService, chunk, results: dict, *, actor: Principal, remote_addr: str | None) -> None:
    with service._writing() as session:
        hashes = [v["national_id_hash"] for _, v in chunk]
        existing = dict(session.execute(
            sa.select(workers.c.national_id_hash, workers.c.id).where(workers.c.national_id_hash.in_(hashes))).all())
        fresh = []
        chunk_results = {}
        for number, values in chunk:
            if values["national_id_hash"] in existing:
                chunk_results[number] = {"row": number, "status": "duplicate",
                                         "worker_id": existing[values["national_id_hash"]],
                                         "errors": {"national_id": ["already registered"]}}
            else:
                fresh.append(values)
                chunk_results[number] = {"row": number, "status": "created", "worker_id": values["id"], "errors": {}}
        if fresh:
            session.execute(_INSERT_WORKER, fresh)
            now = _now()
            record(session, outbox, *[make_event("WorkerRegistered", worker_state(v), producer=PRODUCER) for v in fresh])
            session.execute(_INSERT_AUDIT, [
                {"at": now, "actor": actor.sub, "role": actor.role, "action": "import", "resource": "worker",
                 "resource_id": v["id"], "remote_addr": remote_addr, "status": None, "detail": None} for v in fresh])
    results.update(chunk_results)

