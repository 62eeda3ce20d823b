"""The intake database: workers, employers, vacancies, and the platform tables."""

from __future__ import annotations

import sqlalchemy as sa

from shared import idempotency
from shared.db import UTCDateTime, platform_tables

metadata = sa.MetaData()
_platform = platform_tables(metadata)
outbox = _platform["outbox"]
inbox = _platform["inbox"]
audit_log = _platform["audit_log"]
# Idempotency-Key of POSTs that create (shared/idempotency.py).
idempotency_keys = idempotency.table(metadata)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    # Personal data: encrypted at rest (Fernet), looked up by a keyed hash; all NULL after erasure.
    sa.Column("national_id_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("national_id_enc", sa.Text, nullable=True),
    sa.Column("name_enc", sa.Text, nullable=True),
    sa.Column("phone_enc", sa.Text, nullable=True),
    # No birth date in clear (it is inside the encrypted ID): the year and the gender, which the 4050 rule and
    # the figures need, are kept here and travel in no event (docs/privacy.md).
    sa.Column("birth_year", sa.SmallInteger, nullable=True),
    sa.Column("gender", sa.String(6), nullable=True),
    # What the statistics need survives erasure.
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("age", sa.Integer, nullable=True),
    sa.Column("is_4050", sa.Boolean, nullable=False, default=False),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("certificates", sa.JSON, nullable=False),
    sa.Column("education", sa.String(20), nullable=True),
    sa.Column("experience_years", sa.Float, nullable=False, default=0),
    sa.Column("desired_occupations", sa.JSON, nullable=False),
    sa.Column("desired_wage_min", sa.Integer, nullable=True),
    sa.Column("willing_to_relocate", sa.Boolean, nullable=False, default=False),
    sa.Column("target_regions", sa.JSON, nullable=False),
    sa.Column("hardship", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False, default="active"),
    sa.Column("consent_at", UTCDateTime(), nullable=True),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("erased_at", UTCDateTime(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
)

employers = sa.Table(
    "employers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("credit_code", sa.String(18), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("contact_phone_enc", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

vacancies = sa.Table(
    "vacancies",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("employer_id", sa.String(36), sa.ForeignKey("employers.id"), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("occupation", sa.String(200), nullable=False),
    sa.Column("required_skills", sa.JSON, nullable=False),
    sa.Column("preferred_skills", sa.JSON, nullable=False),
    sa.Column("required_certificates", sa.JSON, nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("wage_min", sa.Integer, nullable=True),
    sa.Column("wage_max", sa.Integer, nullable=True),
    sa.Column("headcount", sa.Integer, nullable=False),
    sa.Column("vacancy_type", sa.String(20), nullable=False, index=True),
    sa.Column("accommodation", sa.Boolean, nullable=False, default=False),
    sa.Column("open_until", sa.Date, nullable=True, index=True),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("close_reason", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Placements this service has heard of: a worker in work is not "active", a vacancy whose headcount is
# filled is closed. Placement owns placements; intake owns the worker's and the vacancy's status.
placements_seen = sa.Table(
    "placements_seen",
    metadata,
    sa.Column("placement_id", sa.String(36), primary_key=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("vacancy_id", sa.String(36), nullable=True, index=True),
    sa.Column("ended", sa.Boolean, nullable=False, default=False),
)
