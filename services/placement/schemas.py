"""HTTP schemas of the placement service: what a request may carry and how a response looks.

Unknown fields are refused; every string and list is bounded; free text may not carry a resident ID or a phone
number. Responses carry ids only: placement holds no personal data.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.placement.domain.exports import BATCH_STATUSES, MAX_BATCH_WORKERS, RETURN_REASONS
from services.placement.domain.placements import FOLLOWUP_MONTHS, LEFT_REASONS, PLACEMENT_TYPES
from services.placement.domain.referrals import REASONS, STATUSES, WORKER_ERASED
from services.placement.domain.text import personal_data_in
from shared.apidoc import DIGITS, Pattern
from shared.http import Bounded
from shared.http import per_page as per_page_field
from shared.pii import screen_message
from shared.regions import PROVINCE_PREFIXES, is_known_region

MAX_WAGE = 1_000_000
# Dates a query may name: wide enough for any real period, narrow enough that date arithmetic cannot overflow.
EARLIEST_QUERY_DATE, LATEST_QUERY_DATE = date(1990, 1, 1), date(2199, 12, 31)
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Id(fields.String):
    """The id of a record as the services issue them (a UUID), normalised to its canonical lower-case form."""

    default_error_messages = {"not_an_id": "must be an id (a UUID)"}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("format", "uuid")
        super().__init__(validate=validate.Length(max=45), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise self.make_error("not_an_id") from None


class QueryDate(fields.Date):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(min=EARLIEST_QUERY_DATE, max=LATEST_QUERY_DATE), **kwargs)


def _no_personal_data(value: str) -> None:
    found = personal_data_in(value)
    if found:
        raise ValidationError(screen_message(found))


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _printable(value: str) -> None:
    if _UNPRINTABLE.search(value):
        raise ValidationError("must not contain control characters")


def Text(max_len: int, **kw) -> fields.String:  # noqa: N802 - a field factory, read like a type
    return fields.String(validate=[validate.Length(min=1, max=max_len), _printable, _not_blank, _no_personal_data], **kw)


def _region(value: str) -> None:
    if not (isinstance(value, str) and len(value) == 6 and value.isdigit()):
        raise ValidationError("must be a 6-digit GB/T 2260 code")
    if value[:2] not in PROVINCE_PREFIXES:
        raise ValidationError(f"{value[:2]} is not a province prefix")
    if not is_known_region(value):
        raise ValidationError(f"{value} is not a known division")


RegionPrefix = lambda **kw: fields.String(  # noqa: E731
    validate=[validate.Length(min=2, max=6), Pattern(DIGITS, error="must be digits")], **kw)
Wage = lambda **kw: fields.Integer(validate=validate.Range(min=0, max=MAX_WAGE), **kw)  # noqa: E731
Page = lambda: fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))  # noqa: E731
PerPage = per_page_field  # page size capped by JOBBRIDGE_MAX_PAGE_SIZE


# --- referrals ---------------------------------------------------------------------------------------------

class ReferralCreateSchema(Strict):
    worker_id = Id(required=True)
    vacancy_id = Id(required=True)
    note = Text(500, load_default=None, allow_none=True,
                metadata={"description": "shown to the employer; no names, IDs or phone numbers"})


class ReferralStatusChangeSchema(Strict):
    # Every status is a well-formed target; which moves are legal is the state machine's answer (409).
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    start_date = fields.Date(load_default=None, allow_none=True, metadata={"description": "required for hired"})
    monthly_wage = Wage(load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REASONS),
                           metadata={"description": "required for rejected"})
    reason_text = Text(500, load_default=None, allow_none=True, metadata={"description": "required for reason other"})


# Documented as `ReferralStatusChange`: a component named `ReferralStatus` clashes, in generated clients, with the
# enum of a referral's `status` field.
ReferralStatusSchema = ReferralStatusChangeSchema


class ReferralSchema(Schema):
    referral_id = fields.String()
    worker_id = fields.String()
    vacancy_id = fields.String()
    employer_id = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    note = fields.String(allow_none=True)
    # null is one of the values (no reason yet): a generated client checks every value against the enum.
    reason = fields.String(allow_none=True, metadata={"enum": [*REASONS, WORKER_ERASED, None]})
    reason_text = fields.String(allow_none=True)
    placement_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    status_changed_at = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    stale = fields.Boolean()
    waiting_days = fields.Integer(allow_none=True)


class ReferralQuerySchema(Strict):
    worker_id = Id()
    vacancy_id = Id()
    status = fields.String(validate=validate.OneOf(STATUSES))
    stale = fields.Boolean(metadata={"description": "true: open referrals waiting longer than the configured days"})
    page = Page()
    per_page = PerPage()


class ReferralPageSchema(Schema):
    items = fields.List(fields.Nested(ReferralSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- placements and follow-ups -----------------------------------------------------------------------------

class PlacementCreateSchema(Strict):
    worker_id = Id(required=True)
    placement_type = fields.String(required=True, validate=validate.OneOf(PLACEMENT_TYPES))
    start_date = fields.Date(required=True)
    employer_id = Id(load_default=None, allow_none=True)
    vacancy_id = Id(load_default=None, allow_none=True)
    monthly_wage = Wage(load_default=None, allow_none=True)
    micro_loan_amount = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=10_000_000),
                                       metadata={"description": "self_employment only (CNY)"})


class FollowUpCreateSchema(Strict):
    month = fields.Integer(required=True, validate=validate.OneOf(FOLLOWUP_MONTHS))
    employed = fields.Boolean(required=True)
    monthly_wage = Wage(load_default=None, allow_none=True)
    note = Text(1000, load_default=None, allow_none=True)
    left_reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LEFT_REASONS),
                                metadata={"description": "required when employed is false"})
    left_reason_text = Text(500, load_default=None, allow_none=True,
                            metadata={"description": "required when left_reason is other"})


class FollowUpSchema(Schema):
    followup_id = fields.String()
    placement_id = fields.String()
    worker_id = fields.String()
    month = fields.Integer()
    employed = fields.Boolean()
    monthly_wage = fields.Integer(allow_none=True)
    left_reason = fields.String(allow_none=True)
    left_reason_text = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_on = fields.Date()
    recorded_at = fields.DateTime()


class PendingFollowUpSchema(Schema):
    month = fields.Integer()
    due_on = fields.Date()


class PlacementSchema(Schema):
    placement_id = fields.String()
    worker_id = fields.String()
    placement_type = fields.String()
    start_date = fields.Date()
    employer_id = fields.String(allow_none=True)
    vacancy_id = fields.String(allow_none=True)
    referral_id = fields.String(allow_none=True)
    monthly_wage = fields.Integer(allow_none=True)
    micro_loan_amount = fields.Integer(allow_none=True)
    status = fields.String(metadata={"enum": ["active", "ended"]})
    ended_on = fields.Date(allow_none=True)
    end_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    followups = fields.List(fields.Nested(FollowUpSchema), allow_none=True)
    followups_pending = fields.List(fields.Nested(PendingFollowUpSchema))


class PlacementQuerySchema(Strict):
    worker_id = Id()
    vacancy_id = Id()
    status = fields.String(validate=validate.OneOf(("active", "ended")))
    placement_type = fields.String(validate=validate.OneOf(PLACEMENT_TYPES))
    region = RegionPrefix()
    page = Page()
    per_page = PerPage()


class PlacementPageSchema(Schema):
    items = fields.List(fields.Nested(PlacementSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class DueQuerySchema(Strict):
    region = RegionPrefix()
    before = QueryDate(metadata={"description": "list follow-ups falling on or before this date (default today)"})
    page = Page()
    per_page = per_page_field(100)


class DueItemSchema(Schema):
    placement_id = fields.String()
    worker_id = fields.String()
    month = fields.Integer()
    due_on = fields.Date()
    overdue = fields.Boolean()
    days_overdue = fields.Integer()
    placement_type = fields.String()
    region_code = fields.String(allow_none=True)


class DueListSchema(Schema):
    before = fields.Date()
    total = fields.Integer()
    overdue = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    items = fields.List(fields.Nested(DueItemSchema))


# --- export batches ----------------------------------------------------------------------------------------

class BatchCreateSchema(Strict):
    destination_region = fields.String(required=True, validate=Bounded(_region, 6, error="must be a 6-digit GB/T 2260 code"))
    employer_id = Id(required=True)
    vacancy_id = Id(load_default=None, allow_none=True)
    worker_ids = fields.List(Id(), required=True,
                             validate=validate.Length(min=1, max=MAX_BATCH_WORKERS))
    departure_date = fields.Date(required=True)

    @validates_schema
    def distinct_workers(self, data, **_kwargs):
        ids = data.get("worker_ids") or []
        twice = sorted({w for w in ids if ids.count(w) > 1})
        if twice:
            raise ValidationError(f"listed more than once: {', '.join(twice)}", "worker_ids")


class ArrivalSchema(Strict):
    arrived_on = fields.Date(required=True)
    worker_ids = fields.List(Id(), load_default=None, allow_none=True,
                             validate=validate.Length(min=1, max=MAX_BATCH_WORKERS),
                             metadata={"description": "default: every worker not yet arrived or returned"})


class CheckInSchema(Strict):
    worker_id = Id(required=True)
    on = fields.Date(required=True)
    note = Text(500, load_default=None, allow_none=True)


class ReturnSchema(Strict):
    worker_id = Id(required=True)
    returned_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(RETURN_REASONS))
    note = Text(500, load_default=None, allow_none=True)

    @validates_schema
    def other_needs_note(self, data, **_kwargs):
        if data.get("reason") == "other" and not data.get("note"):
            raise ValidationError("required when reason is other", "note")


class IncomeSchema(Strict):
    period = fields.String(required=True, validate=Bounded(Pattern(
        r"^[0-9]{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM"), 7, error="must be YYYY-MM"))
    amount = fields.Integer(required=True, validate=validate.Range(min=0, max=1_000_000_000),
                            metadata={"description": "CNY sent home by the batch for the month"})
    replace = fields.Boolean(load_default=False,
                             metadata={"description": "true: correct an amount recorded before for this period"})


class BatchWorkerSchema(Schema):
    worker_id = fields.String()
    arrived_on = fields.Date(allow_none=True)
    returned_on = fields.Date(allow_none=True)
    return_reason = fields.String(allow_none=True)
    return_note = fields.String(allow_none=True)


class CheckInOutSchema(Schema):
    worker_id = fields.String()
    on = fields.Date()
    note = fields.String(allow_none=True)


class IncomeOutSchema(Schema):
    period = fields.String()
    amount = fields.Integer()


class BatchCountsSchema(Schema):
    workers = fields.Integer()
    arrived = fields.Integer()
    returned_early = fields.Integer()


class BatchSchema(Schema):
    batch_id = fields.String()
    destination_region = fields.String()
    employer_id = fields.String()
    vacancy_id = fields.String(allow_none=True)
    departure_date = fields.Date()
    status = fields.String(metadata={"enum": list(BATCH_STATUSES)})
    arrived_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    worker_ids = fields.List(fields.String())
    counts = fields.Nested(BatchCountsSchema)
    income_total = fields.Integer()
    workers = fields.List(fields.Nested(BatchWorkerSchema))
    checkins = fields.List(fields.Nested(CheckInOutSchema))
    income = fields.List(fields.Nested(IncomeOutSchema))


class BatchQuerySchema(Strict):
    destination_region = RegionPrefix()
    status = fields.String(validate=validate.OneOf(BATCH_STATUSES))
    employer_id = Id()
    from_ = QueryDate(data_key="from", metadata={"description": "departure on or after"})
    to = QueryDate(metadata={"description": "departure on or before"})
    page = Page()
    per_page = PerPage()

    @validates_schema
    def ordered(self, data, **_kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("must not be before from", "to")


class BatchPageSchema(Schema):
    items = fields.List(fields.Nested(BatchSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- reports -----------------------------------------------------------------------------------------------

class SummaryQuerySchema(Strict):
    region = RegionPrefix(metadata={"description": "worker region prefix; a caseworker's default: its regions"})
    from_ = QueryDate(data_key="from", metadata={"description": "default: 1 January of this year"})
    to = QueryDate(metadata={"description": "default: 31 December of this year"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))

    @validates_schema
    def ordered(self, data, **_kwargs):
        if data.get("from_") and data.get("to"):
            if data["from_"] > data["to"]:
                raise ValidationError("must not be before from", "to")
            if (data["to"] - data["from_"]).days > 366 * 20:
                raise ValidationError("the period may span at most 20 years", "to")


class ByTypeSchema(Schema):
    regular = fields.Integer()
    public_welfare = fields.Integer()
    self_employment = fields.Integer()
    cross_region = fields.Integer()


class RetentionSchema(Schema):
    m3 = fields.Float(allow_none=True)
    m6 = fields.Float(allow_none=True)


class SummarySchema(Schema):
    region = fields.String(allow_none=True)
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    reemployed = fields.Integer()
    reemployed_4050 = fields.Integer()
    by_type = fields.Nested(ByTypeSchema)
    placements = fields.Integer()
    exported_workers = fields.Integer()
    returned_early = fields.Integer()
    export_income = fields.Float()
    referrals = fields.Integer()
    referral_to_hire_rate = fields.Float(allow_none=True)
    employer_response_rate = fields.Float(allow_none=True)
    retention = fields.Nested(RetentionSchema)
    median_days_to_placement = fields.Float(allow_none=True)
