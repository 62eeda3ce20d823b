"""The bureau's figures end to end, on a fixture whose right answers are worked out by hand below.

Every worker of the fixture lives in 台前县 (410927), which no other test uses, except X, who lives in 范县
(410926) and shares an export batch with F. Days are counted from each worker's own registration date as
intake reports it, so the answers hold whatever the clock says.

    worker  4050  placements (start, relative to registration)          follow-ups         other
    A       no    regular via a hired referral (+10); regular direct (+40) -                placed twice
    B       yes   public_welfare into a public-welfare vacancy (+20)      -
    C       no    self_employment (+0)                                   -                  erased at the end
    D       no    regular (-200)                                         1, 3, 6 employed
    F       no    cross_region (+5)                                      -                  batch 1 and batch 2
    I       no    regular (-250)                                         1: left            ended
    E       no    -                                                      -                  batch 1, returned early
    G, H    no    -  (G's referral rejected, H's unanswered)
    X       no    -  (410926)                                            -                  batch 2

    reemployed               A B C D F I = 6 (A once although placed twice)
    reemployed_4050          B = 1
    by_type                  regular A D I = 3, public_welfare B = 1, self_employment C = 1, cross_region F = 1
    placements               7
    median days              per worker, by its first placement: A 10 (not A 40), B 20, C 0, D -200→0, F 5,
                             I -250→0 → 0 0 0 5 10 20 → 2.5
    retention m3             D kept, I gone at month 1 → 1/2 = 0.5 (A B C F: month 3 not recorded, left out)
    retention m6             D kept, I gone → 0.5
    referrals                A (hired), G (rejected), H (no answer) = 3
    referral_to_hire_rate    1/3 = 0.3333
    employer_response_rate   2/3 = 0.6667 (A and G were answered)
    exported_workers         E F = 2 (F in two batches, the second after coming back from the first; X is
                             outside the region)
    returned_early           E F = 2
    export_income            batch 1: 8 000 corrected to 9 000; batch 2: 1 000, half of whose workers are
                             from the region → 500; 9 000 + 500 = 9 500
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from support import Api, employer_body, eventually, national_id, read_topic, token, vacancy_body, worker_body

from shared.bus.kafka import make_producer
from shared.config import KafkaSettings
from shared.db import make_engine
from shared.events import encode, make_event

# A well-formed id that names nothing: probes with it are refused and write nothing.
NOBODY = str(uuid.uuid4())
REGION = "410927"
OUTSIDE = "410926"
DESTINATION = "330212"

EXPECTED = {
    "reemployed": 6,
    "reemployed_4050": 1,
    "by_type": {"regular": 3, "public_welfare": 1, "self_employment": 1, "cross_region": 1},
    "placements": 7,
    "exported_workers": 2,
    "returned_early": 2,
    "export_income": 9500,
    "referrals": 3,
    "referral_to_hire_rate": 0.3333,
    "employer_response_rate": 0.6667,
    "retention": {"m3": 0.5, "m6": 0.5},
    "median_days_to_placement": 2.5,
}


def today() -> date:
    return datetime.now(UTC).date()


class Fixture:
    def __init__(self, stack):
        self.stack = stack
        self.intake = Api(stack.url("intake"), token("admin"))
        self.admin = Api(stack.url("placement"), token("admin"))
        self.caseworker = Api(stack.url("placement"), token("caseworker", regions=[REGION]))
        self.coordinator = Api(stack.url("placement"), token("coordinator"))
        self.workers: dict[str, str] = {}
        self.registered: dict[str, date] = {}

    def worker(self, name: str, *, female: bool = False, born: date = date(1990, 6, 1), relocate: bool = False,
               region: str = REGION) -> str:
        body = worker_body(national_id=national_id(region=region, born=born, female=female), region_code=region,
                           willing_to_relocate=relocate)
        response = self.intake.post("/workers", json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        self.workers[name] = created["worker_id"]
        self.registered[name] = datetime.fromisoformat(created["registered_at"]).astimezone(UTC).date()
        return created["worker_id"]

    def known(self, name: str) -> None:
        worker_id = self.workers[name]
        eventually(lambda: self.admin.post("/referrals", json={"worker_id": worker_id, "vacancy_id": NOBODY})
                   .json()["error"]["code"] == "unknown_vacancy", timeout=20, what=f"placement knows {name}")

    def start(self, name: str, days: int) -> str:
        return (self.registered[name] + timedelta(days=days)).isoformat()

    def place(self, name: str, kind: str, days: int, **extra) -> str:
        response = self.caseworker.post("/placements", json={
            "worker_id": self.workers[name], "placement_type": kind, "start_date": self.start(name, days), **extra})
        assert response.status_code == 201, response.text
        return response.json()["placement_id"]

    def follow_up(self, placement_id: str, month: int, employed: bool, **extra) -> None:
        body = {"month": month, "employed": employed, **extra}
        response = self.caseworker.post(f"/placements/{placement_id}/followups", json=body)
        assert response.status_code == 201, response.text

    def summary(self, api: Api | None = None, **params) -> dict:
        params = {"from": (today() - timedelta(days=365)).isoformat(),
                  "to": (today() + timedelta(days=365)).isoformat(), **params}
        response = (api or self.caseworker).get("/reports/summary", params=params)
        assert response.status_code == 200, response.text
        return response


def figures_of(body: dict) -> dict:
    return {k: body[k] for k in EXPECTED}


@pytest.fixture(scope="module")
def fixture(stack):
    f = Fixture(stack)
    for name in ("A", "C", "D", "F", "I", "G", "H"):
        f.worker(name, relocate=name in ("F",))
    f.worker("B", female=True, born=date(1975, 4, 1))
    f.worker("E", relocate=True)
    f.worker("X", relocate=True, region=OUTSIDE)
    employer = f.intake.post("/employers", json=employer_body(region_code=REGION)).json()["employer_id"]
    regular = f.intake.post("/vacancies", json=vacancy_body(employer, region_code=REGION, headcount=5)).json()
    welfare = f.intake.post("/vacancies", json=vacancy_body(
        employer, region_code=REGION, headcount=2, vacancy_type="public_welfare", title="保洁")).json()
    for name in f.workers:
        f.known(name)

    def create_referral(name):
        response = f.caseworker.post("/referrals", json={"worker_id": f.workers[name],
                                                         "vacancy_id": regular["vacancy_id"]})
        return response.json() if response.status_code == 201 else None

    a_ref = eventually(lambda: create_referral("A"), timeout=20, what="placement knows the vacancy")
    g_ref, h_ref = create_referral("G"), create_referral("H")
    assert g_ref and h_ref
    f.caseworker.post(f"/referrals/{a_ref['referral_id']}/status", json={"status": "interviewing"})
    hired = f.caseworker.post(f"/referrals/{a_ref['referral_id']}/status",
                              json={"status": "hired", "start_date": f.start("A", 10), "monthly_wage": 4500})
    assert hired.status_code == 200, hired.text
    assert f.caseworker.post(f"/referrals/{g_ref['referral_id']}/status",
                             json={"status": "rejected", "reason": "skills_mismatch"}).status_code == 200

    f.place("A", "regular", 40)
    eventually(lambda: f.caseworker.post("/placements", json={
        "worker_id": f.workers["B"], "placement_type": "public_welfare", "start_date": f.start("B", 20),
        "vacancy_id": welfare["vacancy_id"]}).status_code == 201, timeout=20, what="the public-welfare placement")
    f.placements = {"C": f.place("C", "self_employment", 0, micro_loan_amount=30_000)}
    d = f.place("D", "regular", -200)
    for month in (1, 3, 6):
        f.follow_up(d, month, True)
    f.place("F", "cross_region", 5)
    i = f.place("I", "regular", -250)
    f.follow_up(i, 1, False, left_reason="contract_ended")

    employer_ok = {"destination_region": DESTINATION, "employer_id": employer}

    def send_first_batch():
        response = f.coordinator.post("/export-batches", json={
            **employer_ok, "worker_ids": [f.workers["E"], f.workers["F"]],
            "departure_date": (today() - timedelta(days=30)).isoformat()})
        assert response.status_code in (201, 422), response.text
        return response if response.status_code == 201 else None

    first = eventually(send_first_batch, timeout=20, what="placement knows the employer")
    # A worker in a batch that has not returned cannot join another: F comes back first.
    assert f.coordinator.post(f"/export-batches/{first.json()['batch_id']}/returns", json={
        "worker_id": f.workers["F"], "returned_on": (today() - timedelta(days=15)).isoformat(),
        "reason": "family"}).status_code == 201
    refused = f.coordinator.post("/export-batches", json={
        **employer_ok, "worker_ids": [f.workers["E"]], "departure_date": (today() - timedelta(days=10)).isoformat()})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "workers_in_another_batch"
    second = f.coordinator.post("/export-batches", json={
        **employer_ok, "worker_ids": [f.workers["F"], f.workers["X"]],
        "departure_date": (today() - timedelta(days=10)).isoformat()})
    assert second.status_code == 201, second.text
    b1, b2 = first.json()["batch_id"], second.json()["batch_id"]
    assert f.coordinator.post(f"/export-batches/{b1}/returns", json={
        "worker_id": f.workers["E"], "returned_on": today().isoformat(), "reason": "health"}).status_code == 201
    period1, period2 = f"{today() - timedelta(days=30):%Y-%m}", f"{today() - timedelta(days=10):%Y-%m}"
    assert f.coordinator.post(f"/export-batches/{b1}/income", json={"period": period1, "amount": 8000}).status_code == 201
    assert f.coordinator.post(f"/export-batches/{b1}/income",
                              json={"period": period1, "amount": 9000, "replace": True}).status_code == 201
    assert f.coordinator.post(f"/export-batches/{b2}/income", json={"period": period2, "amount": 1000}).status_code == 201
    return f


def test_the_figures_are_the_ones_worked_out_by_hand(fixture):
    body = fixture.summary().json()
    assert figures_of(body) == EXPECTED
    assert body["region"] == REGION


def test_an_admin_asking_for_the_region_sees_the_same_figures_as_its_caseworker(fixture):
    assert figures_of(fixture.summary(fixture.admin, region=REGION).json()) == EXPECTED


def test_a_period_before_any_of_it_has_no_figures_and_no_rates(fixture):
    body = fixture.summary(**{"from": "2001-01-01", "to": "2001-12-31"}).json()
    assert (body["reemployed"], body["placements"], body["exported_workers"], body["export_income"]) == (0, 0, 0, 0)
    assert body["referral_to_hire_rate"] is None and body["employer_response_rate"] is None
    assert body["retention"] == {"m3": None, "m6": None} and body["median_days_to_placement"] is None


def test_a_caseworker_may_not_ask_for_a_region_beyond_its_own(fixture, stack):
    elsewhere = Api(stack.url("placement"), token("caseworker", regions=[OUTSIDE]))
    response = elsewhere.get("/reports/summary", params={"region": REGION})
    assert response.status_code == 403 and "region" in response.json()["error"]["fields"]
    broader = fixture.caseworker.get("/reports/summary", params={"region": "4109"})
    assert broader.status_code == 403
    own = elsewhere.get("/reports/summary", params={"from": (today() - timedelta(days=365)).isoformat(),
                                                    "to": (today() + timedelta(days=365)).isoformat()}).json()
    assert own["region"] == OUTSIDE
    # X is in 范县: of batch 2's income, X's half is counted there (other tests' 范县 batches may add more).
    assert own["export_income"] >= 500


def test_csv_and_xlsx_carry_the_same_figures(fixture):
    response = fixture.summary(format="csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = dict(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    workbook = openpyxl.load_workbook(io.BytesIO(fixture.summary(format="xlsx").content))
    sheet = {r[0]: r[1] for r in workbook.active.iter_rows(values_only=True)}
    flat = {"reemployed": 6, "reemployed_4050": 1, "by_type.regular": 3, "by_type.public_welfare": 1,
            "by_type.self_employment": 1, "by_type.cross_region": 1, "placements": 7, "exported_workers": 2,
            "returned_early": 2, "export_income": 9500, "referrals": 3, "referral_to_hire_rate": 0.3333,
            "employer_response_rate": 0.6667, "retention.m3": 0.5, "retention.m6": 0.5, "median_days_to_placement": 2.5}
    for name, value in flat.items():
        assert float(rows[name]) == value, name
        assert float(sheet[name]) == value, name
    assert rows["region"] == REGION == sheet["region"]


def test_a_redelivered_or_stale_event_changes_no_figure(fixture, stack):
    worker_b = fixture.workers["B"]
    registered = [m for m in read_topic(stack.bootstrap, "jobbridge.workers")
                  if json.loads(m.value)["event_type"] == "WorkerRegistered"
                  and json.loads(m.value)["payload"]["worker_id"] == worker_b]
    assert len(registered) == 1
    original = registered[0]
    # The same registration again, then a stale update (a new event id, an old version) that would make B
    # neither a 4050 worker nor one of this region. Both go to B's partition, in this order.
    stale = make_event("WorkerUpdated", {"worker_id": worker_b, "version": 1, "region_code": OUTSIDE,
                                         "is_4050": False}, producer="intake")
    producer = make_producer(KafkaSettings(bootstrap_servers=stack.bootstrap), client_id="placement-figures-test")
    try:
        producer.send("jobbridge.workers", key=original.key, value=original.value,
                      headers=list(original.headers)).get(timeout=15)
        producer.send("jobbridge.workers", key=worker_b.encode(), value=encode(stale),
                      headers=stale.headers()).get(timeout=15)
    finally:
        producer.close(timeout=5)
    engine = make_engine(stack.env["PLACEMENT_DATABASE_URL"])
    try:
        def processed(event_id):
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT count(*) FROM inbox WHERE event_id = :e"), {"e": event_id}).scalar()

        # The stale one is behind the duplicate on the same partition: once it is in, the duplicate was handled.
        eventually(lambda: processed(stale.event_id) == 1, timeout=20, what="the stale event processed")
        assert processed(json.loads(original.value)["event_id"]) == 1
    finally:
        engine.dispose()
    assert figures_of(fixture.summary().json()) == EXPECTED


def test_an_erased_worker_still_counts_in_the_figures(fixture):
    worker_c = fixture.workers["C"]
    assert fixture.intake.delete(f"/workers/{worker_c}").status_code == 204
    eventually(lambda: fixture.admin.post("/referrals", json={"worker_id": worker_c, "vacancy_id": NOBODY})
               .json()["error"]["code"] == "unknown_worker", timeout=20, what="placement hears of the erasure")
    assert figures_of(fixture.summary().json()) == EXPECTED
    placement = fixture.admin.get(f"/placements/{fixture.placements['C']}").json()
    assert placement["placement_type"] == "self_employment"
