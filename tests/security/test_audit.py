"""The audit log: every read of a worker's personal data and every change, in every service, with who, role,
what, when and from where; queryable by admin (GET /audit); never holding the personal values themselves."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from secworld import LOCAL, SERVICES, World
from support import employer_body, vacancy_body

from shared.db import make_engine

WRITES = ("POST", "PATCH", "DELETE", "PUT")


class Recorder:
    """Calls write routes by their template and remembers which ones succeeded, with the resource id."""

    def __init__(self, world: World):
        self.world = world
        self.done: dict[tuple[str, str, str], str | None] = {}

    def call(self, service: str, method: str, template: str, *, role: str = "admin", audit_id: str | None = None,
             expect: int, **kw):
        path = template.format(**kw.pop("ids", {}))
        response = self.world.api(service, role).request(method, path, **kw)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:300]}"
        self.done[(service, method, template)] = audit_id
        return response


def test_every_change_in_every_service_is_audited_with_who_what_when_and_where(world, routes):
    started = datetime.now(UTC) - timedelta(seconds=5)
    rec = Recorder(world)
    ids = world.ids
    # --- intake ---
    body = world.new_worker_body(LOCAL)
    worker = rec.call("intake", "POST", "/workers", json=body, expect=201).json()["worker_id"]
    rec.done[("intake", "POST", "/workers")] = worker
    rec.call("intake", "PATCH", "/workers/{worker_id}", ids={"worker_id": worker}, json={"skills": ["焊工"]},
             expect=200, audit_id=worker)
    sheet = "身份证号,姓名,手机号,区划代码,同意\n"
    extra = world.new_worker_body(LOCAL)
    sheet += f"{extra['national_id']},{extra['name']},{extra['phone']},{LOCAL},是\n"
    imported = rec.call("intake", "POST", "/workers/import", expect=200,
                        files={"file": ("w.csv", sheet.encode("utf-8-sig"), "text/csv")}).json()
    rec.done[("intake", "POST", "/workers/import")] = imported["rows"][0]["worker_id"]
    employer = rec.call("intake", "POST", "/employers", expect=201, json=employer_body())
    rec.done[("intake", "POST", "/employers")] = employer.json()["employer_id"]
    vacancy = rec.call("intake", "POST", "/vacancies", expect=201,
                       json=vacancy_body(ids["e1"], headcount=5)).json()["vacancy_id"]
    rec.done[("intake", "POST", "/vacancies")] = vacancy
    rec.call("intake", "PATCH", "/vacancies/{vacancy_id}", ids={"vacancy_id": vacancy}, json={"headcount": 6},
             expect=200, audit_id=vacancy)
    rec.call("intake", "POST", "/vacancies/{vacancy_id}/close", ids={"vacancy_id": vacancy}, json={}, expect=200,
             audit_id=vacancy)
    # --- matching ---
    rec.call("matching", "POST", "/model/retrain", expect=200)
    # --- placement ---
    fresh = world.new_worker(LOCAL)
    referral = world.referral(fresh, ids["v1"])  # waits until placement heard of the worker
    rec.done[("placement", "POST", "/referrals")] = referral
    rec.call("placement", "POST", "/referrals/{referral_id}/status", ids={"referral_id": referral},
             json={"status": "withdrawn", "reason": "worker_declined"}, expect=200, audit_id=referral)
    placed = rec.call("placement", "POST", "/placements", expect=201, json={
        "worker_id": fresh, "placement_type": "self_employment",
        "start_date": (date.today() - timedelta(days=40)).isoformat()}).json()["placement_id"]
    rec.done[("placement", "POST", "/placements")] = placed
    rec.call("placement", "POST", "/placements/{placement_id}/followups", ids={"placement_id": placed},
             json={"month": 1, "employed": True}, expect=201, audit_id=placed)
    batch = world.batch("coordinator", [ids["w_reloc"]], ids["e1"], ids["v1x"])
    rec.done[("placement", "POST", "/export-batches")] = batch
    on = (date.today() - timedelta(days=2)).isoformat()
    for template, payload in (
            ("/export-batches/{batch_id}/arrival", {"arrived_on": on}),
            ("/export-batches/{batch_id}/checkins", {"worker_id": ids["w_reloc"], "on": on}),
            ("/export-batches/{batch_id}/returns", {"worker_id": ids["w_reloc"], "returned_on": on,
                                                     "reason": "family"}),
            ("/export-batches/{batch_id}/income", {"period": date.today().strftime("%Y-%m"), "amount": 3000})):
        rec.call("placement", "POST", template, role="coordinator", ids={"batch_id": batch}, json=payload,
                 expect=201 if not template.endswith("arrival") else 200, audit_id=batch)
    # --- support ---
    today = date.today()
    course = rec.call("support", "POST", "/courses", expect=201, json={
        "title": "缝纫班", "skill": "缝纫", "certificate": "缝纫工证", "provider": "县职业培训中心", "region_code": LOCAL,
        "starts_on": (today - timedelta(days=3)).isoformat(), "ends_on": (today + timedelta(days=30)).isoformat(),
        "capacity": 5}).json()["course_id"]
    rec.done[("support", "POST", "/courses")] = course
    rec.call("support", "PATCH", "/courses/{course_id}", ids={"course_id": course}, json={"capacity": 6}, expect=200,
             audit_id=course)
    enrolment = rec.call("support", "POST", "/courses/{course_id}/enrolments", ids={"course_id": course},
                         json={"worker_id": ids["w_local"]}, expect=201).json()["enrolment_id"]
    rec.done[("support", "POST", "/courses/{course_id}/enrolments")] = enrolment
    for template, payload in (("/enrolments/{enrolment_id}/attendance", {"on": today.isoformat(), "present": True}),
                              ("/enrolments/{enrolment_id}/completion", {"passed": True})):
        rec.call("support", "POST", template, ids={"enrolment_id": enrolment}, json=payload, expect=200,
                 audit_id=enrolment)
    loan = rec.call("support", "POST", "/loans", expect=201, json={
        "worker_id": ids["w_local"], "amount": 9000, "purpose": "小餐馆", "guarantor_unit": "县总工会"}).json()["loan_id"]
    rec.done[("support", "POST", "/loans")] = loan
    for status in ("examined", "approved", "disbursed"):
        rec.call("support", "POST", "/loans/{loan_id}/status", ids={"loan_id": loan}, json={"status": status},
                 expect=200, audit_id=loan)
    rec.call("support", "POST", "/loans/{loan_id}/repayments", ids={"loan_id": loan},
             json={"amount": 500, "paid_on": today.isoformat()}, expect=201, audit_id=loan)
    # Disbursed today: its 6-month outcome is not due (422); the loan's other changes are in the log.
    rec.call("support", "POST", "/loans/{loan_id}/outcomes", ids={"loan_id": loan},
             json={"month": 6, "running": True, "out_of_poverty": True}, expect=422, audit_id=loan)
    unit = rec.call("support", "POST", "/helper-units", expect=201, json={
        "name": "县财政局", "kind": "work_unit", "region_code": LOCAL}).json()["unit_id"]
    rec.done[("support", "POST", "/helper-units")] = unit
    rec.call("support", "POST", "/helper-units/{unit_id}/pairings", ids={"unit_id": unit},
             json={"worker_id": ids["w_local"]}, expect=201, audit_id=unit)
    rec.call("support", "POST", "/helper-units/{unit_id}/targets", ids={"unit_id": unit},
             json={"year": today.year, "metric": "assisted", "target": 1}, expect=200, audit_id=unit)
    helped = rec.call("support", "POST", "/assistance", expect=201, json={
        "worker_id": ids["w_local"], "kind": "financial", "amount": 600, "helper_unit": unit}).json()["assistance_id"]
    rec.done[("support", "POST", "/assistance")] = helped
    rec.call("intake", "DELETE", "/workers/{worker_id}", ids={"worker_id": worker}, expect=204, audit_id=worker)

    writes = {r.key for r in routes if r.method in WRITES}
    assert writes == set(rec.done), f"write routes this test does not exercise: {sorted(writes - set(rec.done))}"

    for (service, method, template), resource_id in rec.done.items():
        params = {"resource_id": resource_id} if resource_id else {"resource": "model"}
        entries = world.api(service).get("/audit", params={**params, "limit": 1000}).json()
        recent = [e for e in entries if datetime.fromisoformat(e["at"]) >= started]
        assert recent, f"{service} {method} {template}: no audit entry for {resource_id}"
        for entry in recent:
            assert entry["actor"] in ("sec-admin", "sec-coordinator", "sec-coordinator-2", "system"), entry
            assert entry["role"] in ("admin", "coordinator", "system") and entry["action"], entry
            assert entry["remote_addr"] in ("127.0.0.1", None) or entry["actor"] == "system", entry
    erase = world.api("intake").get("/audit", params={"resource_id": worker, "action": "erase"}).json()
    assert [(e["actor"], e["role"], e["remote_addr"]) for e in erase] == [("sec-admin", "admin", "127.0.0.1")]
    retrain = world.api("matching").get("/audit", params={"action": "retrain", "limit": 1}).json()
    assert retrain and retrain[0]["actor"] == "sec-admin" and retrain[0]["detail"].startswith("trigger=request")


def test_every_read_of_full_personal_data_is_audited_once_per_worker_shown(world):
    ids = world.ids
    before = world.api("intake").get("/audit", params={"resource_id": ids["w_local"], "action": "read_pii",
                                                       "limit": 1000}).json()
    # one read of the record, one list showing it in full; a coordinator's masked view is no read of personal data
    assert world.api("intake", "caseworker").get(f"/workers/{ids['w_local']}").json()["pii_masked"] is False
    listed = world.api("intake", "caseworker").get("/workers", params={"region": "410923", "per_page": 200}).json()
    assert ids["w_local"] in {i["worker_id"] for i in listed["items"]}
    world.api("intake", "coordinator").get(f"/workers/{ids['w_reloc']}")
    world.api("intake", "coordinator").get("/workers", params={"per_page": 200})
    after = world.api("intake").get("/audit", params={"resource_id": ids["w_local"], "action": "read_pii",
                                                      "limit": 1000}).json()
    new = [e for e in after if e["id"] not in {b["id"] for b in before}]
    assert sorted((e["actor"], e["role"], e["detail"] or "") for e in new) == [
        ("sec-caseworker", "caseworker", ""), ("sec-caseworker", "caseworker", "list")]
    assert all(e["remote_addr"] == "127.0.0.1" and e["at"] for e in new)
    shown_in_full = [i["worker_id"] for i in listed["items"] if not i["pii_masked"]]
    batch_rows = world.api("intake").get("/audit", params={"actor": "sec-caseworker", "action": "read_pii",
                                                           "limit": 1000}).json()
    assert set(shown_in_full) <= {e["resource_id"] for e in batch_rows}
    coordinator_reads = world.api("intake").get("/audit", params={"actor": "sec-coordinator", "action": "read_pii"})
    assert coordinator_reads.json() == []


def test_the_audit_log_is_paged_and_filtered(world):
    api = world.api("intake")
    first = api.get("/audit", params={"limit": 3}).json()
    assert len(first) == 3 and first[0]["id"] > first[1]["id"] > first[2]["id"]
    older = api.get("/audit", params={"limit": 3, "before_id": first[-1]["id"]}).json()
    assert older and all(e["id"] < first[-1]["id"] for e in older)


def test_no_audit_table_holds_a_personal_value(world, stack):
    # Make sure the audit tables have seen this world's workers: reads, a list, an update.
    api = world.api("intake", "caseworker")
    api.get(f"/workers/{world.ids['w_local']}")
    api.patch(f"/workers/{world.ids['w_local']}", json={"phone": sorted(world.phones)[0]})
    values = world.names | world.phones | world.national_ids
    for service in SERVICES:
        engine = make_engine(stack.env[f"{service.upper()}_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT * FROM audit_log")).all()
        finally:
            engine.dispose()
        assert rows, f"{service} has no audit entries"
        dump = io.StringIO()
        csv.writer(dump).writerows(rows)
        text = dump.getvalue()
        found = sorted(v for v in values if v in text)
        assert not found, f"{service}.audit_log holds personal values: {found[:5]}"
    # and what admins read through the API
    for service in SERVICES:
        raw = world.api(service).get("/audit", params={"limit": 1000}).text
        assert not [v for v in values if v in raw]
