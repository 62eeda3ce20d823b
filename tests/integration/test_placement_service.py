"""The placement API through Flask's test client against a real migrated database (SQLite or PostgreSQL), with
intake's events applied through the real consumer code (inbox included) and a clock the tests move.

What needs time to pass — referrals waiting too long, follow-ups falling due and overdue — is tested here; the
end-to-end tests cover the same API with the broker and the other services running.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import token

from services.placement.adapters.tables import audit_log, inbox, outbox, referrals, workers
from services.placement.consumer import handle
from services.placement.http import create_app
from shared.bus.consumer import Decoded, EventConsumer
from shared.config import load_settings
from shared.db import migrate, transaction
from shared.events import decode, encode, make_event

REGION = "410927"
ELSEWHERE = "410926"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Record:
    """What the consumer reads of a Kafka record."""

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
        headers = {"Authorization": f"Bearer {self.bearer}", **kw.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kw)
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.get_data(as_text=True)}"
        if response.status_code >= 400:
            body = response.get_json()
            assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"]), body
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)


@pytest.fixture(scope="module")
def env(databases, tmp_path_factory):
    url = databases.url("placement_service")
    migrate("placement", url)
    settings = load_settings("placement", {
        "PLACEMENT_DATABASE_URL": url, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_LOG_LEVEL": "WARNING",
        "JOBBRIDGE_DATA_DIR": str(tmp_path_factory.mktemp("placement_service")), "JOBBRIDGE_REFERRAL_STALE_DAYS": "14"})
    app = create_app(settings)
    clock = Clock(T0)
    service = app.extensions["placement"]
    service.c.clock = clock
    consumer = EventConsumer(settings=settings, group_id="jobbridge-placement", topics=[], factory=service.c.factory,
                             inbox=inbox, handle=handle)
    yield app, service, clock, consumer
    service.c.engine.dispose()


@pytest.fixture
def app(env):
    return env[0]


@pytest.fixture
def clock(env):
    env[2].now = T0
    return env[2]


@pytest.fixture
def service(env):
    return env[1]


@pytest.fixture
def deliver(env):
    """Deliver intake events through the consumer's real batch path (inbox, savepoints); return the envelopes."""
    consumer = env[3]

    def send(*events):
        batch = [Decoded(Record(topic=e.topic, value=encode(e)), decode(encode(e)), None) for e in events]
        consumer.apply_batch(batch)
        return events

    return send


def ev(event_type, **payload):
    return make_event(event_type, payload, producer="intake")


def new_id() -> str:
    return str(uuid.uuid4())


def worker_event(worker_id, *, version=1, region=REGION, is_4050=False, relocate=False, registered=date(2025, 1, 2),
                 event_type="WorkerRegistered"):
    return ev(event_type, worker_id=worker_id, version=version, region_code=region, is_4050=is_4050,
              willing_to_relocate=relocate, registered_on=registered, hardship=["laid_off"], skills=["电焊"])


def vacancy_event(vacancy_id, employer_id, *, version=1, headcount=1, kind="regular", status="open",
                  event_type="VacancyPosted"):
    return ev(event_type, vacancy_id=vacancy_id, version=version, employer_id=employer_id, title="电焊工",
              region_code=REGION, headcount=headcount, vacancy_type=kind, status=status)


@pytest.fixture
def world(deliver):
    """One employer with one open vacancy of two positions, and three workers of REGION."""
    employer, vacancy = new_id(), new_id()
    people = [new_id() for _ in range(3)]
    deliver(ev("EmployerRegistered", employer_id=employer, region_code=REGION),
            vacancy_event(vacancy, employer, headcount=2), *[worker_event(w) for w in people])
    return {"employer": employer, "vacancy": vacancy, "workers": people}


def callers(app, world):
    client = app.test_client()
    return (Caller(client, token("admin")), Caller(client, token("caseworker", regions=[REGION])),
            Caller(client, token("employer", employer_id=world["employer"])))


def refer(caller, worker_id, vacancy_id, **extra):
    response = caller.post("/referrals", json={"worker_id": worker_id, "vacancy_id": vacancy_id, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- ordering between topics and redelivery -----------------------------------------------------------

def test_a_referral_for_a_worker_placement_has_not_heard_of_is_refused_until_the_registration_arrives(
        app, world, deliver):
    admin, _, _ = callers(app, world)
    late = new_id()
    refused = admin.post("/referrals", json={"worker_id": late, "vacancy_id": world["vacancy"]})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "unknown_worker"
    assert "worker_id" in refused.get_json()["error"]["fields"]
    deliver(worker_event(late))
    assert admin.post("/referrals", json={"worker_id": late, "vacancy_id": world["vacancy"]}).status_code == 201


def test_a_redelivered_event_finds_its_id_in_the_inbox_and_changes_nothing(service, world, deliver):
    worker_id = world["workers"][0]
    update = worker_event(worker_id, version=2, region=ELSEWHERE, event_type="WorkerUpdated")
    deliver(update)
    deliver(worker_event(worker_id, version=3, region=REGION, event_type="WorkerUpdated"))
    deliver(update)  # the same event_id again: the inbox skips it, else the region would go back to ELSEWHERE
    with service.c.factory() as session:
        row = session.execute(sa.select(workers).where(workers.c.worker_id == worker_id)).mappings().one()
        seen = session.execute(sa.select(sa.func.count()).select_from(inbox)
                               .where(inbox.c.event_id == update.event_id)).scalar_one()
    assert (row["version"], row["region_code"]) == (3, REGION)
    assert seen == 1


def test_a_stale_version_with_a_new_event_id_is_ignored(service, world, deliver):
    worker_id = world["workers"][0]
    deliver(worker_event(worker_id, version=5, is_4050=True, event_type="WorkerUpdated"))
    deliver(worker_event(worker_id, version=4, is_4050=False, region=ELSEWHERE, event_type="WorkerUpdated"))
    with service.c.factory() as session:
        row = session.execute(sa.select(workers).where(workers.c.worker_id == worker_id)).mappings().one()
    assert (row["version"], row["is_4050"], row["region_code"]) == (5, True, REGION)


def test_a_vacancy_closed_by_intake_takes_no_referral_and_a_late_older_update_does_not_reopen_it(
        app, world, deliver):
    admin, _, _ = callers(app, world)
    deliver(vacancy_event(world["vacancy"], world["employer"], version=2, status="closed", event_type="VacancyClosed"))
    deliver(vacancy_event(world["vacancy"], world["employer"], version=1))
    refused = admin.post("/referrals", json={"worker_id": world["workers"][0], "vacancy_id": world["vacancy"]})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "vacancy_closed"


def test_an_erasure_before_the_registration_leaves_a_tombstone_the_late_registration_cannot_lift(
        app, world, service, deliver):
    admin, _, _ = callers(app, world)
    ghost = new_id()
    deliver(ev("WorkerErased", worker_id=ghost, version=2))
    deliver(worker_event(ghost, version=1))
    with service.c.factory() as session:
        row = session.execute(sa.select(workers).where(workers.c.worker_id == ghost)).mappings().one()
    assert row["erased"] and row["region_code"] is None
    assert admin.post("/referrals", json={"worker_id": ghost, "vacancy_id": world["vacancy"]}).status_code == 422


def test_erasure_clears_notes_withdraws_open_referrals_and_keeps_the_placement_for_the_figures(
        app, world, service, deliver, clock):
    admin, caseworker, _ = callers(app, world)
    worker_id, other = world["workers"][0], world["workers"][1]
    kept = refer(caseworker, other, world["vacancy"], note="另一位")
    placed = caseworker.post("/placements", json={"worker_id": worker_id, "placement_type": "public_welfare",
                                                  "start_date": "2025-01-20"}).get_json()
    open_one = refer(caseworker, worker_id, world["vacancy"], note="身体好，能吃苦")
    clock.advance(days=40)
    followup = caseworker.post(f"/placements/{placed['placement_id']}/followups",
                               json={"month": 1, "employed": True, "note": "满意"})
    assert followup.status_code == 201
    deliver(ev("WorkerErased", worker_id=worker_id, version=2))

    after = admin.get(f"/referrals/{open_one['referral_id']}").get_json()
    assert after["status"] == "withdrawn" and after["reason"] == "worker_erased" and after["note"] is None
    assert admin.get(f"/referrals/{kept['referral_id']}").get_json()["note"] == "另一位"
    placement = admin.get(f"/placements/{placed['placement_id']}").get_json()
    assert placement["followups"][0]["note"] is None
    report = admin.get(f"/reports/summary?region={REGION}&from=2025-01-01&to=2025-12-31").get_json()
    assert report["by_type"]["public_welfare"] >= 1
    with service.c.factory() as session:
        sent = session.execute(sa.select(outbox.c.body).where(outbox.c.key == open_one["referral_id"])).scalars().all()
    assert any(b'"worker_erased"' in body for body in sent)
    # The caseworker can no longer refer the erased worker.
    assert caseworker.post("/referrals", json={"worker_id": worker_id, "vacancy_id": world["vacancy"]}).status_code == 422


# --- waiting too long ---------------------------------------------------------------------------------

def test_a_referral_unanswered_for_more_than_the_configured_days_is_on_the_waiting_list_for_both_sides(
        app, world, clock):
    admin, caseworker, employer = callers(app, world)
    waiting = refer(caseworker, world["workers"][0], world["vacancy"])
    answered = refer(caseworker, world["workers"][1], world["vacancy"])
    clock.advance(days=10)
    employer.post(f"/referrals/{answered['referral_id']}/status", json={"status": "interviewing"})
    clock.advance(days=4, seconds=1)  # 14 days and a second since the first; 4 days since the answer

    def stale_ids(caller, **params):
        query = "&".join(f"{k}={v}" for k, v in {"stale": "true", "per_page": 200, **params}.items())
        response = caller.get(f"/referrals?{query}")
        assert response.status_code == 200
        return {r["referral_id"]: r for r in response.get_json()["items"]}

    for caller in (caseworker, employer):
        listed = stale_ids(caller, vacancy_id=world["vacancy"])
        assert waiting["referral_id"] in listed and answered["referral_id"] not in listed
        assert listed[waiting["referral_id"]]["stale"] is True
        assert listed[waiting["referral_id"]]["waiting_days"] == 14
    other_employer = Caller(app.test_client(), token("employer", employer_id=new_id()))
    assert stale_ids(other_employer) == {}
    elsewhere = Caller(app.test_client(), token("caseworker", regions=[ELSEWHERE]))
    assert waiting["referral_id"] not in stale_ids(elsewhere)
    fresh = admin.get(f"/referrals?stale=false&vacancy_id={world['vacancy']}").get_json()["items"]
    assert [r["referral_id"] for r in fresh] == [answered["referral_id"]]


def test_an_interview_waiting_too_long_is_flagged_too_and_a_decision_takes_it_off(app, world, clock):
    _, caseworker, employer = callers(app, world)
    ref = refer(caseworker, world["workers"][0], world["vacancy"])
    employer.post(f"/referrals/{ref['referral_id']}/status", json={"status": "interviewing"})
    clock.advance(days=15)
    assert caseworker.get(f"/referrals/{ref['referral_id']}").get_json()["stale"] is True
    employer.post(f"/referrals/{ref['referral_id']}/status", json={"status": "rejected", "reason": "no_show"})
    got = caseworker.get(f"/referrals/{ref['referral_id']}").get_json()
    assert got["stale"] is False and got["waiting_days"] is None


# --- follow-ups over time -----------------------------------------------------------------------------

def test_follow_ups_fall_due_month_by_month_and_turn_overdue_when_their_date_passes(app, world, clock):
    _, caseworker, _ = callers(app, world)
    worker_id = world["workers"][2]
    placement = caseworker.post("/placements", json={
        "worker_id": worker_id, "placement_type": "self_employment", "start_date": "2025-01-31",
        "micro_loan_amount": 50_000}).get_json()
    pid = placement["placement_id"]

    def due(before):
        body = caseworker.get(f"/followups/due?region={REGION}&before={before}&per_page=200").get_json()
        return [(i["month"], i["due_on"], i["overdue"]) for i in body["items"] if i["placement_id"] == pid]

    clock.now = datetime(2025, 3, 10, tzinfo=UTC)
    assert due("2025-03-10") == [(1, "2025-02-28", True)]
    assert due("2025-08-31") == [(1, "2025-02-28", True), (3, "2025-04-30", False), (6, "2025-07-31", False)]
    too_early = caseworker.post(f"/placements/{pid}/followups", json={"month": 3, "employed": True})
    assert too_early.status_code == 422 and too_early.get_json()["error"]["code"] == "followup_not_due"
    assert caseworker.post(f"/placements/{pid}/followups", json={"month": 1, "employed": True}).status_code == 201
    clock.now = datetime(2025, 4, 23, tzinfo=UTC)  # a week before 30 April
    assert caseworker.post(f"/placements/{pid}/followups",
                           json={"month": 3, "employed": True, "monthly_wage": 3800}).status_code == 201
    clock.now = datetime(2025, 8, 5, tzinfo=UTC)
    assert due("2025-08-05") == [(6, "2025-07-31", True)]
    left = caseworker.post(f"/placements/{pid}/followups",
                           json={"month": 6, "employed": False, "left_reason": "health"})
    assert left.status_code == 201
    assert due("2026-12-31") == []  # an ended placement has nothing more due
    ended = caseworker.get(f"/placements/{pid}").get_json()
    assert (ended["status"], ended["ended_on"], ended["end_reason"]) == ("ended", "2025-08-05", "health")
    clock.now = datetime(2026, 2, 1, tzinfo=UTC)
    again = caseworker.post(f"/placements/{pid}/followups", json={"month": 12, "employed": True})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "placement_ended"


# --- authorization and the audit log ------------------------------------------------------------------

def test_objects_outside_a_callers_reach_answer_404_and_the_audit_log_names_ids_only(app, world, service):
    admin, caseworker, employer = callers(app, world)
    ref = refer(caseworker, world["workers"][0], world["vacancy"], note="会开叉车")
    client = app.test_client()
    elsewhere = Caller(client, token("caseworker", regions=[ELSEWHERE]))
    stranger = Caller(client, token("employer", employer_id=new_id()))
    coordinator = Caller(client, token("coordinator"))
    for caller in (elsewhere, stranger):
        assert caller.get(f"/referrals/{ref['referral_id']}").status_code == 404
        assert caller.post(f"/referrals/{ref['referral_id']}/status", json={"status": "interviewing"}).status_code == 404
    assert coordinator.get(f"/referrals/{ref['referral_id']}").status_code == 403
    assert employer.get(f"/referrals/{ref['referral_id']}").status_code == 200
    withdraw = employer.post(f"/referrals/{ref['referral_id']}/status", json={"status": "withdrawn"})
    assert withdraw.status_code == 403
    assert admin.get(f"/referrals/{ref['referral_id']}").get_json()["status"] == "referred"
    assert employer.post("/placements", json={"worker_id": world["workers"][0], "placement_type": "regular",
                                              "start_date": "2025-03-01"}).status_code == 403
    assert employer.get("/reports/summary").status_code == 403
    assert coordinator.get("/followups/due").status_code == 403
    assert elsewhere.get(f"/reports/summary?region={REGION}").status_code == 403
    assert elsewhere.post("/referrals", json={"worker_id": world["workers"][1],
                                              "vacancy_id": world["vacancy"]}).status_code == 422
    with service.c.factory() as session:
        rows = session.execute(sa.select(audit_log).where(audit_log.c.resource_id == ref["referral_id"])).mappings().all()
    assert [(r["action"], r["role"]) for r in rows] == [("create", "caseworker")]
    assert all("会开叉车" not in (r["detail"] or "") for r in rows)


def test_two_open_referrals_for_the_same_pair_cannot_both_exist(app, world, service):
    _, caseworker, _ = callers(app, world)
    first = refer(caseworker, world["workers"][0], world["vacancy"])
    second = caseworker.post("/referrals", json={"worker_id": world["workers"][0], "vacancy_id": world["vacancy"]})
    assert second.status_code == 409
    assert second.get_json()["error"]["referral_id"] == first["referral_id"]
    with service.c.factory() as session:
        count = session.execute(sa.select(sa.func.count()).select_from(referrals).where(
            referrals.c.worker_id == world["workers"][0], referrals.c.vacancy_id == world["vacancy"])).scalar_one()
    assert count == 1
    caseworker.post(f"/referrals/{first['referral_id']}/status", json={"status": "withdrawn",
                                                                        "reason": "worker_declined"})
    refer(caseworker, world["workers"][0], world["vacancy"])  # a closed referral no longer blocks the pair


def test_a_note_with_a_phone_number_is_refused_and_nothing_is_written(app, world, service):
    _, caseworker, _ = callers(app, world)
    with transaction(service.c.factory) as session:
        before = session.execute(sa.select(sa.func.count()).select_from(referrals)).scalar_one()
    response = caseworker.post("/referrals", json={"worker_id": world["workers"][0], "vacancy_id": world["vacancy"],
                                                   "note": "联系 13800138000"})
    assert response.status_code == 422
    assert "note" in response.get_json()["error"]["fields"]
    with transaction(service.c.factory) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(referrals)).scalar_one() == before


# --- bad input ----------------------------------------------------------------------------------------

BAD_REQUESTS = [
    ("POST", "/referrals", {"worker_id": "w\x00", "vacancy_id": "v"}, "worker_id"),
    ("POST", "/referrals", {"worker_id": "not-an-id", "vacancy_id": "{vacancy}"}, "worker_id"),
    ("POST", "/referrals", {"worker_id": "{worker}", "vacancy_id": "{vacancy}", "note": "x\x00y"}, "note"),
    ("POST", "/referrals", {"worker_id": "{worker}", "vacancy_id": "{vacancy}", "note": "x" * 501}, "note"),
    ("POST", "/referrals", {"worker_id": "{worker}", "vacancy_id": "{vacancy}", "extra": 1}, "extra"),
    ("POST", "/referrals", {"worker_id": 7, "vacancy_id": "{vacancy}"}, "worker_id"),
    ("POST", "/placements", {"worker_id": "{worker}", "placement_type": "regular", "start_date": "0001-01-01"},
     "start_date"),
    ("POST", "/placements", {"worker_id": "{worker}", "placement_type": "regular", "start_date": "9999-12-31"},
     "start_date"),
    ("POST", "/placements", {"worker_id": "{worker}", "placement_type": "farming", "start_date": "2025-01-01"},
     "placement_type"),
    ("POST", "/placements", {"worker_id": "{worker}", "placement_type": "regular", "start_date": "2025-01-01",
                             "monthly_wage": 10**12}, "monthly_wage"),
    ("GET", "/reports/summary?from=0001-01-01&to=0001-12-31", None, "from"),
    ("GET", "/reports/summary?to=9999-12-31", None, "to"),
    ("GET", "/reports/summary?from=2025-05-01&to=2025-04-01", None, "to"),
    ("GET", "/reports/summary?region=41%0A", None, "region"),
    ("GET", "/reports/summary?format=pdf", None, "format"),
    ("GET", "/followups/due?before=0001-01-01", None, "before"),
    ("GET", "/referrals?worker_id=%00", None, "worker_id"),
    ("GET", "/referrals?per_page=100000", None, "per_page"),
    ("GET", "/export-batches?from=2025-02-01&to=2025-01-01", None, "to"),
    ("POST", "/export-batches", {"destination_region": "999999", "employer_id": "{employer}",
                                 "worker_ids": ["{worker}"], "departure_date": "2025-01-01"}, "destination_region"),
    ("POST", "/export-batches", {"destination_region": "440306", "employer_id": "{employer}",
                                 "worker_ids": ["{worker}", "{worker}"], "departure_date": "2025-01-01"}, "worker_ids"),
    ("POST", "/export-batches", {"destination_region": "440306", "employer_id": "{employer}",
                                 "worker_ids": [], "departure_date": "2025-01-01"}, "worker_ids"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_REQUESTS,
                         ids=[f"{m} {p.split('?')[0]} {f}" for m, p, _, f in BAD_REQUESTS])
def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(app, world, service, method, path, body, field):
    admin, _, _ = callers(app, world)
    values = {"worker": world["workers"][0], "vacancy": world["vacancy"], "employer": world["employer"]}

    def fill(value):
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return values[value[1:-1]]
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    with service.c.factory() as session:
        before = session.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
    response = admin.request(method, path, json={k: fill(v) for k, v in body.items()} if body else None)
    assert 400 <= response.status_code < 500
    assert field in response.get_json()["error"]["fields"], response.get_json()
    with service.c.factory() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one() == before


@pytest.mark.parametrize("path", ["/referrals/abc", "/referrals/%00", "/placements/1/followups", "/export-batches/x"])
def test_a_path_that_cannot_name_a_record_is_404(app, world, path):
    admin, _, _ = callers(app, world)
    assert admin.get(path).status_code in (404, 405)


def test_an_income_period_with_a_trailing_newline_is_refused_and_a_good_one_kept(app, world, deliver):
    coordinator = Caller(app.test_client(), token("coordinator"))
    mover = new_id()
    deliver(worker_event(mover, relocate=True))
    batch = coordinator.post("/export-batches", json={"destination_region": "440306", "employer_id": world["employer"],
                                                      "worker_ids": [mover], "departure_date": "2025-01-10"})
    assert batch.status_code == 201, batch.get_json()
    bid = batch.get_json()["batch_id"]
    refused = coordinator.post(f"/export-batches/{bid}/income", json={"period": "2025-02\n", "amount": 100})
    assert refused.status_code == 422 and "period" in refused.get_json()["error"]["fields"]
    kept = coordinator.post(f"/export-batches/{bid}/income", json={"period": "2025-02", "amount": 100})
    assert kept.status_code == 201 and kept.get_json()["income"] == [{"period": "2025-02", "amount": 100}]


# --- what cannot be true twice --------------------------------------------------------------------------------

def test_a_second_active_placement_starting_the_same_day_with_the_same_employer_or_type_is_a_duplicate(
        app, world):
    admin, _, _ = callers(app, world)
    worker_id, employer = world["workers"][0], world["employer"]
    day = (T0.date() - timedelta(days=3)).isoformat()
    first = admin.post("/placements", json={"worker_id": worker_id, "placement_type": "self_employment",
                                            "start_date": day})
    assert first.status_code == 201
    twice = admin.post("/placements", json={"worker_id": worker_id, "placement_type": "self_employment",
                                            "start_date": day})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "duplicate_placement"
    assert twice.get_json()["error"]["placement_id"] == first.get_json()["placement_id"]
    assert "start_date" in twice.get_json()["error"]["fields"]
    # Another type and no employer, or another day: a placement of its own.
    assert admin.post("/placements", json={"worker_id": worker_id, "placement_type": "regular",
                                           "start_date": day}).status_code == 201
    with_employer = {"worker_id": worker_id, "placement_type": "cross_region", "start_date": day,
                     "employer_id": employer}
    assert admin.post("/placements", json={**with_employer, "start_date": T0.date().isoformat()}).status_code == 201
    # The same employer on the same day, even of another type: the same placement again.
    same_employer = admin.post("/placements", json={**with_employer, "start_date": T0.date().isoformat(),
                                                   "placement_type": "public_welfare"})
    assert same_employer.status_code == 409
    assert admin.get("/placements", query_string={"worker_id": worker_id}).get_json()["total"] == 3


def test_a_worker_in_a_batch_that_has_not_returned_cannot_join_another(app, world, deliver):
    admin, _, _ = callers(app, world)
    away, other = new_id(), new_id()
    deliver(worker_event(away, relocate=True), worker_event(other, relocate=True))
    body = {"destination_region": "440306", "employer_id": world["employer"],
            "departure_date": (T0.date() - timedelta(days=20)).isoformat()}
    first = admin.post("/export-batches", json={**body, "worker_ids": [away]})
    assert first.status_code == 201
    refused = admin.post("/export-batches", json={**body, "worker_ids": [other, away]})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "workers_in_another_batch" and away in error["fields"]["worker_ids"][0]
    assert error["batches"] == {away: first.get_json()["batch_id"]}
    assert admin.get("/export-batches", query_string={"employer_id": world["employer"]}).get_json()["total"] == 1
    returned = admin.post(f"/export-batches/{first.get_json()['batch_id']}/returns", json={
        "worker_id": away, "returned_on": (T0.date() - timedelta(days=2)).isoformat(), "reason": "family"})
    assert returned.status_code == 201
    assert admin.post("/export-batches", json={**body, "departure_date": T0.date().isoformat(),
                                               "worker_ids": [other, away]}).status_code == 201


def test_a_batch_retried_with_its_idempotency_key_is_answered_again_not_refused(app, world, deliver):
    admin, _, _ = callers(app, world)
    away = new_id()
    deliver(worker_event(away, relocate=True))
    body = {"destination_region": "440306", "employer_id": world["employer"], "worker_ids": [away],
            "departure_date": (T0.date() - timedelta(days=5)).isoformat()}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = admin.post("/export-batches", json=body, headers=key)
    again = admin.post("/export-batches", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["batch_id"] == first.get_json()["batch_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    # Without the key the same batch again is the domain's refusal: the worker is away.
    assert admin.post("/export-batches", json=body).status_code == 409
