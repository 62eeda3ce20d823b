"""Fixtures: a real broker (Tansu, started on a free port), real databases (SQLite files, or PostgreSQL when
JOBBRIDGE_TEST_DB=postgresql), and the three services as processes for the end-to-end tests.

`make test` runs the integration and end-to-end folders once per database. With CI=true, PostgreSQL is
required: the run fails rather than skips when it cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from support import base_env  # noqa: F401 - the fixtures below and other test folders use it

from shared.devstack import Stack

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def db_kind() -> str:
    kind = os.environ.get("JOBBRIDGE_TEST_DB", "sqlite")
    assert kind in ("sqlite", "postgresql"), f"JOBBRIDGE_TEST_DB={kind!r}"
    return kind


def _pg_admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT


def _pg_connect(dbname: str | None = None):
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(_pg_admin_url().replace("postgresql+psycopg://", "postgresql://"))
    if dbname:
        info["dbname"] = dbname
    return psycopg.connect(make_conninfo(**info), autocommit=True, connect_timeout=5)


class Databases:
    """One database per service, created for this test session and dropped after it."""

    def __init__(self, kind: str, root: Path):
        self.kind = kind
        self.root = root
        self.created: list[str] = []

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.root / f'{name}.db'}"
        dbname = f"jbtest_{name}_{uuid.uuid4().hex[:8]}"
        with _pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        self.created.append(dbname)
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(_pg_admin_url().replace("postgresql+psycopg://", "postgresql://"))
        host = info.get("host", "127.0.0.1")
        port = info.get("port", "5432")
        user = info.get("user", "postgres")
        password = f":{info['password']}" if info.get("password") else ""
        return f"postgresql+psycopg://{user}{password}@{host}:{port}/{dbname}"

    def drop_all(self) -> None:
        if not self.created:
            return
        with _pg_connect() as conn:
            for dbname in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    kind = db_kind()
    if kind == "postgresql":
        try:
            _pg_connect().close()
        except Exception as exc:  # noqa: BLE001 - any failure to connect means: no PostgreSQL here
            if os.environ.get("CI") == "true":
                pytest.fail(f"PostgreSQL is required in CI and unreachable at {_pg_admin_url()}: {exc}")
            pytest.skip(f"PostgreSQL unreachable at {_pg_admin_url()}")
    dbs = Databases(kind, tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real Kafka-protocol broker for this session: an external one if KAFKA_BOOTSTRAP_SERVERS is set."""
    external = os.environ.get("JOBBRIDGE_TEST_KAFKA")
    if external:
        yield external
        return
    stack = Stack(data_dir=tmp_path_factory.mktemp("broker"), env=dict(os.environ))
    stack.start_broker()
    yield stack.bootstrap
    stack.stop()


@pytest.fixture(scope="session")
def stack(broker, databases, tmp_path_factory):
    """The four services (gunicorn + worker each) on free ports, against the session's broker and databases."""
    env = base_env(broker)
    for service in ("intake", "matching", "placement", "support"):
        env[f"{service.upper()}_DATABASE_URL"] = databases.url(service)
    running = Stack(data_dir=tmp_path_factory.mktemp("stack"), env=env, bootstrap=broker)
    try:
        running.start_services()
    except Exception:
        for log in (running.log_dir).glob("*.log"):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        running.stop()
        raise
    yield running
    running.stop()


# --- the run's seed: in the header and beside every failure, so that a failing run can be repeated -----------

def pytest_report_header(config):
    from support import SEED

    return f"random seed: {SEED} (repeat with JOBBRIDGE_TEST_SEED={SEED})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        from support import SEED

        report.sections.append(("random seed", f"JOBBRIDGE_TEST_SEED={SEED}"))


@pytest.fixture(scope="session")
def console(stack, databases):
    """The web console on the session's stack, with one account per role and objects in and out of reach."""
    from consoleworld import start_console

    return start_console(stack, databases)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright drives Debian's Chromium: a browser is never downloaded (`playwright install`)."""
    from consoleworld import CHROMIUM

    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
