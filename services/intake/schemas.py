"""HTTP schemas of the intake service: what a request may carry and how a response looks.

Validators call the domain's rules, so the same rule answers the API, the bulk import and the tests, and
every error names its field and the reason.
"""

from __future__ import annotations

import re
from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.intake.domain.identity import (
    InvalidValue,
    parse_national_id,
    validate_credit_code,
    validate_mobile,
)
from services.intake.domain.normalise import normalise_terms, normalise_text
from shared.apidoc import DIGITS, Pattern
from shared.events import EDUCATION, HARDSHIP, VACANCY_TYPES
from shared.http import Bounded
from shared.http import per_page as per_page_field
from shared.pii import personal_data_in, screen_message
from shared.regions import PROVINCE_PREFIXES, is_county, is_known_region

MAX_TERMS = 30
MAX_TERM_LEN = 40


class Strict(Schema):
    class Meta:
        unknown = RAISE


# C0 and C1 control characters other than tab, line feed and carriage return (which normalisation turns into
# spaces), and lone surrogates: no name, skill or title holds them, and PostgreSQL cannot store a NUL byte.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class Text(fields.String):
    """A string of printable characters."""

    default_error_messages = {"unprintable": "must not contain control characters"}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _UNPRINTABLE.search(text):
            raise self.make_error("unprintable")
        return text


def _domain(rule):
    """Turn a domain rule's InvalidValue into a marshmallow error with the same reason."""

    def check(value):
        try:
            rule(value)
        except InvalidValue as exc:
            raise ValidationError(exc.reason) from None

    return check


def _national_id(value: str) -> None:
    parse_national_id(value, today=date.today())


def _county(value: str) -> None:
    if not (isinstance(value, str) and len(value) == 6 and value.isdigit()):
        raise ValidationError("must be a 6-digit GB/T 2260 code")
    if value[:2] not in PROVINCE_PREFIXES:
        raise ValidationError(f"{value[:2]} is not a province prefix")
    if not is_county(value):
        raise ValidationError(f"{value} is not a county-level division")


def _region(value: str) -> None:
    if not (isinstance(value, str) and len(value) == 6 and value.isdigit()):
        raise ValidationError("must be a 6-digit GB/T 2260 code")
    if value[:2] not in PROVINCE_PREFIXES:
        raise ValidationError(f"{value[:2]} is not a province prefix")
    if not is_known_region(value):
        raise ValidationError(f"{value} is not a known division")


def _terms(value: list[str]) -> None:
    try:
        normalise_terms(value, max_items=MAX_TERMS, max_len=MAX_TERM_LEN)
    except InvalidValue as exc:
        raise ValidationError(exc.reason) from None


def _text(max_len: int):
    return validate.And(validate.Length(min=1, max=max_len), lambda v: bool(normalise_text(v)) or _blank())


def _blank():
    raise ValidationError("must not be blank")


class WholeNumber(fields.Integer):
    """An integer that refuses 3500.5 instead of quietly keeping 3500; "3500" from a spreadsheet cell is fine."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


# The raw list is bounded too (twice the normalised maximum: blanks and repeats are dropped before counting).
Terms = lambda **kw: fields.List(Text(validate=validate.Length(max=200)), validate=Bounded(  # noqa: E731
    _terms, 2 * MAX_TERMS, error=f"at most {MAX_TERMS} terms are allowed"), **kw)


def _screened(value: list[str]) -> None:
    """A worker's free text goes into events and read models that masked roles see: no ID, phone or e-mail."""
    for term in value or ():
        found = personal_data_in(term) if isinstance(term, str) else None
        if found:
            raise ValidationError(screen_message(found))


# A worker's terms: as Terms, and screened for personal data (a vacancy's text may hold the employer's contact).
WorkerTerms = lambda **kw: fields.List(Text(validate=validate.Length(max=200)), validate=[Bounded(  # noqa: E731
    _terms, 2 * MAX_TERMS, error=f"at most {MAX_TERMS} terms are allowed"), _screened], **kw)
CODE_ERROR = "must be a 6-digit GB/T 2260 code"
Wage = lambda **kw: WholeNumber(validate=validate.Range(min=0, max=1_000_000), **kw)  # noqa: E731


class ConsentSchema(Strict):
    data_processing = fields.Boolean(required=True, validate=validate.Equal(True, error="consent to data processing is required"))


class WorkerCreateSchema(Strict):
    national_id = Text(required=True, validate=[validate.Length(min=1, max=30), _domain(_national_id)])
    name = Text(required=True, validate=_text(50))
    phone = Text(required=True, validate=[validate.Length(max=30), _domain(validate_mobile)])
    region_code = Text(required=True, validate=Bounded(_county, 6, error=CODE_ERROR))
    skills = WorkerTerms(load_default=list)
    certificates = WorkerTerms(load_default=list)
    education = Text(load_default=None, allow_none=True, validate=validate.OneOf(EDUCATION))
    experience_years = fields.Float(load_default=0, validate=validate.Range(min=0, max=60))
    desired_occupations = WorkerTerms(load_default=list)
    desired_wage_min = Wage(load_default=None, allow_none=True)
    willing_to_relocate = fields.Boolean(load_default=False)
    target_regions = fields.List(Text(validate=Bounded(_region, 6, error=CODE_ERROR)), load_default=list, validate=validate.Length(max=20))
    hardship = fields.List(Text(validate=validate.OneOf(HARDSHIP)), load_default=list, validate=validate.Length(max=6))
    consent = fields.Nested(ConsentSchema, required=True)


class WorkerUpdateSchema(Strict):
    """What may change after registration; the national ID (and so birth date and gender) may not."""

    name = Text(validate=_text(50))
    phone = Text(validate=[validate.Length(max=30), _domain(validate_mobile)])
    region_code = Text(validate=Bounded(_county, 6, error=CODE_ERROR))
    skills = WorkerTerms()
    certificates = WorkerTerms()
    education = Text(allow_none=True, validate=validate.OneOf(EDUCATION))
    experience_years = fields.Float(validate=validate.Range(min=0, max=60))
    desired_occupations = WorkerTerms()
    desired_wage_min = Wage(allow_none=True)
    willing_to_relocate = fields.Boolean()
    target_regions = fields.List(Text(validate=Bounded(_region, 6, error=CODE_ERROR)), validate=validate.Length(max=20))
    hardship = fields.List(Text(validate=validate.OneOf(HARDSHIP)), validate=validate.Length(max=6))

    @validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ValidationError("nothing to update", "body")


class WorkerSchema(Schema):
    worker_id = fields.String()
    version = fields.Integer()
    national_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    gender = fields.String(allow_none=True)
    age = fields.Integer(allow_none=True)
    age_band = fields.String(allow_none=True, metadata={"description": "ten-year band, e.g. 40-49 (masked readers see this, not the age)"})
    is_4050 = fields.Boolean()
    region_code = fields.String()
    skills = fields.List(fields.String())
    certificates = fields.List(fields.String())
    education = fields.String(allow_none=True)
    experience_years = fields.Float()
    desired_occupations = fields.List(fields.String())
    desired_wage_min = fields.Integer(allow_none=True)
    willing_to_relocate = fields.Boolean()
    target_regions = fields.List(fields.String())
    hardship = fields.List(fields.String())
    status = fields.String()
    registered_at = fields.DateTime()
    updated_at = fields.DateTime()
    pii_masked = fields.Boolean()


class WorkerQuerySchema(Strict):
    region = Text(validate=[validate.Length(min=2, max=6), Pattern(DIGITS, error="must be digits")])
    skill = Text(validate=validate.Length(min=1, max=MAX_TERM_LEN))
    is_4050 = fields.Boolean()
    status = Text(validate=validate.OneOf(("active", "placed", "erased")))
    willing_to_relocate = fields.Boolean()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = per_page_field()


class WorkerPageSchema(Schema):
    items = fields.List(fields.Nested(WorkerSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class EmployerCreateSchema(Strict):
    name = Text(required=True, validate=_text(200))
    credit_code = Text(required=True, validate=[validate.Length(max=30), _domain(validate_credit_code)])
    region_code = Text(required=True, validate=Bounded(_region, 6, error=CODE_ERROR))
    contact_phone = Text(required=True, validate=[validate.Length(max=30), _domain(validate_mobile)])


class EmployerSchema(Schema):
    employer_id = fields.String()
    name = fields.String()
    credit_code = fields.String()
    region_code = fields.String()
    contact_phone = fields.String(allow_none=True)
    created_at = fields.DateTime()


def _future_or_today(value: date) -> None:
    if value < date.today():
        raise ValidationError("must not be in the past")


class VacancyFieldsMixin:
    title = Text(validate=_text(200))
    occupation = Text(validate=_text(200))
    required_skills = Terms()
    preferred_skills = Terms()
    required_certificates = Terms()
    region_code = Text(validate=Bounded(_region, 6, error=CODE_ERROR))
    wage_min = Wage(allow_none=True)
    wage_max = Wage(allow_none=True)
    headcount = WholeNumber(validate=validate.Range(min=1, max=10_000))
    vacancy_type = Text(validate=validate.OneOf(VACANCY_TYPES))
    accommodation = fields.Boolean()
    open_until = fields.Date(validate=_future_or_today)

    @validates_schema
    def wage_range(self, data, **_kwargs):
        low, high = data.get("wage_min"), data.get("wage_max")
        if low is not None and high is not None and low > high:
            raise ValidationError("wage_max must not be below wage_min", "wage_max")


class VacancyCreateSchema(VacancyFieldsMixin, Strict):
    employer_id = Text(required=True, validate=validate.Length(min=1, max=36))
    title = Text(required=True, validate=_text(200))
    occupation = Text(required=True, validate=_text(200))
    required_skills = Terms(load_default=list)
    preferred_skills = Terms(load_default=list)
    required_certificates = Terms(load_default=list)
    region_code = Text(required=True, validate=Bounded(_region, 6, error=CODE_ERROR))
    wage_min = Wage(required=True)
    wage_max = Wage(required=True)
    headcount = WholeNumber(required=True, validate=validate.Range(min=1, max=10_000))
    vacancy_type = Text(required=True, validate=validate.OneOf(VACANCY_TYPES))
    accommodation = fields.Boolean(load_default=False)
    open_until = fields.Date(required=True, validate=_future_or_today)


class VacancyUpdateSchema(VacancyFieldsMixin, Strict):
    @validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ValidationError("nothing to update", "body")


class VacancySchema(Schema):
    vacancy_id = fields.String()
    version = fields.Integer()
    employer_id = fields.String()
    title = fields.String()
    occupation = fields.String()
    required_skills = fields.List(fields.String())
    preferred_skills = fields.List(fields.String())
    required_certificates = fields.List(fields.String())
    region_code = fields.String()
    wage_min = fields.Integer(allow_none=True)
    wage_max = fields.Integer(allow_none=True)
    headcount = fields.Integer()
    vacancy_type = fields.String()
    accommodation = fields.Boolean()
    open_until = fields.Date(allow_none=True)
    status = fields.String()
    close_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VacancyQuerySchema(Strict):
    region = Text(validate=[validate.Length(min=2, max=6), Pattern(DIGITS, error="must be digits")])
    type = Text(validate=validate.OneOf(VACANCY_TYPES))
    status = Text(validate=validate.OneOf(("open", "closed")))
    employer_id = Text(validate=validate.Length(max=36))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = per_page_field()


class VacancyPageSchema(Schema):
    items = fields.List(fields.Nested(VacancySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class CloseSchema(Strict):
    reason = Text(load_default="closed_by_employer", validate=validate.OneOf(
        ("closed_by_employer", "filled", "cancelled", "expired")))


class ImportRowResultSchema(Schema):
    row = fields.Integer()
    status = fields.String()
    worker_id = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ImportResultSchema(Schema):
    created = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    rows = fields.List(fields.Nested(ImportRowResultSchema))
