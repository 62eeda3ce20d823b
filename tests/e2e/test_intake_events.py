"""What intake tells the other services, read back from the real broker, and what erasure leaves behind."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import (
    Api,
    employer_body,
    envelope,
    eventually,
    mobile,
    read_topic,
    token,
    unique_national_id,
    vacancy_body,
    worker_body,
)

from shared.events import ALL_TOPICS, TOPIC_EMPLOYERS, TOPIC_VACANCIES, TOPIC_WORKERS

# Every worker this module registers, so that the last test can look for each one's personal data everywhere.
REGISTERED: list[dict] = []


def unique_name() -> str:
    """A name no other test uses, so that finding it anywhere means it leaked from here."""
    rng = random.Random(uuid.uuid4().int)
    return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(3))


@pytest.fixture(scope="module")
def admin(stack):
    return Api(stack.url("intake"), token("admin"))


@pytest.fixture(scope="module")
def caseworker(stack):
    return Api(stack.url("intake"), token("caseworker", regions=["4109"]))


def register(api: Api, **overrides) -> dict:
    body = worker_body(name=unique_name(), national_id=unique_national_id(), phone=mobile(), **overrides)
    response = api.post("/workers", json=body)
    assert response.status_code == 201, response.text
    REGISTERED.append(body)
    return response.json()


def events_of(stack, topic: str, aggregate_id: str) -> list:
    """The aggregate's messages in offset order, each event once (a relay may send one again after a broker
    restart elsewhere in the session: same event_id, and consumers' inboxes drop it)."""
    seen: set[str] = set()
    messages = []
    for m in read_topic(stack.bootstrap, topic):
        if m.key == aggregate_id.encode() and envelope(m)["event_id"] not in seen:
            seen.add(envelope(m)["event_id"])
            messages.append(m)
    return messages


def wait_for(stack, topic: str, aggregate_id: str, types: list[str]) -> list:
    """The aggregate's messages once all the expected event types are on the topic, in order."""
    def arrived():
        messages = events_of(stack, topic, aggregate_id)
        return messages if [envelope(m)["event_type"] for m in messages] == types else None

    return eventually(arrived, timeout=20, what=f"{types} for {aggregate_id} on {topic}")


def assert_envelope(message, *, event_type: str, aggregate_id: str) -> dict:
    body = envelope(message)
    assert set(body) == {"event_id", "event_type", "schema_version", "occurred_at", "producer", "aggregate_id",
                         "payload"}
    assert str(uuid.UUID(body["event_id"])) == body["event_id"]
    assert (body["event_type"], body["producer"], body["aggregate_id"]) == (event_type, "intake", aggregate_id)
    assert isinstance(body["schema_version"], int) and body["schema_version"] >= 1
    occurred = datetime.fromisoformat(body["occurred_at"])
    assert occurred.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - occurred) < timedelta(minutes=10)
    headers = dict(message.headers)
    assert headers["event_type"] == event_type.encode()
    assert headers["schema_version"] == str(body["schema_version"]).encode()
    assert message.key == aggregate_id.encode()
    return body


def test_a_worker_registered_updated_and_erased_emits_each_event_in_order(stack, caseworker):
    worker = register(caseworker, skills=["电焊"])
    worker_id = worker["worker_id"]
    assert caseworker.patch(f"/workers/{worker_id}", json={"skills": ["电焊", "叉车"]}).status_code == 200
    assert caseworker.delete(f"/workers/{worker_id}").status_code == 204

    messages = wait_for(stack, TOPIC_WORKERS, worker_id, ["WorkerRegistered", "WorkerUpdated", "WorkerErased"])
    registered, updated, erased = (
        assert_envelope(m, event_type=t, aggregate_id=worker_id)
        for m, t in zip(messages, ["WorkerRegistered", "WorkerUpdated", "WorkerErased"], strict=True))
    assert registered["payload"]["skills"] == ["电焊"]
    assert (registered["payload"]["age"], registered["payload"]["is_4050"]) == (worker["age"], worker["is_4050"])
    assert updated["payload"]["skills"] == ["电焊", "叉车"]
    assert [e["payload"]["version"] for e in (registered, updated, erased)] == [1, 2, 3]
    assert erased["payload"] == {"worker_id": worker_id, "version": 3}
    assert len({e["event_id"] for e in (registered, updated, erased)}) == 3


def test_an_employer_and_its_vacancy_posted_updated_and_closed_emit_their_events(stack, admin):
    employer_id = admin.post("/employers", json=employer_body()).json()["employer_id"]
    (message,) = wait_for(stack, TOPIC_EMPLOYERS, employer_id, ["EmployerRegistered"])
    body = assert_envelope(message, event_type="EmployerRegistered", aggregate_id=employer_id)
    assert body["payload"]["region_code"] == "410923"
    assert "contact_phone" not in body["payload"] and "credit_code" not in body["payload"]

    vacancy_id = admin.post("/vacancies", json=vacancy_body(employer_id)).json()["vacancy_id"]
    assert admin.patch(f"/vacancies/{vacancy_id}", json={"wage_max": 7000}).status_code == 200
    assert admin.post(f"/vacancies/{vacancy_id}/close", json={"reason": "filled"}).status_code == 200
    types = ["VacancyPosted", "VacancyUpdated", "VacancyClosed"]
    messages = wait_for(stack, TOPIC_VACANCIES, vacancy_id, types)
    posted, updated, closed = (assert_envelope(m, event_type=t, aggregate_id=vacancy_id)
                               for m, t in zip(messages, types, strict=True))
    assert (posted["payload"]["status"], posted["payload"]["wage_max"]) == ("open", 6000)
    assert updated["payload"]["wage_max"] == 7000
    assert (closed["payload"]["status"], closed["payload"]["close_reason"]) == ("closed", "filled")
    assert [e["payload"]["version"] for e in (posted, updated, closed)] == [1, 2, 3]


def test_imported_workers_are_announced_like_registered_ones(stack, caseworker):
    body = worker_body(name=unique_name(), national_id=unique_national_id(), phone=mobile())
    REGISTERED.append(body)
    csv = ("姓名,身份证号,手机号,区划代码,技能,同意\n"
           f"{body['name']},{body['national_id']},{body['phone']},410923,电焊,是\n").encode("utf-8-sig")
    result = caseworker.post("/workers/import", files={"file": ("w.csv", csv, "text/csv")}).json()
    worker_id = result["rows"][0]["worker_id"]
    (message,) = wait_for(stack, TOPIC_WORKERS, worker_id, ["WorkerRegistered"])
    assert assert_envelope(message, event_type="WorkerRegistered", aggregate_id=worker_id)["payload"]["skills"] == ["电焊"]


def personal_values(body: dict) -> list[str]:
    return [body["national_id"], body["national_id"].lower(), body["name"], body["phone"]]


def test_an_erased_worker_leaves_nothing_personal_in_the_intake_database(stack, caseworker, admin):
    worker = register(caseworker, willing_to_relocate=True, target_regions=["330106"], hardship=["disabled"],
                      certificates=["焊工证"])
    body = REGISTERED[-1]
    worker_id = worker["worker_id"]
    # Touch the record the ways a bureau does, so that every table that might keep a trace has had the chance.
    assert caseworker.get(f"/workers/{worker_id}").status_code == 200
    assert caseworker.patch(f"/workers/{worker_id}", json={"phone": mobile(), "name": unique_name()}).status_code == 200
    changed = caseworker.get(f"/workers/{worker_id}").json()
    values = personal_values(body) + [changed["name"], changed["phone"]]

    assert caseworker.delete(f"/workers/{worker_id}").status_code == 204
    for api in (caseworker, admin):
        assert api.get(f"/workers/{worker_id}").status_code == 404
        assert api.patch(f"/workers/{worker_id}", json={"skills": ["x"]}).status_code == 404
        assert api.delete(f"/workers/{worker_id}").status_code == 404
    assert worker_id not in {w["worker_id"] for w in admin.get("/workers", params={"per_page": 200}).json()["items"]}
    wait_for(stack, TOPIC_WORKERS, worker_id, ["WorkerRegistered", "WorkerUpdated", "WorkerErased"])

    engine = sa.create_engine(stack.env["INTAKE_DATABASE_URL"])
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            row = conn.execute(sa.select(meta.tables["workers"]).where(meta.tables["workers"].c.id == worker_id)
                               ).mappings().one()
            for column in ("national_id_hash", "national_id_enc", "name_enc", "phone_enc", "birth_year", "gender"):
                assert row[column] is None, column
            assert row["status"] == "erased"
            assert (row["region_code"], row["age"], row["is_4050"]) == ("410923", worker["age"], worker["is_4050"])
            found, traces = [], set()
            for table in meta.sorted_tables:
                for record in conn.execute(sa.select(table)).mappings():
                    for column, value in record.items():
                        text = (bytes(value).decode("utf-8", "replace") if isinstance(value, bytes | memoryview)
                                else str(value))
                        found += [(table.name, column) for v in values if v in text]
                        if worker_id in text:
                            traces.add(table.name)
    finally:
        engine.dispose()
    # The scan does reach every place the worker left a (non-personal) trace: its id.
    assert {"workers", "outbox", "audit_log"} <= traces
    assert found == [], f"personal data still stored after erasure in {sorted(set(found))}"


def test_no_message_on_any_topic_carries_a_workers_national_id_name_or_phone(stack, caseworker):
    # Every kind of worker change of its own, so that the test stands alone; the scan also covers the
    # workers the other tests of this module registered.
    kept = register(caseworker, willing_to_relocate=True)
    changed = register(caseworker)
    erased = register(caseworker)
    assert caseworker.patch(f"/workers/{changed['worker_id']}", json={"name": unique_name()}).status_code == 200
    REGISTERED.append({**REGISTERED[-2], "name": caseworker.get(f"/workers/{changed['worker_id']}").json()["name"]})
    assert caseworker.delete(f"/workers/{erased['worker_id']}").status_code == 204
    wait_for(stack, TOPIC_WORKERS, kept["worker_id"], ["WorkerRegistered"])
    wait_for(stack, TOPIC_WORKERS, changed["worker_id"], ["WorkerRegistered", "WorkerUpdated"])
    wait_for(stack, TOPIC_WORKERS, erased["worker_id"], ["WorkerRegistered", "WorkerErased"])

    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap)
    try:
        topics = sorted(consumer.topics())
    finally:
        consumer.close()
    assert set(ALL_TOPICS) <= set(topics)
    keys_seen: set[bytes] = set()
    leaks = []
    for topic in topics:
        for message in read_topic(stack.bootstrap, topic):
            keys_seen.add(message.key or b"")
            raw = b"".join([message.key or b"", message.value or b"", *(v or b"" for _, v in message.headers)])
            for body in REGISTERED:
                for value in personal_values(body):
                    if value.encode() in raw:
                        leaks.append((topic, message.offset, value))
    assert {w["worker_id"].encode() for w in (kept, changed, erased)} <= keys_seen, "the scan saw their events"
    assert leaks == []
