"""Idempotency keys: a `POST` that creates something may be retried safely with the same `Idempotency-Key`.

A service opts in with one line, `ServiceApp(idempotency=tables.idempotency_keys)` (the table declared by
`table(metadata)` in its tables.py and created by its migration); the HTTP edge then applies keys to every
operation its document says creates something (a `POST` answered 201, shared/apidoc.py).

- The first request with a key claims it: a row (caller, key) is inserted and committed before the view
  runs. The primary key makes the claim atomic: of two concurrent requests with one key, one inserts and the
  other finds the row (answered 409 `idempotency_in_progress` with `Retry-After` while the first one runs).
- A 2xx answer is stored with the claim (body encrypted with the personal-data key: a registration's answer
  holds a name and a phone) and given again, byte for byte, to every later request with the same key and
  the same request (method, path, body), with `Idempotent-Replayed: true`; nothing is created again.
- Any other answer releases the claim: a request refused for its body can be corrected and sent again with
  the same key.
- The same key with another request is 422 naming the header. A malformed key (empty, over 255 characters,
  other than visible ASCII) is 400 naming the header.
- Keys are scoped by the caller (the token's subject) and kept `RETENTION` (24 hours) from their first use;
  older rows are pruned by the service itself, and an expired key is claimed afresh.
- A worker's erasure forgets the stored answers that name it (`forget`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask import Response, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from shared.apidoc import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN
from shared.db import UTCDateTime

log = logging.getLogger(__name__)

TABLE = "idempotency_keys"
RETENTION = timedelta(hours=24)
PRUNE_EVERY_S = 600.0
REPLAYED = "Idempotent-Replayed"
# Headers of a stored answer given again with it (not X-Request-ID: each request has its own).
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def table(metadata: sa.MetaData) -> sa.Table:
    """Declare the keys table on a service's metadata."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("caller", sa.String(255), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        # Null while the first request runs.
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("headers", sa.Text, nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        # The id the answer names (e.g. a worker_id), so that an erasure can forget it.
        sa.Column("resource_id", sa.String(100), nullable=True, index=True),
    )


def forget(session, keys: sa.Table, resource_id: str) -> None:
    """Drop the stored answers naming `resource_id` (inside the caller's transaction)."""
    session.execute(keys.delete().where(keys.c.resource_id == resource_id))


def _error(status: int, code: str, message: str, reason: str, **headers) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "fields": {IDEMPOTENCY_KEY: [reason]}}})
    response.status_code = status
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def _now() -> datetime:
    return datetime.now(UTC)


def _fingerprint() -> str:
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        body = raw
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _resource_id(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            # An id the services issue (a UUID): not any "_id" field (a national_id is personal data).
            if name.endswith("_id") and isinstance(item, str) and len(item) == 36:
                try:
                    return str(uuid.UUID(item))
                except ValueError:
                    continue
    return None


class IdempotencyKeys:
    """The edge's two hooks: `begin` before the view (claim, replay or refuse), `finish` after it (store or
    release)."""

    def __init__(self, engine: sa.Engine, keys: sa.Table, *, secret: str, creating: set[str]) -> None:
        self.engine = engine
        self.keys = keys
        self.fernet = Fernet(secret.encode() if isinstance(secret, str) else secret)
        self.creating = creating
        self._pruned_at = 0.0
        self._lock = threading.Lock()

    def begin(self, caller: str) -> Response | None:
        if request.endpoint not in self.creating:
            return None
        key = request.headers.get(IDEMPOTENCY_KEY)
        if key is None:
            return None
        if not key or len(key) > IDEMPOTENCY_KEY_MAX or not _KEY.fullmatch(key):
            return _error(400, "bad_request", f"the {IDEMPOTENCY_KEY} header must be 1-{IDEMPOTENCY_KEY_MAX} "
                          "visible ASCII characters", f"must be 1-{IDEMPOTENCY_KEY_MAX} visible ASCII characters")
        self._maybe_prune()
        fingerprint = _fingerprint()
        for _ in range(3):
            if self._claim(caller, key, fingerprint):
                g.idempotency_claim = (caller, key)
                return None
            row = self._row(caller, key)
            if row is None:
                continue  # released meanwhile: claim again
            if row.created_at < _now() - RETENTION:
                self._release(caller, key, created_at=row.created_at)
                continue
            if row.fingerprint != fingerprint:
                return _error(422, "idempotency_key_reused", f"this {IDEMPOTENCY_KEY} was used with another request",
                              "used before with another request")
            if row.status is None:
                return _error(409, "idempotency_in_progress", f"a request with this {IDEMPOTENCY_KEY} is still "
                              "being answered; retry shortly", "in progress", Retry_After="1")
            return self._replay(row)
        return _error(409, "idempotency_in_progress", f"a request with this {IDEMPOTENCY_KEY} is still being "
                      "answered; retry shortly", "in progress", Retry_After="1")

    def finish(self, response: Response) -> Response:
        claim = g.pop("idempotency_claim", None)
        if claim is None:
            return response
        caller, key = claim
        try:
            if 200 <= response.status_code < 300 and not response.is_streamed:
                body = response.get_data()
                headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
                with self.engine.begin() as conn:
                    conn.execute(self.keys.update()
                                 .where(self.keys.c.caller == caller, self.keys.c.key == key)
                                 .values(status=response.status_code, headers=json.dumps(headers),
                                         body=self.fernet.encrypt(body).decode(), resource_id=_resource_id(body)))
            else:
                self._release(caller, key)
        except sa.exc.SQLAlchemyError:
            # The answer stands; the key stays claimed (409 to a retry) until its retention ends.
            log.exception("idempotency key not stored")
        return response

    # --- rows ---------------------------------------------------------------------------------------------

    def _claim(self, caller: str, key: str, fingerprint: str) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(self.keys.insert().values(caller=caller, key=key, fingerprint=fingerprint,
                                                       created_at=_now()))
            return True
        except IntegrityError:
            return False

    def _row(self, caller: str, key: str):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.keys).where(self.keys.c.caller == caller,
                                                           self.keys.c.key == key)).first()

    def _release(self, caller: str, key: str, *, created_at: datetime | None = None) -> None:
        stmt = self.keys.delete().where(self.keys.c.caller == caller, self.keys.c.key == key)
        if created_at is not None:
            stmt = stmt.where(self.keys.c.created_at == created_at)
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def _replay(self, row) -> Response:
        try:
            body = self.fernet.decrypt(row.body.encode())
        except InvalidToken:
            log.error("stored answer unreadable (the personal-data key changed?)")
            return _error(409, "idempotency_unreadable", f"the answer stored for this {IDEMPOTENCY_KEY} cannot be "
                          "read; use a new key", "stored answer unreadable")
        response = Response(body, status=row.status)
        for name, value in json.loads(row.headers or "{}").items():
            response.headers[name] = value
        response.headers[REPLAYED] = "true"
        return response

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._pruned_at < PRUNE_EVERY_S:
                return
            self._pruned_at = now
        try:
            with self.engine.begin() as conn:
                gone = conn.execute(self.keys.delete().where(self.keys.c.created_at < _now() - RETENTION)).rowcount
            if gone:
                log.info("idempotency keys pruned", extra={"rows": gone})
        except sa.exc.SQLAlchemyError:
            log.warning("idempotency keys not pruned", exc_info=True)
