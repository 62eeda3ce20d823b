"""The console's settings: the shared ones (port, database, secret) plus where the services are and the
rules of sign-in. Read once, from the environment."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import CONSOLE, DEFAULT_PORTS, SERVICES, Settings, _get, _int, load_settings


@dataclass(frozen=True)
class ConsoleSettings:
    base: Settings
    service_urls: Mapping[str, str]
    # A token minted for one page's calls lives this long: long enough for a slow page, useless when stolen.
    token_ttl_s: int = 120
    session_hours: int = 8
    lockout_after: int = 5
    lockout_minutes: int = 15
    answer_link_days: int = 14
    # A service slower than this is shown as unavailable; generous, as a page waits on a few calls in a row.
    service_timeout_s: float = 30.0

    @property
    def secret_key(self) -> bytes:
        # Sessions are signed with a key derived from the system secret, never the secret itself.
        return hmac.new(self.base.secret.encode(), b"jobbridge-console-session", hashlib.sha256).digest()

    @property
    def secure_cookie(self) -> bool:
        return self.base.is_production


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    env = os.environ if env is None else env
    base = load_settings(CONSOLE, env)
    urls = {}
    for service in SERVICES:
        port = _int(env, f"{service.upper()}_PORT", DEFAULT_PORTS[service], minimum=1, maximum=65535)
        urls[service] = (_get(env, f"JOBBRIDGE_{service.upper()}_URL", None) or f"http://127.0.0.1:{port}").rstrip("/")
    return ConsoleSettings(
        base=base,
        service_urls=urls,
        token_ttl_s=_int(env, "CONSOLE_TOKEN_TTL_S", 120, minimum=10, maximum=3600),
        session_hours=_int(env, "CONSOLE_SESSION_HOURS", 8, minimum=1, maximum=72),
        lockout_after=_int(env, "CONSOLE_LOCKOUT_AFTER", 5, minimum=1, maximum=100),
        lockout_minutes=_int(env, "CONSOLE_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60),
        answer_link_days=_int(env, "CONSOLE_ANSWER_LINK_DAYS", 14, minimum=1, maximum=90),
    )
