"""Wiring of the matching service."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from services.matching.adapters import tables
from shared.config import Settings, load_settings
from shared.db import make_engine, make_session_factory


@dataclass
class Container:
    settings: Settings
    engine: sa.Engine
    factory: sessionmaker[Session]
    tables: dict[str, sa.Table] = field(default_factory=dict)


def build(settings: Settings | None = None) -> Container:
    settings = settings or load_settings("matching")
    engine = make_engine(settings.database_url)
    return Container(
        settings=settings,
        engine=engine,
        factory=make_session_factory(engine),
        tables={"outbox": tables.outbox, "inbox": tables.inbox, "audit_log": tables.audit_log},
    )
