"""The HTTP edge every service shares: app factory, authentication and authorization, errors, probes, metrics.

Authorization is enforced here, in one place, from each service's policy table: an endpoint that is not in
the table is refused for every role, so a new route cannot be forgotten open.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import UUIDConverter

from shared import logs, metrics
from shared.auth import AuthError, Principal, verify_token
from shared.config import Settings
from shared.errors import DomainError

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"healthz", "readyz", "metrics", "api-docs.openapi_json", "static"})

# A rule decides, for one role on one endpoint, whether the caller may go on. It receives the principal and
# the URL's view arguments and returns True (go on) or False (answer 404: the object is outside the caller's
# reach, and a 403 would confirm that it exists).
Rule = Callable[[Principal, Mapping[str, Any]], bool]


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
        return None if rule(principal, view_args) else 404


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


class JobbridgeApi(Api):
    """flask-smorest's Api, answering errors in the contract's shape."""

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        if error.code == 422 and "messages" in data:
            return validation_response(data["messages"])
        if isinstance(error, RequestEntityTooLarge):
            return jsonify(error_body(413, "too_large", "request body is over the size limit")), 413
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
        return response, status


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
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.json.ensure_ascii = False
    app.extensions["jobbridge"] = spec
    api = JobbridgeApi(app)
    for blueprint in spec.blueprints:
        api.register_blueprint(blueprint)

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

    @app.before_request
    def authenticate_and_authorize():
        g.started = time.perf_counter()
        g.principal = None
        endpoint = request.endpoint
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        if request.content_length is not None and request.content_length > settings.max_body_bytes:
            return jsonify(error_body(413, "too_large", "request body is over the size limit")), 413
        token = _bearer(request)
        if token is None:
            return _unauthorized("missing bearer token")
        try:
            principal = verify_token(
                token,
                secret=settings.secret,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway_s=settings.jwt_leeway_s,
            )
        except AuthError as exc:
            return _unauthorized(str(exc))
        g.principal = principal
        if endpoint is None:
            return None  # 404/405 follow from routing
        status = spec.policy.check(endpoint, principal, request.view_args or {})
        if status == 403:
            return jsonify(error_body(403, "forbidden", "this role may not do that")), 403
        if status == 404:
            return jsonify(error_body(404, "not_found", "not found")), 404
        return None

    @app.after_request
    def record_metrics(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        started = getattr(g, "started", None)
        metrics.HTTP_REQUESTS.labels(settings.service, request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            metrics.HTTP_LATENCY.labels(settings.service, endpoint).observe(time.perf_counter() - started)
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


def page_args(max_page_size: int) -> tuple[int, int]:
    """Page and page size from the query string, bounded."""
    from shared.errors import InvalidInput

    fields: dict[str, list[str]] = {}
    try:
        page = int(request.args.get("page", "1"))
        if page < 1:
            fields["page"] = ["must be 1 or more"]
    except ValueError:
        fields["page"] = ["must be a whole number"]
        page = 1
    try:
        per_page = int(request.args.get("per_page", "20"))
        if not 1 <= per_page <= max_page_size:
            fields["per_page"] = [f"must be between 1 and {max_page_size}"]
    except ValueError:
        fields["per_page"] = ["must be a whole number"]
        per_page = 20
    if fields:
        raise InvalidInput("invalid paging", fields=fields)
    return page, per_page


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
