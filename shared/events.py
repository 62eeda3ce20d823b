"""Every event of the system, defined once: topics, the envelope, payload schemas, versions and upcasters.

Events carry ids and the facts other services need — never a national ID, a name or a phone number.
Aggregate events (workers, vacancies) carry the whole non-personal state plus a `version` that grows by one
with every change, so a consumer can apply them idempotently and ignore a stale one that arrives late.

Versioning: `schema_version` is a whole number. Adding an optional field keeps the version (readers ignore
fields they do not know); renaming or removing a field makes a new version and an upcaster that turns the
old payload into the new shape, so stored old messages still decode.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate

TOPIC_WORKERS = "jobbridge.workers"
TOPIC_EMPLOYERS = "jobbridge.employers"
TOPIC_VACANCIES = "jobbridge.vacancies"
TOPIC_REFERRALS = "jobbridge.referrals"
TOPIC_PLACEMENTS = "jobbridge.placements"
TOPIC_TRAINING = "jobbridge.training"
TOPIC_LOANS = "jobbridge.loans"
TOPIC_ASSISTANCE = "jobbridge.assistance"
ALL_TOPICS = (TOPIC_WORKERS, TOPIC_EMPLOYERS, TOPIC_VACANCIES, TOPIC_REFERRALS, TOPIC_PLACEMENTS,
              TOPIC_TRAINING, TOPIC_LOANS, TOPIC_ASSISTANCE)


def dlq_topic(group: str) -> str:
    return f"jobbridge.dlq.{group}"


# Field names that must never appear in any event payload (checked by the contract tests too).
FORBIDDEN_PAYLOAD_FIELDS = frozenset({"national_id", "name", "phone", "address", "contact_phone", "birth_date"})

MAX_EVENT_BYTES = 900_000

HARDSHIP = ("laid_off", "unemployed", "zero_employment_household", "disabled", "low_income", "other")
EDUCATION = (
    "none",
    "primary",
    "junior_middle",
    "senior_middle",
    "vocational",
    "college",
    "bachelor",
    "postgraduate",
)
VACANCY_TYPES = ("regular", "public_welfare", "cross_region")
PLACEMENT_TYPES = ("regular", "public_welfare", "self_employment", "cross_region")
REFERRAL_STATUSES = ("referred", "interviewing", "hired", "rejected", "withdrawn")


class _Payload(Schema):
    class Meta:
        unknown = EXCLUDE  # a tolerant reader: newer producers may add optional fields


_Str = fields.String
_Terms = lambda: fields.List(fields.String(), load_default=list)  # noqa: E731


class WorkerStateV1(_Payload):
    worker_id = _Str(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    region_code = _Str(required=True, validate=validate.Regexp(r"^\d{6}$"))
    age = fields.Integer(allow_none=True, load_default=None)
    is_4050 = fields.Boolean(load_default=False)
    skills = _Terms()
    certificates = _Terms()
    education = _Str(allow_none=True, load_default=None)
    experience_years = fields.Float(load_default=0.0)
    desired_occupations = _Terms()
    desired_wage_min = fields.Integer(allow_none=True, load_default=None)
    willing_to_relocate = fields.Boolean(load_default=False)
    target_regions = _Terms()
    hardship = _Terms()
    status = _Str(load_default="active")
    registered_on = fields.Date(allow_none=True, load_default=None)


class WorkerErasedV1(_Payload):
    worker_id = _Str(required=True)
    version = fields.Integer(required=True)


class EmployerRegisteredV1(_Payload):
    employer_id = _Str(required=True)
    version = fields.Integer(load_default=1)
    employer_name = _Str(load_default="")
    region_code = _Str(required=True)


class VacancyStateV1(_Payload):
    vacancy_id = _Str(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    employer_id = _Str(required=True)
    title = _Str(required=True)
    occupation = _Str(load_default="")
    required_skills = _Terms()
    preferred_skills = _Terms()
    required_certificates = _Terms()
    region_code = _Str(required=True)
    wage_min = fields.Integer(allow_none=True, load_default=None)
    wage_max = fields.Integer(allow_none=True, load_default=None)
    headcount = fields.Integer(required=True)
    vacancy_type = _Str(required=True, validate=validate.OneOf(VACANCY_TYPES))
    accommodation = fields.Boolean(load_default=False)
    open_until = fields.Date(allow_none=True, load_default=None)
    status = _Str(load_default="open", validate=validate.OneOf(("open", "closed")))
    close_reason = _Str(allow_none=True, load_default=None)


class ReferralCreatedV1(_Payload):
    referral_id = _Str(required=True)
    worker_id = _Str(required=True)
    vacancy_id = _Str(required=True)
    employer_id = _Str(allow_none=True, load_default=None)
    status = _Str(load_default="referred")


class ReferralStatusChangedV1(_Payload):
    referral_id = _Str(required=True)
    worker_id = _Str(required=True)
    vacancy_id = _Str(required=True)
    employer_id = _Str(allow_none=True, load_default=None)
    from_status = _Str(required=True)
    status = _Str(required=True, validate=validate.OneOf(REFERRAL_STATUSES))
    reason_code = _Str(allow_none=True, load_default=None)


class PlacementRecordedV1(_Payload):
    placement_id = _Str(required=True)
    worker_id = _Str(required=True)
    vacancy_id = _Str(allow_none=True, load_default=None)
    employer_id = _Str(allow_none=True, load_default=None)
    referral_id = _Str(allow_none=True, load_default=None)
    placement_type = _Str(required=True, validate=validate.OneOf(PLACEMENT_TYPES))
    start_date = fields.Date(required=True)
    monthly_wage = fields.Integer(allow_none=True, load_default=None)


class FollowUpRecordedV1(_Payload):
    placement_id = _Str(required=True)
    worker_id = _Str(required=True)
    vacancy_id = _Str(allow_none=True, load_default=None)
    month = fields.Integer(required=True, validate=validate.OneOf((1, 3, 6, 12)))
    employed = fields.Boolean(required=True)
    monthly_wage = fields.Integer(allow_none=True, load_default=None)
    left_reason = _Str(allow_none=True, load_default=None)


class PlacementEndedV1(_Payload):
    placement_id = _Str(required=True)
    worker_id = _Str(required=True)
    vacancy_id = _Str(allow_none=True, load_default=None)
    ended_on = fields.Date(required=True)
    reason = _Str(allow_none=True, load_default=None)


class ExportBatchCreatedV1(_Payload):
    batch_id = _Str(required=True)
    destination_region = _Str(required=True)
    employer_id = _Str(required=True)
    vacancy_id = _Str(allow_none=True, load_default=None)
    worker_ids = fields.List(fields.String(), required=True)
    departure_date = fields.Date(required=True)


class ExportIncomeRecordedV1(_Payload):
    batch_id = _Str(required=True)
    period = _Str(required=True, validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"))
    amount = fields.Integer(required=True)
    replaced = fields.Boolean(load_default=False)  # true: a correction of the amount sent before for this period


class ExportBatchUpdatedV1(_Payload):
    """Something happened to a batch after it left: an arrival, a check-in, or an early return."""

    batch_id = _Str(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    change = _Str(required=True, validate=validate.OneOf(("arrival", "checkin", "return")))
    worker_ids = fields.List(fields.String(), required=True)
    on = fields.Date(required=True)
    reason_code = _Str(allow_none=True, load_default=None)  # why a worker came back early
    status = _Str(required=True)  # the batch's status after the change: departed | arrived | returned


# --- support: training, micro-loans, one-to-one assistance (services/support, docs/decisions/0016) -----------
LOAN_STATUSES = ("applied", "examined", "approved", "rejected", "disbursed", "closed")
ASSISTANCE_KINDS = ("moral", "material", "financial", "policy", "skills", "job")


class CourseOpenedV1(_Payload):
    """A course as it is open for enrolment: sent when it is created and again (a higher version) when its
    dates or capacity change, so a reader keeps the newest."""

    course_id = _Str(required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    title = _Str(required=True)
    skill = _Str(required=True)
    certificate = _Str(required=True)
    occupation_code = _Str(allow_none=True, load_default=None)
    region_code = _Str(required=True, validate=validate.Regexp(r"^\d{6}$"))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    capacity = fields.Integer(required=True, validate=validate.Range(min=1))
    enrolled = fields.Integer(load_default=0)
    employer_id = _Str(allow_none=True, load_default=None)
    hiring_commitment = fields.Integer(allow_none=True, load_default=None)


class TrainingEnrolledV1(_Payload):
    course_id = _Str(required=True)
    enrolment_id = _Str(required=True)
    worker_id = _Str(required=True)
    enrolled = fields.Integer(required=True)  # enrolments of the course after this one
    capacity = fields.Integer(required=True)


class TrainingCompletedV1(_Payload):
    """The end of one trainee's course. A pass carries the course's skill and certificate for the worker's
    profile; the certificate's number stays in support."""

    course_id = _Str(required=True)
    enrolment_id = _Str(required=True)
    worker_id = _Str(required=True)
    passed = fields.Boolean(required=True)
    skill = _Str(required=True)
    certificate = _Str(allow_none=True, load_default=None)
    completed_on = fields.Date(required=True)


class LoanStatusChangedV1(_Payload):
    """A micro-loan moved on. No amount: what a household borrows is personal data and stays in support."""

    loan_id = _Str(required=True)
    worker_id = _Str(required=True)
    from_status = _Str(allow_none=True, load_default=None)
    status = _Str(required=True, validate=validate.OneOf(LOAN_STATUSES))
    reason_code = _Str(allow_none=True, load_default=None)


class AssistanceRecordedV1(_Payload):
    """One act of one-to-one help. No amount and no note: both stay in support."""

    assistance_id = _Str(required=True)
    worker_id = _Str(required=True)
    unit_id = _Str(required=True)
    kind = _Str(required=True, validate=validate.OneOf(ASSISTANCE_KINDS))
    given_on = fields.Date(required=True)
    placement_id = _Str(allow_none=True, load_default=None)


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    topic: str
    schema: type[Schema]
    aggregate_field: str


_TYPES: list[EventType] = [
    EventType("WorkerRegistered", 1, TOPIC_WORKERS, WorkerStateV1, "worker_id"),
    EventType("WorkerUpdated", 1, TOPIC_WORKERS, WorkerStateV1, "worker_id"),
    EventType("WorkerErased", 1, TOPIC_WORKERS, WorkerErasedV1, "worker_id"),
    EventType("EmployerRegistered", 1, TOPIC_EMPLOYERS, EmployerRegisteredV1, "employer_id"),
    EventType("VacancyPosted", 1, TOPIC_VACANCIES, VacancyStateV1, "vacancy_id"),
    EventType("VacancyUpdated", 1, TOPIC_VACANCIES, VacancyStateV1, "vacancy_id"),
    EventType("VacancyClosed", 1, TOPIC_VACANCIES, VacancyStateV1, "vacancy_id"),
    EventType("ReferralCreated", 1, TOPIC_REFERRALS, ReferralCreatedV1, "referral_id"),
    EventType("ReferralStatusChanged", 1, TOPIC_REFERRALS, ReferralStatusChangedV1, "referral_id"),
    EventType("PlacementRecorded", 1, TOPIC_PLACEMENTS, PlacementRecordedV1, "placement_id"),
    EventType("FollowUpRecorded", 1, TOPIC_PLACEMENTS, FollowUpRecordedV1, "placement_id"),
    EventType("PlacementEnded", 1, TOPIC_PLACEMENTS, PlacementEndedV1, "placement_id"),
    EventType("ExportBatchCreated", 1, TOPIC_PLACEMENTS, ExportBatchCreatedV1, "batch_id"),
    EventType("ExportIncomeRecorded", 1, TOPIC_PLACEMENTS, ExportIncomeRecordedV1, "batch_id"),
    EventType("ExportBatchUpdated", 1, TOPIC_PLACEMENTS, ExportBatchUpdatedV1, "batch_id"),
    # Keyed by the course: a course's opening, enrolments and completions stay in order.
    EventType("CourseOpened", 1, TOPIC_TRAINING, CourseOpenedV1, "course_id"),
    EventType("TrainingEnrolled", 1, TOPIC_TRAINING, TrainingEnrolledV1, "course_id"),
    EventType("TrainingCompleted", 1, TOPIC_TRAINING, TrainingCompletedV1, "course_id"),
    EventType("LoanStatusChanged", 1, TOPIC_LOANS, LoanStatusChangedV1, "loan_id"),
    EventType("AssistanceRecorded", 1, TOPIC_ASSISTANCE, AssistanceRecordedV1, "assistance_id"),
]
EVENT_TYPES: dict[tuple[str, int], EventType] = {(t.name, t.version): t for t in _TYPES}
LATEST: dict[str, EventType] = {}
for _t in _TYPES:
    if _t.name not in LATEST or LATEST[_t.name].version < _t.version:
        LATEST[_t.name] = _t

# (event_type, old version) -> function turning that version's payload into the next version's payload.
UPCASTERS: dict[tuple[str, int], Callable[[dict], dict]] = {}


class UndecodableEvent(Exception):
    """A message that can never be processed: it goes to the dead-letter topic with this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    event_type: str
    aggregate_id: str
    payload: dict[str, Any]
    producer: str
    schema_version: int = 1
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    @property
    def topic(self) -> str:
        return LATEST[self.event_type].topic

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "producer": self.producer,
            "aggregate_id": self.aggregate_id,
            "payload": self.payload,
        }

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("event_type", self.event_type.encode()),
            ("schema_version", str(self.schema_version).encode()),
            ("event_id", self.event_id.encode()),
        ]


@cache
def _schema(cls: type[Schema]) -> Schema:
    """One instance per payload schema: building one costs more than using it (a bulk import builds 10,000
    events), and an instance keeps no state between loads and dumps."""
    return cls()


# --- a fast path for decoding -------------------------------------------------------------------------------
# Loading a payload through marshmallow costs more than everything else a consumer does with a read-model event
# (bench/results.md). The schemas above stay the one definition: from each, a loader is compiled that accepts
# only canonical JSON (a str where a String is declared, an int for an Integer, true/false for a Boolean, a list
# of str for a List(String), "YYYY-MM-DD" for a Date, null only where allowed) and returns exactly what
# marshmallow would. Anything else — a missing required field, a lenient form like "1" for 1, a failing
# validator — returns None and the payload goes through marshmallow, which accepts it or names the error.
# Schemas using a feature the compiler does not know (hooks, data_key, other fields or validators) always take
# marshmallow. tests/unit/test_events_fastpath.py checks the two agree.

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_MISSING = object()


def _fast_value(declared: fields.Field):
    """A function value -> loaded value, raising _Reject where marshmallow must decide; None if not compilable."""
    if declared.data_key is not None or declared.attribute is not None or declared.pre_load or declared.post_load:
        return None
    checks = []
    for v in declared.validators:
        if type(v) is validate.Range:
            lo, hi, lo_in, hi_in = v.min, v.max, v.min_inclusive, v.max_inclusive
            checks.append(lambda x, lo=lo, hi=hi, lo_in=lo_in, hi_in=hi_in: (
                (lo is None or (x >= lo if lo_in else x > lo)) and (hi is None or (x <= hi if hi_in else x < hi))))
        elif type(v) is validate.Regexp:
            match = v.regex.match
            checks.append(lambda x, match=match: match(x) is not None)
        elif type(v) is validate.OneOf:
            choices = frozenset(v.choices)
            checks.append(lambda x, choices=choices: x in choices)
        else:
            return None
    kind = type(declared)
    if kind is fields.String:
        def convert(x):
            if type(x) is not str:
                raise _Reject
            return x
    elif kind is fields.Integer and not declared.strict:
        def convert(x):
            if type(x) is not int:
                raise _Reject
            return x
    elif kind is fields.Float and not declared.allow_nan:
        def convert(x):
            if type(x) is not float and type(x) is not int or not math.isfinite(x):
                raise _Reject
            return float(x)
    elif kind is fields.Boolean:
        def convert(x):
            if x is not True and x is not False:
                raise _Reject
            return x
    elif kind is fields.List and type(declared.inner) is fields.String and not declared.inner.validators:
        def convert(x):
            if type(x) is not list:
                raise _Reject
            for i in x:
                if type(i) is not str:
                    raise _Reject
            return list(x)
    elif kind is fields.Date and declared.format in (None, "iso"):
        def convert(x):
            if type(x) is not str or _ISO_DATE.match(x) is None:
                raise _Reject
            try:
                return date.fromisoformat(x)
            except ValueError:
                raise _Reject from None
    else:
        return None
    if not checks:
        return convert

    def checked(x):
        y = convert(x)
        for check in checks:
            if not check(y):
                raise _Reject
        return y

    return checked


class _Reject(Exception):
    """The fast loader declines a value; marshmallow decides."""


@cache
def _fast_loader(cls: type[Schema]) -> Callable[[Mapping[str, Any]], dict | None] | None:
    schema = _schema(cls)
    if any(schema._hooks.values()) or schema.unknown != EXCLUDE:
        return None
    plan = []
    for name, declared in schema.load_fields.items():
        convert = _fast_value(declared)
        if convert is None:
            return None
        plan.append((name, convert, declared.required, declared.allow_none, declared.load_default))

    def load(payload: Mapping[str, Any]) -> dict | None:
        out = {}
        try:
            for name, convert, required, allow_none, default in plan:
                x = payload.get(name, _MISSING)
                if x is _MISSING:
                    if required:
                        return None
                    if default is missing:
                        continue
                    out[name] = default() if callable(default) else default
                elif x is None:
                    if not allow_none:
                        return None
                    out[name] = None
                else:
                    out[name] = convert(x)
        except _Reject:
            return None
        return out

    return load


def load_payload(cls: type[Schema], payload: Mapping[str, Any]) -> dict:
    """`cls().load(payload)`, by the compiled fast path when it can answer (same result), else marshmallow."""
    fast = _fast_loader(cls)
    if fast is not None:
        loaded = fast(payload)
        if loaded is not None:
            return loaded
    return _schema(cls).load(payload)


def make_event(event_type: str, payload: Mapping[str, Any], *, producer: str) -> Envelope:
    """Build the envelope of a new event at the latest version, validating its payload against the schema."""
    kind = LATEST.get(event_type)
    if kind is None:
        raise KeyError(f"unknown event type {event_type}")
    leaked = FORBIDDEN_PAYLOAD_FIELDS.intersection(payload)
    if leaked:
        raise ValueError(f"personal fields {sorted(leaked)} must not be put in events")
    schema = _schema(kind.schema)
    data = schema.dump(payload)
    fast = _fast_loader(kind.schema)
    if fast is None or fast(data) is None:  # the compiled loader vouches for canonical payloads; else marshmallow
        errors = schema.validate(data)
        if errors:
            raise ValueError(f"{event_type} payload is invalid: {errors}")
    return Envelope(
        event_type=event_type,
        aggregate_id=str(payload[kind.aggregate_field]),
        payload=data,
        producer=producer,
        schema_version=kind.version,
    )


def encode(envelope: Envelope) -> bytes:
    return json.dumps(envelope.as_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(raw: bytes | None) -> Envelope:
    """Decode one message into an envelope at the latest version of its type, or raise UndecodableEvent."""
    if raw is None:
        raise UndecodableEvent("empty message")
    if len(raw) > MAX_EVENT_BYTES:
        raise UndecodableEvent(f"message of {len(raw)} bytes is over the {MAX_EVENT_BYTES}-byte limit")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableEvent(f"not JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise UndecodableEvent("envelope is not a JSON object")
    missing = [k for k in ("event_id", "event_type", "schema_version", "payload") if k not in data]
    if missing:
        raise UndecodableEvent(f"envelope lacks {', '.join(missing)}")
    name, version, payload = data["event_type"], data["schema_version"], data["payload"]
    if not isinstance(name, str) or name not in LATEST:
        raise UndecodableEvent(f"unknown event type {str(name)[:80]!r}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UndecodableEvent("schema_version is not a whole number")
    if not isinstance(payload, dict):
        raise UndecodableEvent("payload is not a JSON object")
    latest = LATEST[name]
    if version > latest.version:
        raise UndecodableEvent(f"{name} schema_version {version} is newer than this reader ({latest.version})")
    if (name, version) not in EVENT_TYPES:
        raise UndecodableEvent(f"{name} schema_version {version} is unknown")
    while version < latest.version:
        upcaster = UPCASTERS.get((name, version))
        if upcaster is None:
            raise UndecodableEvent(f"no upcaster for {name} v{version}")
        payload = upcaster(dict(payload))
        version += 1
    try:
        loaded = load_payload(latest.schema, payload)
    except ValidationError as exc:
        raise UndecodableEvent(f"{name} payload invalid: {json.dumps(exc.messages, ensure_ascii=False)[:300]}") from None
    try:
        event_id = str(uuid.UUID(str(data["event_id"])))
    except ValueError:
        raise UndecodableEvent("event_id is not a UUID") from None
    return Envelope(
        event_type=name,
        aggregate_id=str(data.get("aggregate_id") or payload.get(latest.aggregate_field, "")),
        payload=loaded,
        producer=str(data.get("producer", "")),
        schema_version=latest.version,
        event_id=event_id,
        occurred_at=str(data.get("occurred_at", "")),
    )
