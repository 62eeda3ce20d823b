"""Storage shared by the three services: engines, sessions, the platform tables and migrations.

Each service owns its own database. The platform tables (outbox, inbox, audit log) have the same shape in
every service and are created by each service's first migration through `create_platform_tables`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# Execution option marking a session's connection as read-only (see `reading`).
READ_ONLY = "jobbridge_read_only"
SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def _json_dumps(value) -> str:
    # Chinese stays readable in the database, and `LIKE '%"电焊"%'` finds a term inside a JSON list.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine with the settings this system relies on (SQLite in WAL mode with a busy timeout)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, json_serializer=_json_dumps
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            # Let SQLAlchemy's BEGIN drive transactions, so that writers take the lock at BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Freed pages are overwritten with zeros: an erased or migrated value does not linger in the file.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - exercised by every test
            # IMMEDIATE: a write transaction takes the write lock up front, so two writers queue instead of
            # failing with "database is locked" when both try to upgrade a read lock. A session opened by
            # `reading()` only reads: DEFERRED, a snapshot that neither waits for writers nor holds them up.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, json_serializer=_json_dumps
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads only (it is never committed). On SQLite its transaction begins DEFERRED, so the many
    small reads — index catch-up, authorization lookups, the relay's scan of the outbox — run beside writers
    instead of queueing for the write lock; use `transaction()` for anything that writes."""
    session = factory()
    try:
        session.connection(execution_options={READ_ONLY: True})
        yield session
    finally:
        session.close()


@cache
def _update_by_key(table: sa.Table, key: str) -> sa.Update:
    return table.update().where(table.c[key] == sa.bindparam(f"b_{key}"))


def insert_or_update(session: Session, table: sa.Table, key: str, rows: Mapping[str, dict], existing: set) -> None:
    """Write `rows` (key value -> the other columns): one multi-row INSERT of the keys not in `existing`, one
    executemany UPDATE of the others. For consumers applying a run of events with a statement per kind."""
    inserts = [{key: k, **values} for k, values in rows.items() if k not in existing]
    updates = [{f"b_{key}": k, **values} for k, values in rows.items() if k in existing]
    if inserts:
        session.execute(table.insert(), inserts)
    if updates:
        session.execute(_update_by_key(table, key), updates)


def is_postgres(engine_or_session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that always comes back timezone-aware in UTC, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- platform tables -----------------------------------------------------------------------------------

def platform_tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    """Declare the outbox, inbox and audit log on a service's metadata."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        # The X-Request-ID of the request that recorded the event: sent as the `request_id` header.
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Index("ix_outbox_unsent", "sent_at", "id"),
    )
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )
    audit = sa.Table(
        "audit_log",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("resource", sa.String(60), nullable=False),
        sa.Column("resource_id", sa.String(100), nullable=True, index=True),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("detail", sa.String(500), nullable=True),
    )
    return {"outbox": outbox, "inbox": inbox, "audit_log": audit}


# --- migrations ----------------------------------------------------------------------------------------

def alembic_config(service: str, url: str):
    from alembic.config import Config

    script_location = SERVICES_DIR / service / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(service: str, url: str, revision: str = "head") -> None:
    """Bring a service's database to `revision` (default: the newest)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(service, url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def check_database(engine: Engine) -> None:
    """Raise if the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
