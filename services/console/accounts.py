"""Accounts, sign-in sessions, the console's audit log and the letters' answer links, in the console's database.

Passwords are argon2id hashes (argon2-cffi's defaults). After `lockout_after` wrong passwords in a row an account
is locked for `lockout_minutes`; each further wrong password while locked extends nothing (the lock stands),
and the message never says whether the user name exists.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.console.tables import answer_links, audit_log, sessions, users
from shared.auth import ROLES
from shared.db import reading, transaction

HASHER = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)
# For JOBBRIDGE_ENV=test only: still argon2id, cheap enough for a test suite on two busy cores.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
MIN_PASSWORD = 8
# No 0/O/1/I/L: a code is read off paper and typed.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is for a person."""


class LoginRefused(Exception):
    """Wrong name or password, a disabled account or a locked one; the message says which only when safe."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    regions: tuple[str, ...]
    employer_id: str | None
    display_name: str | None

    @classmethod
    def from_row(cls, row) -> User:
        return cls(id=row["id"], username=row["username"], role=row["role"], regions=tuple(row["regions"] or ()),
                   employer_id=row["employer_id"], display_name=row["display_name"])


def _now() -> datetime:
    return datetime.now(UTC)


def check_account(*, role: str, regions: list[str] | tuple[str, ...], employer_id: str | None) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    for prefix in regions:
        if not (prefix.isdigit() and 2 <= len(prefix) <= 6):
            raise AccountError(f"region {prefix!r} is not a GB/T 2260 code prefix of 2 to 6 digits")
    if role in ("caseworker", "manager") and not regions:
        raise AccountError(f"a {role} needs at least one --region")
    if role == "employer" and not employer_id:
        raise AccountError("an employer needs --employer-id")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


class Accounts:
    def __init__(self, factory, *, lockout_after: int = 5, lockout_minutes: int = 15, session_hours: int = 8,
                 hasher: PasswordHasher = HASHER):
        self.factory = factory
        self.hasher = hasher
        # Checked against when the user name is unknown, so that an unknown name costs as long as a wrong password.
        self._dummy_hash = hasher.hash("jobbridge-console-no-such-user")
        self.lockout_after = lockout_after
        self.lockout = timedelta(minutes=lockout_minutes)
        self.session_life = timedelta(hours=session_hours)

    # --- accounts ------------------------------------------------------------------------------------------

    def add(self, *, username: str, password: str, role: str, regions=(), employer_id: str | None = None,
            display_name: str | None = None, actor: str = "cli") -> User:
        username = username.strip()
        if not username or len(username) > 64:
            raise AccountError("the user name must have 1 to 64 characters")
        check_account(role=role, regions=regions, employer_id=employer_id)
        check_password(password)
        now = _now()
        with transaction(self.factory) as s:
            if s.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise AccountError(f"user {username!r} exists already")
            s.execute(users.insert().values(
                username=username, password_hash=self.hasher.hash(password), role=role, regions=list(regions),
                employer_id=employer_id, display_name=display_name, disabled=False, failed_logins=0,
                created_at=now, password_changed_at=now))
            self._audit(s, actor=actor, role="admin" if actor != "cli" else "cli", action="user_add",
                        resource="user", resource_id=username, detail=role)
        return self.get(username)

    def get(self, username: str) -> User | None:
        with reading(self.factory) as s:
            row = s.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        return User.from_row(row) if row else None

    def list(self) -> list[dict]:
        with reading(self.factory) as s:
            rows = s.execute(sa.select(users).order_by(users.c.username)).mappings().all()
        return [{k: v for k, v in r.items() if k != "password_hash"} for r in rows]

    def disable(self, username: str, *, actor: str = "cli") -> None:
        with transaction(self.factory) as s:
            row = s.execute(sa.select(users.c.id).where(users.c.username == username)).first()
            if row is None:
                raise AccountError(f"no user {username!r}")
            s.execute(users.update().where(users.c.id == row.id).values(disabled=True))
            s.execute(sessions.delete().where(sessions.c.user_id == row.id))
            self._audit(s, actor=actor, role="admin" if actor != "cli" else "cli", action="user_disable",
                        resource="user", resource_id=username)

    def reset(self, username: str, password: str, *, actor: str = "cli") -> None:
        """A new password; unlocks and re-enables the account and ends its sessions."""
        check_password(password)
        with transaction(self.factory) as s:
            row = s.execute(sa.select(users.c.id).where(users.c.username == username)).first()
            if row is None:
                raise AccountError(f"no user {username!r}")
            s.execute(users.update().where(users.c.id == row.id).values(
                password_hash=self.hasher.hash(password), disabled=False, failed_logins=0, locked_until=None,
                password_changed_at=_now()))
            s.execute(sessions.delete().where(sessions.c.user_id == row.id))
            self._audit(s, actor=actor, role="admin" if actor != "cli" else "cli", action="user_reset",
                        resource="user", resource_id=username)

    # --- signing in ------------------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, remote_addr: str | None) -> User:
        now = _now()
        with reading(self.factory) as s:
            row = s.execute(sa.select(users).where(users.c.username == username)).mappings().first()
        if row is None:
            _verify(self.hasher, self._dummy_hash, password)
            self.audit(actor=username[:64] or "?", role="-", action="login_failed", resource="session",
                       remote_addr=remote_addr, detail="unknown user")
            raise LoginRefused("用户名或密码错误")
        if row["locked_until"] is not None and row["locked_until"] > now:
            self.audit(actor=username, role=row["role"], action="login_locked", resource="session",
                       remote_addr=remote_addr)
            minutes = max(1, int((row["locked_until"] - now).total_seconds() // 60) + 1)
            raise LoginRefused(f"连续输错密码次数过多，账号已锁定，请 {minutes} 分钟后再试或联系管理员")
        if not _verify(self.hasher, row["password_hash"], password):
            failed = row["failed_logins"] + 1
            locked = now + self.lockout if failed >= self.lockout_after else None
            with transaction(self.factory) as s:
                s.execute(users.update().where(users.c.id == row["id"]).values(
                    failed_logins=0 if locked else failed, locked_until=locked))
                self._audit(s, actor=username, role=row["role"], action="login_failed", resource="session",
                            remote_addr=remote_addr, detail="locked" if locked else f"attempt {failed}")
            if locked:
                raise LoginRefused(f"连续输错密码次数过多，账号已锁定 {int(self.lockout.total_seconds() // 60)} 分钟")
            raise LoginRefused("用户名或密码错误")
        if row["disabled"]:
            self.audit(actor=username, role=row["role"], action="login_disabled", resource="session",
                       remote_addr=remote_addr)
            raise LoginRefused("该账号已停用，请联系管理员")
        with transaction(self.factory) as s:
            s.execute(users.update().where(users.c.id == row["id"]).values(failed_logins=0, locked_until=None))
        return User.from_row(row)

    def open_session(self, user: User, *, remote_addr: str | None) -> str:
        """A new random session id for this user: a sign-in never reuses an id the browser had before."""
        sid = secrets.token_urlsafe(32)
        now = _now()
        with transaction(self.factory) as s:
            s.execute(sessions.insert().values(sid=sid, user_id=user.id, created_at=now,
                                               expires_at=now + self.session_life))
            s.execute(sessions.delete().where(sessions.c.expires_at < now))
            self._audit(s, actor=user.username, role=user.role, action="login", resource="session",
                        remote_addr=remote_addr)
        return sid

    def session_user(self, sid: str) -> User | None:
        with reading(self.factory) as s:
            row = s.execute(
                sa.select(users).select_from(sessions.join(users, users.c.id == sessions.c.user_id))
                .where(sessions.c.sid == sid, sessions.c.expires_at > _now(), users.c.disabled.is_(False))
            ).mappings().first()
        return User.from_row(row) if row else None

    def close_session(self, sid: str, *, user: User | None, remote_addr: str | None) -> None:
        with transaction(self.factory) as s:
            s.execute(sessions.delete().where(sessions.c.sid == sid))
            if user is not None:
                self._audit(s, actor=user.username, role=user.role, action="logout", resource="session",
                            remote_addr=remote_addr)

    # --- the audit log ---------------------------------------------------------------------------------------

    @staticmethod
    def _audit(s, *, actor: str, role: str, action: str, resource: str, resource_id: str | None = None,
               remote_addr: str | None = None, status: int | None = None, detail: str | None = None) -> None:
        s.execute(audit_log.insert().values(at=_now(), actor=actor[:64], role=role[:16], action=action[:32],
                                            resource=resource[:32], resource_id=resource_id, remote_addr=remote_addr,
                                            status=status, detail=(detail or None) and detail[:255]))

    def audit(self, **entry) -> None:
        with transaction(self.factory) as s:
            self._audit(s, **entry)

    def audit_entries(self, *, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[dict]:
        stmt = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor:
            stmt = stmt.where(audit_log.c.actor == actor)
        if action:
            stmt = stmt.where(audit_log.c.action == action)
        with reading(self.factory) as s:
            return [dict(r) for r in s.execute(stmt).mappings().all()]

    # --- the letter's one-time answer link ------------------------------------------------------------------

    def answer_link(self, *, referral_id: str, employer_id: str, created_by: str, days: int) -> dict:
        """The referral's link (made on the first print, the same one on a reprint while it is unused)."""
        now = _now()
        with transaction(self.factory) as s:
            row = s.execute(sa.select(answer_links).where(answer_links.c.referral_id == referral_id)).mappings().first()
            if row is not None:
                return dict(row)
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
            values = dict(code=code, referral_id=referral_id, employer_id=employer_id, created_by=created_by,
                          created_at=now, expires_at=now + timedelta(days=days), used_at=None, answer=None)
            s.execute(answer_links.insert().values(**values))
            self._audit(s, actor=created_by, role="caseworker", action="answer_link", resource="referral",
                        resource_id=referral_id)
        return values

    def link_for_referral(self, referral_id: str) -> dict | None:
        with reading(self.factory) as s:
            row = s.execute(sa.select(answer_links).where(answer_links.c.referral_id == referral_id)).mappings().first()
        return dict(row) if row else None

    def find_link(self, code: str) -> dict | None:
        code = code.strip().upper()
        if not (6 <= len(code) <= 16) or any(c not in CODE_ALPHABET for c in code):
            return None
        with reading(self.factory) as s:
            row = s.execute(sa.select(answer_links).where(answer_links.c.code == code)).mappings().first()
        return dict(row) if row else None

    def use_link(self, code: str, *, answer: str, remote_addr: str | None) -> bool:
        """Mark the link used; False when another answer got there first (the link works once)."""
        now = _now()
        with transaction(self.factory) as s:
            done = s.execute(answer_links.update().where(
                answer_links.c.code == code, answer_links.c.used_at.is_(None), answer_links.c.expires_at > now,
            ).values(used_at=now, answer=answer)).rowcount
            if done:
                ref = s.execute(sa.select(answer_links.c.referral_id).where(answer_links.c.code == code)).scalar_one()
                self._audit(s, actor=f"link:{code[:4]}…", role="employer", action="answer_by_link", resource="referral",
                            resource_id=ref, remote_addr=remote_addr, detail=answer)
        return bool(done)

    def release_link(self, code: str) -> None:
        """Undo `use_link` when the service refused the answer, so the employer can try again."""
        with transaction(self.factory) as s:
            s.execute(answer_links.update().where(answer_links.c.code == code).values(used_at=None, answer=None))


def _verify(hasher: PasswordHasher, hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
