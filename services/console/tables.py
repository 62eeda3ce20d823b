"""The console's own database: accounts, sign-in sessions, its audit log and the letters' one-time answer links."""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import UTCDateTime

metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("regions", sa.JSON, nullable=False),
    sa.Column("employer_id", sa.String(36), nullable=True),
    sa.Column("display_name", sa.String(64), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("password_changed_at", UTCDateTime, nullable=False),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("resource", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=True),
    sa.Column("remote_addr", sa.String(64), nullable=True),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("detail", sa.String(255), nullable=True),
)

answer_links = sa.Table(
    "answer_links", metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("referral_id", sa.String(36), nullable=False, unique=True),
    sa.Column("employer_id", sa.String(36), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Column("answer", sa.String(16), nullable=True),
)
