"""HTTP schemas of the support service: what a request may carry and how a response looks.

Unknown fields are refused; every string and list is bounded; free text may not carry a resident ID or a phone
number. Amounts are whole yuan.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.support.domain.assistance import KINDS, METRICS, UNIT_KINDS
from services.support.domain.loans import (
    MAX_TERM_MONTHS,
    OUTCOME_MONTHS,
    REJECTION_REASONS,
    STATUSES,
    TARGETS,
)
from shared.apidoc import DIGITS, Pattern
from shared.http import per_page as per_page_field
from shared.regions import PROVINCE_PREFIXES, is_known_region

# The union fund lends small sums: a ceiling well above any real micro-loan, well below an overflow.
MAX_LOAN = 10_000_000
MAX_AMOUNT = 10_000_000
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2199, 12, 31)
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ID_LIKE = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
_MOBILE_LIKE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


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


def _checked_text(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")
    if _UNPRINTABLE.search(value):
        raise ValidationError("must not contain control characters")
    compact = re.sub(r"[\s\-]", "", value)
    if _ID_LIKE.search(compact):
        raise ValidationError("must not contain personal data (a resident ID number)")
    if _MOBILE_LIKE.search(compact):
        raise ValidationError("must not contain personal data (a phone number)")


def Text(max_len: int, **kw) -> fields.String:  # noqa: N802 - a field factory, read like a type
    return fields.String(validate=[validate.Length(min=1, max=max_len), _checked_text], **kw)


def Day(**kw) -> fields.Date:  # noqa: N802
    return fields.Date(validate=validate.Range(min=EARLIEST_DATE, max=LATEST_DATE), **kw)


def _region(value: str) -> None:
    if not (len(value) == 6 and value.isdigit()):
        raise ValidationError("must be a 6-digit GB/T 2260 code")
    if value[:2] not in PROVINCE_PREFIXES:
        raise ValidationError(f"{value[:2]} is not a province prefix")
    if not is_known_region(value):
        raise ValidationError(f"{value} is not a known division")


Region = lambda **kw: fields.String(validate=[validate.Length(max=6), _region], **kw)  # noqa: E731
RegionPrefix = lambda **kw: fields.String(  # noqa: E731
    validate=[validate.Length(min=2, max=6), Pattern(DIGITS, error="must be digits")], **kw)
Money = lambda top, **kw: fields.Integer(strict=True, validate=validate.Range(min=1, max=top), **kw)  # noqa: E731
Page = lambda: fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))  # noqa: E731


class PageQuery(Strict):
    page = Page()
    per_page = per_page_field()


# --- courses -----------------------------------------------------------------------------------------------

# A CSCO-22 code (6-18-02, optionally with a qualifier in brackets) or a plain number; ECMA-262 as documented.
OCCUPATION_CODE = r"^([0-9](-[0-9]{2}){1,3}(\([0-9A-Za-z_\u4e00-\u9fff]+\))?|[0-9]{1,8})$"


class CourseCreateSchema(Strict):
    title = Text(200, required=True)
    # At most 40 characters, as intake keeps a worker's terms.
    skill = Text(40, required=True, metadata={"description": "the skill the course teaches, as intake spells it"})
    occupation_code = fields.String(load_default=None, allow_none=True, validate=[
        validate.Length(max=20),
        Pattern(OCCUPATION_CODE, error="must be a CSCO-22 code such as 6-18-02")])
    certificate = Text(40, required=True, metadata={"description": "the certificate a pass gives"})
    provider = Text(200, required=True)
    region_code = Region(required=True)
    starts_on = Day(required=True)
    ends_on = Day(required=True)
    capacity = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=10_000))
    employer_id = Id(load_default=None, allow_none=True, metadata={"description": "定向培训: the employer hiring graduates"})
    hiring_commitment = fields.Integer(strict=True, load_default=None, allow_none=True,
                                       validate=validate.Range(min=1, max=10_000))


class CourseUpdateSchema(Strict):
    title = Text(200)
    provider = Text(200)
    starts_on = Day()
    ends_on = Day()
    capacity = fields.Integer(strict=True, validate=validate.Range(min=1, max=10_000))
    hiring_commitment = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=10_000))

    @validates_schema
    def not_empty(self, data, **_kw):
        if not data:
            raise ValidationError("name at least one field to change", "body")


class CourseSchema(Schema):
    course_id = fields.String()
    title = fields.String()
    skill = fields.String()
    occupation_code = fields.String(allow_none=True)
    certificate = fields.String()
    provider = fields.String()
    region_code = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    capacity = fields.Integer()
    enrolled = fields.Integer()
    free_places = fields.Integer()
    upcoming = fields.Boolean()
    employer_id = fields.String(allow_none=True)
    hiring_commitment = fields.Integer(allow_none=True)


class CourseQuerySchema(PageQuery):
    region = RegionPrefix()
    skill = fields.String(validate=validate.Length(min=1, max=100))
    upcoming = fields.Boolean(metadata={"description": "true: starting today or later; false: started already"})


class CoursePageSchema(Schema):
    items = fields.List(fields.Nested(CourseSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class EnrolSchema(Strict):
    worker_id = Id(required=True)


class AttendanceSchema(Strict):
    on = Day(required=True)
    present = fields.Boolean(required=True)


class CompletionSchema(Strict):
    passed = fields.Boolean(required=True)
    certificate_no = fields.String(load_default=None, allow_none=True,
                                   validate=[validate.Length(min=1, max=60),
                                             Pattern(r"^[0-9A-Za-z/-]+$",
                                                     error="letters, digits, - and / only")])


class EnrolmentSchema(Schema):
    enrolment_id = fields.String()
    course_id = fields.String()
    worker_id = fields.String()
    status = fields.String(metadata={"enum": ["enrolled", "passed", "failed"]})
    passed = fields.Boolean(allow_none=True)
    certificate_no = fields.String(allow_none=True)
    completed_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    days_present = fields.Integer()
    days_recorded = fields.Integer()


class EnrolmentListSchema(Schema):
    course_id = fields.String()
    items = fields.List(fields.Nested(EnrolmentSchema))


# --- loans -------------------------------------------------------------------------------------------------

class LoanCreateSchema(Strict):
    worker_id = Id(required=True)
    amount = Money(MAX_LOAN, required=True, metadata={"description": "yuan"})
    purpose = Text(200, required=True, metadata={"description": "e.g. 皮鞋店, 家庭养殖, 小餐馆"})
    project = Text(2000, load_default=None, allow_none=True, metadata={"description": "the project description"})
    guarantor_unit = Text(200, required=True, metadata={"description": "the work unit that guarantees the loan"})
    term_months = fields.Integer(strict=True, load_default=None, allow_none=True,
                                 validate=validate.Range(min=1, max=MAX_TERM_MONTHS))


class LoanStatusChangeSchema(Strict):
    status = fields.String(required=True, validate=validate.OneOf(TARGETS))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REJECTION_REASONS),
                           metadata={"description": "required for rejected"})
    reason_text = Text(500, load_default=None, allow_none=True)
    on = Day(load_default=None, allow_none=True, metadata={"description": "disbursed: the day (default today)"})
    term_months = fields.Integer(strict=True, load_default=None, allow_none=True,
                                 validate=validate.Range(min=1, max=MAX_TERM_MONTHS),
                                 metadata={"description": "disbursed: months of repayment (default 12)"})


# Documented as `LoanStatusChange`: a component named `LoanStatus` clashes, in generated clients, with the enum of
# a loan's `status` field (openapi-python-client then drops `Loan` and every loan operation's answer).
LoanStatusSchema = LoanStatusChangeSchema


class RepaymentSchema(Strict):
    amount = Money(MAX_LOAN, required=True)
    paid_on = Day(required=True)


class LoanOutcomeSchema(Strict):
    month = fields.Integer(strict=True, required=True, validate=validate.OneOf(OUTCOME_MONTHS))
    running = fields.Boolean(required=True, metadata={"description": "the business still runs"})
    monthly_income = fields.Integer(strict=True, load_default=None, allow_none=True,
                                    validate=validate.Range(min=0, max=MAX_AMOUNT))
    out_of_poverty = fields.Boolean(required=True)


class InstalmentSchema(Schema):
    seq = fields.Integer()
    due_on = fields.Date()
    amount = fields.Integer(allow_none=True)


class PaymentSchema(Schema):
    amount = fields.Integer(allow_none=True)
    paid_on = fields.Date()


class OutcomeSchema(Schema):
    month = fields.Integer()
    running = fields.Boolean()
    monthly_income = fields.Integer(allow_none=True)
    out_of_poverty = fields.Boolean()


class LoanSchema(Schema):
    loan_id = fields.String()
    worker_id = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    amount = fields.Integer(allow_none=True, metadata={"description": "null when masked for the caller"})
    amounts_masked = fields.Boolean()
    purpose = fields.String(allow_none=True)
    project = fields.String(allow_none=True)
    guarantor_unit = fields.String()
    reason = fields.String(allow_none=True)
    reason_text = fields.String(allow_none=True)
    term_months = fields.Integer(allow_none=True)
    applied_on = fields.Date()
    disbursed_on = fields.Date(allow_none=True)
    closed_on = fields.Date(allow_none=True)
    repaid = fields.Integer(allow_none=True)
    owed = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    overdue_amount = fields.Integer(allow_none=True)
    schedule = fields.List(fields.Nested(InstalmentSchema))
    repayments = fields.List(fields.Nested(PaymentSchema))
    outcomes = fields.List(fields.Nested(OutcomeSchema))


class LoanQuerySchema(PageQuery):
    status = fields.String(validate=validate.OneOf(STATUSES))
    overdue = fields.Boolean()
    worker_id = Id()
    region = RegionPrefix()


class LoanPageSchema(Schema):
    items = fields.List(fields.Nested(LoanSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- helper units and assistance ---------------------------------------------------------------------------

class UnitCreateSchema(Strict):
    name = Text(200, required=True, metadata={"description": "the work unit, or the cadre's post (not a person's name)"})
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    region_code = Region(required=True)


class PairingSchema(Strict):
    worker_id = Id(required=True)
    started_on = Day(load_default=None, allow_none=True)


class TargetSchema(Strict):
    year = fields.Integer(strict=True, required=True, validate=validate.Range(min=2000, max=2199))
    metric = fields.String(required=True, validate=validate.OneOf(METRICS))
    target = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=100_000))


class PairedSchema(Schema):
    worker_id = fields.String()
    started_on = fields.Date()


class TargetOutSchema(Schema):
    year = fields.Integer()
    metric = fields.String()
    target = fields.Integer()
    achieved = fields.Integer()
    score = fields.Integer(metadata={"description": "0..100"})
    met = fields.Boolean()


class UnitSchema(Schema):
    unit_id = fields.String()
    name = fields.String()
    kind = fields.String()
    region_code = fields.String()
    pairings = fields.List(fields.Nested(PairedSchema))
    targets = fields.List(fields.Nested(TargetOutSchema))


class UnitQuerySchema(PageQuery):
    region = RegionPrefix()


class UnitPageSchema(Schema):
    items = fields.List(fields.Nested(UnitSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AssistanceCreateSchema(Strict):
    worker_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    amount = fields.Integer(strict=True, load_default=None, allow_none=True,
                            validate=validate.Range(min=0, max=MAX_AMOUNT), metadata={"description": "yuan"})
    helper_unit = Id(required=True, metadata={"description": "the helper unit's id"})
    note = Text(500, load_default=None, allow_none=True)
    given_on = Day(load_default=None, allow_none=True)
    equipment = Text(100, load_default=None, allow_none=True, metadata={"description": "e.g. 电焊机, 三轮车, 豆浆机"})
    quantity = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=1, max=1000))
    placement_id = Id(load_default=None, allow_none=True,
                      metadata={"description": "the self-employment the equipment serves (default: the latest)"})


class AssistanceSchema(Schema):
    assistance_id = fields.String()
    worker_id = fields.String()
    helper_unit = fields.String()
    kind = fields.String(metadata={"enum": list(KINDS)})
    amount = fields.Integer(allow_none=True)
    amounts_masked = fields.Boolean()
    equipment = fields.String(allow_none=True)
    quantity = fields.Integer(allow_none=True)
    placement_id = fields.String(allow_none=True)
    given_on = fields.Date()
    note = fields.String(allow_none=True)


class AssistanceQuerySchema(PageQuery):
    worker_id = Id()
    kind = fields.String(validate=validate.OneOf(KINDS))
    helper_unit = Id()
    region = RegionPrefix()


class AssistancePageSchema(Schema):
    items = fields.List(fields.Nested(AssistanceSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# --- the report --------------------------------------------------------------------------------------------

class ReportQuerySchema(Strict):
    region = RegionPrefix(metadata={"description": "region prefix; a caseworker's default: its regions"})
    from_ = Day(data_key="from", metadata={"description": "default: 1 January of this year"})
    to = Day(metadata={"description": "default: 31 December of this year"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))

    @validates_schema
    def ordered(self, data, **_kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("must not be before from", "to")


class CountAmountSchema(Schema):
    count = fields.Integer()
    amount = fields.Integer()


class ReportSchema(Schema):
    region = fields.String(allow_none=True)
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    courses = fields.Integer()
    trainees = fields.Integer()
    enrolments = fields.Integer()
    completed = fields.Integer()
    completion_rate = fields.Float(allow_none=True)
    employed_within_3m_after_course = fields.Float(allow_none=True)
    employed_within_6m_after_course = fields.Float(allow_none=True)
    employed_within_3m_after_course_count = fields.Integer()
    employed_within_6m_after_course_count = fields.Integer()
    loans = fields.Integer()
    loan_amount = fields.Integer()
    loan_due = fields.Integer()
    loan_repaid = fields.Integer()
    repayment_rate = fields.Float(allow_none=True)
    loans_with_outcome = fields.Integer()
    out_of_poverty = fields.Integer()
    out_of_poverty_rate = fields.Float(allow_none=True)
    assistance = fields.Integer()
    assistance_amount = fields.Integer()
    assistance_by_kind = fields.Dict(keys=fields.String(), values=fields.Nested(CountAmountSchema))
    assistance_by_unit = fields.Dict(keys=fields.String(), values=fields.Nested(CountAmountSchema))
    equipment = fields.Dict(keys=fields.String(), values=fields.Integer())
    targets = fields.Integer()
    targets_met = fields.Integer()
