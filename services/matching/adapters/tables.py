"""The matching database: read models of workers and vacancies, open referrals, outcomes and models.

Nothing personal is kept here: no name, ID number or phone ever reaches this service. An erased worker's
row becomes a tombstone (no profile), so that a late event cannot bring them back.
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

workers = sa.Table(
    "m_workers",
    metadata,
    sa.Column("worker_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("region_code", sa.String(6), nullable=True),
    sa.Column("willing_to_relocate", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.String(12), nullable=False),  # active | placed | erased
    sa.Column("profile", sa.JSON, nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

vacancies = sa.Table(
    "m_vacancies",
    metadata,
    sa.Column("vacancy_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("employer_id", sa.String(36), nullable=False, index=True),
    sa.Column("vacancy_type", sa.String(20), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

referrals = sa.Table(
    "m_referrals",
    metadata,
    sa.Column("referral_id", sa.String(36), primary_key=True),
    sa.Column("vacancy_id", sa.String(36), nullable=False, index=True),
    sa.Column("worker_id", sa.String(36), nullable=True),
    sa.Column("open", sa.Boolean, nullable=False),
)

# Outcomes the model learns from, with the features the pair had when the outcome arrived. The worker id
# is cut off when the worker is erased; the numbers alone are not personal.
outcomes = sa.Table(
    "m_outcomes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("worker_id", sa.String(36), nullable=True, index=True),
    sa.Column("vacancy_id", sa.String(36), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),  # hired | rejected | retained_3 | retained_6 | left
    sa.Column("reason", sa.String(40), nullable=True),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
)

models = sa.Table(
    "m_models",
    metadata,
    sa.Column("version", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("trained_at", UTCDateTime(), nullable=False),
    sa.Column("training_rows", sa.Integer, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=False),
    sa.Column("outcomes_seen", sa.Integer, nullable=False, default=0),
)

# Every change to what the index ranks, in order; the web processes tail it to keep their index current.
changes = sa.Table(
    "m_changes",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(10), nullable=False),  # worker | vacancy | model
    sa.Column("entity_id", sa.String(40), nullable=False),
)

# Upcoming courses, from support's training events: `raise_rank` names one that teaches what a vacancy misses.
courses = sa.Table(
    "m_courses",
    metadata,
    sa.Column("course_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("skill_key", sa.String(100), nullable=False, index=True),
    sa.Column("certificate_key", sa.String(100), nullable=False, index=True),
    sa.Column("region_code", sa.String(6), nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False, index=True),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("enrolled", sa.Integer, nullable=False),
)
