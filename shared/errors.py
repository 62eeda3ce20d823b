"""Domain errors, mapped to HTTP status codes in one place (shared.http)."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP answer, `fields` names what was wrong and why."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}


class InvalidInput(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unprocessable(DomainError):
    """Well-formed, but it refers to something that cannot be used (an unknown worker, a closed vacancy)."""

    status = 422
    code = "unprocessable"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"


class PreconditionFailed(DomainError):
    """The request's If-Match names a version the resource is no longer at."""

    status = 412
    code = "precondition_failed"
