"""The headers every client may rely on (CONTRACT.md), through Flask's test client against a migrated database:
Idempotency-Key on the POSTs that create, ETag and If-Match on workers and vacancies, X-Request-ID, Link."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import employer_body, token, vacancy_body, worker_body

from services.intake.adapters.tables import idempotency_keys, vacancies, workers
from services.intake.http import create_app
from shared.config import load_settings
from shared.db import migrate

KEY = "Idempotency-Key"


@pytest.fixture(scope="module")
def app(databases, tmp_path_factory):
    url = databases.url("api_conventions")
    migrate("intake", url)
    app = create_app(load_settings("intake", {
        "INTAKE_DATABASE_URL": url, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_LOG_LEVEL": "WARNING",
        "JOBBRIDGE_DATA_DIR": str(tmp_path_factory.mktemp("api_conventions")),
        "JOBBRIDGE_RATE_LIMIT_WRITES": "100000/minute"}))
    yield app
    app.extensions["intake"].c.engine.dispose()


@pytest.fixture(scope="module")
def engine(app):
    return app.extensions["intake"].c.engine


def call(app, method: str, path: str, *, sub: str = "test-admin", headers=None, **kw):
    headers = {"Authorization": f"Bearer {token('admin', sub=sub)}", **(headers or {})}
    response = app.test_client().open(path, method=method, headers=headers, **kw)
    assert response.status_code < 500, response.get_data(as_text=True)
    return response


@pytest.fixture(scope="module")
def employer_id(app) -> str:
    return call(app, "POST", "/employers", json=employer_body()).get_json()["employer_id"]


def count(engine, stmt) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()


# --- Idempotency-Key -----------------------------------------------------------------------------------------

def test_the_same_key_and_body_answer_the_first_answer_and_create_nothing(app, engine):
    body = worker_body()
    key = str(uuid.uuid4())
    first = call(app, "POST", "/workers", json=body, headers={KEY: key})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = call(app, "POST", "/workers", json=body, headers={KEY: key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    worker_id = first.get_json()["worker_id"]
    assert count(engine, sa.select(workers.c.id).where(workers.c.id == worker_id)) == 1
    # Without the key the same body is the domain's duplicate (409), as before.
    assert call(app, "POST", "/workers", json=body).status_code == 409


def test_the_same_key_with_another_body_is_refused_naming_the_header(app):
    key = str(uuid.uuid4())
    assert call(app, "POST", "/employers", json=employer_body(), headers={KEY: key}).status_code == 201
    other = call(app, "POST", "/employers", json=employer_body(), headers={KEY: key})
    assert other.status_code == 422
    assert KEY in other.get_json()["error"]["fields"]


@pytest.mark.parametrize("bad", ["", "x" * 256, "schlüssel", "two words"])
def test_a_malformed_key_is_400_naming_the_header(app, bad):
    response = call(app, "POST", "/employers", json=employer_body(), headers={KEY: bad.encode("utf-8").decode("latin-1")})
    assert response.status_code == 400
    assert KEY in response.get_json()["error"]["fields"]


def test_a_key_of_255_characters_is_fine(app):
    assert call(app, "POST", "/employers", json=employer_body(), headers={KEY: "k" * 255}).status_code == 201


def test_keys_are_per_caller(app, engine, employer_id):
    key = str(uuid.uuid4())
    body = vacancy_body(employer_id, title=f"司机 {key[:8]}")
    one = call(app, "POST", "/vacancies", json=body, headers={KEY: key}, sub="caller-one")
    two = call(app, "POST", "/vacancies", json=body, headers={KEY: key}, sub="caller-two")
    assert one.status_code == two.status_code == 201
    assert one.get_json()["vacancy_id"] != two.get_json()["vacancy_id"]


def test_a_refused_request_releases_its_key(app):
    key = str(uuid.uuid4())
    refused = call(app, "POST", "/employers", json=employer_body(region_code="999999"), headers={KEY: key})
    assert refused.status_code == 422
    corrected = call(app, "POST", "/employers", json=employer_body(), headers={KEY: key})
    assert corrected.status_code == 201 and "Idempotent-Replayed" not in corrected.headers


def test_concurrent_requests_with_one_key_create_once(app, engine, employer_id):
    key = str(uuid.uuid4())
    title = f"保洁员 {key[:8]}"
    body = vacancy_body(employer_id, title=title)
    answers: list = []
    start = threading.Barrier(6)

    def post():
        start.wait()
        answers.append(call(app, "POST", "/vacancies", json=body, headers={KEY: key}))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert len(answers) == 6 and set(statuses) <= {201, 409}, statuses
    created = {a.get_json()["vacancy_id"] for a in answers if a.status_code == 201}
    assert len(created) == 1, statuses
    assert count(engine, sa.select(vacancies.c.id).where(vacancies.c.title == title)) == 1
    # Once the first answer is stored, a retry gets it.
    assert call(app, "POST", "/vacancies", json=body, headers={KEY: key}).get_json()["vacancy_id"] in created


def test_keys_are_kept_a_day_then_claimed_afresh_and_pruned(app, engine):
    key = str(uuid.uuid4())
    body = employer_body()
    first = call(app, "POST", "/employers", json=body, headers={KEY: key}).get_json()["employer_id"]
    where = (idempotency_keys.c.caller == "sub:test-admin") & (idempotency_keys.c.key == key)
    with engine.begin() as conn:
        conn.execute(idempotency_keys.update().where(where).values(
            created_at=datetime.now(UTC) - timedelta(hours=23, minutes=59)))
    assert call(app, "POST", "/employers", json=body, headers={KEY: key}).get_json()["employer_id"] == first
    with engine.begin() as conn:
        conn.execute(idempotency_keys.update().where(where).values(
            created_at=datetime.now(UTC) - timedelta(hours=24, minutes=1)))
    # After 24 hours the key is new again: the request runs (the credit code is the domain's duplicate now).
    assert call(app, "POST", "/employers", json=body, headers={KEY: key}).status_code == 409
    stale = str(uuid.uuid4())
    call(app, "POST", "/employers", json=employer_body(), headers={KEY: stale})
    with engine.begin() as conn:
        conn.execute(idempotency_keys.update().where(idempotency_keys.c.key == stale).values(
            created_at=datetime.now(UTC) - timedelta(hours=25)))
    keys = app.extensions["jobbridge_idempotency"]
    keys._pruned_at = 0.0
    call(app, "POST", "/employers", json=employer_body(), headers={KEY: str(uuid.uuid4())})
    assert count(engine, sa.select(idempotency_keys.c.key).where(idempotency_keys.c.key == stale)) == 0


def test_a_stored_answer_holds_no_readable_personal_data_and_erasure_forgets_it(app, engine):
    body = worker_body(name="王秀英")
    key = str(uuid.uuid4())
    worker_id = call(app, "POST", "/workers", json=body, headers={KEY: key}).get_json()["worker_id"]
    with engine.connect() as conn:
        row = conn.execute(sa.select(idempotency_keys).where(idempotency_keys.c.key == key)).one()
    assert row.resource_id == worker_id
    assert "王秀英" not in row.body and body["phone"] not in row.body and body["national_id"] not in row.body
    assert call(app, "DELETE", f"/workers/{worker_id}").status_code == 204
    assert count(engine, sa.select(idempotency_keys.c.key).where(idempotency_keys.c.resource_id == worker_id)) == 0


# --- ETag and If-Match ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["workers", "vacancies"])
def test_a_stale_if_match_is_412_and_a_current_one_changes(app, employer_id, kind):
    created = call(app, "POST", f"/{kind}",
                   json=worker_body() if kind == "workers" else vacancy_body(employer_id))
    assert created.status_code == 201
    body = created.get_json()
    path = f"/{kind}/{body['worker_id' if kind == 'workers' else 'vacancy_id']}"
    assert created.headers["ETag"] == f'"{body["version"]}"'
    read = call(app, "GET", path)
    etag = read.headers["ETag"]
    assert etag == f'"{read.get_json()["version"]}"'
    change = {"experience_years": 7} if kind == "workers" else {"headcount": 7}
    first = call(app, "PATCH", path, json=change, headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["ETag"] != etag
    # A second caseworker still holding the old version: refused, nothing changed.
    stale = call(app, "PATCH", path, json={"experience_years": 9} if kind == "workers" else {"headcount": 9},
                 headers={"If-Match": etag})
    assert stale.status_code == 412 and "If-Match" in stale.get_json()["error"]["fields"]
    assert call(app, "GET", path).get_json()["version"] == first.get_json()["version"]
    # A weak tag never matches; a list matches when any tag does; `*` matches any version.
    assert call(app, "PATCH", path, json=change, headers={"If-Match": f"W/{first.headers['ETag']}"}).status_code == 412
    listed = call(app, "PATCH", path, json=change, headers={"If-Match": f'"999", {first.headers["ETag"]}'})
    assert listed.status_code == 200
    assert call(app, "PATCH", path, json=change, headers={"If-Match": "*"}).status_code == 200
    # Without If-Match the change is made whatever the version (as before).
    assert call(app, "PATCH", path, json=change).status_code == 200


@pytest.mark.parametrize("bad", ["3", '"3', "", "W/3", '"a b"', '"1",,"2"'])
def test_a_malformed_if_match_is_400_naming_the_header(app, bad):
    worker_id = call(app, "POST", "/workers", json=worker_body()).get_json()["worker_id"]
    response = call(app, "PATCH", f"/workers/{worker_id}", json={"experience_years": 2}, headers={"If-Match": bad})
    assert response.status_code == 400
    assert "If-Match" in response.get_json()["error"]["fields"]


# --- X-Request-ID and Link -------------------------------------------------------------------------------------

def test_a_request_id_is_echoed_when_usable_and_made_otherwise(app):
    given = call(app, "GET", "/workers", headers={"X-Request-ID": "county-7f3a:42"})
    assert given.headers["X-Request-ID"] == "county-7f3a:42"
    made = call(app, "GET", "/workers")
    assert len(made.headers["X-Request-ID"]) == 32
    for unusable in ("x" * 129, "has space", "semi;colon"):
        replaced = call(app, "GET", "/workers", headers={"X-Request-ID": unusable})
        assert replaced.status_code == 200 and replaced.headers["X-Request-ID"] != unusable
    # Also on errors and on unauthenticated answers.
    assert app.test_client().get("/workers", headers={"X-Request-ID": "abc"}).headers["X-Request-ID"] == "abc"


def test_lists_keep_total_and_link_their_pages(app):
    for _ in range(3):
        call(app, "POST", "/workers", json=worker_body(region_code="410926"))
    first = call(app, "GET", "/workers", query_string={"region": "410926", "per_page": 1})
    total = first.get_json()["total"]
    assert total >= 3
    links = first.headers["Link"]
    assert '</workers?region=410926&per_page=1&page=2>; rel="next"' in links
    assert f'</workers?region=410926&per_page=1&page={total}>; rel="last"' in links
    assert 'rel="prev"' not in links and '</workers?region=410926&per_page=1&page=1>; rel="first"' in links
    middle = call(app, "GET", "/workers", query_string={"region": "410926", "per_page": 1, "page": 2})
    assert 'page=1>; rel="prev"' in middle.headers["Link"] and 'page=3>; rel="next"' in middle.headers["Link"]
    last = call(app, "GET", "/workers", query_string={"region": "410926", "per_page": 1, "page": total})
    assert 'rel="next"' not in last.headers["Link"]
