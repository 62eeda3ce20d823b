"""Each service's migrations build exactly the schema its code declares, on SQLite and PostgreSQL, and can be
walked down and up again."""

from __future__ import annotations

import importlib
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared import ratelimit
from shared.db import make_engine, migrate

# The revision to walk down to and up again from: the first one of each service.
FIRST = {"support": "0001_initial_schema"}


@pytest.mark.parametrize("service", ["intake", "matching", "placement", "support"])
def test_migrations_build_the_declared_schema(databases, service):
    url = databases.url(f"migr_{service}_{uuid.uuid4().hex[:6]}")
    migrate(service, url)
    migrate(service, url, FIRST.get(service, "0001"))  # down one revision and back up: both directions must work
    migrate(service, url)
    declared = importlib.import_module(f"services.{service}.adapters.tables").metadata
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            own = compare_metadata(MigrationContext.configure(conn, opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: not (kind == "table" and name in (
                    ratelimit.TABLE, "alembic_version")),
            }), declared)
            limits = compare_metadata(MigrationContext.configure(conn, opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: kind != "table" or name == ratelimit.TABLE,
            }), ratelimit.metadata)
            assert sa.inspect(conn).has_table(ratelimit.TABLE)
    finally:
        engine.dispose()
    assert own == [], f"{service}: the migrations and tables.py disagree: {own}"
    assert limits == [], f"{service}: the rate-limit table differs from shared/ratelimit.py: {limits}"
