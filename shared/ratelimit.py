"""Rate-limit counters in the service's own database: a storage backend for the `limits` library.

The services' rate limits (`shared.http.CallerLimits`) keep their counters in a `limits` storage. The ones
`limits` ships need Redis, memcached or MongoDB (or keep counters per process, which two gunicorn workers would
each count separately). This one keeps fixed-window counters in a table of the database the service already
has, so every worker of a service shares them with nothing more to run:

- `database://` — the service's own database; `shared.http` passes its engine as the `engine` option.
- `database+sqlite:///path`, `database+postgresql://…` — another database, by SQLAlchemy URL.

One row per key: an increment is a single upsert that starts a new window when the old one has expired and
returns the count, sent in autocommit on a connection each thread keeps (no pool checkout, no BEGIN/COMMIT),
so a write pays one short statement (docs/decisions/0008-access.md has the numbers).
Only the fixed-window strategy is supported (moving and sliding windows need other storage operations).
"""

from __future__ import annotations

import logging
import random
import threading
import time

import sqlalchemy as sa
from limits.storage import Storage

log = logging.getLogger(__name__)

TABLE = "rate_limit_counters"
# Any constant: serialises the table's creation when several gunicorn workers start at once on PostgreSQL.
_CREATE_LOCK = 0x6A62726C

metadata = sa.MetaData()
counters = sa.Table(
    TABLE,
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # seconds since the epoch
)


# A new window starts when the old one has expired; otherwise the count grows. Both SET expressions read the
# row as it was, so the window's end moves only with a reset.
_UPSERT = (
    "INSERT INTO rate_limit_counters (key, count, expires_at) VALUES ({key}, {amount}, {expires}) "
    "ON CONFLICT (key) DO UPDATE SET "
    "count = CASE WHEN rate_limit_counters.expires_at <= {now} THEN {amount} "
    "ELSE rate_limit_counters.count + {amount} END, "
    "expires_at = CASE WHEN rate_limit_counters.expires_at <= {now} THEN {expires} "
    "ELSE rate_limit_counters.expires_at END "
    "RETURNING count"
)
_NAMES = ("key", "amount", "expires", "now")
_UPSERT_SQL = {
    "sqlite": _UPSERT.format(**{n: f":{n}" for n in _NAMES}),
    "postgresql": _UPSERT.format(**{n: f"%({n})s" for n in _NAMES}),
}
_PURGE_SQL = {
    "sqlite": "DELETE FROM rate_limit_counters WHERE expires_at < :before",
    "postgresql": "DELETE FROM rate_limit_counters WHERE expires_at < %(before)s",
}


class DatabaseStorage(Storage):
    """Fixed-window counters in a SQL table (SQLite or PostgreSQL)."""

    STORAGE_SCHEME = ["database", "database+sqlite", "database+postgresql", "database+postgresql+psycopg"]
    # How often an increment also deletes long-expired rows (keys of callers that stopped calling).
    PURGE_CHANCE = 0.001

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, engine: sa.Engine | None = None,
                 **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        if engine is None:
            target = (uri or "").split("+", 1)[1] if "+" in (uri or "").split("://", 1)[0] else ""
            if not target:
                raise ValueError("database:// needs the service's engine (storage option `engine`) or a URL "
                                 "such as database+postgresql://host/db")
            from shared.db import make_engine

            engine = make_engine(target, pool_size=2)
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sql = _UPSERT_SQL[self.dialect]
        # The increment bypasses SQLAlchemy: one statement on a connection of the thread's own, in autocommit.
        self._local = threading.local()
        self._table_ready = False
        try:
            self._create_table()
        except sa.exc.SQLAlchemyError as exc:
            # The database may be down while the service starts (readiness says so); the first increment retries.
            log.warning("rate-limit counters: table not created yet (%s)", exc.__class__.__name__)

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
            conn = self.engine.dialect.dbapi.connect(*cargs, **cparams)
            if self.dialect == "sqlite":
                # Autocommit: the upsert is its own transaction; wait for the write lock as the service does.
                conn.isolation_level = None
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA synchronous=NORMAL")  # as shared.db: in WAL mode, no fsync per commit
            else:
                conn.autocommit = True
            self._local.conn = conn
        return conn

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (sa.exc.SQLAlchemyError, self.engine.dialect.dbapi.Error)

    def _create_table(self) -> None:
        with self.engine.begin() as conn:
            if conn.dialect.name != "postgresql":
                counters.create(conn, checkfirst=True)
                self._table_ready = True
                return
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CREATE_LOCK})
            # UNLOGGED: counters need no crash safety, and a commit that touched only this table waits for no
            # WAL flush — that is most of the cost of an increment.
            conn.execute(sa.text(
                f"CREATE UNLOGGED TABLE IF NOT EXISTS {TABLE} (key VARCHAR(255) PRIMARY KEY, "
                "count INTEGER NOT NULL, expires_at DOUBLE PRECISION NOT NULL)"))
        self._table_ready = True

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        if not self._table_ready:
            self._create_table()
        now = time.time()
        params = {"key": key, "amount": amount, "now": now, "expires": now + expiry}
        conn = self._connection()
        try:
            cursor = conn.cursor()
            cursor.execute(self._sql, params)
            count = cursor.fetchone()[0]
            cursor.close()
            if random.random() < self.PURGE_CHANCE:
                conn.execute(_PURGE_SQL[self.dialect], {"before": now - 3600})
        except self.engine.dialect.dbapi.Error:
            # A broken connection (a database restart): the next increment opens a new one.
            self._local.conn = None
            conn.close()
            raise
        return int(count)

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(sa.select(counters.c.count).where(
                counters.c.key == key, counters.c.expires_at > time.time())).scalar_one_or_none()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            expires = conn.execute(sa.select(counters.c.expires_at).where(counters.c.key == key)).scalar_one_or_none()
        return float(expires) if expires is not None else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(counters.delete()).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(counters.delete().where(counters.c.key == key))
