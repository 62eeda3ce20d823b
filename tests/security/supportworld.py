"""The support part of the security suite's world: courses, enrolments, loans and helper units inside and outside
the caseworker's reach (濮阳 vs Beijing), and pools for the cells that change or consume them.

Support hears of workers through intake's events: the first loan of each seeded worker waits until it has.
"""

from __future__ import annotations

from datetime import date, timedelta

from secworld import BEIJING, LOCAL, POOL, World
from support import eventually

COURSE_DAYS_BEFORE, COURSE_DAYS_AFTER = 10, 60


def _course(w: World, region: str, *, capacity: int = 200) -> str:
    body = {"title": "电焊培训班", "skill": "电焊", "certificate": "焊工证", "provider": "县职业培训中心",
            "region_code": region, "capacity": capacity,
            "starts_on": (date.today() - timedelta(days=COURSE_DAYS_BEFORE)).isoformat(),
            "ends_on": (date.today() + timedelta(days=COURSE_DAYS_AFTER)).isoformat()}
    response = w.api("support").post("/courses", json=body)
    assert response.status_code == 201, response.text
    return response.json()["course_id"]


def _enrol(w: World, course_id: str, worker_id: str) -> str:
    response = w.api("support").post(f"/courses/{course_id}/enrolments", json={"worker_id": worker_id})
    assert response.status_code == 201, response.text
    return response.json()["enrolment_id"]


def _loan(w: World, worker_id: str, *, wait: bool = False) -> str:
    api = w.api("support")
    body = {"worker_id": worker_id, "amount": 100_000, "purpose": "小餐馆", "guarantor_unit": "县总工会"}

    def apply():
        r = api.post("/loans", json=body)
        return r.json()["loan_id"] if r.status_code == 201 else None

    if wait:
        return eventually(apply, timeout=30, what=f"support knows worker {worker_id}")
    loan_id = apply()
    assert loan_id
    return loan_id


def _disbursed(w: World, worker_id: str) -> str:
    loan_id = _loan(w, worker_id)
    for status in ("examined", "approved", "disbursed"):
        assert w.api("support").post(f"/loans/{loan_id}/status", json={"status": status}).status_code == 200
    return loan_id


def _unit(w: World, region: str) -> str:
    response = w.api("support").post("/helper-units", json={"name": "县供电公司", "kind": "work_unit",
                                                            "region_code": region})
    assert response.status_code == 201, response.text
    return response.json()["unit_id"]


def seed_support(w: World) -> None:
    ids, local, beijing = w.ids, w.ids["w_local"], w.ids["w_bj"]
    ids["l_own"], ids["l_other"] = _loan(w, local, wait=True), _loan(w, beijing, wait=True)
    ids["c_own"], ids["c_other"] = _course(w, LOCAL), _course(w, BEIJING)
    ids["n_own"], ids["n_other"] = _enrol(w, ids["c_own"], local), _enrol(w, ids["c_own"], beijing)
    ids["lp_own"], ids["lp_other"] = _disbursed(w, local), _disbursed(w, beijing)
    ids["u_own"], ids["u_other"] = _unit(w, LOCAL), _unit(w, BEIJING)
    completing = [_course(w, LOCAL) for _ in range(POOL)]
    w.pools.update({
        # a course per enrolment cell (a worker enrols once per course)
        "enrol_course": {"own": [_course(w, LOCAL) for _ in range(POOL)],
                         "other": [_course(w, LOCAL) for _ in range(POOL)]},
        "complete": {"own": [_enrol(w, c, local) for c in completing],
                     "other": [_enrol(w, c, beijing) for c in completing]},
        "loan_status": {"own": [_loan(w, local) for _ in range(POOL)],
                        "other": [_loan(w, beijing) for _ in range(POOL)]},
        # a unit per pairing cell (a worker is paired once per unit)
        "pair_unit": {"own": [_unit(w, LOCAL) for _ in range(POOL)],
                      "other": [_unit(w, BEIJING) for _ in range(POOL)]},
    })
