"""The placement database: read models of intake's records, referrals, placements, follow-ups, export batches,
and the platform tables.

No personal data at all: workers are ids with the facts the figures need (region, 4050 flag, registration
date, willingness to relocate). Free-text notes are cleared when a worker is erased.
"""

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

# --- read models, fed by intake's events and upserted by version ---------------------------------------

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    # NULL only for a tombstone whose WorkerRegistered never reached us.
    sa.Column("region_code", sa.String(6), nullable=True, index=True),
    sa.Column("is_4050", sa.Boolean, nullable=False, default=False),
    sa.Column("hardship", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("registered_on", sa.Date, nullable=True),
    sa.Column("willing_to_relocate", sa.Boolean, nullable=False, default=False),
    sa.Column("erased", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

employers = sa.Table(
    "employers",
    metadata,
    sa.Column("employer_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("region_code", sa.String(6), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

vacancies = sa.Table(
    "vacancies",
    metadata,
    sa.Column("vacancy_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("employer_id", sa.String(36), nullable=False, index=True),
    sa.Column("region_code", sa.String(6), nullable=True),
    sa.Column("vacancy_type", sa.String(20), nullable=False),
    sa.Column("headcount", sa.Integer, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# --- this service's own records ------------------------------------------------------------------------

referrals = sa.Table(
    "referrals",
    metadata,
    sa.Column("referral_id", sa.String(36), primary_key=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("vacancy_id", sa.String(36), nullable=False, index=True),
    sa.Column("employer_id", sa.String(36), nullable=False, index=True),
    sa.Column("status", sa.String(12), nullable=False, index=True),
    # "<worker_id>:<vacancy_id>" while the referral is open, NULL after: the unique key makes a second open
    # referral for the same pair impossible even when two requests race (NULLs never collide).
    sa.Column("open_key", sa.String(80), nullable=True, unique=True),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("reason_code", sa.String(30), nullable=True),
    sa.Column("reason_text", sa.String(500), nullable=True),
    sa.Column("placement_id", sa.String(36), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("status_changed_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("responded_at", UTCDateTime(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
)

placements = sa.Table(
    "placements",
    metadata,
    sa.Column("placement_id", sa.String(36), primary_key=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("placement_type", sa.String(20), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False, index=True),
    sa.Column("employer_id", sa.String(36), nullable=True),
    sa.Column("vacancy_id", sa.String(36), nullable=True, index=True),
    sa.Column("referral_id", sa.String(36), nullable=True),
    sa.Column("monthly_wage", sa.Integer, nullable=True),
    sa.Column("micro_loan_amount", sa.Integer, nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("ended_on", sa.Date, nullable=True),
    sa.Column("end_reason", sa.String(30), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

followups = sa.Table(
    "followups",
    metadata,
    sa.Column("followup_id", sa.String(36), primary_key=True),
    sa.Column("placement_id", sa.String(36), sa.ForeignKey("placements.placement_id"), nullable=False),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("month", sa.Integer, nullable=False),
    sa.Column("employed", sa.Boolean, nullable=False),
    sa.Column("monthly_wage", sa.Integer, nullable=True),
    sa.Column("left_reason", sa.String(30), nullable=True),
    sa.Column("left_reason_text", sa.String(500), nullable=True),
    sa.Column("note", sa.String(1000), nullable=True),
    sa.Column("recorded_on", sa.Date, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("placement_id", "month", name="uq_followups_placement_month"),
)

export_batches = sa.Table(
    "export_batches",
    metadata,
    sa.Column("batch_id", sa.String(36), primary_key=True),
    sa.Column("destination_region", sa.String(6), nullable=False, index=True),
    sa.Column("employer_id", sa.String(36), nullable=False),
    sa.Column("vacancy_id", sa.String(36), nullable=True),
    sa.Column("departure_date", sa.Date, nullable=False, index=True),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

export_members = sa.Table(
    "export_members",
    metadata,
    sa.Column("batch_id", sa.String(36), sa.ForeignKey("export_batches.batch_id"), primary_key=True),
    sa.Column("worker_id", sa.String(36), primary_key=True, index=True),
    sa.Column("arrived_on", sa.Date, nullable=True),
    sa.Column("returned_on", sa.Date, nullable=True),
    sa.Column("return_reason", sa.String(30), nullable=True),
    sa.Column("return_note", sa.String(500), nullable=True),
)

export_checkins = sa.Table(
    "export_checkins",
    metadata,
    sa.Column("checkin_id", sa.String(36), primary_key=True),
    sa.Column("batch_id", sa.String(36), sa.ForeignKey("export_batches.batch_id"), nullable=False, index=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("on_date", sa.Date, nullable=False),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("batch_id", "worker_id", "on_date", name="uq_export_checkins_day"),
)

export_income = sa.Table(
    "export_income",
    metadata,
    sa.Column("batch_id", sa.String(36), sa.ForeignKey("export_batches.batch_id"), primary_key=True),
    sa.Column("period", sa.String(7), primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
