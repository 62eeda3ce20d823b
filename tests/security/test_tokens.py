"""Tokens: only a valid HS256 token with the right issuer and audience, not expired, opens any route.

Every route of every service (from the apps' own url_maps) is tried with each kind of bad token; each must be
answered 401 in the contract's error shape, whatever the method, body or object. And a service in production
mode refuses to start without its own secret, web process and worker alike.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time

import jwt
import pytest
from secworld import SERVICES, missing_id
from support import Api

from shared.config import DEV_PII_KEY, DEV_SECRET
from shared.devstack import ROOT, free_port


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**over) -> dict:
    now = int(time.time())
    base = {"sub": "attacker", "role": "admin", "regions": [], "iat": now, "exp": now + 600, "iss": "jobbridge",
            "aud": "jobbridge"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


BAD_TOKENS = {
    "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}.",
    "alg-none-with-signature": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}.c2lnbmF0dXJl",
    "wrong-signature": jwt.encode(claims(), "a-different-secret-that-is-long-enough!", algorithm="HS256"),
    "expired": jwt.encode(claims(exp=int(time.time()) - 3600), DEV_SECRET, algorithm="HS256"),
    "wrong-audience": jwt.encode(claims(aud="another-system"), DEV_SECRET, algorithm="HS256"),
    "wrong-issuer": jwt.encode(claims(iss="another-system"), DEV_SECRET, algorithm="HS256"),
    "no-exp": jwt.encode(claims(exp=None), DEV_SECRET, algorithm="HS256"),
    "other-algorithm": jwt.encode(claims(), DEV_SECRET, algorithm="HS512"),
    "rs256-header-hmac-body": (lambda t: f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{t.split('.', 1)[1]}")(
        jwt.encode(claims(), DEV_SECRET, algorithm="HS256")),
    "unknown-role": jwt.encode(claims(role="root"), DEV_SECRET, algorithm="HS256"),
    "malformed-regions": jwt.encode(claims(role="caseworker", regions="4109"), DEV_SECRET, algorithm="HS256"),
    "garbage": "not.a.token",
    "missing": None,
}


def concrete(path: str) -> str:
    return re.sub(r"{\w+}", missing_id(), path)


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_or_missing_token_is_401_on_every_route(stack, routes, kind):
    bearer = BAD_TOKENS[kind]
    wrong = []
    for route in routes:
        api = Api(stack.url(route.service), bearer)
        body = {"json": {}} if route.method in ("POST", "PATCH", "PUT") else {}
        response = api.request(route.method, concrete(route.path), **body)
        error = response.json().get("error", {}) if response.headers.get("content-type", "").startswith(
            "application/json") else {}
        if response.status_code != 401 or error.get("code") != "unauthorized" \
                or "Bearer" not in response.headers.get("WWW-Authenticate", ""):
            wrong.append(f"{route.service} {route.method} {route.path}: {response.status_code} {response.text[:120]}")
    assert len(routes) >= 35
    assert not wrong, "\n".join(wrong)


def _production_env(tmp_path, **over) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and not k.startswith("JOBBRIDGE_")}
    env.update({"JOBBRIDGE_ENV": "production", "JOBBRIDGE_DATA_DIR": str(tmp_path)}, **over)
    return {k: v for k, v in env.items() if v is not None}


def _start(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _gunicorn(service: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", f"services.{service}.http:create_app()", "--bind",
            f"127.0.0.1:{free_port()}", "--config", str(ROOT / "deploy" / "gunicorn.conf.py")]


@pytest.mark.parametrize("service", SERVICES)
def test_production_refuses_to_start_without_a_secret(tmp_path, service):
    """Web process and worker process of each service alike: one line, no traceback, a non-zero exit."""
    env = _production_env(tmp_path, JOBBRIDGE_PII_KEY="x" * 44)
    expected = "JOBBRIDGE_SECRET is required when JOBBRIDGE_ENV=production"
    for argv in (_gunicorn(service), [sys.executable, "-m", "shared.cli", "worker", service]):
        started = _start(argv, env)
        assert started.returncode != 0
        assert expected in started.stderr and "Traceback" not in started.stderr, started.stderr[-2000:]


@pytest.mark.parametrize(("secret", "expected"), [
    (DEV_SECRET, "JOBBRIDGE_SECRET must be at least 32 characters and not the development secret"),
    ("short-secret", "JOBBRIDGE_SECRET must be at least 32 characters"),
])
def test_production_refuses_the_development_secret_or_a_short_one(tmp_path, secret, expected):
    started = _start(_gunicorn("placement"), _production_env(tmp_path, JOBBRIDGE_SECRET=secret,
                                                            JOBBRIDGE_PII_KEY="x" * 44))
    assert started.returncode != 0 and expected in started.stderr, started.stderr[-2000:]


def test_production_refuses_the_development_encryption_key(tmp_path):
    env = _production_env(tmp_path, JOBBRIDGE_SECRET="s" * 48, JOBBRIDGE_PII_KEY=DEV_PII_KEY)
    started = _start(_gunicorn("intake"), env)
    assert started.returncode != 0 and "JOBBRIDGE_PII_KEY must not be the development key" in started.stderr
