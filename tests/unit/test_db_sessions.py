"""SQLite transactions: writers take the write lock at BEGIN; read-only sessions take none and read a snapshot."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from shared.db import make_engine, make_session_factory, reading, transaction

metadata = sa.MetaData()
items = sa.Table("items", metadata, sa.Column("id", sa.Integer, primary_key=True))


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    yield path, make_session_factory(engine)
    engine.dispose()


def _can_write_now(path) -> bool:
    """Whether another connection could take the write lock at once."""
    conn = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO items (id) VALUES (NULL)")
        conn.execute("COMMIT")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        conn.close()


def test_a_reading_session_holds_no_write_lock_and_keeps_its_snapshot(db):
    path, factory = db
    with transaction(factory) as session:
        session.execute(items.insert(), [{"id": 1}])
    with reading(factory) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(items)).scalar_one() == 1
        assert _can_write_now(path)  # a writer elsewhere is not held up by this reader
        assert session.execute(sa.select(sa.func.count()).select_from(items)).scalar_one() == 1
    with reading(factory) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(items)).scalar_one() == 2


def test_a_writing_transaction_takes_the_write_lock_at_its_first_statement(db):
    path, factory = db
    with transaction(factory) as session:
        session.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
        assert not _can_write_now(path)  # BEGIN IMMEDIATE: no upgrade from a read lock can deadlock later
    assert _can_write_now(path)
