"""The HTTP edge every service shares: app factory, authentication and authorization, errors, probes, metrics.

Authorization is enforced here, in one place, from each service's policy table: an endpoint that is not in
the table is refused for every role, so a new route cannot be forgotten open.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from apispec import BasePlugin
from flask import Flask, Response, current_app, g, has_app_context, jsonify, request
from flask_smorest import Api
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge, TooManyRequests
from werkzeug.routing import UUIDConverter

import shared.ratelimit  # noqa: F401 - registers the `database://` rate-limit storage with `limits`
from shared import logs, metrics, requestid
from shared.apidoc import IF_MATCH_MAX, IF_MATCH_PATTERN, DocsPlugin, Op, add_error_examples
from shared.auth import AuthError, Principal, verify_token
from shared.config import Settings
from shared.db import reading
from shared.errors import DomainError
from shared.idempotency import IdempotencyKeys

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"healthz", "readyz", "metrics", "api-docs.openapi_json", "static"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MAX_PAGE_SIZE = 200

# A rule decides, for one role on one endpoint, whether the caller may go on. It receives the principal and
# the URL's view arguments and returns True (go on), False (answer 404: the object is missing or outside the
# caller's reach, and a 403 would confirm that it exists) or 403 (the caller may see the object, so its
# existence is no secret, but may not do this to it).
Rule = Callable[[Principal, Mapping[str, Any]], "bool | int"]


def allow(_principal: Principal, _args: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Policy:
    """Which roles may call each endpoint, and with which object-level rule."""

    rules: Mapping[str, Mapping[str, Rule]]

    def check(self, endpoint: str, principal: Principal, view_args: Mapping[str, Any]) -> int | None:
        """None when allowed, else the status to answer (403 or 404)."""
        per_role = self.rules.get(endpoint)
        if per_role is None:
            return 403
        rule = per_role.get(principal.role)
        if rule is None:
            return 403
        verdict = rule(principal, view_args)
        if verdict is True:
            return None
        return 404 if verdict is False or verdict is None else int(verdict)


def error_body(status: int, code: str, message: str, fields: Mapping[str, Any] | None = None, **extra) -> dict:
    body = {"error": {"code": code, "message": message, "fields": dict(fields or {})}}
    body["error"].update(extra)
    return body


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into {"field.path": ["reason", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if key in ("json", "query", "form", "files", "headers", "view_args") and not prefix:
                out.update(_flatten(value, ""))
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "body"
            out.update(_flatten(value, path))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            out.setdefault(prefix or "body", []).extend(messages)
        else:
            for item in messages:
                out.update(_flatten(item, prefix))
    else:
        out.setdefault(prefix or "body", []).append(str(messages))
    return out


def validation_response(messages: Any) -> tuple[Response, int]:
    fields = _flatten(messages)
    names = ", ".join(sorted(fields)) or "body"
    first = next(iter(fields.values()), ["invalid"])[0] if fields else "invalid"
    message = f"invalid {names}: {first}" if len(fields) == 1 else f"invalid fields: {names}"
    return jsonify(error_body(422, "invalid", message, fields)), 422


class ErrorDetailSchema(Schema):
    class Meta:
        # Some errors carry facts next to the message (a duplicate's `worker_id`, a 429's `retry_after`).
        unknown = INCLUDE

    code = fields.String(required=True, metadata={"description": "what went wrong, e.g. invalid, not_found"})
    message = fields.String(required=True, metadata={"description": "one sentence for a person"})
    fields_ = fields.Dict(data_key="fields", required=True, keys=fields.String(), values=fields.List(fields.String()),
                          metadata={"description": "each field at fault (dotted path) and the reasons"})


class ErrorSchema(Schema):
    """Every error answer: `{"error": {"code", "message", "fields", ...}}`; some errors add facts (e.g. the
    `worker_id` a duplicate registration already has) next to `code`."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class ServerAnswersPlugin(BasePlugin):
    """Documents, on every operation, what the HTTP server answers before the application sees the request:
    gunicorn refuses a request line over its limit (4094 bytes) with 414 and an HTML page of its own."""

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        spec.components.response("URI_TOO_LONG", {
            "description": "Request line over the HTTP server's limit (answered by gunicorn, in HTML)",
            "content": {"text/html": {"schema": {"type": "string"}}},
        })

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            operation.setdefault("responses", {}).setdefault("414", "URI_TOO_LONG")


class JobbridgeApi(Api):
    """flask-smorest's Api, answering errors in the contract's shape and documenting that shape."""

    # Documents every error response (the `default` of each operation and the 422 of its arguments).
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        if error.code == 422 and "messages" in data:
            return validation_response(data["messages"])
        if isinstance(error, RequestEntityTooLarge):
            return jsonify(error_body(413, "too_large", "request body is over the size limit")), 413
        if isinstance(error, RateLimited):
            return _too_many_requests(error)
        if error.code == 400 and "messages" in data:
            # webargs' answer to a body that is not JSON: say so, and why, in the contract's shape.
            cause = getattr(error, "exc", None)
            reason = f": {cause}" if cause else ""
            return jsonify(error_body(400, "bad_request", f"the body is not valid JSON{reason}",
                                      _flatten(data["messages"]))), 400
        code = (error.name or "error").lower().replace(" ", "_")
        message = data.get("message") or error.description or error.name
        status = error.code or 500
        response = jsonify(error_body(status, code, message, data.get("errors")))
        for key, value in (data.get("headers") or {}).items():
            response.headers[key] = value
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(set(error.valid_methods) | {"OPTIONS"}))
        return response, status


def _too_many_requests(error: RateLimited):
    """429 in the contract's shape, with Retry-After: the seconds until the caller's window ends."""
    window = error.limit
    retry_after = window.get_expiry()
    try:
        # The whole second after the caller's window ends.
        reset_at = int(error.limits.strategy.get_window_stats(window, *error.identifiers).reset_time + 1)
        retry_after = reset_at - time.time()
    except Exception:  # noqa: BLE001 - the window's length is a safe upper bound when the store is unreachable
        log.warning("rate-limit window unknown", exc_info=True)
    retry_after = max(1, min(int(math.ceil(retry_after)), window.get_expiry()))
    response = jsonify(error_body(429, "too_many_requests",
                                  f"too many requests: the limit is {window} per caller; retry after {retry_after} s",
                                  limit=str(window), retry_after=retry_after))
    response.headers["Retry-After"] = str(retry_after)
    return response, 429


class AggregateId(UUIDConverter):
    """`<id:worker_id>`: an id as the services issue them (a UUID), given to the view as a lower-case string.

    Anything else cannot name a record: routing answers 404 before the text reaches a query (a NUL byte in a
    path would otherwise make PostgreSQL fail the request).
    """

    def to_python(self, value: str) -> str:  # type: ignore[override]
        return str(uuid.UUID(value))

    def to_url(self, value) -> str:  # type: ignore[override]
        return str(value)


@dataclass
class ServiceApp:
    """What create_app needs to know about one service."""

    settings: Settings
    title: str
    policy: Policy
    blueprints: Iterable[Any]
    readiness: Callable[[], dict[str, str]]
    extensions: dict[str, Any] = field(default_factory=dict)
    # Endpoints limited by `rate_limit_imports` instead of `rate_limit_writes` (bulk uploads).
    import_endpoints: frozenset[str] = frozenset()
    # The engine of the service's database: the home of the rate-limit counters (`database://`).
    engine: sa.Engine | None = None
    # Per endpoint: its summary in Chinese and English and an example body (shared/apidoc.py).
    operations: Mapping[str, Op] = field(default_factory=dict)
    # Endpoints answering a resource with a `version`: ETag on the answer, If-Match on its PATCH.
    etag_endpoints: frozenset[str] = frozenset()
    # The service's `idempotency_keys` table (shared/idempotency.py): Idempotency-Key on every POST that creates.
    idempotency: sa.Table | None = None


def _bearer(req) -> str | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    return token or None


def build_app(spec: ServiceApp) -> Flask:
    settings = spec.settings
    logs.configure(settings.service, settings.log_level)
    app = Flask(f"jobbridge.{settings.service}")
    app.url_map.converters["id"] = AggregateId
    app.config.update(
        API_TITLE=f"jobbridge {settings.service}: {spec.title}",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        JOBBRIDGE_MAX_PAGE_SIZE=settings.max_page_size,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.json.ensure_ascii = False
    app.extensions["jobbridge"] = spec
    docs = DocsPlugin(spec.operations, etag_endpoints=spec.etag_endpoints)
    api = JobbridgeApi(app, spec_kwargs={"extra_plugins": [ServerAnswersPlugin(), docs]})
    # In the app's context: bounds that come from the configuration (the page size) are documented as configured.
    with app.app_context():
        for blueprint in spec.blueprints:
            api.register_blueprint(blueprint)
    add_error_examples(api.spec)
    app.extensions["jobbridge_docs"] = docs

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "service": settings.service}

    @app.get("/readyz")
    def readyz():
        checks = spec.readiness()
        ok = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503

    @app.get("/metrics", endpoint="metrics")
    def metrics_view():
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    # Three steps, in this order, before every view: who is calling (a bad token is remembered, not answered
    # yet), the rate limits (keyed by the caller, so a flood of bad tokens is limited by address too), then
    # 401 or the policy's 403/404.
    @app.before_request
    def request_id():
        g.request_id = requestid.accept(request.headers.get(requestid.HEADER))
        g.request_id_token = requestid.current.set(g.request_id)

    @app.teardown_request
    def forget_request_id(_exc=None):
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                requestid.current.reset(token)
            except ValueError:  # created in another context (cannot happen with sync views): just clear it
                requestid.current.set(None)

    @app.before_request
    def authenticate():
        g.started = time.perf_counter()
        g.principal = None
        g.auth_error = None
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        if request.content_length is not None and request.content_length > settings.max_body_bytes:
            return jsonify(error_body(413, "too_large", "request body is over the size limit")), 413
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            # A chunked body has no Content-Length: werkzeug would cut it at the limit and parse the rest (a
            # 2 MiB JSON body padded with spaces would pass). Read it here, up to one byte over the limit.
            body = request.environ["wsgi.input"].read(settings.max_body_bytes + 1)
            if len(body) > settings.max_body_bytes:
                return jsonify(error_body(413, "too_large", "request body is over the size limit")), 413
            request.environ["wsgi.input"] = io.BytesIO(body)
            request.environ["CONTENT_LENGTH"] = str(len(body))
        token = _bearer(request)
        if token is None:
            g.auth_error = "missing bearer token"
            return None
        try:
            g.principal = verify_token(
                token,
                secret=settings.secret,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway_s=settings.jwt_leeway_s,
            )
        except AuthError as exc:
            g.auth_error = str(exc)
        return None

    limits = CallerLimits(settings, import_endpoints=spec.import_endpoints, engine=spec.engine)
    app.extensions["jobbridge_limiter"] = limits
    app.before_request(limits.check)

    @app.before_request
    def authorize():
        endpoint = request.endpoint
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        if g.principal is None:
            return _unauthorized(g.auth_error or "missing bearer token")
        if endpoint is None:
            return None  # 404/405 follow from routing
        status = spec.policy.check(endpoint, g.principal, request.view_args or {})
        if status == 403:
            return jsonify(error_body(403, "forbidden", "this role may not do that")), 403
        if status == 404:
            return jsonify(error_body(404, "not_found", "not found")), 404
        return None

    if spec.idempotency is not None:
        if spec.engine is None:
            raise ValueError("idempotency keys need the service's engine")
        keys = IdempotencyKeys(spec.engine, spec.idempotency, secret=settings.pii_key, creating=docs.creating)
        app.extensions["jobbridge_idempotency"] = keys

        @app.before_request
        def idempotency_key():
            if g.principal is None or request.endpoint in PUBLIC_ENDPOINTS:
                return None
            return keys.begin(_rate_key())

        app.after_request(keys.finish)

    if spec.etag_endpoints:
        @app.after_request
        def entity_tag(response: Response) -> Response:
            if request.endpoint in spec.etag_endpoints:
                _etag(response)
            return response

    @app.after_request
    def page_links(response: Response) -> Response:
        if request.endpoint in docs.paged:
            _page_links(response)
        return response

    @app.after_request
    def record_metrics(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        started = getattr(g, "started", None)
        metrics.HTTP_REQUESTS.labels(settings.service, request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            metrics.HTTP_LATENCY.labels(settings.service, endpoint).observe(time.perf_counter() - started)
        response.headers[requestid.HEADER] = g.get("request_id") or requestid.accept(None)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return jsonify(error_body(exc.status, exc.code, exc.message, exc.fields, **exc.extra)), exc.status

    @app.errorhandler(ValidationError)
    def marshmallow_error(exc: ValidationError):
        return validation_response(exc.messages)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return api.handle_http_exception(exc)
        if isinstance(exc, RecursionError):
            # json.loads gives up on [[[[...]]]] nested thousands deep: the body is at fault, not the service.
            return jsonify(error_body(400, "bad_request", "the body is nested too deeply",
                                      {"body": ["nested too deeply"]})), 400
        log.exception("unhandled error", extra={"endpoint": request.endpoint})
        return jsonify(error_body(500, "internal", "internal error")), 500

    return app


def _rate_key() -> str:
    """Whose counter a request counts on: the token's subject, or the address of a caller without a valid token."""
    principal_ = g.get("principal")
    if principal_ is None:
        return f"addr:{request.remote_addr or 'unknown'}"
    sub = principal_.sub
    # Keys are stored in a bounded column; a long subject is represented by its digest.
    return f"sub:{sub}" if len(sub) <= 100 else "sub#" + hashlib.sha256(sub.encode()).hexdigest()


class RateLimited(TooManyRequests):
    """A caller over one of its limits (answered by `_too_many_requests`)."""

    def __init__(self, limits: CallerLimits, limit: RateLimitItem, identifiers: tuple[str, str]) -> None:
        super().__init__(description=str(limit))
        self.limits = limits
        self.limit = limit
        self.identifiers = identifiers


class CallerLimits:
    """Fixed-window limits per caller: writes (POST/PUT/PATCH/DELETE) share one budget, imports have their own.

    A request to an import endpoint counts on the caller's `imports` budget, any other write on its `writes`
    budget, anything else (reads, unrouted requests) on none. The counters are `limits` fixed windows, keyed
    LIMITER/<caller>/<scope>/<amount>/<multiples>/<granularity>, in the configured store. (A general-purpose
    limiter, resolving per request which of its kinds of limits apply, cost more than the counter's round trip
    to the store: docs/decisions/0008-access.md.)
    """

    def __init__(self, settings: Settings, *, import_endpoints: frozenset[str], engine: sa.Engine | None) -> None:
        options: dict[str, Any] = {}
        if settings.rate_limit_storage.split("://", 1)[0] == "database":
            if engine is None:
                raise ValueError("the database:// rate-limit storage needs the service's engine")
            options["engine"] = engine
        self.storage: Storage = storage_from_string(settings.rate_limit_storage, **options)
        self.strategy = FixedWindowRateLimiter(self.storage)
        # Several limits of one budget ("600/minute;20/second") are counted shortest window first; the first one
        # exceeded answers.
        self.writes = sorted(parse_many(settings.rate_limit_writes))
        self.imports = sorted(parse_many(settings.rate_limit_imports))
        self.import_endpoints = import_endpoints

    def check(self) -> None:
        """A before_request hook: count this request on its caller's budget, or raise RateLimited."""
        endpoint = request.endpoint
        if not endpoint:
            return
        if endpoint in self.import_endpoints:
            budget, scope = self.imports, "imports"
        elif request.method in WRITE_METHODS:
            budget, scope = self.writes, "writes"
        else:
            return
        identifiers = (_rate_key(), scope)
        for limit in budget:
            try:
                allowed = self.strategy.hit(limit, *identifiers)
            except Exception:  # noqa: BLE001 - a store that fails lets the request through: the database decides
                log.exception("rate-limit store failed; request let through")
                return
            if not allowed:
                log.info("rate limit %s exceeded by %s", limit, identifiers[0])
                raise RateLimited(self, limit, identifiers)


_ENTITY_TAG = re.compile(r'\s*(W/)?"([!#-~]*)"\s*')


def if_match() -> frozenset[int] | None:
    """The versions named by the request's If-Match: None without the header (or with `*`: any version).

    A well-formed header naming no version this API issues (a weak tag, which never matches a strong
    comparison, or a tag that is not a version) matches nothing: the change is refused with 412. A malformed
    header is 400 naming it."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    if raw.strip() == "*":
        return None
    if not raw or len(raw) > IF_MATCH_MAX or not re.fullmatch(IF_MATCH_PATTERN, raw):
        raise DomainError('the If-Match header must be "*" or a list of entity tags such as "3"',
                          fields={"If-Match": ['must be "*" or entity tags such as "3"']})
    versions = set()
    for part in raw.split(","):
        match = _ENTITY_TAG.fullmatch(part)
        if match and not match.group(1) and match.group(2).isdigit() and len(match.group(2)) <= 18:
            versions.add(int(match.group(2)))
    return frozenset(versions)


def _etag(response: Response) -> None:
    """ETag: "<version>" on a 2xx JSON answer carrying a resource's integer `version`."""
    if not (200 <= response.status_code < 300) or response.mimetype != "application/json" or "ETag" in response.headers:
        return
    body = response.get_json(silent=True)
    version = body.get("version") if isinstance(body, dict) else None
    if isinstance(version, int) and not isinstance(version, bool):
        response.headers["ETag"] = f'"{version}"'


def _page_links(response: Response) -> None:
    """RFC 8288 Link (first, prev, next, last) on a 2xx page `{"items", "page", "per_page", "total"}`."""
    if request.method != "GET" or response.status_code != 200 or response.mimetype != "application/json":
        return
    body = response.get_json(silent=True)
    if not (isinstance(body, dict) and {"items", "page", "per_page", "total"} <= set(body)):
        return
    page, per_page, total = body["page"], body["per_page"], body["total"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (page, per_page, total)) or per_page < 1:
        return
    last = max(1, math.ceil(total / per_page))
    targets = {"first": 1, "last": last}
    if page > 1:
        targets["prev"] = min(page - 1, last)
    if page < last:
        targets["next"] = page + 1
    links = []
    for rel in ("first", "prev", "next", "last"):
        if rel in targets:
            query = request.args.to_dict(flat=False)
            query["page"] = [str(targets[rel])]
            links.append(f'<{request.path}?{urlencode(query, doseq=True)}>; rel="{rel}"')
    response.headers["Link"] = ", ".join(links)


def _unauthorized(reason: str):
    response = jsonify(error_body(401, "unauthorized", reason))
    response.headers["WWW-Authenticate"] = 'Bearer realm="jobbridge"'
    return response, 401


def principal() -> Principal:
    """The authenticated caller of the current request."""
    p = g.get("principal")
    if p is None:  # pragma: no cover - the before_request hook guarantees one on protected routes
        raise RuntimeError("no principal on a protected route")
    return p


# --- request bounds shared by the services ----------------------------------------------------------------

# C0/C1 control characters (but tab, line feed, carriage return) and lone surrogates: no id, name or filter
# value holds them, and PostgreSQL cannot store or compare a NUL byte.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(value: str) -> None:
    """A marshmallow validator: refuse control characters."""
    if _UNPRINTABLE.search(value):
        raise ValidationError("must not contain control characters")


class Bounded(validate.Length):
    """`rule` behind a maximum length: one message either way, and the bound is visible to whoever checks that
    every request field is bounded (tests/security/test_limits.py)."""

    def __init__(self, rule: Callable[[Any], Any], max: int, error: str | None = None) -> None:  # noqa: A002
        super().__init__(max=max, error=error)
        self.rule = rule

    def __call__(self, value):
        super().__call__(value)
        self.rule(value)
        return value


def max_page_size() -> int:
    """JOBBRIDGE_MAX_PAGE_SIZE of the app at hand (the default outside an app)."""
    if has_app_context():
        return int(current_app.config.get("JOBBRIDGE_MAX_PAGE_SIZE", DEFAULT_MAX_PAGE_SIZE))
    return DEFAULT_MAX_PAGE_SIZE


class PageSize(validate.Range):
    """1..JOBBRIDGE_MAX_PAGE_SIZE, read from the app that validates (and documents) the request."""

    def __init__(self) -> None:
        super().__init__(min=1, max=DEFAULT_MAX_PAGE_SIZE)

    @property  # type: ignore[override]
    def max(self) -> int:
        return max_page_size()

    @max.setter
    def max(self, _value) -> None:
        pass


def per_page(default: int = 20) -> fields.Integer:
    """The `per_page` query field: a page size capped by configuration."""
    return fields.Integer(load_default=lambda: min(default, max_page_size()), validate=PageSize(),
                          metadata={"description": f"page size (default {default}; at most JOBBRIDGE_MAX_PAGE_SIZE)"})


# --- the audit log, as every service serves it to admins -------------------------------------------------

class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    resource_id = fields.String(validate=[validate.Length(max=100), printable])
    resource = fields.String(validate=[validate.Length(max=60), printable],
                             metadata={"description": "e.g. worker, vacancy, referral, model"})
    actor = fields.String(validate=[validate.Length(max=200), printable], metadata={"description": "token subject"})
    action = fields.String(validate=[validate.Length(max=40), printable],
                           metadata={"description": "e.g. create, update, erase, read_pii, retrain"})
    before_id = fields.Integer(validate=validate.Range(min=1, max=2**62),
                               metadata={"description": "entries older than this id (the next page)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime(metadata={"description": "when (UTC)"})
    actor = fields.String(metadata={"description": "who: the token's subject, or system"})
    role = fields.String()
    action = fields.String(metadata={"description": "what"})
    resource = fields.String()
    resource_id = fields.String(allow_none=True)
    remote_addr = fields.String(allow_none=True, metadata={"description": "from where"})
    detail = fields.String(allow_none=True, metadata={"description": "ids and codes only, never personal values"})


def list_audit_entries(factory, table: sa.Table, query: Mapping[str, Any]) -> list[dict]:
    """Newest first, filtered by the query's fields."""
    stmt = sa.select(table).order_by(table.c.id.desc()).limit(query["limit"])
    for key in ("resource_id", "resource", "actor", "action"):
        if query.get(key):
            stmt = stmt.where(table.c[key] == query[key])
    if query.get("before_id"):
        stmt = stmt.where(table.c.id < query["before_id"])
    with reading(factory) as session:
        return [dict(r) for r in session.execute(stmt).mappings()]


def basic_readiness(engine, kafka) -> dict[str, str]:
    """The database answers a query and the broker accepts a connection."""
    from shared.bus.kafka import broker_reachable
    from shared.db import check_database

    checks = {}
    try:
        check_database(engine)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
    checks["broker"] = "ok" if broker_reachable(kafka, 1.0) else "unreachable"
    return checks


def settings_or_exit(service: str):
    """The service's settings, or one line on stderr and exit code 4 (gunicorn: the app failed to load)."""
    import sys

    from shared.config import ConfigError, load_settings

    try:
        return load_settings(service)
    except ConfigError as exc:
        print(f"jobbridge {service}: configuration: {exc}", file=sys.stderr)
        raise SystemExit(4) from None
