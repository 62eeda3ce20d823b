"""Tokens and the roles of the contract.

Only HS256 is accepted; `exp`, `iss`, `aud`, `sub` and `role` are required; clock skew is bounded by the
configured leeway. What each role may do to which object is decided by each service's policy table
(`services/<name>/policy.py`), enforced in one place by `shared.http`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import jwt

ROLES = ("admin", "caseworker", "coordinator", "employer", "manager")
ALGORITHM = "HS256"


class AuthError(Exception):
    """The request carries no valid token (answered with 401)."""


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    regions: tuple[str, ...] = ()
    employer_id: str | None = None
    token_id: str | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def covers_region(self, region_code: str | None) -> bool:
        """Whether a caseworker's regions include this code (admins cover everything)."""
        if self.is_admin:
            return True
        if not region_code:
            return False
        return any(region_code.startswith(prefix) for prefix in self.regions)


def issue_token(
    *,
    secret: str,
    role: str,
    sub: str | None = None,
    regions: list[str] | tuple[str, ...] = (),
    employer_id: str | None = None,
    ttl_s: int = 3600,
    issuer: str = "jobbridge",
    audience: str = "jobbridge",
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "employer" and not employer_id:
        raise ValueError("an employer token needs an employer_id")
    if role in ("caseworker", "manager") and not regions:
        raise ValueError(f"a {role} token needs at least one region")
    for prefix in regions:
        if not (prefix.isdigit() and 2 <= len(prefix) <= 6):
            raise ValueError(f"region {prefix!r} is not a GB/T 2260 code prefix of 2 to 6 digits")
    now = int(time.time())
    claims = {
        "sub": sub or f"{role}-{now}",
        "role": role,
        "regions": list(regions),
        "iat": now,
        "exp": now + ttl_s,
        "iss": issuer,
        "aud": audience,
    }
    if employer_id:
        claims["employer_id"] = employer_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# Tokens already verified by this process: (token, secret, issuer, audience) -> (principal, exp). A caller sends
# the same token with every request, and decoding and checking it costs about 0.1 ms; everything that check
# decides is fixed by those four strings except the time claims. Of those, only `exp` can turn a token that
# passed into one that fails, so it is checked again on every use, as PyJWT checks it; `nbf` and `iat` passed
# once stay passed. Only accepted tokens are kept; a refused one is checked in full every time.
_VERIFIED: dict[tuple[str, str, str, str], tuple[Principal, int]] = {}
_VERIFIED_MAX = 10_000
_VERIFIED_LOCK = threading.Lock()


def verify_token(token: str, *, secret: str, issuer: str, audience: str, leeway_s: int) -> Principal:
    """Decode and check a bearer token, or raise AuthError with a short reason."""
    key = (token, secret, issuer, audience)
    known = _VERIFIED.get(key)
    if known is not None:
        principal, exp = known
        if exp <= time.time() - leeway_s:
            raise AuthError("token expired")
        return principal
    principal, exp = _verify_token(token, secret=secret, issuer=issuer, audience=audience, leeway_s=leeway_s)
    with _VERIFIED_LOCK:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[key] = (principal, exp)
    return principal


def _verify_token(token: str, *, secret: str, issuer: str, audience: str, leeway_s: int) -> tuple[Principal, int]:
    """The full check of a token: its principal and its `exp`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise AuthError("token algorithm not accepted")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            leeway=leeway_s,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc.__class__.__name__}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise AuthError("token has no valid role")
    regions = claims.get("regions") or []
    if not isinstance(regions, list) or not all(isinstance(r, str) and r.isdigit() for r in regions):
        raise AuthError("token regions are malformed")
    employer_id = claims.get("employer_id")
    if role == "employer" and not employer_id:
        raise AuthError("employer token lacks employer_id")
    principal = Principal(
        sub=str(claims["sub"]),
        role=role,
        regions=tuple(regions),
        employer_id=str(employer_id) if employer_id else None,
        token_id=claims.get("jti"),
    )
    return principal, int(claims["exp"])
