"""Limits: bodies over the size limit are 413 on every route that takes one; every field of every request
schema is bounded; the page size is capped by configuration; writes and imports are rate limited per token
across a service's gunicorn workers, answering 429 with Retry-After."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
import requests
from marshmallow import fields, validate
from secworld import SERVICES, missing_id
from support import Api, employer_body, token

from shared.devstack import Stack

MIB = 1024 * 1024
WRITES = ("POST", "PATCH", "PUT", "DELETE")
BODY_LOCATIONS = ("json", "form", "files")
# Fields bounded by something the schema walk cannot see, with the reason.
BOUNDED_ELSEWHERE = {
    ("workers.import_workers", "file"): "an upload: bounded by the body limit (1 MiB) and the importer's row cap",
}


def request_schemas(app):
    """(endpoint, location, schema) for every argument schema of every view."""
    for endpoint, view in app.view_functions.items():
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            schema = parameter["schema"]
            yield endpoint, parameter["in"], schema() if isinstance(schema, type) else schema


def _validators(field) -> list:
    out = []
    for v in field.validators:
        out += _validators_of(v)
    return out


def _validators_of(v) -> list:
    if isinstance(v, validate.And):
        return [x for inner in v.validators for x in _validators_of(inner)]
    return [v]


def unbounded(field, where: str) -> list[str]:
    """Why a field lets a caller send an unbounded value ([] when it is bounded)."""
    checks = _validators(field)
    lengths = [v for v in checks if isinstance(v, validate.Length) and (v.max is not None or v.equal is not None)]
    choices = [v for v in checks if isinstance(v, validate.OneOf | validate.Equal)]
    ranges = [v for v in checks if isinstance(v, validate.Range) and v.min is not None and v.max is not None]
    if isinstance(field, fields.Nested):
        return [p for name, f in field.schema.fields.items() for p in unbounded(f, f"{where}.{name}")]
    if isinstance(field, fields.List):
        own = [] if lengths else [f"{where}: a list without a maximum length"]
        return own + unbounded(field.inner, f"{where}[]")
    if isinstance(field, fields.Dict):
        return [f"{where}: a mapping (unbounded keys)"]
    if isinstance(field, fields.String):
        return [] if lengths or choices else [f"{where}: a string without a maximum length"]
    if isinstance(field, fields.Number):
        return [] if ranges or choices else [f"{where}: a number without a minimum and a maximum"]
    if isinstance(field, fields.Boolean | fields.Date | fields.DateTime | fields.UUID):
        return []
    return [f"{where}: {type(field).__name__} is not known to be bounded"]


def test_every_field_of_every_request_schema_is_bounded(service_apps):
    problems, seen = [], 0
    for service, app in service_apps.items():
        for endpoint, location, schema in request_schemas(app):
            for name, field in schema.fields.items():
                seen += 1
                if (endpoint, field.data_key or name) in BOUNDED_ELSEWHERE:
                    continue
                problems += [f"{service} {endpoint} ({location}) {p}"
                             for p in unbounded(field, field.data_key or name)]
    assert seen > 100
    assert not problems, "\n".join(problems)


def _body_routes(service_apps, routes):
    takes_body = {(service, endpoint) for service, app in service_apps.items()
                  for endpoint, location, _ in request_schemas(app) if location in BODY_LOCATIONS}
    return [r for r in routes if r.method in WRITES and (r.service, r.endpoint) in takes_body]


def test_a_body_over_the_limit_is_413_on_every_route_that_takes_one(stack, service_apps, routes):
    admin = token("admin")
    big = json.dumps({"padding": "x" * MIB}).encode()
    assert len(big) > MIB
    body_routes = _body_routes(service_apps, routes)
    assert len(body_routes) >= 16
    wrong = []
    for route in [r for r in routes if r.method in WRITES]:
        path = re.sub(r"{\w+}", missing_id(), route.path)
        # A fresh connection each time: after a 413 the server may close the connection without reading the body.
        api = Api(stack.url(route.service), admin)
        api.session.headers["Connection"] = "close"
        declared = api.request(route.method, path, data=big, headers={"Content-Type": "application/json"})
        if declared.status_code != 413 or declared.json()["error"]["code"] != "too_large":
            wrong.append(f"{route.service} {route.method} {route.path} (Content-Length): {declared.status_code}")
        if route in body_routes:
            # Without a Content-Length (chunked), the limit bites while the body is read.
            chunked = api.request(route.method, path, data=(big[i:i + 65536] for i in range(0, len(big), 65536)),
                                  headers={"Content-Type": "application/json"})
            if chunked.status_code != 413:
                wrong.append(f"{route.service} {route.method} {route.path} (chunked): {chunked.status_code}")
    assert not wrong, "\n".join(wrong)


def test_a_chunked_body_padded_past_the_limit_is_not_cut_and_accepted(stack):
    """Without a Content-Length the body used to be cut at the limit and parsed: a valid document followed by
    spaces got through. The whole body counts."""
    body = json.dumps(employer_body()).encode() + b" " * (MIB + MIB // 2)
    response = requests.post(stack.url("intake") + "/employers", timeout=30,
                             data=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                             headers={"Authorization": f"Bearer {token('admin')}", "Connection": "close",
                                      "Content-Type": "application/json"})
    assert response.status_code == 413, response.text


def test_a_body_just_under_the_limit_is_read(stack):
    admin = Api(stack.url("intake"), token("admin"))
    padded = json.dumps({**employer_body(), "name": "x" * (MIB - 300)}).encode()
    assert len(padded) < MIB
    response = admin.post("/employers", data=padded, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "name" in response.json()["error"]["fields"]


# --- page size -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_pages(tmp_path_factory):
    """Intake and placement apps with JOBBRIDGE_MAX_PAGE_SIZE=25 (in process, own SQLite databases)."""
    from shared.config import load_settings
    from shared.db import migrate

    root = tmp_path_factory.mktemp("pages")
    apps = {}
    for service in ("intake", "placement"):
        module = __import__(f"services.{service}.http", fromlist=["create_app"])
        url = f"sqlite:///{root / service}.db"
        migrate(service, url)
        apps[service] = module.create_app(load_settings(service, {
            f"{service.upper()}_DATABASE_URL": url, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_DATA_DIR": str(root),
            "JOBBRIDGE_LOG_LEVEL": "WARNING", "JOBBRIDGE_MAX_PAGE_SIZE": "25"}))
    return apps


@pytest.mark.parametrize(("service", "path"), [("intake", "/workers"), ("intake", "/vacancies"),
                                               ("placement", "/referrals"), ("placement", "/placements"),
                                               ("placement", "/followups/due"), ("placement", "/export-batches")])
def test_the_page_size_is_capped_by_configuration(small_pages, service, path):
    client = small_pages[service].test_client()
    headers = {"Authorization": f"Bearer {token('admin')}"}
    assert client.get(path, query_string={"per_page": 25}, headers=headers).status_code == 200
    over = client.get(path, query_string={"per_page": 26}, headers=headers)
    assert over.status_code == 422 and "per_page" in over.get_json()["error"]["fields"]
    default = client.get(path, headers=headers).get_json()["per_page"]
    assert default <= 25
    spec = client.get("/openapi.json").get_json()
    documented = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"] if "name" in p}  # not $refs
    assert documented["per_page"]["maximum"] == 25


def test_the_default_cap_is_200(stack):
    admin = Api(stack.url("intake"), token("admin"))
    assert admin.get("/workers", params={"per_page": 200}).status_code == 200
    assert admin.get("/workers", params={"per_page": 201}).status_code == 422


# --- rate limits, through gunicorn with two workers sharing the counters ------------------------------------

WRITE_LIMIT, IMPORT_LIMIT = 12, 3


@pytest.fixture(scope="module")
def limited(stack, broker, databases, tmp_path_factory):
    """Intake alone, under gunicorn with 2 workers, with low limits and the default (database) counter store."""
    env = {k: v for k, v in stack.env.items() if not k.endswith("DATABASE_URL")}
    env.update({"JOBBRIDGE_RATE_LIMIT_WRITES": f"{WRITE_LIMIT}/minute",
                "JOBBRIDGE_RATE_LIMIT_IMPORTS": f"{IMPORT_LIMIT}/minute",
                "JOBBRIDGE_GUNICORN_WORKERS": "2", "JOBBRIDGE_GUNICORN_THREADS": "4",
                "INTAKE_DATABASE_URL": databases.url("limited_intake")})
    env.pop("JOBBRIDGE_RATE_LIMIT_STORAGE", None)
    running = Stack(data_dir=tmp_path_factory.mktemp("limited"), env=env, bootstrap=broker)
    try:
        running.start_services(("intake",))
    except Exception:
        running.stop()
        raise
    yield running
    running.stop()


def _fire(url: str, bearer: str | None, count: int, *, path: str = "/employers", method: str = "POST",
          **kw) -> list[requests.Response]:
    """`count` requests at once, each on a new connection, so that both gunicorn workers take some."""
    out: list[requests.Response] = []
    lock = threading.Lock()

    def one():
        headers = {"Connection": "close", **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
        response = requests.request(method, url + path, headers=headers, timeout=30, **kw)
        with lock:
            out.append(response)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def served(stack: Stack, endpoint: str) -> dict[str, dict[str, float]]:
    """{pid: {status: requests}} for one endpoint, from each process's own Prometheus file."""
    from prometheus_client.mmap_dict import MmapedDict

    out: dict[str, dict[str, float]] = {}
    for path in Path(stack.data_dir, "prom", "intake").glob("counter_*.db"):
        pid = re.sub(r"\D", "", path.name)
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, *_rest = json.loads(key)
            if sample == "jobbridge_http_requests_total" and labels.get("endpoint") == endpoint:
                out.setdefault(pid, {}).setdefault(labels["status"], 0)
                out[pid][labels["status"]] += value
    return out


def both_workers_up(stack: Stack) -> None:
    """Wait until both gunicorn workers answer (the second may still be loading the app after /readyz said 200)."""
    deadline = time.monotonic() + 60
    while len(served(stack, "healthz")) < 2:
        assert time.monotonic() < deadline, "the second gunicorn worker never answered"
        _fire(stack.url("intake"), None, 16, path="/healthz", method="GET")


def test_writes_are_limited_per_token_across_gunicorn_workers(limited):
    url = limited.url("intake")
    both_workers_up(limited)
    answers = _fire(url, token("admin", sub="flooder"), 4 * WRITE_LIMIT, json={})
    codes = sorted(r.status_code for r in answers)
    # Exactly the limit got through, although both workers took requests: they share the counters.
    assert codes.count(422) == WRITE_LIMIT and codes.count(429) == 3 * WRITE_LIMIT, codes
    per_worker = served(limited, "employers.create_employer")
    assert len(per_worker) == 2, f"both gunicorn workers should have taken writes: {per_worker}"
    assert sum(w.get("422", 0) for w in per_worker.values()) == WRITE_LIMIT
    refused = next(r for r in answers if r.status_code == 429)
    error = refused.json()["error"]
    assert error["code"] == "too_many_requests" and error["fields"] == {} and error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another token has its own budget; reads are not limited.
    other = Api(url, token("admin", sub="someone-else"))
    assert other.post("/employers", json={}).status_code == 422
    flooder = Api(url, token("admin", sub="flooder"))
    assert flooder.get("/workers").status_code == 200
    assert flooder.post("/employers", json={}).status_code == 429


def test_imports_have_their_own_budget(limited):
    url = limited.url("intake")
    bearer = token("admin", sub="importer")
    sheet = "身份证号,姓名,手机号,区划代码,同意\n".encode("utf-8-sig")
    answers = [requests.post(url + "/workers/import", headers={"Authorization": f"Bearer {bearer}"}, timeout=30,
                             files={"file": ("w.csv", sheet, "text/csv")}) for _ in range(IMPORT_LIMIT + 2)]
    codes = [r.status_code for r in answers]
    assert codes[:IMPORT_LIMIT] == [200] * IMPORT_LIMIT and codes[IMPORT_LIMIT:] == [429, 429], codes
    assert "Retry-After" in answers[-1].headers
    # The writes budget of the same token is untouched.
    assert Api(url, bearer).post("/employers", json={}).status_code == 422


def test_callers_without_a_valid_token_are_limited_by_address(limited):
    answers = _fire(limited.url("intake"), "not-a-token", WRITE_LIMIT + 5, json={})
    codes = sorted(r.status_code for r in answers)
    assert codes.count(401) == WRITE_LIMIT and codes.count(429) == 5, codes


def test_the_counters_live_in_the_services_database(limited):
    import sqlalchemy as sa

    from shared.db import make_engine

    engine = make_engine(limited.env["INTAKE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            keys = dict(conn.execute(sa.text("SELECT key, count FROM rate_limit_counters")).all())
    finally:
        engine.dispose()
    assert any("sub:flooder" in k and "writes" in k and v >= WRITE_LIMIT for k, v in keys.items()), keys


def test_the_limits_come_from_configuration():
    from shared.config import ConfigError, load_settings

    assert load_settings("intake", {}).rate_limit_storage == "database://"
    assert load_settings("intake", {"JOBBRIDGE_RATE_LIMIT_STORAGE": "redis://cache:6379/0"}).rate_limit_storage \
        == "redis://cache:6379/0"
    with pytest.raises(ConfigError, match="JOBBRIDGE_RATE_LIMIT_WRITES"):
        load_settings("intake", {"JOBBRIDGE_RATE_LIMIT_WRITES": "lots"})
    with pytest.raises(ConfigError, match="JOBBRIDGE_RATE_LIMIT_STORAGE has scheme 'etcd'") as refused:
        load_settings("intake", {"JOBBRIDGE_RATE_LIMIT_STORAGE": "etcd://user:secret@host"})
    assert "secret" not in str(refused.value)  # the URL may hold a password: only its scheme is named


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_counts_writes_in_its_own_database(service_apps, service):
    from shared.ratelimit import DatabaseStorage

    limiter = service_apps[service].extensions["jobbridge_limiter"]
    assert isinstance(limiter.storage, DatabaseStorage)
    assert limiter.storage.engine is service_apps[service].extensions["jobbridge"].engine


def test_the_counter_store_counts_in_fixed_windows(tmp_path):
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    storage = storage_from_string(f"database+sqlite:///{tmp_path}/counters.db")
    limiter = FixedWindowRateLimiter(storage)
    per_second = parse("3/second")
    assert [limiter.hit(per_second, "k") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(per_second, "other")
    assert storage.get("LIMITER/k/3/1/second") == 4
    time.sleep(1.05)
    assert limiter.hit(per_second, "k") and storage.get("LIMITER/k/3/1/second") == 1
    storage.clear("LIMITER/k/3/1/second")
    assert storage.get("LIMITER/k/3/1/second") == 0
    assert storage.check() and storage.reset() >= 1
    assert os.path.exists(tmp_path / "counters.db")
