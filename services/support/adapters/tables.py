"""The support database: read models of workers and placements, courses and enrolments, micro-loans, helper
units with their pairings, target agreements and assistance log, and the platform tables.

Personal data held here: loan and assistance amounts (what a household borrowed or was given) and the
free text of loan projects, reasons and notes. Amounts are masked for roles that may not see them; free text
and certificate numbers are cleared when the worker is erased (the amounts stay, for the figures, tied to an
id that no longer leads to a person).
"""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import UTCDateTime, platform_tables

metadata = sa.MetaData()
_platform = platform_tables(metadata)
outbox = _platform["outbox"]
inbox = _platform["inbox"]
audit_log = _platform["audit_log"]

# --- read models ---------------------------------------------------------------------------------------

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    # NULL only for a tombstone whose WorkerRegistered never reached us.
    sa.Column("region_code", sa.String(6), nullable=True, index=True),
    sa.Column("is_4050", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("erased", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

placements_seen = sa.Table(
    "placements_seen",
    metadata,
    sa.Column("placement_id", sa.String(36), primary_key=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("placement_type", sa.String(20), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
)

# --- training ------------------------------------------------------------------------------------------

courses = sa.Table(
    "courses",
    metadata,
    sa.Column("course_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("skill", sa.String(100), nullable=False, index=True),
    sa.Column("occupation_code", sa.String(20), nullable=True),
    sa.Column("certificate", sa.String(100), nullable=False),
    sa.Column("provider", sa.String(200), nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("starts_on", sa.Date, nullable=False, index=True),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("enrolled", sa.Integer, nullable=False),
    sa.Column("employer_id", sa.String(36), nullable=True),
    sa.Column("hiring_commitment", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

enrolments = sa.Table(
    "enrolments",
    metadata,
    sa.Column("enrolment_id", sa.String(36), primary_key=True),
    sa.Column("course_id", sa.String(36), sa.ForeignKey("courses.course_id"), nullable=False, index=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=True),
    sa.Column("certificate_no", sa.String(60), nullable=True),
    sa.Column("completed_on", sa.Date, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("course_id", "worker_id", name="uq_enrolments_course_worker"),
)

attendance = sa.Table(
    "attendance",
    metadata,
    sa.Column("enrolment_id", sa.String(36), sa.ForeignKey("enrolments.enrolment_id"), primary_key=True),
    sa.Column("on_date", sa.Date, primary_key=True),
    sa.Column("present", sa.Boolean, nullable=False),
)

# --- micro-loans ---------------------------------------------------------------------------------------

loans = sa.Table(
    "loans",
    metadata,
    sa.Column("loan_id", sa.String(36), primary_key=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("purpose", sa.String(200), nullable=True),
    sa.Column("project", sa.String(2000), nullable=True),
    sa.Column("guarantor_unit", sa.String(200), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("reason_code", sa.String(30), nullable=True),
    sa.Column("reason_text", sa.String(500), nullable=True),
    sa.Column("term_months", sa.Integer, nullable=True),
    sa.Column("applied_on", sa.Date, nullable=False),
    sa.Column("disbursed_on", sa.Date, nullable=True, index=True),
    sa.Column("closed_on", sa.Date, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

loan_schedule = sa.Table(
    "loan_schedule",
    metadata,
    sa.Column("loan_id", sa.String(36), sa.ForeignKey("loans.loan_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
)

repayments = sa.Table(
    "repayments",
    metadata,
    sa.Column("repayment_id", sa.String(36), primary_key=True),
    sa.Column("loan_id", sa.String(36), sa.ForeignKey("loans.loan_id"), nullable=False, index=True),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("paid_on", sa.Date, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

loan_outcomes = sa.Table(
    "loan_outcomes",
    metadata,
    sa.Column("loan_id", sa.String(36), sa.ForeignKey("loans.loan_id"), primary_key=True),
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("running", sa.Boolean, nullable=False),
    sa.Column("monthly_income", sa.Integer, nullable=True),
    sa.Column("out_of_poverty", sa.Boolean, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
)

# --- one-to-one assistance -----------------------------------------------------------------------------

helper_units = sa.Table(
    "helper_units",
    metadata,
    sa.Column("unit_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

pairings = sa.Table(
    "pairings",
    metadata,
    sa.Column("unit_id", sa.String(36), sa.ForeignKey("helper_units.unit_id"), primary_key=True),
    sa.Column("worker_id", sa.String(36), primary_key=True, index=True),
    sa.Column("started_on", sa.Date, nullable=False),
)

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("unit_id", sa.String(36), sa.ForeignKey("helper_units.unit_id"), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("metric", sa.String(20), primary_key=True),
    sa.Column("target", sa.Integer, nullable=False),
)

assistance = sa.Table(
    "assistance",
    metadata,
    sa.Column("assistance_id", sa.String(36), primary_key=True),
    sa.Column("worker_id", sa.String(36), nullable=False, index=True),
    sa.Column("region_code", sa.String(6), nullable=False, index=True),
    sa.Column("unit_id", sa.String(36), sa.ForeignKey("helper_units.unit_id"), nullable=False, index=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("amount", sa.Integer, nullable=True),
    sa.Column("equipment", sa.String(100), nullable=True),
    sa.Column("quantity", sa.Integer, nullable=True),
    sa.Column("placement_id", sa.String(36), nullable=True),
    sa.Column("given_on", sa.Date, nullable=False, index=True),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("recorded_by", sa.String(200), nullable=False),
)
