"""The request id: one value that follows a request through every service it reaches.

The HTTP edge takes the caller's `X-Request-ID` when it is usable (1-128 characters of A-Z a-z 0-9 . _ : + = / @
-) or makes one, echoes it on the answer and keeps it in a context variable while the request runs: every log
line written meanwhile carries it (`RequestIdFilter`), and every event recorded in the outbox keeps it, so the
relay sends it as the `request_id` header and the consuming service logs it with what the event did.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

HEADER = "X-Request-ID"
EVENT_HEADER = "request_id"
MAX_LENGTH = 128
_USABLE = re.compile(r"[A-Za-z0-9._:+=/@-]{1,128}")

current: contextvars.ContextVar[str | None] = contextvars.ContextVar("jobbridge_request_id", default=None)


def accept(value: str | None) -> str:
    """The caller's id when usable, else a new one (never an error: the id is for tracing, not for refusing)."""
    if value and _USABLE.fullmatch(value):
        return value
    return uuid.uuid4().hex


def from_event_header(raw: bytes | None) -> str | None:
    """A request id carried by an event, if it is one (a header is outside input: checked like the HTTP one)."""
    if not raw:
        return None
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return value if _USABLE.fullmatch(value) else None


@contextmanager
def bound(value: str | None) -> Iterator[None]:
    """Run a block with `value` as the current request id (a consumer applying one event's effects)."""
    token = current.set(value)
    try:
        yield
    finally:
        current.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record written while a request (or an event of one) is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        value = current.get()
        if value is not None and not hasattr(record, "request_id"):
            record.request_id = value
        return True
