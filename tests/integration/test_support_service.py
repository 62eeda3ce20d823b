"""The support API through Flask's test client against a real migrated database (SQLite or PostgreSQL), with
intake's and placement's events applied through the real consumer code (inbox included) and a clock the tests move.

Bad input is refused naming the field or the rule, and leaves nothing behind; a small county's training, loans
and assistance add up in the report; erasure reaches support's records.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from support import token

from services.support.adapters.tables import (
    assistance,
    audit_log,
    courses,
    enrolments,
    idempotency_keys,
    inbox,
    loan_schedule,
    loans,
    outbox,
    repayments,
)
from services.support.consumer import handle
from services.support.http import create_app
from shared.auth import Principal
from shared.bus.consumer import Decoded, EventConsumer
from shared.config import load_settings
from shared.db import migrate, reading
from shared.events import decode, encode, make_event

REGION = "410327"  # 宜阳县: nobody else's records
ELSEWHERE = "410328"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple = ()


class Caller:
    def __init__(self, client, bearer: str):
        self.client, self.bearer = client, bearer

    def request(self, method: str, path: str, **kw):
        response = self.client.open(path, method=method, headers={"Authorization": f"Bearer {self.bearer}"}, **kw)
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.get_data(as_text=True)}"
        if response.status_code >= 400:
            body = response.get_json()
            assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"]), body
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)


@pytest.fixture(scope="module")
def env(databases, tmp_path_factory):
    url = databases.url("support_service")
    migrate("support", url)
    settings = load_settings("support", {
        "SUPPORT_DATABASE_URL": url, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_LOG_LEVEL": "WARNING",
        "JOBBRIDGE_DATA_DIR": str(tmp_path_factory.mktemp("support_service"))})
    app = create_app(settings)
    clock = Clock(T0)
    service = app.extensions["support"]
    service.c.clock = clock
    consumer = EventConsumer(settings=settings, group_id="jobbridge-support", topics=[], factory=service.c.factory,
                             inbox=inbox, handle=handle)
    yield app, service, clock, consumer
    service.c.engine.dispose()


@pytest.fixture
def clock(env):
    env[2].now = T0
    return env[2]


@pytest.fixture
def service(env):
    return env[1]


@pytest.fixture
def admin(env, clock):
    return Caller(env[0].test_client(), token("admin", sub="support-admin"))


@pytest.fixture
def caseworker(env, clock):
    return Caller(env[0].test_client(), token("caseworker", regions=[REGION], sub="support-cw"))


@pytest.fixture
def deliver(env):
    consumer = env[3]

    def send(*events):
        consumer.apply_batch([Decoded(Record(topic=e.topic, value=encode(e)), decode(encode(e)), None) for e in events])

    return send


def ev(event_type, producer="intake", **payload):
    return make_event(event_type, payload, producer=producer)


def new_worker(deliver, *, region=REGION) -> str:
    worker_id = str(uuid.uuid4())
    deliver(ev("WorkerRegistered", worker_id=worker_id, version=1, region_code=region, skills=["电焊"]))
    return worker_id


def placement(deliver, worker_id, start: date, kind="regular") -> str:
    placement_id = str(uuid.uuid4())
    deliver(ev("PlacementRecorded", producer="placement", placement_id=placement_id, worker_id=worker_id,
               placement_type=kind, start_date=start))
    return placement_id


def course_body(**overrides) -> dict:
    body = {"title": "电焊培训班", "skill": "电焊", "occupation_code": "6-18-02", "certificate": "焊工证",
            "provider": "县职业培训中心", "region_code": REGION, "starts_on": "2025-03-10", "ends_on": "2025-04-30",
            "capacity": 2}
    body.update(overrides)
    return body


def counts(service) -> dict[str, int]:
    with reading(service.c.factory) as session:
        return {t.name: session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (courses, enrolments, loans, loan_schedule, repayments, assistance, outbox, audit_log)}


def outbox_events(service, event_type: str) -> list[dict]:
    with reading(service.c.factory) as session:
        bodies = session.execute(sa.select(outbox.c.body).where(outbox.c.event_type == event_type)).scalars().all()
    return [decode(b).payload for b in bodies]


def error_fields(response) -> dict:
    return response.get_json()["error"]["fields"]


# --- training ------------------------------------------------------------------------------------------------

def test_a_course_that_ends_before_it_starts_is_refused_naming_ends_on_and_nothing_is_written(admin, service):
    before = counts(service)
    response = admin.post("/courses", json=course_body(starts_on="2025-04-01", ends_on="2025-03-01"))
    assert response.status_code == 422
    assert "ends_on" in error_fields(response)
    assert counts(service) == before


def test_a_capacity_below_the_enrolments_is_refused_and_the_course_keeps_its_capacity(admin, service, deliver):
    course_id = admin.post("/courses", json=course_body()).get_json()["course_id"]
    for _ in range(2):
        assert admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": new_worker(deliver)}).status_code == 201
    before = counts(service)
    response = admin.patch(f"/courses/{course_id}", json={"capacity": 1})
    assert response.status_code == 409
    assert "capacity" in error_fields(response)
    assert admin.get(f"/courses/{course_id}").get_json()["capacity"] == 2
    assert counts(service) == before
    assert admin.patch(f"/courses/{course_id}", json={"capacity": 3}).get_json()["free_places"] == 1


def test_a_full_course_and_a_second_enrolment_answer_409(admin, deliver):
    course_id = admin.post("/courses", json=course_body(capacity=1)).get_json()["course_id"]
    first = new_worker(deliver)
    assert admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": first}).status_code == 201
    again = admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": first})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_enrolled"
    full = admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": new_worker(deliver)})
    assert full.status_code == 409 and full.get_json()["error"]["code"] == "course_full"
    assert admin.get(f"/courses/{course_id}").get_json()["enrolled"] == 1


def test_an_erased_or_unknown_worker_cannot_be_enrolled(admin, service, deliver):
    course_id = admin.post("/courses", json=course_body()).get_json()["course_id"]
    erased = new_worker(deliver)
    deliver(ev("WorkerErased", worker_id=erased, version=2))
    before = counts(service)
    for worker_id in (erased, str(uuid.uuid4())):
        response = admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": worker_id})
        assert response.status_code == 422 and "worker_id" in error_fields(response)
    assert counts(service) == before


def test_a_caseworker_cannot_enrol_a_worker_of_another_region(caseworker, admin, deliver):
    course_id = admin.post("/courses", json=course_body()).get_json()["course_id"]
    response = caseworker.post(f"/courses/{course_id}/enrolments", json={"worker_id": new_worker(deliver, region=ELSEWHERE)})
    assert response.status_code == 422


def test_a_pass_is_recorded_once_and_tells_intake_the_skill_and_certificate_without_the_number(
        admin, service, clock, deliver):
    course_id = admin.post("/courses", json=course_body()).get_json()["course_id"]
    worker_id = new_worker(deliver)
    enrolment = admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": worker_id}).get_json()
    early = admin.post(f"/enrolments/{enrolment['enrolment_id']}/completion", json={"passed": True})
    assert early.status_code == 409  # the course has not started
    clock.now = datetime(2025, 4, 30, 12, tzinfo=UTC)
    day = admin.post(f"/enrolments/{enrolment['enrolment_id']}/attendance", json={"on": "2025-03-11", "present": True})
    assert day.get_json()["days_present"] == 1
    outside = admin.post(f"/enrolments/{enrolment['enrolment_id']}/attendance", json={"on": "2025-05-11", "present": True})
    assert outside.status_code == 422 and "on" in error_fields(outside)
    bad = admin.post(f"/enrolments/{enrolment['enrolment_id']}/completion", json={"passed": False, "certificate_no": "X1"})
    assert bad.status_code == 422 and "certificate_no" in error_fields(bad)
    done = admin.post(f"/enrolments/{enrolment['enrolment_id']}/completion",
                      json={"passed": True, "certificate_no": "HG-2025-0042"})
    assert done.status_code == 200 and done.get_json()["status"] == "passed"
    twice = admin.post(f"/enrolments/{enrolment['enrolment_id']}/completion", json={"passed": True})
    assert twice.status_code == 409
    sent = [p for p in outbox_events(service, "TrainingCompleted") if p["enrolment_id"] == enrolment["enrolment_id"]]
    assert len(sent) == 1
    assert sent[0]["skill"] == "电焊" and sent[0]["certificate"] == "焊工证" and sent[0]["passed"] is True
    assert "HG-2025-0042" not in str(sent[0])


# --- loans ---------------------------------------------------------------------------------------------------

def new_loan(caller, deliver, *, amount=20000, worker_id=None) -> dict:
    worker_id = worker_id or new_worker(deliver)
    response = caller.post("/loans", json={"worker_id": worker_id, "amount": amount, "purpose": "皮鞋店",
                                           "guarantor_unit": "县总工会", "project": "开一家修鞋和卖鞋的小店"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def move(caller, loan_id, status, **extra):
    return caller.post(f"/loans/{loan_id}/status", json={"status": status, **extra})


def test_a_loan_state_change_out_of_order_is_409_naming_status_and_changes_nothing(admin, service, deliver):
    loan = new_loan(admin, deliver)
    before = counts(service)
    for target in ("approved", "disbursed", "closed"):
        response = move(admin, loan["loan_id"], target)
        assert response.status_code == 409 and "status" in error_fields(response), target
    assert counts(service) == before
    assert admin.get(f"/loans/{loan['loan_id']}").get_json()["status"] == "applied"
    refused = move(admin, loan["loan_id"], "rejected")
    assert refused.status_code == 422 and "reason" in error_fields(refused)
    assert move(admin, loan["loan_id"], "rejected", reason="no_guarantee").get_json()["status"] == "rejected"
    assert move(admin, loan["loan_id"], "examined").status_code == 409


def test_a_repayment_larger_than_what_is_owed_is_refused_and_the_last_one_closes_the_loan(admin, service, clock, deliver):
    loan = new_loan(admin, deliver, amount=1200)
    early = admin.post(f"/loans/{loan['loan_id']}/repayments", json={"amount": 100, "paid_on": "2025-03-03"})
    assert early.status_code == 409  # not disbursed
    for status in ("examined", "approved"):
        assert move(admin, loan["loan_id"], status).status_code == 200
    disbursed = move(admin, loan["loan_id"], "disbursed", term_months=4).get_json()
    assert [i["amount"] for i in disbursed["schedule"]] == [300, 300, 300, 300]
    assert disbursed["schedule"][0]["due_on"] == "2025-04-03"
    clock.now = datetime(2025, 5, 10, tzinfo=UTC)
    before = counts(service)
    too_much = admin.post(f"/loans/{loan['loan_id']}/repayments", json={"amount": 1201, "paid_on": "2025-05-01"})
    assert too_much.status_code == 422 and "amount" in error_fields(too_much)
    assert counts(service) == before
    part = admin.post(f"/loans/{loan['loan_id']}/repayments", json={"amount": 300, "paid_on": "2025-05-01"}).get_json()
    assert part["owed"] == 900 and part["overdue"] is True and part["overdue_amount"] == 300
    overdue = admin.get("/loans", query_string={"overdue": "true", "region": REGION}).get_json()["items"]
    assert loan["loan_id"] in [i["loan_id"] for i in overdue]
    rest = admin.post(f"/loans/{loan['loan_id']}/repayments", json={"amount": 900, "paid_on": "2025-05-02"}).get_json()
    assert rest["status"] == "closed" and rest["owed"] == 0
    assert admin.post(f"/loans/{loan['loan_id']}/repayments", json={"amount": 1, "paid_on": "2025-05-02"}).status_code == 409


def test_loan_amounts_are_masked_for_roles_that_may_not_see_them(env, admin, service, deliver):
    loan = new_loan(admin, deliver, amount=30000)
    manager = Caller(env[0].test_client(), token("manager", regions=[REGION], sub="support-manager"))
    seen = manager.get(f"/loans/{loan['loan_id']}").get_json()
    assert (seen["amount"], seen["repaid"], seen["project"], seen["amounts_masked"]) == (None, None, None, True)
    listed = manager.get("/loans", query_string={"worker_id": loan["worker_id"]}).get_json()["items"]
    assert [i["amount"] for i in listed] == [None]
    assert manager.post(f"/loans/{loan['loan_id']}/status", json={"status": "examined"}).status_code == 403
    manager = Principal(sub="m", role="manager", regions=("4103",))
    masked = service.get_loan(loan["loan_id"], actor=manager)
    assert masked["amount"] is None and masked["purpose"] is None and masked["amounts_masked"] is True
    other = Principal(sub="c", role="caseworker", regions=("1101",))
    assert service.present_loan({**_loan_row(service, loan["loan_id"])}, actor=other, plan=[], paid=[],
                                outcomes={})["amount"] is None
    own = Principal(sub="c", role="caseworker", regions=(REGION,))
    assert service.get_loan(loan["loan_id"], actor=own)["amount"] == 30000


def _loan_row(service, loan_id):
    with reading(service.c.factory) as session:
        return dict(session.execute(sa.select(loans).where(loans.c.loan_id == loan_id)).mappings().one())


def test_an_outcome_comes_after_its_month_and_only_once(admin, clock, deliver):
    loan = new_loan(admin, deliver)
    assert admin.post(f"/loans/{loan['loan_id']}/outcomes",
                      json={"month": 6, "running": True, "out_of_poverty": False}).status_code == 409
    for status in ("examined", "approved", "disbursed"):
        move(admin, loan["loan_id"], status)
    early = admin.post(f"/loans/{loan['loan_id']}/outcomes", json={"month": 6, "running": True, "out_of_poverty": False})
    assert early.status_code == 422 and "month" in error_fields(early)
    clock.now = datetime(2025, 9, 4, tzinfo=UTC)
    body = {"month": 6, "running": True, "monthly_income": 2600, "out_of_poverty": True}
    assert admin.post(f"/loans/{loan['loan_id']}/outcomes", json=body).status_code == 201
    assert admin.post(f"/loans/{loan['loan_id']}/outcomes", json=body).status_code == 409


# --- assistance ----------------------------------------------------------------------------------------------

def test_equipment_is_linked_to_the_workers_self_employment(admin, deliver):
    unit = admin.post("/helper-units", json={"name": "县供电公司", "kind": "work_unit", "region_code": REGION}).get_json()
    worker_id = new_worker(deliver)
    placement(deliver, worker_id, date(2025, 1, 1), kind="regular")
    own_shop = placement(deliver, worker_id, date(2025, 2, 1), kind="self_employment")
    given = admin.post("/assistance", json={"worker_id": worker_id, "kind": "material", "helper_unit": unit["unit_id"],
                                            "equipment": "电焊机", "quantity": 1, "amount": 1800, "note": "送电焊机"})
    assert given.status_code == 201 and given.get_json()["placement_id"] == own_shop
    half = admin.post("/assistance", json={"worker_id": worker_id, "kind": "material", "helper_unit": unit["unit_id"],
                                           "equipment": "三轮车"})
    assert half.status_code == 422 and "quantity" in error_fields(half)
    unknown = admin.post("/assistance", json={"worker_id": worker_id, "kind": "moral", "helper_unit": str(uuid.uuid4())})
    assert unknown.status_code == 422 and "helper_unit" in error_fields(unknown)


# --- erasure -------------------------------------------------------------------------------------------------

def test_erasure_clears_free_text_and_certificate_numbers_and_keeps_the_figures(admin, service, clock, deliver):
    worker_id = new_worker(deliver)
    loan = new_loan(admin, deliver, worker_id=worker_id, amount=5000)
    unit = admin.post("/helper-units", json={"name": "县一中", "kind": "work_unit", "region_code": REGION}).get_json()
    admin.post("/assistance", json={"worker_id": worker_id, "kind": "financial", "amount": 500,
                                    "helper_unit": unit["unit_id"], "note": "家里老人生病"})
    course_id = admin.post("/courses", json=course_body(starts_on="2025-03-03", capacity=5)).get_json()["course_id"]
    enrolment = admin.post(f"/courses/{course_id}/enrolments", json={"worker_id": worker_id}).get_json()
    admin.post(f"/enrolments/{enrolment['enrolment_id']}/completion", json={"passed": True, "certificate_no": "HG-9"})
    report = admin.get("/reports/support", query_string={"region": REGION}).get_json()
    deliver(ev("WorkerErased", worker_id=worker_id, version=2))
    with reading(service.c.factory) as session:
        row = session.execute(sa.select(loans).where(loans.c.loan_id == loan["loan_id"])).mappings().one()
        note = session.execute(sa.select(assistance.c.note).where(assistance.c.worker_id == worker_id)).scalar_one()
        number = session.execute(sa.select(enrolments.c.certificate_no)
                                 .where(enrolments.c.worker_id == worker_id)).scalar_one()
    assert (row["purpose"], row["project"], note, number) == (None, None, None, None)
    assert row["amount"] == 5000
    assert admin.get("/reports/support", query_string={"region": REGION}).get_json() == report
    assert admin.post("/loans", json={"worker_id": worker_id, "amount": 100, "purpose": "x",
                                      "guarantor_unit": "y"}).status_code == 422


def test_erasure_forgets_stored_answers_filed_under_the_loan_or_assistance_id(admin, service, deliver):
    worker_id, other = new_worker(deliver), new_worker(deliver)
    unit = admin.post("/helper-units", json={"name": "县二中", "kind": "work_unit", "region_code": REGION}).get_json()

    def post(path, body, key):
        return admin.client.post(path, json=body, headers={"Authorization": f"Bearer {admin.bearer}",
                                                            "Idempotency-Key": key})

    def keyed(path, body):
        key = str(uuid.uuid4())
        answer = post(path, body, key)
        assert answer.status_code == 201, answer.get_json()
        return key, body, answer.get_json()

    loan_body = {"worker_id": worker_id, "amount": 30000, "purpose": "家庭养殖", "guarantor_unit": "县总工会"}
    loan_key, _, loan = keyed("/loans", loan_body)
    help_key, help_body, _ = keyed("/assistance", {"worker_id": worker_id, "kind": "financial", "amount": 800,
                                                   "helper_unit": unit["unit_id"], "note": "孩子上学"})
    kept_key, kept_body, kept = keyed("/loans", {"worker_id": other, "amount": 20000, "purpose": "小餐馆",
                                                "guarantor_unit": "县总工会"})
    with reading(service.c.factory) as session:
        filed = set(session.execute(sa.select(idempotency_keys.c.resource_id)).scalars())
    assert loan["loan_id"] in filed and worker_id not in filed, "the loan's answer is filed under its loan id"
    replay = post("/loans", loan_body, loan_key)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.get_json()["purpose"] == "家庭养殖"

    deliver(ev("WorkerErased", worker_id=worker_id, version=2))

    with reading(service.c.factory) as session:
        filed = set(session.execute(sa.select(idempotency_keys.c.resource_id)).scalars())
    assert loan["loan_id"] not in filed and kept["loan_id"] in filed
    # Nothing stored answers the erased worker's amount and purpose again: the key is claimed afresh, and the
    # erased worker can no longer be lent to.
    again = post("/loans", loan_body, loan_key)
    assert again.status_code == 422 and "Idempotent-Replayed" not in again.headers
    assert "家庭养殖" not in again.get_data(as_text=True)
    assert post("/assistance", help_body, help_key).status_code == 422
    # Another worker's stored answer is still there.
    other_replay = post("/loans", kept_body, kept_key)
    assert other_replay.headers.get("Idempotent-Replayed") == "true"
    assert other_replay.get_json()["loan_id"] == kept["loan_id"]


# --- the figures of a small county ---------------------------------------------------------------------------

COUNTY = "410326"  # 汝阳县: this test's county alone


def test_a_small_county_adds_up(admin, service, clock, deliver):
    """Thirteen households borrow (as the seed report's county did), units help, a class trains; every figure is
    worked out here from what the test did, and compared with the report."""
    clock.now = datetime(2025, 1, 6, 9, tzinfo=UTC)
    people = [new_worker(deliver, region=COUNTY) for _ in range(20)]
    # Training: one welding class of 8; 6 pass; 3 of the passes start work within 3 months, a 4th in month 5.
    course = admin.post("/courses", json=course_body(region_code=COUNTY, starts_on="2025-01-06", ends_on="2025-02-28",
                                                     capacity=10, title="电焊班")).get_json()
    enrolled = [admin.post(f"/courses/{course['course_id']}/enrolments", json={"worker_id": w}).get_json()
                for w in people[:8]]
    clock.now = datetime(2025, 2, 28, 9, tzinfo=UTC)
    for i, e in enumerate(enrolled):
        admin.post(f"/enrolments/{e['enrolment_id']}/completion", json={"passed": i < 6})
    for w, start in zip(people[:4], (date(2025, 3, 10), date(2025, 4, 1), date(2025, 5, 20), date(2025, 7, 15)),
                        strict=True):
        placement(deliver, w, start)
    placement(deliver, people[7], date(2025, 3, 1))  # failed the course: not counted
    # Loans: 13 households, 10,000 to 22,000 each, 12 months; disbursed on 2025-01-10.
    clock.now = datetime(2025, 1, 10, 9, tzinfo=UTC)
    amounts = [10000 + 1000 * i for i in range(13)]
    loan_ids = []
    for w, amount in zip(people[:13], amounts, strict=True):
        loan = new_loan(admin, deliver, amount=amount, worker_id=w)
        for status in ("examined", "approved", "disbursed"):
            assert move(admin, loan["loan_id"], status, **({"term_months": 12} if status == "disbursed" else {})
                        ).status_code == 200
        loan_ids.append(loan["loan_id"])
    refused = new_loan(admin, deliver, amount=50000, worker_id=people[13])
    move(admin, refused["loan_id"], "rejected", reason="project_not_viable")
    # By 2025-12-31, 11 instalments fell due (Feb..Dec 10th). The first 8 households repaid all of them, the others
    # half of them; one of the first also repaid two instalments early (counts only up to what fell due).
    clock.now = datetime(2025, 12, 31, 9, tzinfo=UTC)
    due_each = {lid: (a // 12) * 11 for lid, a in zip(loan_ids, amounts, strict=True)}
    repaid_each = {}
    for i, lid in enumerate(loan_ids):
        pay = due_each[lid] if i < 8 else due_each[lid] // 2
        if i == 0:
            pay += amounts[0] // 12
        assert admin.post(f"/loans/{lid}/repayments", json={"amount": pay, "paid_on": "2025-12-20"}).status_code == 201
        repaid_each[lid] = pay
    # Outcomes: all 13 at 6 months, 10 at 12 months... the 12-month one is not due before 2026-01-10: 6 months only.
    poverty_exits = 9
    for i, lid in enumerate(loan_ids):
        body = {"month": 6, "running": i < 11, "monthly_income": 2000 + 100 * i, "out_of_poverty": i < poverty_exits}
        assert admin.post(f"/loans/{lid}/outcomes", json=body).status_code == 201
    # Assistance: two units paired with 5 households each, under target agreements.
    units = [admin.post("/helper-units", json={"name": name, "kind": kind, "region_code": COUNTY}).get_json()
             for name, kind in (("=县电业局", "work_unit"), ("乡党委书记", "cadre"))]
    log = []
    for n, unit in enumerate(units):
        helped = people[n * 5:(n + 1) * 5]
        for w in helped:
            admin.post(f"/helper-units/{unit['unit_id']}/pairings", json={"worker_id": w})
        for k, w in enumerate(helped):
            kind, amount = (("financial", 800), ("material", 300), ("moral", None), ("policy", None), ("job", None))[k]
            body = {"worker_id": w, "kind": kind, "helper_unit": unit["unit_id"], "given_on": "2025-06-01",
                    **({"amount": amount} if amount else {})}
            assert admin.post("/assistance", json=body).status_code == 201
            log.append((unit["name"], kind, amount or 0))
        admin.post(f"/helper-units/{unit['unit_id']}/targets", json={"year": 2025, "metric": "reemployed", "target": 3})
        admin.post(f"/helper-units/{unit['unit_id']}/targets", json={"year": 2025, "metric": "assisted", "target": 5})
    admin.post("/assistance", json={"worker_id": people[15], "kind": "material", "helper_unit": units[1]["unit_id"],
                                    "equipment": "三轮车", "quantity": 1, "given_on": "2025-06-02"})
    log.append((units[1]["name"], "material", 0))

    report = admin.get("/reports/support", query_string={"region": COUNTY, "from": "2025-01-01",
                                                         "to": "2025-12-31"}).get_json()
    print("\nsmall county figures:", {k: v for k, v in report.items() if k not in ("assistance_by_unit",)})
    print("by unit:", report["assistance_by_unit"])

    assert (report["courses"], report["trainees"], report["completed"]) == (1, 8, 6)
    assert report["completion_rate"] == round(6 / 8, 4)
    # Unit 1 (people 0-4): people 0-3 placed in 2025 → 4 re-employed ≥ 3; unit 2 (people 5-9): person 7 only.
    assert report["employed_within_3m_after_course_count"] == 3
    assert report["employed_within_6m_after_course_count"] == 4
    assert report["employed_within_6m_after_course"] == round(4 / 6, 4)
    assert report["loans"] == 13 and report["loan_amount"] == sum(amounts) == 208000
    due, on_time = sum(due_each.values()), sum(min(repaid_each[x], due_each[x]) for x in loan_ids)
    assert report["loan_due"] == due and report["loan_repaid"] == sum(repaid_each.values())
    assert report["repayment_rate"] == round(on_time / due, 4)
    assert report["out_of_poverty"] == poverty_exits and report["out_of_poverty_rate"] == round(9 / 13, 4)
    expected_kind = {k: {"count": sum(1 for _u, kind, _a in log if kind == k),
                         "amount": sum(a for _u, kind, a in log if kind == k)}
                     for k in ("moral", "material", "financial", "policy", "skills", "job")}
    assert report["assistance_by_kind"] == expected_kind
    assert report["assistance"] == len(log) == 11
    assert report["assistance_amount"] == sum(a for *_x, a in log) == 2200
    assert sum(v["count"] for v in report["assistance_by_unit"].values()) == report["assistance"]
    assert report["equipment"] == {"三轮车": 1}
    assert (report["targets"], report["targets_met"]) == (4, 3)
    unit_one = admin.get(f"/helper-units/{units[0]['unit_id']}").get_json()
    assert {(t["metric"], t["achieved"], t["score"], t["met"]) for t in unit_one["targets"]} == {
        ("reemployed", 4, 100, True), ("assisted", 5, 100, True)}
    unit_two = admin.get(f"/helper-units/{units[1]['unit_id']}").get_json()
    assert {(t["metric"], t["achieved"], t["score"]) for t in unit_two["targets"]} == {
        ("reemployed", 1, 33), ("assisted", 5, 100)}

    # The same figures as a file; no cell starts like a formula (a unit's name is text people typed).
    csv_text = admin.get("/reports/support", query_string={"region": COUNTY, "from": "2025-01-01", "to": "2025-12-31",
                                                           "format": "csv"}).get_data().decode("utf-8-sig")
    rows = dict(csv.reader(io.StringIO(csv_text)))
    assert rows["loan_amount"] == "208000"
    assert rows["assistance_by_unit.=县电业局.count"] == "5"
    assert not any(name.startswith(("=", "+", "-", "@")) for name in rows)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(admin.get("/reports/support", query_string={
        "region": COUNTY, "from": "2025-01-01", "to": "2025-12-31", "format": "xlsx"}).get_data()))
    names = [r[0] for r in book.active.iter_rows(values_only=True)]
    assert "assistance_by_unit.=县电业局.amount" in names
    assert not any(isinstance(n, str) and n.startswith("=") for n in names)


def test_the_report_is_held_to_a_caseworkers_regions(caseworker):
    assert caseworker.get("/reports/support", query_string={"region": "1101"}).status_code == 403
    assert caseworker.get("/reports/support").get_json()["region"] == REGION


def test_writes_are_audited_without_amounts(admin, service, deliver):
    loan = new_loan(admin, deliver, amount=7777)
    with reading(service.c.factory) as session:
        rows = session.execute(sa.select(audit_log).where(audit_log.c.resource_id == loan["loan_id"])).mappings().all()
    assert [(r["action"], r["actor"]) for r in rows] == [("create", "support-admin")]
    assert all("7777" not in (r["detail"] or "") for r in rows)


def test_an_unknown_field_or_a_wrong_type_is_refused_naming_it(admin, deliver):
    worker_id = new_worker(deliver)
    response = admin.post("/loans", json={"worker_id": worker_id, "amount": "lots", "purpose": "x", "guarantor_unit": "y"})
    assert response.status_code == 422 and "amount" in error_fields(response)
    response = admin.post("/courses", json={**course_body(), "colour": "blue"})
    assert response.status_code == 422 and "colour" in error_fields(response)
