"""Training end to end: a worker who passes a welding course through support's API has the certificate in intake
and a better match for a welding vacancy that requires it, within seconds; before that, matching names the course
that teaches what the vacancy misses. All services and the broker run as processes.

Everything here lives in 兰考县 (410225), so that other tests' records do not change what these tests see.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from support import Api, employer_body, eventually, national_id, token, vacancy_body, worker_body

REGION = "410225"
CERTIFICATE = "焊工证"


def today():
    return datetime.now(UTC).date()


def test_a_passed_welding_course_reaches_intake_and_raises_the_match(stack):
    intake = Api(stack.url("intake"), token("admin"))
    matching = Api(stack.url("matching"), token("admin"))
    caseworker = Api(stack.url("support"), token("caseworker", regions=[REGION], sub="e2e-support-cw"))

    employer_id = intake.post("/employers", json=employer_body(region_code=REGION)).json()["employer_id"]
    vacancy = intake.post("/vacancies", json=vacancy_body(employer_id, region_code=REGION, title="持证电焊工",
                                                          required_skills=["电焊"], required_certificates=[CERTIFICATE]))
    assert vacancy.status_code == 201, vacancy.text
    vacancy_id = vacancy.json()["vacancy_id"]
    worker = intake.post("/workers", json=worker_body(national_id=national_id(region=REGION), region_code=REGION,
                                                      skills=["电焊"], certificates=[]))
    assert worker.status_code == 201, worker.text
    worker_id = worker.json()["worker_id"]

    def item():
        response = matching.get(f"/workers/{worker_id}/matches", params={"region": REGION, "limit": 50})
        if response.status_code != 200:
            return None
        return next((i for i in response.json()["items"] if i["vacancy_id"] == vacancy_id), None)

    before = eventually(item, timeout=30, what="matching ranks the vacancy for the worker")
    assert CERTIFICATE in before["missing_skills"]
    assert any(r.get("certificate") == CERTIFICATE for r in before["raise_rank"]), before["raise_rank"]

    course = caseworker.post("/courses", json={
        "title": "焊工取证班", "skill": "电焊", "certificate": CERTIFICATE, "provider": "兰考县职业培训中心",
        "region_code": REGION, "starts_on": today().isoformat(), "ends_on": (today() + timedelta(days=30)).isoformat(),
        "capacity": 20})
    assert course.status_code == 201, course.text
    course_id = course.json()["course_id"]

    def named_course():
        current = item()
        for entry in (current or {}).get("raise_rank", []):
            if entry.get("certificate") == CERTIFICATE and (entry.get("course") or {}).get("course_id") == course_id:
                return entry["course"]
        return None

    named = eventually(named_course, timeout=20, what="raise_rank names the upcoming course")
    assert named["free_places"] == 20 and named["starts_on"] == today().isoformat()

    def enrol():
        response = caseworker.post(f"/courses/{course_id}/enrolments", json={"worker_id": worker_id})
        return response if response.status_code == 201 else None

    enrolment = eventually(enrol, timeout=20, what="support knows the worker").json()
    assert caseworker.post(f"/courses/{course_id}/enrolments", json={"worker_id": worker_id}).status_code == 409
    eventually(lambda: (named_course() or {}).get("free_places") == 19, timeout=20,
               what="matching counts the enrolment")

    done = caseworker.post(f"/enrolments/{enrolment['enrolment_id']}/completion",
                           json={"passed": True, "certificate_no": "LK-2026-001"})
    assert done.status_code == 200, done.text

    profile = eventually(lambda: (lambda w: w if CERTIFICATE in w.get("certificates", []) else None)(
        intake.get(f"/workers/{worker_id}").json()), timeout=20, what="intake adds the certificate")
    assert "电焊" in profile["skills"]
    after = eventually(lambda: (lambda i: i if i and CERTIFICATE not in i["missing_skills"] else None)(item()),
                       timeout=20, what="matching ranks with the certificate")
    assert after["score"] > before["score"], (before["score"], after["score"])
    assert after["rank"] <= before["rank"]
    audit = intake.get("/audit", params={"resource_id": worker_id}).json()
    assert any(a["action"] == "update" and a["actor"] == "system" and "training_completed" in (a.get("detail") or "")
               for a in audit), audit


def test_support_refuses_an_unknown_worker_and_a_course_that_ends_before_it_starts(stack):
    support = Api(stack.url("support"), token("admin"))
    bad = support.post("/courses", json={
        "title": "缝纫班", "skill": "缝纫", "certificate": "缝纫工证", "provider": "县职业培训中心",
        "region_code": REGION, "starts_on": "2026-05-01", "ends_on": "2026-04-01", "capacity": 10})
    assert bad.status_code == 422 and "ends_on" in bad.json()["error"]["fields"]
    loan = support.post("/loans", json={"worker_id": str(uuid.uuid4()), "amount": 1000, "purpose": "小餐馆",
                                        "guarantor_unit": "县总工会"})
    assert loan.status_code == 422 and loan.json()["error"]["code"] == "unknown_worker"


def test_erasing_a_worker_in_intake_reaches_supports_records(stack):
    intake = Api(stack.url("intake"), token("admin"))
    support = Api(stack.url("support"), token("admin"))
    worker_id = intake.post("/workers", json=worker_body(national_id=national_id(region=REGION), region_code=REGION)
                            ).json()["worker_id"]
    body = {"worker_id": worker_id, "amount": 12000, "purpose": "鞋店", "project": "在镇上开一家皮鞋店",
            "guarantor_unit": "县总工会"}

    def apply():
        response = support.post("/loans", json=body)
        return response.json() if response.status_code == 201 else None

    loan = eventually(apply, timeout=20, what="support knows the worker")
    assert loan["project"] == "在镇上开一家皮鞋店"
    assert intake.delete(f"/workers/{worker_id}").status_code == 204
    erased = eventually(lambda: (lambda x: x if x["project"] is None else None)(
        support.get(f"/loans/{loan['loan_id']}").json()), timeout=20, what="support clears the loan's texts")
    assert erased["purpose"] is None and erased["amount"] == 12000  # the figures keep the amount
    again = support.post("/loans", json=body)
    assert again.status_code == 422 and again.json()["error"]["fields"] == {"worker_id": ["worker erased"]}
