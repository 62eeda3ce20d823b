"""Each service's /openapi.json is a valid OpenAPI 3.0 document a client can be generated from, and complete:
operationIds, summaries in Chinese and English, examples, uploads as multipart/form-data, error answers that
resolve, and the headers every client may rely on (CONTRACT.md) documented where they apply."""

from __future__ import annotations

import importlib
import re

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from shared.config import load_settings
from shared.db import migrate

SERVICES = ("intake", "matching", "placement", "support")
METHODS = ("get", "post", "put", "patch", "delete")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("openapi")
    docs = {}
    for service in SERVICES:
        env = {"JOBBRIDGE_ENV": "test", "JOBBRIDGE_DATA_DIR": str(root),
               f"{service.upper()}_DATABASE_URL": f"sqlite:///{root / service}.db",
               # No broker is needed to describe the API; matching's index follower just keeps retrying.
               "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
        migrate(service, env[f"{service.upper()}_DATABASE_URL"])  # matching's index loads from its tables
        app = importlib.import_module(f"services.{service}.http").create_app(load_settings(service, env))
        answer = app.test_client().get("/openapi.json")
        assert answer.status_code == 200
        docs[service] = answer.get_json()
    return docs


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        _, section, kind, name = node["$ref"].split("/")
        node = doc[section][kind][name]
    return node


@pytest.mark.parametrize("service", SERVICES)
def test_document_is_valid_openapi_3(documents, service):
    doc = documents[service]
    assert doc["openapi"].startswith("3.0")
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    assert errors == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_named_summarised_and_exemplified(documents, service):
    doc = documents[service]
    ids = []
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert op.get("operationId"), where
        ids.append(op["operationId"])
        zh, _, en = op.get("summary", "").partition(" / ")
        assert CJK.search(zh) and en and en.isascii() and re.search("[A-Za-z]", en), f"{where}: {op.get('summary')}"
        for content_type, media in op.get("requestBody", {}).get("content", {}).items():
            if content_type == "application/json":
                assert "example" in media, f"{where}: no example body"
        for status, response in op["responses"].items():
            response = resolve(doc, response)
            for media in response.get("content", {}).values():
                schema = resolve(doc, media.get("schema", {}))
                assert schema, f"{where} {status}: no schema"
                if not status.startswith("2") and "json" in str(response.get("content")):
                    assert "example" in media, f"{where} {status}: error answer without example"
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_upload_is_a_multipart_body(documents):
    op = documents["intake"]["paths"]["/workers/import"]["post"]
    assert all(p.get("in") != "formData" for p in op.get("parameters", []) if isinstance(p, dict))
    body = op["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    schema = resolve(documents["intake"], body["multipart/form-data"]["schema"])
    assert schema["properties"]["file"] == {"type": "string", "format": "binary",
                                            "description": "a CSV (UTF-8 or GBK) or XLSX file"}
    assert "file" in schema["required"] and "consent" in schema["properties"]


def _params(doc: dict, op: dict) -> set[str]:
    return {resolve(doc, p)["name"] for p in op.get("parameters", [])}


def test_contract_headers_are_documented(documents):
    intake, placement = documents["intake"], documents["placement"]
    creating = [(intake, "/workers"), (intake, "/employers"), (intake, "/vacancies"), (placement, "/referrals"),
                (placement, "/placements"), (placement, "/placements/{placement_id}/followups"),
                (placement, "/export-batches"), (placement, "/export-batches/{batch_id}/income")]
    for doc, path in creating:
        assert "Idempotency-Key" in _params(doc, doc["paths"][path]["post"]), path
    assert "Idempotency-Key" not in _params(intake, intake["paths"]["/workers/import"]["post"])
    for path in ("/workers/{worker_id}", "/vacancies/{vacancy_id}"):
        item = intake["paths"][path]
        assert "If-Match" in _params(intake, item["patch"]), path
        assert "ETag" in item["get"]["responses"]["200"]["headers"], path
        assert "ETag" in item["patch"]["responses"]["200"]["headers"], path
    for doc in documents.values():
        for path, method, op in operations(doc):
            assert "X-Request-ID" in _params(doc, op), f"{method} {path}"
    assert "Link" in intake["paths"]["/workers"]["get"]["responses"]["200"]["headers"]
    assert "Link" in placement["paths"]["/referrals"]["get"]["responses"]["200"]["headers"]


def test_support_documents_its_creating_posts_and_pages(documents):
    support = documents["support"]
    creating = ["/courses", "/courses/{course_id}/enrolments", "/loans", "/loans/{loan_id}/repayments",
                "/loans/{loan_id}/outcomes", "/helper-units", "/helper-units/{unit_id}/pairings", "/assistance"]
    for path in creating:
        assert "Idempotency-Key" in _params(support, support["paths"][path]["post"]), path
    for path in ("/enrolments/{enrolment_id}/completion", "/loans/{loan_id}/status"):
        assert "Idempotency-Key" not in _params(support, support["paths"][path]["post"]), path
    for path in ("/courses", "/loans", "/helper-units", "/assistance"):
        assert "Link" in support["paths"][path]["get"]["responses"]["200"]["headers"], path
    loan = support["paths"]["/loans"]["post"]
    assert loan["operationId"] == "apply_loan"
    assert loan["requestBody"]["content"]["application/json"]["example"]["purpose"] == "小餐馆"
