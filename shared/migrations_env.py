"""The body of every service's Alembic env.py: run migrations on the connection the caller passes (or the URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context


def _render_item(type_, obj, autogen_context):
    # Our column types are plain SQL types underneath: migrations must not import application code.
    from shared.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(target_metadata: sa.MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True, render_item=_render_item)
        with context.begin_transaction():
            context.run_migrations()
        return
    from shared.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True, compare_type=True,
                          render_item=_render_item)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
