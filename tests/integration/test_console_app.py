"""The console's app without the services: what a user sees when a service is down, the cookie's flags in
production, and the English pages. The services' URLs point at a port nobody listens on."""

from __future__ import annotations

import re

import pytest

from services.console.accounts import TEST_HASHER, Accounts
from services.console.app import create_app
from services.console.config import load_console_settings
from shared.db import make_engine, make_session_factory, migrate
from shared.devstack import free_port

PROD_SECRET = "a-production-secret-of-more-than-32-chars"  # noqa: S105
PROD_PII_KEY = "cHJvZHVjdGlvbi1waWkta2V5LWpvYmJyaWRnZS0wMDE="


def _app(tmp_path, **extra):
    dead = free_port()
    env = {"JOBBRIDGE_ENV": "test", "JOBBRIDGE_DATA_DIR": str(tmp_path), "CONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
           "JOBBRIDGE_INTAKE_URL": f"http://127.0.0.1:{dead}", "JOBBRIDGE_MATCHING_URL": f"http://127.0.0.1:{dead}",
           "JOBBRIDGE_PLACEMENT_URL": f"http://127.0.0.1:{dead}", **extra}
    settings = load_console_settings(env)
    migrate("console", settings.base.database_url)
    accounts = Accounts(make_session_factory(make_engine(settings.base.database_url)), hasher=TEST_HASHER)
    accounts.add(username="wang", password="correct-horse", role="caseworker", regions=["4109"])
    return create_app(settings)


def _sign_in(client):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": "wang", "password": "correct-horse", "csrf_token": token})


@pytest.fixture
def client(tmp_path):
    return _app(tmp_path).test_client()


def test_a_service_that_is_down_gives_a_clear_message_not_a_500(client):
    assert _sign_in(client).status_code == 302
    r = client.get("/workers")
    assert r.status_code == 503
    text = r.get_data(as_text=True)
    assert "求职登记服务（intake）暂时无法连接" in text and "Traceback" not in text
    home = client.get("/")  # the 工作台 shows what it could read, and says what it could not
    assert home.status_code == 200
    assert "推荐与安置服务（placement）暂时无法连接" in home.get_data(as_text=True)


def test_the_pages_come_in_english_on_request(client):
    assert "Sign in" in client.get("/login?lang=en").get_data(as_text=True)
    assert "登录" in client.get("/login?lang=zh_CN").get_data(as_text=True)


def test_the_session_cookie_is_secure_in_production(tmp_path):
    app = _app(tmp_path, JOBBRIDGE_ENV="production", JOBBRIDGE_SECRET=PROD_SECRET, JOBBRIDGE_PII_KEY=PROD_PII_KEY)
    client = app.test_client()
    # Behind TLS (the proxy's job in production), the cookie carries Secure as well as HttpOnly and SameSite.
    page = client.get("/login", base_url="https://console.example").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", base_url="https://console.example", headers={"Referer": "https://console.example/login"},
                    data={"username": "wang", "password": "correct-horse", "csrf_token": token})
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_sign_in_never_redirects_off_the_site(client):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login?next=//evil.example/x", data={"username": "wang", "password": "correct-horse",
                                                         "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_the_user_command_adds_disables_and_resets_accounts(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_DATA_DIR": str(tmp_path),
           "CONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "shared.cli", "user", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    added = cli("add", "--username", "zhang", "--password", "long-enough-1", "--role", "manager", "--region", "4109")
    assert added.returncode == 0, added.stderr
    assert cli("add", "--username", "li", "--password", "long-enough-1", "--role", "employer").returncode == 2
    accounts = Accounts(make_session_factory(make_engine(env["CONSOLE_DATABASE_URL"])), hasher=TEST_HASHER)
    assert accounts.authenticate("zhang", "long-enough-1", remote_addr=None).regions == ("4109",)
    assert cli("disable", "--username", "zhang").returncode == 0
    assert accounts.get("zhang") and accounts.list()[0]["disabled"] is True
    assert cli("reset", "--username", "zhang", "--password", "another-one-2").returncode == 0
    assert accounts.authenticate("zhang", "another-one-2", remote_addr=None).role == "manager"
    assert [a["action"] for a in accounts.audit_entries(actor="cli")][:3] == ["user_reset", "user_disable", "user_add"]


def test_an_expired_or_unknown_answer_link_is_refused_before_any_service_is_asked(tmp_path):
    app = _app(tmp_path, JOBBRIDGE_ENV="test")
    accounts = app.extensions["accounts"]
    link = accounts.answer_link(referral_id="r-expired", employer_id="e-1", created_by="wang", days=0)
    client = app.test_client()
    r = client.get(f"/r/{link['code']}")
    assert r.status_code == 410 and "已过期" in r.get_data(as_text=True)
    assert client.get("/r/ZZZZZZZZZZ").status_code == 404
    assert client.get("/r/<script>").status_code == 404
