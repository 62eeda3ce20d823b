"""Wiring of the support service: the one place that picks concrete adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from services.support.adapters import tables
from shared.config import Settings, load_settings
from shared.db import make_engine, make_session_factory


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    engine: sa.Engine
    factory: sessionmaker[Session]
    # The clock: "today", "waiting too long" and "overdue" all read it, so tests can move time.
    clock: Callable[[], datetime] = utc_now
    tables: dict[str, sa.Table] = field(default_factory=dict)


def build(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> Container:
    settings = settings or load_settings("support")
    engine = make_engine(settings.database_url)
    return Container(
        settings=settings,
        engine=engine,
        factory=make_session_factory(engine),
        clock=clock or utc_now,
        tables={"outbox": tables.outbox, "inbox": tables.inbox, "audit_log": tables.audit_log},
    )
