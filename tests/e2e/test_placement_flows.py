"""Placement end to end: workers, employers and vacancies are registered through intake's API and reach placement
as events through the real broker; referrals, placements, follow-ups and export batches go through placement's
API, and their effects are observed over HTTP and on the topics.

Everything here lives in 范县 (410926), so that other tests' records do not change what these tests count.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from support import Api, employer_body, eventually, national_id, read_topic, token, vacancy_body, worker_body

# A well-formed id that names nothing: probes with it are refused and write nothing.
NOBODY = str(uuid.uuid4())
REGION = "410926"
ELSEWHERE = "410928"
DESTINATION = "440306"
LEGAL = {("referred", "interviewing"), ("referred", "rejected"), ("referred", "withdrawn"),
         ("interviewing", "hired"), ("interviewing", "rejected")}
STATUSES = ("referred", "interviewing", "hired", "rejected", "withdrawn")
# A body for each target status that carries everything the status needs, so a refusal can only be the move.
BODIES = {
    "referred": {"status": "referred"},
    "interviewing": {"status": "interviewing"},
    "hired": {"status": "hired", "start_date": None, "monthly_wage": 4200},
    "rejected": {"status": "rejected", "reason": "skills_mismatch"},
    "withdrawn": {"status": "withdrawn", "reason": "placed_elsewhere"},
}


def today() -> date:
    return datetime.now(UTC).date()


def months_later(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day (worked out here, not by the code under test)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def body_for(status: str) -> dict:
    body = dict(BODIES[status])
    if status == "hired":
        body["start_date"] = (today() + timedelta(days=7)).isoformat()
    return body


class World:
    """Intake and placement as the admin sees them, with helpers that wait until placement heard of a record."""

    def __init__(self, stack):
        self.stack = stack
        self.intake = Api(stack.url("intake"), token("admin"))
        self.placement = Api(stack.url("placement"), token("admin"))
        self.caseworker = self.as_(token("caseworker", regions=[REGION]))

    def as_(self, bearer: str) -> Api:
        return Api(self.stack.url("placement"), bearer)

    def worker(self, *, relocate: bool = False, female: bool = False, born: date = date(1990, 3, 1),
               region: str = REGION) -> str:
        body = worker_body(national_id=national_id(region=region, born=born, female=female), region_code=region,
                           willing_to_relocate=relocate)
        response = self.intake.post("/workers", json=body)
        assert response.status_code == 201, response.text
        worker_id = response.json()["worker_id"]
        eventually(lambda: self.placement.post("/referrals", json={"worker_id": worker_id, "vacancy_id": NOBODY})
                   .json()["error"]["code"] == "unknown_vacancy", timeout=20, what="placement knows the worker")
        return worker_id

    def employer(self) -> str:
        response = self.intake.post("/employers", json=employer_body(region_code=REGION))
        assert response.status_code == 201, response.text
        employer_id = response.json()["employer_id"]
        probe = {"destination_region": DESTINATION, "employer_id": employer_id, "worker_ids": [NOBODY],
                 "departure_date": today().isoformat()}
        eventually(lambda: self.placement.post("/export-batches", json=probe).json()["error"]["code"]
                   == "workers_not_eligible", timeout=20, what="placement knows the employer")
        return employer_id

    def vacancy(self, employer_id: str, *, probe_worker: str, **overrides) -> str:
        body = vacancy_body(employer_id, region_code=REGION, **overrides)
        response = self.intake.post("/vacancies", json=body)
        assert response.status_code == 201, response.text
        vacancy_id = response.json()["vacancy_id"]
        # Self-employment names no vacancy: the refusal says the vacancy is known, and nothing is written.
        probe = {"worker_id": probe_worker, "placement_type": "self_employment", "vacancy_id": vacancy_id,
                 "start_date": today().isoformat()}
        eventually(lambda: self.placement.post("/placements", json=probe).json()["error"]["code"]
                   == "inconsistent_placement", timeout=20, what="placement knows the vacancy")
        return vacancy_id

    def refer(self, worker_id: str, vacancy_id: str, *, api: Api | None = None, **extra) -> dict:
        response = (api or self.caseworker).post("/referrals", json={"worker_id": worker_id, "vacancy_id": vacancy_id,
                                                                      **extra})
        assert response.status_code == 201, response.text
        return response.json()

    def move(self, referral_id: str, status: str, *, api: Api | None = None, expect: int = 200, **extra) -> dict:
        response = (api or self.caseworker).post(f"/referrals/{referral_id}/status", json={**body_for(status), **extra})
        assert response.status_code == expect, response.text
        return response.json()


@pytest.fixture(scope="module")
def world(stack):
    return World(stack)


def events_of(stack, topic: str, **match) -> list[dict]:
    out = []
    for message in read_topic(stack.bootstrap, topic):
        envelope = json.loads(message.value)
        if all(envelope["payload"].get(k) == v for k, v in match.items()):
            out.append(envelope)
    return out


# --- referrals ---------------------------------------------------------------------------------------------

def test_every_legal_move_succeeds_and_every_other_move_is_409_and_changes_nothing(world, stack):
    employer = world.employer()
    people = [world.worker() for _ in range(6)]
    vacancy = world.vacancy(employer, probe_worker=people[0], headcount=10)
    paths = {
        "referred": [],
        "interviewing": ["interviewing"],
        "hired": ["interviewing", "hired"],
        "rejected": ["rejected"],
        "withdrawn": ["withdrawn"],
        "rejected_after_interview": ["interviewing", "rejected"],
    }
    reached = {}
    for person, (name, path) in zip(people, paths.items(), strict=True):
        ref = world.refer(person, vacancy)
        assert ref["status"] == "referred"
        for status in path:
            ref = world.move(ref["referral_id"], status)
            assert ref["status"] == status
        reached[name] = ref
    assert reached["hired"]["placement_id"]
    assert reached["rejected"]["reason"] == "skills_mismatch"

    for name, ref in reached.items():
        current = ref["status"]
        for target in STATUSES:
            if (current, target) in LEGAL:
                continue
            refused = world.placement.post(f"/referrals/{ref['referral_id']}/status", json=body_for(target))
            assert refused.status_code == 409, f"{current} -> {target}: {refused.text}"
            assert refused.json()["error"]["code"] == "illegal_transition"
            after = world.placement.get(f"/referrals/{ref['referral_id']}").json()
            assert (after["status"], after["status_changed_at"]) == (current, ref["status_changed_at"]), name
    # The hired worker still has exactly one placement: the refused second "hired" wrote nothing.
    hired = world.placement.get("/placements", params={"worker_id": people[2]}).json()
    assert hired["total"] == 1

    def rejection_event():
        found = events_of(stack, "jobbridge.referrals", referral_id=reached["rejected"]["referral_id"],
                          status="rejected")
        return found[0] if found else None

    event = eventually(rejection_event, timeout=20, what="ReferralStatusChanged on the topic")
    assert event["payload"]["reason_code"] == "skills_mismatch"
    assert event["payload"]["from_status"] == "referred"


def test_a_hire_records_a_placement_of_the_vacancys_kind_and_tells_the_other_services(world, stack):
    employer = world.employer()
    worker = world.worker()
    vacancy = world.vacancy(employer, probe_worker=worker, vacancy_type="public_welfare", headcount=2)
    ref = world.refer(worker, vacancy)
    world.move(ref["referral_id"], "interviewing")
    hired = world.move(ref["referral_id"], "hired", monthly_wage=2100)
    placement = world.placement.get(f"/placements/{hired['placement_id']}").json()
    assert placement["placement_type"] == "public_welfare"
    assert (placement["worker_id"], placement["vacancy_id"], placement["referral_id"]) == (
        worker, vacancy, ref["referral_id"])
    assert placement["monthly_wage"] == 2100
    assert [f["month"] for f in placement["followups_pending"]] == [1, 3, 6, 12]
    recorded = eventually(lambda: events_of(stack, "jobbridge.placements", placement_id=hired["placement_id"]),
                          timeout=20, what="PlacementRecorded on the topic")
    assert recorded[0]["event_type"] == "PlacementRecorded"
    assert recorded[0]["payload"]["referral_id"] == ref["referral_id"]
    # Intake hears of it: the worker is placed.
    eventually(lambda: world.intake.get(f"/workers/{worker}").json()["status"] == "placed", timeout=20,
               what="intake marks the worker placed")


def test_a_rejection_needs_a_reason_from_the_list_and_other_needs_text(world):
    employer = world.employer()
    worker = world.worker()
    vacancy = world.vacancy(employer, probe_worker=worker)
    ref = world.refer(worker, vacancy)
    for body, field in (({"status": "rejected"}, "reason"),
                        ({"status": "rejected", "reason": "too_old"}, "reason"),
                        ({"status": "rejected", "reason": "other"}, "reason_text"),
                        ({"status": "interviewing", "start_date": "2030-01-01"}, "start_date")):
        refused = world.caseworker.post(f"/referrals/{ref['referral_id']}/status", json=body)
        assert refused.status_code == 422, body
        assert field in refused.json()["error"]["fields"], refused.text
    assert world.caseworker.get(f"/referrals/{ref['referral_id']}").json()["status"] == "referred"
    done = world.move(ref["referral_id"], "rejected", reason="other", reason_text="工厂改为夜班")
    assert (done["reason"], done["reason_text"]) == ("other", "工厂改为夜班")


def test_a_hire_needs_a_start_date(world):
    employer = world.employer()
    worker = world.worker()
    vacancy = world.vacancy(employer, probe_worker=worker)
    ref = world.refer(worker, vacancy)
    world.move(ref["referral_id"], "interviewing")
    refused = world.caseworker.post(f"/referrals/{ref['referral_id']}/status", json={"status": "hired"})
    assert refused.status_code == 422 and "start_date" in refused.json()["error"]["fields"]
    assert world.caseworker.get(f"/referrals/{ref['referral_id']}").json()["status"] == "interviewing"


def test_unknown_workers_and_vacancies_are_422_and_an_open_pair_twice_is_409(world):
    employer = world.employer()
    worker = world.worker()
    vacancy = world.vacancy(employer, probe_worker=worker)
    unknown = world.caseworker.post("/referrals", json={"worker_id": str(uuid.uuid4()), "vacancy_id": vacancy})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_worker"
    nowhere = world.caseworker.post("/referrals", json={"worker_id": worker, "vacancy_id": str(uuid.uuid4())})
    assert nowhere.status_code == 422 and nowhere.json()["error"]["code"] == "unknown_vacancy"
    first = world.refer(worker, vacancy)
    twice = world.caseworker.post("/referrals", json={"worker_id": worker, "vacancy_id": vacancy})
    assert twice.status_code == 409 and twice.json()["error"]["referral_id"] == first["referral_id"]
    listed = world.caseworker.get("/referrals", params={"worker_id": worker, "vacancy_id": vacancy}).json()
    assert listed["total"] == 1


def test_a_vacancy_takes_open_referrals_up_to_three_times_its_open_headcount(world):
    employer = world.employer()
    people = [world.worker() for _ in range(4)]
    vacancy = world.vacancy(employer, probe_worker=people[0], headcount=1)
    refs = [world.refer(p, vacancy) for p in people[:3]]
    over = world.caseworker.post("/referrals", json={"worker_id": people[3], "vacancy_id": vacancy})
    assert over.status_code == 409
    error = over.json()["error"]
    assert error["code"] == "referral_cap_reached" and (error["open_referrals"], error["cap"]) == (3, 3)
    assert "cap is 3" in error["message"]
    # A closed referral frees its place.
    world.move(refs[0]["referral_id"], "withdrawn")
    world.refer(people[3], vacancy)


def test_a_full_vacancy_takes_no_referral_and_no_second_hire(world):
    employer = world.employer()
    people = [world.worker() for _ in range(3)]
    vacancy = world.vacancy(employer, probe_worker=people[0], headcount=1)
    first, second = world.refer(people[0], vacancy), world.refer(people[1], vacancy)
    for ref in (first, second):
        world.move(ref["referral_id"], "interviewing")
    world.move(first["referral_id"], "hired")
    # Placement counts its own hires: the vacancy is full at once, before intake has closed it.
    full = world.caseworker.post(f"/referrals/{second['referral_id']}/status", json=body_for("hired"))
    assert full.status_code == 409 and full.json()["error"]["code"] == "vacancy_full"
    assert world.caseworker.get(f"/referrals/{second['referral_id']}").json()["status"] == "interviewing"
    refused = world.caseworker.post("/referrals", json={"worker_id": people[2], "vacancy_id": vacancy})
    assert refused.status_code in (409, 422)
    assert refused.json()["error"]["code"] in ("vacancy_full", "vacancy_closed")
    # Intake closes the filled vacancy, and placement then says so.
    eventually(lambda: world.intake.get(f"/vacancies/{vacancy}").json()["status"] == "closed", timeout=20,
               what="intake closes the filled vacancy")
    eventually(lambda: world.caseworker.post("/referrals", json={"worker_id": people[2], "vacancy_id": vacancy})
               .json()["error"]["code"] == "vacancy_closed", timeout=20, what="placement hears the vacancy closed")


def test_an_employer_answers_its_own_referrals_only_and_may_not_withdraw(world):
    employer = world.employer()
    other_employer = world.employer()
    worker = world.worker()
    vacancy = world.vacancy(employer, probe_worker=worker)
    ref = world.refer(worker, vacancy, note="有焊工证，可倒班")
    own = world.as_(token("employer", employer_id=employer))
    stranger = world.as_(token("employer", employer_id=other_employer))
    assert own.get(f"/referrals/{ref['referral_id']}").json()["note"] == "有焊工证，可倒班"
    assert stranger.get(f"/referrals/{ref['referral_id']}").status_code == 404
    assert stranger.post(f"/referrals/{ref['referral_id']}/status", json={"status": "interviewing"}).status_code == 404
    assert [r["referral_id"] for r in own.get("/referrals").json()["items"]] == [ref["referral_id"]]
    assert stranger.get("/referrals").json()["items"] == []
    refused = own.post(f"/referrals/{ref['referral_id']}/status", json={"status": "withdrawn"})
    assert refused.status_code == 403
    assert own.get(f"/referrals/{ref['referral_id']}").json()["status"] == "referred"
    world.move(ref["referral_id"], "interviewing", api=own)
    assert own.post("/referrals", json={"worker_id": worker, "vacancy_id": vacancy}).status_code == 403
    assert own.get("/followups/due").status_code == 403
    assert own.get("/export-batches").status_code == 403


def test_a_caseworker_reaches_only_the_workers_of_its_regions(world):
    employer = world.employer()
    worker = world.worker()
    vacancy = world.vacancy(employer, probe_worker=worker)
    ref = world.refer(worker, vacancy)
    elsewhere = world.as_(token("caseworker", regions=[ELSEWHERE]))
    assert elsewhere.get(f"/referrals/{ref['referral_id']}").status_code == 404
    refused = elsewhere.post("/referrals", json={"worker_id": worker, "vacancy_id": vacancy})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_worker"
    assert elsewhere.get("/referrals", params={"worker_id": worker}).json()["total"] == 0
    placed = world.caseworker.post("/placements", json={"worker_id": worker, "placement_type": "self_employment",
                                                        "start_date": today().isoformat()}).json()
    assert elsewhere.get(f"/placements/{placed['placement_id']}").status_code == 404
    assert elsewhere.post(f"/placements/{placed['placement_id']}/followups",
                          json={"month": 1, "employed": True}).status_code == 404
    assert elsewhere.get("/reports/summary", params={"region": REGION}).status_code == 403


# --- placements and follow-ups -----------------------------------------------------------------------------

def test_direct_placements_of_every_kind_and_their_consistency_rules(world):
    employer = world.employer()
    worker = world.worker()
    welfare = world.vacancy(employer, probe_worker=worker, vacancy_type="public_welfare", headcount=1)
    start = today().isoformat()
    loan = world.caseworker.post("/placements", json={"worker_id": worker, "placement_type": "self_employment",
                                                      "start_date": start, "micro_loan_amount": 100_000})
    assert loan.status_code == 201 and loan.json()["micro_loan_amount"] == 100_000
    for body, field in (
        ({"placement_type": "regular", "micro_loan_amount": 1}, "micro_loan_amount"),
        ({"placement_type": "regular", "vacancy_id": welfare}, "placement_type"),
        ({"placement_type": "self_employment", "employer_id": employer}, "employer_id"),
    ):
        refused = world.caseworker.post("/placements", json={"worker_id": worker, "start_date": start, **body})
        assert refused.status_code == 422 and field in refused.json()["error"]["fields"], refused.text
    unknown_employer = world.caseworker.post("/placements", json={
        "worker_id": worker, "placement_type": "regular", "start_date": start, "employer_id": str(uuid.uuid4())})
    assert unknown_employer.status_code == 422 and unknown_employer.json()["error"]["code"] == "unknown_employer"
    welfare_job = world.caseworker.post("/placements", json={"worker_id": worker, "placement_type": "public_welfare",
                                                             "start_date": start, "vacancy_id": welfare})
    assert welfare_job.status_code == 201 and welfare_job.json()["employer_id"] == employer
    # Hiring fills headcount: the one position is taken.
    other = world.worker()
    full = world.caseworker.post("/placements", json={"worker_id": other, "placement_type": "public_welfare",
                                                      "start_date": start, "vacancy_id": welfare})
    assert full.status_code == 409 and full.json()["error"]["code"] == "vacancy_full"
    for kind in ("regular", "cross_region"):
        assert world.caseworker.post("/placements", json={"worker_id": other, "placement_type": kind,
                                                          "start_date": start}).status_code == 201
    assert world.caseworker.get("/placements", params={"worker_id": other}).json()["total"] == 2


def test_follow_ups_are_recorded_once_each_and_a_worker_who_left_becomes_active_again(world, stack):
    worker = world.worker()
    start = today() - timedelta(days=100)
    placement = world.caseworker.post("/placements", json={"worker_id": worker, "placement_type": "regular",
                                                           "start_date": start.isoformat()}).json()
    pid = placement["placement_id"]
    eventually(lambda: world.intake.get(f"/workers/{worker}").json()["status"] == "placed", timeout=20,
               what="intake marks the worker placed")

    def due_months():
        body = world.caseworker.get("/followups/due", params={"region": REGION, "per_page": 200}).json()
        return {i["month"]: i for i in body["items"] if i["placement_id"] == pid}

    due = due_months()
    assert set(due) == {1, 3}  # 100 days in: the 1- and 3-month follow-ups have fallen due, the 6-month not
    assert due[1]["overdue"] and due[1]["days_overdue"] > 0
    assert (due[1]["due_on"], due[3]["due_on"]) == (months_later(start, 1).isoformat(),
                                                    months_later(start, 3).isoformat())
    assert due[1]["days_overdue"] == (today() - months_later(start, 1)).days
    later = world.caseworker.get("/followups/due", params={"region": REGION, "per_page": 200,
                                                          "before": (start + timedelta(days=200)).isoformat()}).json()
    assert {i["month"] for i in later["items"] if i["placement_id"] == pid} == {1, 3, 6}

    first = world.caseworker.post(f"/placements/{pid}/followups", json={"month": 1, "employed": True,
                                                                        "monthly_wage": 3900, "note": "适应良好"})
    assert first.status_code == 201
    again = world.caseworker.post(f"/placements/{pid}/followups", json={"month": 1, "employed": True})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_followup"
    too_soon = world.caseworker.post(f"/placements/{pid}/followups", json={"month": 12, "employed": True})
    assert too_soon.status_code == 422 and too_soon.json()["error"]["code"] == "followup_not_due"
    no_reason = world.caseworker.post(f"/placements/{pid}/followups", json={"month": 3, "employed": False})
    assert no_reason.status_code == 422 and "left_reason" in no_reason.json()["error"]["fields"]
    assert set(due_months()) == {3}

    left = world.caseworker.post(f"/placements/{pid}/followups",
                                 json={"month": 3, "employed": False, "left_reason": "quit_wage"})
    assert left.status_code == 201
    ended = world.caseworker.get(f"/placements/{pid}").json()
    assert (ended["status"], ended["end_reason"]) == ("ended", "quit_wage")
    assert [(f["month"], f["employed"]) for f in ended["followups"]] == [(1, True), (3, False)]
    assert due_months() == {}

    def outcome_events():
        kinds = {(e["event_type"], e["payload"].get("month"), e["payload"].get("employed"),
                  e["payload"].get("reason")) for e in events_of(stack, "jobbridge.placements", placement_id=pid)}
        wanted = {("FollowUpRecorded", 1, True, None), ("FollowUpRecorded", 3, False, None),
                  ("PlacementEnded", None, None, "quit_wage")}
        return wanted <= kinds

    eventually(outcome_events, timeout=20, what="both follow-ups and the end of the placement on the topic")
    eventually(lambda: world.intake.get(f"/workers/{worker}").json()["status"] == "active", timeout=20,
               what="intake makes the worker active again")


# --- export batches ----------------------------------------------------------------------------------------

def test_an_export_batch_with_arrival_check_ins_an_early_return_and_income(world, stack):
    coordinator = world.as_(token("coordinator"))
    employer = world.employer()
    willing = [world.worker(relocate=True) for _ in range(3)]
    staying = world.worker(relocate=False)
    departure = today() - timedelta(days=40)
    body = {"destination_region": DESTINATION, "employer_id": employer, "worker_ids": [*willing, staying],
            "departure_date": departure.isoformat()}
    refused = coordinator.post("/export-batches", json=body)
    assert refused.status_code == 422 and refused.json()["error"]["unwilling_worker_ids"] == [staying]
    assert staying in " ".join(refused.json()["error"]["fields"]["worker_ids"])
    ghost = str(uuid.uuid4())
    refused = coordinator.post("/export-batches", json={**body, "worker_ids": [willing[0], ghost]})
    assert refused.status_code == 422 and refused.json()["error"]["unknown_worker_ids"] == [ghost]

    created = coordinator.post("/export-batches", json={**body, "worker_ids": willing})
    assert created.status_code == 201, created.text
    batch = created.json()
    bid = batch["batch_id"]
    assert (batch["status"], batch["counts"]["workers"], sorted(batch["worker_ids"])) == ("departed", 3, sorted(willing))

    arrived_on = (departure + timedelta(days=2)).isoformat()
    early = coordinator.post(f"/export-batches/{bid}/arrival", json={"arrived_on": (departure - timedelta(days=1))
                                                                     .isoformat()})
    assert early.status_code == 422 and "arrived_on" in early.json()["error"]["fields"]
    arrival = coordinator.post(f"/export-batches/{bid}/arrival", json={"arrived_on": arrived_on})
    assert arrival.status_code == 200 and arrival.json()["status"] == "arrived"
    assert arrival.json()["counts"]["arrived"] == 3
    assert coordinator.post(f"/export-batches/{bid}/arrival", json={"arrived_on": arrived_on}).status_code == 409

    on = (departure + timedelta(days=10)).isoformat()
    checkin = coordinator.post(f"/export-batches/{bid}/checkins", json={"worker_id": willing[0], "on": on,
                                                                        "note": "宿舍条件好"})
    assert checkin.status_code == 201 and checkin.json()["checkins"] == [{"worker_id": willing[0], "on": on,
                                                                          "note": "宿舍条件好"}]
    assert coordinator.post(f"/export-batches/{bid}/checkins", json={"worker_id": willing[0], "on": on}).status_code == 409
    stranger = coordinator.post(f"/export-batches/{bid}/checkins", json={"worker_id": staying, "on": on})
    assert stranger.status_code == 422 and stranger.json()["error"]["code"] == "not_a_member"

    back_on = (departure + timedelta(days=20)).isoformat()
    before_arrival = coordinator.post(f"/export-batches/{bid}/returns", json={
        "worker_id": willing[1], "returned_on": departure.isoformat(), "reason": "health"})
    assert before_arrival.status_code == 422 and "returned_on" in before_arrival.json()["error"]["fields"]
    returned = coordinator.post(f"/export-batches/{bid}/returns", json={
        "worker_id": willing[1], "returned_on": back_on, "reason": "family"})
    assert returned.status_code == 201 and returned.json()["counts"]["returned_early"] == 1
    assert coordinator.post(f"/export-batches/{bid}/returns", json={
        "worker_id": willing[1], "returned_on": back_on, "reason": "family"}).status_code == 409

    period = f"{departure:%Y-%m}"
    assert coordinator.post(f"/export-batches/{bid}/income", json={"period": period, "amount": 15_600}).status_code == 201
    twice = coordinator.post(f"/export-batches/{bid}/income", json={"period": period, "amount": 15_600})
    assert twice.status_code == 409 and twice.json()["error"]["amount"] == 15_600
    corrected = coordinator.post(f"/export-batches/{bid}/income", json={"period": period, "amount": 16_100,
                                                                        "replace": True})
    assert corrected.status_code == 201 and corrected.json()["income"] == [{"period": period, "amount": 16_100}]
    future = f"{today() + timedelta(days=40):%Y-%m}"
    assert coordinator.post(f"/export-batches/{bid}/income", json={"period": future, "amount": 1}).status_code == 422
    before = f"{departure - timedelta(days=40):%Y-%m}"
    assert coordinator.post(f"/export-batches/{bid}/income", json={"period": before, "amount": 1}).status_code == 422

    got = coordinator.get(f"/export-batches/{bid}").json()
    assert got["income_total"] == 16_100
    assert {w["worker_id"]: w["returned_on"] for w in got["workers"]}[willing[1]] == back_on
    listed = coordinator.get("/export-batches", params={"destination_region": "4403", "status": "arrived",
                                                        "from": departure.isoformat(), "to": departure.isoformat()})
    assert bid in [b["batch_id"] for b in listed.json()["items"]]
    none = coordinator.get("/export-batches", params={"destination_region": "4403", "status": "returned",
                                                      "from": departure.isoformat(), "to": departure.isoformat()})
    assert bid not in [b["batch_id"] for b in none.json()["items"]]

    kinds = eventually(lambda: {(e["event_type"], e["payload"].get("change")) for e in
                                events_of(stack, "jobbridge.placements", batch_id=bid)} >= {
        ("ExportBatchCreated", None), ("ExportBatchUpdated", "arrival"), ("ExportBatchUpdated", "checkin"),
        ("ExportBatchUpdated", "return"), ("ExportIncomeRecorded", None)}, timeout=20, what="export events")
    assert kinds
    for role in (token("caseworker", regions=[REGION]), token("employer", employer_id=employer)):
        assert world.as_(role).get(f"/export-batches/{bid}").status_code == 403


# --- ordering between topics -------------------------------------------------------------------------------

def test_a_referral_before_placement_heard_of_the_worker_is_422_and_succeeds_once_the_event_arrives(world, stack):
    employer = world.employer()
    known = world.worker()
    vacancy = world.vacancy(employer, probe_worker=known)
    consumer = next(p for p in stack.procs if p.name.startswith("placement-worker"))
    stack.stop_proc(consumer)
    try:
        response = world.intake.post("/workers", json=worker_body(
            national_id=national_id(region=REGION, born=date(1988, 8, 8)), region_code=REGION))
        assert response.status_code == 201
        newcomer = response.json()["worker_id"]
        refused = world.caseworker.post("/referrals", json={"worker_id": newcomer, "vacancy_id": vacancy})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "unknown_worker"
        assert "try again" in refused.json()["error"]["message"]
        assert world.caseworker.get("/referrals", params={"worker_id": newcomer}).json()["total"] == 0
    finally:
        stack.start_worker("placement")
    accepted = eventually(lambda: world.caseworker.post("/referrals", json={"worker_id": newcomer,
                                                                            "vacancy_id": vacancy}).status_code == 201,
                          timeout=40, what="the referral accepted once the registration arrived")
    assert accepted
    assert world.caseworker.get("/referrals", params={"worker_id": newcomer}).json()["total"] == 1
