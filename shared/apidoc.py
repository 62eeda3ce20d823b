"""What each service's OpenAPI document says beyond its schemas: names, bilingual summaries, examples, headers.

A document is a contract a county's own system generates a client from (`openapi-python-client`), so it must
be a valid OpenAPI 3.0 document (`openapi-spec-validator`) and complete:

- every operation has an `operationId` (the view's name) and a summary in Chinese and English, given per
  endpoint in the service's `OPERATIONS` table (`Op`); an endpoint missing from the table fails the document;
- request bodies carry the example the table gives; error answers carry an example of the error shape;
- the headers every client may rely on are documented where they apply: `Idempotency-Key` on each `POST`
  that creates something (answered 201), `If-Match` on a `PATCH` and `ETag` on answers of resources that
  have a version, `X-Request-ID` everywhere, `Link` on paged lists.

Patterns given to the document are ECMA-262 regular expressions (what JSON Schema means by `pattern`):
`Pattern` documents one and matches the whole value with Python's `re.fullmatch`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apispec import BasePlugin
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import ValidationError, validate
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
# Visible ASCII: a key travels in a header, and a client makes it (a UUID is the usual choice).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]+$"
REQUEST_ID = "X-Request-ID"
REQUEST_ID_MAX = 128
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:+=/@-]+$"
# One or more entity tags, or `*` (RFC 9110 §13.1.1); a weak tag never matches a strong comparison.
IF_MATCH_PATTERN = r'^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$'
IF_MATCH_MAX = 1000
_CJK = re.compile(r"[\u4e00-\u9fff]")


class Pattern(validate.Regexp):
    """A regular expression documented as given (it must mean the same in ECMA-262 and Python: `[0-9]`, not
    `\\d`, which in Python also matches other scripts' digits) and matched against the whole value."""

    def __call__(self, value):
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


DIGITS = r"^[0-9]+$"


class _Parser(FlaskParser):
    """`location="files"` reads a multipart/form-data body as one: its files and its plain fields together,
    so that one schema (and one documented `multipart/form-data` request body) describes an upload."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint reading uploads as whole multipart/form-data bodies (see `_Parser`)."""

    ARGUMENTS_PARSER = _Parser()


@dataclass(frozen=True)
class Op:
    """What the document says about one endpoint: its summary in Chinese and in English, an example body."""

    zh: str
    en: str
    example: Any = None

    @property
    def summary(self) -> str:
        return f"{self.zh} / {self.en}"


ERROR_EXAMPLE = {"error": {"code": "invalid", "message": "invalid region_code: 410900 is not a county-level division",
                           "fields": {"region_code": ["410900 is not a county-level division"]}}}


def _header(name: str, description: str, schema: Mapping[str, Any]) -> dict:
    return {"description": description, "schema": dict(schema)}


class DocsPlugin(BasePlugin):
    """Completes each operation from the service's table of `Op`s and the conventions of the HTTP edge.

    Records which endpoints create something (a `POST` answered 201) and which answer pages, for the edge to
    apply idempotency keys and Link headers to exactly what the document promises."""

    def __init__(self, operations: Mapping[str, Op], *, etag_endpoints: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.operations = operations
        self.etag_endpoints = etag_endpoints
        self.creating: set[str] = set()
        self.paged: set[str] = set()
        self._ids: dict[str, str] = {}

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        self.spec = spec
        spec.components.header("X-Request-ID", _header(
            REQUEST_ID, "the request's id: the caller's `X-Request-ID` when it is 1-128 characters of "
            "A-Z a-z 0-9 . _ : + = / @ -, else one made here; in the logs of every service the request reaches",
            {"type": "string"}))
        spec.components.header("ETag", _header(
            "ETag", "the resource's version as a strong entity tag, e.g. \"3\"; send it back in `If-Match`",
            {"type": "string"}))
        spec.components.header("Link", _header(
            "Link", "RFC 8288 links to the first, previous, next and last pages", {"type": "string"}))
        spec.components.header("Idempotent-Replayed", _header(
            "Idempotent-Replayed", "`true` when this is the stored answer to an earlier request with the same "
            "Idempotency-Key", {"type": "string", "enum": ["true"]}))
        spec.components.parameter("IdempotencyKey", "header", {
            "name": IDEMPOTENCY_KEY, "required": False,
            "description": "a key of the client's making (a UUID) for retrying this request safely: the same key "
            "and body within 24 hours answer the first answer again and create nothing; the same key with "
            "another body is refused (422). 1-255 visible ASCII characters, else 400.",
            "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX,
                       "pattern": IDEMPOTENCY_KEY_PATTERN},
            "example": "5f0c6a58-4d1e-4a8e-9a43-8a1f6b2c9d10",
        })
        spec.components.parameter("IfMatch", "header", {
            "name": "If-Match", "required": False,
            "description": "the `ETag` read before: the change is made only if the resource is still at that "
            "version, else 412. Without it the change is made whatever the version (last write wins).",
            "schema": {"type": "string", "minLength": 1, "maxLength": IF_MATCH_MAX, "pattern": IF_MATCH_PATTERN},
            "example": '"3"',
        })
        spec.components.parameter("RequestId", "header", {
            "name": REQUEST_ID, "required": False,
            "description": "the caller's id for this request, echoed and logged; an unusable one is replaced",
            "schema": {"type": "string"},
            "example": "c0ffee00-0000-4000-8000-000000000001",
        })

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        rule = kwargs.get("rule")
        endpoint = getattr(rule, "endpoint", None)
        if endpoint is None:
            return
        for method, operation in (operations or {}).items():
            self._complete(endpoint, method, operation)

    def _complete(self, endpoint: str, method: str, operation: dict) -> None:
        # An endpoint missing from the table keeps its docstring's summary (tests/contract checks the table is
        # complete for every service).
        op = self.operations.get(endpoint) or Op("", operation.get("summary") or endpoint)
        if op.zh and not (_CJK.search(op.zh) and op.en.isascii()):
            raise ValueError(f"{endpoint}: the summary needs a Chinese and an English part")
        operation_id = endpoint.rsplit(".", 1)[-1]
        owner = self._ids.setdefault(operation_id, endpoint)
        if owner != endpoint:
            raise ValueError(f"operationId {operation_id} of {endpoint} is taken by {owner}")
        description = operation.get("description")
        if operation.get("summary") and operation["summary"] != op.en:
            description = f"{operation['summary']}\n\n{description}" if description else operation["summary"]
        operation["operationId"] = operation_id
        operation["summary"] = op.summary if op.zh else op.en
        if description:
            operation["description"] = description
        if op.example is not None:
            for media in operation.get("requestBody", {}).get("content", {}).values():
                media.setdefault("example", op.example)
        responses = operation.setdefault("responses", {})
        parameters = operation.setdefault("parameters", [])
        parameters.append("RequestId")
        if method == "post" and ("201" in responses or 201 in responses):
            self.creating.add(endpoint)
            parameters.append("IdempotencyKey")
        if method == "patch" and endpoint in self.etag_endpoints:
            parameters.append("IfMatch")
        for status, response in responses.items():
            if not isinstance(response, dict) or not str(status).startswith("2"):
                continue
            headers = response.setdefault("headers", {})
            headers["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
            if endpoint in self.etag_endpoints:
                headers["ETag"] = {"$ref": "#/components/headers/ETag"}
            if endpoint in self.creating:
                headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/Idempotent-Replayed"}
            if _is_page(response):
                self.paged.add(endpoint)
                headers["Link"] = {"$ref": "#/components/headers/Link"}


def _is_page(response: Mapping[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "") if isinstance(schema, Mapping) else ""
    return ref.endswith("Page")


def add_error_examples(spec) -> None:
    """An example of the error shape on each shared error answer (`DEFAULT_ERROR`, `UNPROCESSABLE_ENTITY`)."""
    for response in spec.components.responses.values():
        media = response.get("content", {}).get("application/json")
        if media is not None:
            media.setdefault("example", ERROR_EXAMPLE)
