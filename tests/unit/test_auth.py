"""Tokens: only HS256 with exp, iss and aud; anything else is refused."""

import base64
import json
import time

import jwt
import pytest

from shared.auth import AuthError, issue_token, verify_token

SECRET = "s" * 40


def verify(token, **kw):
    return verify_token(token, secret=SECRET, issuer="jobbridge", audience="jobbridge", leeway_s=kw.get("leeway", 30))


def claims(**over):
    now = int(time.time())
    c = {"sub": "u1", "role": "admin", "regions": [], "exp": now + 60, "iss": "jobbridge", "aud": "jobbridge"}
    c.update(over)
    return c


def test_a_token_issued_here_is_accepted_with_its_claims():
    token = issue_token(secret=SECRET, role="caseworker", sub="cw", regions=["4109"])
    p = verify(token)
    assert (p.sub, p.role, p.regions) == ("cw", "caseworker", ("4109",))
    assert p.covers_region("410923") and not p.covers_region("410100")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}.", id="alg-none"),
        pytest.param(jwt.encode(claims(), "another-secret-of-sufficient-length", algorithm="HS256"), id="wrong-signature"),
        pytest.param(jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, algorithm="HS256"), id="expired"),
        pytest.param(jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"), id="wrong-audience"),
        pytest.param(jwt.encode(claims(iss="someone-else"), SECRET, algorithm="HS256"), id="wrong-issuer"),
        pytest.param(jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(jwt.encode(claims(role="root"), SECRET, algorithm="HS256"), id="unknown-role"),
        pytest.param(jwt.encode(claims(role="employer"), SECRET, algorithm="HS256"), id="employer-without-id"),
        pytest.param(jwt.encode(claims(), SECRET, algorithm="HS512"), id="other-hmac"),
        pytest.param("not-a-token", id="garbage"),
    ],
)
def test_a_bad_token_is_refused(token):
    with pytest.raises(AuthError):
        verify(token)


def test_clock_skew_is_tolerated_only_within_the_leeway():
    token = jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256")
    assert verify(token, leeway=30).sub == "u1"
    with pytest.raises(AuthError):
        verify(token, leeway=0)


def test_a_token_accepted_once_is_still_refused_once_it_expires(monkeypatch):
    now = time.time()
    token = jwt.encode(claims(exp=int(now) + 5), SECRET, algorithm="HS256")
    assert verify(token, leeway=0).sub == "u1"
    assert verify(token, leeway=0).sub == "u1"  # the second time from the process's memory of the first
    monkeypatch.setattr(time, "time", lambda: now + 6)
    with pytest.raises(AuthError, match="expired"):
        verify(token, leeway=0)
    assert verify(token, leeway=30).sub == "u1"


def test_a_token_is_remembered_only_for_the_secret_issuer_and_audience_it_was_checked_with():
    token = issue_token(secret=SECRET, role="admin", sub="a")
    assert verify(token).sub == "a"
    with pytest.raises(AuthError):
        verify_token(token, secret="another-secret-of-sufficient-length", issuer="jobbridge", audience="jobbridge",
                     leeway_s=30)
    with pytest.raises(AuthError):
        verify_token(token, secret=SECRET, issuer="jobbridge", audience="someone-else", leeway_s=30)
