"""The authorization matrix: every route of the three services x every role x {own, other, missing} object.

The expected status of each cell is written once, in access_matrix.csv; this module knows only how to build the
request of a cell (which id or body stands for "own", "other" and "missing" for that role) and sends it to the
running services. A route without rows, or rows without a route, fails `test_the_matrix_covers_every_route`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from secworld import (
    BEIJING,
    CELLS,
    CROSS_REGION_AT,
    LOCAL,
    ROLES,
    World,
    missing_id,
)
from support import employer_body, vacancy_body

MATRIX = Path(__file__).with_name("access_matrix.csv")


def read_matrix() -> dict[tuple[str, str, str, str], dict[str, int]]:
    lines = [line for line in MATRIX.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    table = {}
    for row in csv.DictReader(lines):
        key = (row["service"], row["method"], row["path"], row["role"])
        assert key not in table, f"{key} is in the matrix twice"
        table[key] = {cell: int(row[cell]) for cell in CELLS}
    return table


TABLE = read_matrix()


# --- what "own", "other" and "missing" mean for each kind of object and role ---------------------------------

def worker(w: World, role: str, cell: str) -> str:
    if cell == "missing":
        return missing_id()
    if role == "coordinator":  # a coordinator's reach: workers willing to relocate
        return w.ids["w_reloc"] if cell == "own" else w.ids["w_local"]
    return w.ids["w_local"] if cell == "own" else w.ids["w_bj"]


def vacancy(w: World, role: str, cell: str) -> str:
    if cell == "missing":
        return missing_id()
    if role == "coordinator":  # cross-region vacancies anywhere
        return w.ids["v1x"] if cell == "own" else w.ids["v1"]
    return w.ids["v1"] if cell == "own" else w.ids["v2"]


def employer(w: World, cell: str) -> str:
    return {"own": w.ids["e1"], "other": w.ids["e2"], "missing": missing_id()}[cell]


def fixed(w: World, name: str, cell: str) -> str:
    return missing_id() if cell == "missing" else w.ids[f"{name}_{cell}"]


def fresh(w: World, pool: str, cell: str) -> str:
    return missing_id() if cell == "missing" else w.pop(pool, cell)


def member(w: World, batch_id: str) -> str:
    """The worker a batch of this world sends (any relocating worker for a batch that does not exist)."""
    return w.members.get(batch_id, w.ids["w_reloc"])


def region_filter(cell: str) -> str:
    # "missing" for a list: a filter inside every reach that matches nothing (410999 is no county of 濮阳).
    return {"own": "4109", "other": "1101", "missing": "410999"}[cell]


def import_file(w: World, cell: str) -> dict:
    region = {"own": LOCAL, "other": BEIJING, "missing": "419999"}[cell]
    body = w.new_worker_body(region)
    header = "身份证号,姓名,手机号,区划代码,技能,同意\n"
    row = f"{body['national_id']},{body['name']},{body['phone']},{region},电焊,是\n"
    return {"files": {"file": ("workers.csv", (header + row).encode("utf-8-sig"), "text/csv")}}


def today(days: int = 0) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


Build = Callable[[World, str, str], dict]

BUILDERS: dict[tuple[str, str, str], Build] = {
    # --- intake ---
    ("intake", "POST", "/workers"): lambda w, role, cell: {"json": w.new_worker_body(
        {"own": LOCAL, "other": BEIJING, "missing": "419999"}[cell])},
    ("intake", "POST", "/workers/import"): lambda w, role, cell: import_file(w, cell),
    ("intake", "GET", "/workers"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("intake", "GET", "/workers/{worker_id}"): lambda w, role, cell: {"path": f"/workers/{worker(w, role, cell)}"},
    ("intake", "PATCH", "/workers/{worker_id}"): lambda w, role, cell: {
        "path": f"/workers/{worker(w, role, cell)}", "json": {"experience_years": 6}},
    ("intake", "DELETE", "/workers/{worker_id}"): lambda w, role, cell: {"path": f"/workers/{fresh(w, 'erase', cell)}"},
    ("intake", "POST", "/employers"): lambda w, role, cell: {"json": employer_body(
        region_code={"own": LOCAL, "other": BEIJING, "missing": "119999"}[cell])},
    ("intake", "GET", "/employers/{employer_id}"): lambda w, role, cell: {"path": f"/employers/{employer(w, cell)}"},
    ("intake", "POST", "/vacancies"): lambda w, role, cell: {"json": vacancy_body(
        employer(w, cell), region_code=BEIJING if cell == "other" else LOCAL)},
    ("intake", "GET", "/vacancies"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("intake", "GET", "/vacancies/{vacancy_id}"): lambda w, role, cell: {"path": f"/vacancies/{vacancy(w, role, cell)}"},
    ("intake", "PATCH", "/vacancies/{vacancy_id}"): lambda w, role, cell: {
        "path": f"/vacancies/{vacancy(w, role, cell)}", "json": {"headcount": 10}},
    ("intake", "POST", "/vacancies/{vacancy_id}/close"): lambda w, role, cell: {
        "path": f"/vacancies/{fresh(w, 'close', cell)}/close", "json": {"reason": "cancelled"}},
    ("intake", "GET", "/audit"): lambda w, role, cell: {"params": {"resource_id": worker(w, "admin", cell)}},
    # --- matching ---
    ("matching", "GET", "/workers/{worker_id}/matches"): lambda w, role, cell: {
        "path": f"/workers/{worker(w, role, cell)}/matches"},
    ("matching", "GET", "/vacancies/{vacancy_id}/matches"): lambda w, role, cell: {
        "path": f"/vacancies/{vacancy(w, role, cell)}/matches"},
    ("matching", "GET", "/model"): lambda w, role, cell: {},
    ("matching", "POST", "/model/retrain"): lambda w, role, cell: {},
    ("matching", "GET", "/audit"): lambda w, role, cell: {"params": {"resource": "model"}},
    # --- placement ---
    ("placement", "POST", "/referrals"): lambda w, role, cell: {"json": {
        "worker_id": fresh(w, "refer", cell), "vacancy_id": w.ids["v1"] if cell == "own" else w.ids["v2"]}},
    ("placement", "GET", "/referrals"): lambda w, role, cell: {"params": {
        "vacancy_id": {"own": w.ids["v1"], "other": w.ids["v2"], "missing": missing_id()}[cell]}},
    ("placement", "GET", "/referrals/{referral_id}"): lambda w, role, cell: {
        "path": f"/referrals/{fixed(w, 'r', cell)}"},
    ("placement", "POST", "/referrals/{referral_id}/status"): lambda w, role, cell: {
        "path": f"/referrals/{fresh(w, 'status', cell)}/status", "json": {"status": "interviewing"}},
    ("placement", "POST", "/placements"): lambda w, role, cell: {"json": {
        # A start of its own per role: a second active placement starting the same day is a duplicate (409).
        "worker_id": worker(w, "admin", cell), "placement_type": "self_employment",
        "start_date": today(10 + ROLES.index(role))}},
    ("placement", "GET", "/placements"): lambda w, role, cell: {"params": {"worker_id": worker(w, "admin", cell)}},
    ("placement", "GET", "/placements/{placement_id}"): lambda w, role, cell: {
        "path": f"/placements/{fixed(w, 'p', cell)}"},
    ("placement", "POST", "/placements/{placement_id}/followups"): lambda w, role, cell: {
        "path": f"/placements/{fresh(w, 'followup', cell)}/followups", "json": {"month": 1, "employed": True}},
    ("placement", "GET", "/followups/due"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("placement", "POST", "/export-batches"): lambda w, role, cell: {"json": {
        "destination_region": CROSS_REGION_AT, "employer_id": w.ids["e1"], "departure_date": today(1),
        "worker_ids": [fresh(w, "departing", cell)]}},
    ("placement", "GET", "/export-batches"): lambda w, role, cell: {"params": {"employer_id": employer(w, cell)}},
    ("placement", "GET", "/export-batches/{batch_id}"): lambda w, role, cell: {
        "path": f"/export-batches/{fixed(w, 'b', cell)}"},
    ("placement", "POST", "/export-batches/{batch_id}/arrival"): lambda w, role, cell: {
        "path": f"/export-batches/{fresh(w, 'arrival', cell)}/arrival", "json": {"arrived_on": today(1)}},
    ("placement", "POST", "/export-batches/{batch_id}/checkins"): lambda w, role, cell: (lambda b: {
        "path": f"/export-batches/{b}/checkins",
        "json": {"worker_id": member(w, b), "on": w.next_day().isoformat()}})(fixed(w, "b", cell)),
    ("placement", "POST", "/export-batches/{batch_id}/returns"): lambda w, role, cell: (lambda b: {
        "path": f"/export-batches/{b}/returns",
        "json": {"worker_id": member(w, b), "returned_on": today(), "reason": "family"}})(fresh(w, "return", cell)),
    ("placement", "POST", "/export-batches/{batch_id}/income"): lambda w, role, cell: {
        "path": f"/export-batches/{fixed(w, 'b', cell)}/income",
        "json": {"period": date.today().strftime("%Y-%m"), "amount": 4200, "replace": True}},
    ("placement", "GET", "/reports/summary"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("placement", "GET", "/audit"): lambda w, role, cell: {"params": {"resource_id": fixed(w, "r", cell)}},
    # --- support (tests/security/supportworld.py seeds its objects) ---
    ("support", "POST", "/courses"): lambda w, role, cell: {"json": {
        "title": "电焊培训班", "skill": "电焊", "certificate": "焊工证", "provider": "县职业培训中心",
        "region_code": {"own": LOCAL, "other": BEIJING, "missing": "419999"}[cell], "capacity": 10,
        "starts_on": today(-5), "ends_on": today(-40)}},
    ("support", "GET", "/courses"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("support", "GET", "/courses/{course_id}"): lambda w, role, cell: {"path": f"/courses/{fixed(w, 'c', cell)}"},
    ("support", "PATCH", "/courses/{course_id}"): lambda w, role, cell: {
        "path": f"/courses/{fixed(w, 'c', cell)}", "json": {"provider": "市职业培训中心"}},
    ("support", "POST", "/courses/{course_id}/enrolments"): lambda w, role, cell: {
        "path": f"/courses/{fresh(w, 'enrol_course', cell)}/enrolments",
        "json": {"worker_id": w.ids["w_local"] if cell == "own" else w.ids["w_bj"]}},
    ("support", "GET", "/courses/{course_id}/enrolments"): lambda w, role, cell: {
        "path": f"/courses/{fixed(w, 'c', cell)}/enrolments"},
    ("support", "GET", "/enrolments/{enrolment_id}"): lambda w, role, cell: {
        "path": f"/enrolments/{fixed(w, 'n', cell)}"},
    ("support", "POST", "/enrolments/{enrolment_id}/attendance"): lambda w, role, cell: {
        "path": f"/enrolments/{fixed(w, 'n', cell)}/attendance", "json": {"on": today(), "present": True}},
    ("support", "POST", "/enrolments/{enrolment_id}/completion"): lambda w, role, cell: {
        "path": f"/enrolments/{fresh(w, 'complete', cell)}/completion", "json": {"passed": True}},
    ("support", "POST", "/loans"): lambda w, role, cell: {"json": {
        "worker_id": worker(w, "admin", cell), "amount": 8000, "purpose": "家庭养殖", "guarantor_unit": "县总工会"}},
    ("support", "GET", "/loans"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("support", "GET", "/loans/{loan_id}"): lambda w, role, cell: {"path": f"/loans/{fixed(w, 'l', cell)}"},
    ("support", "POST", "/loans/{loan_id}/status"): lambda w, role, cell: {
        "path": f"/loans/{fresh(w, 'loan_status', cell)}/status", "json": {"status": "examined"}},
    ("support", "POST", "/loans/{loan_id}/repayments"): lambda w, role, cell: {
        "path": f"/loans/{fixed(w, 'lp', cell)}/repayments", "json": {"amount": 1, "paid_on": today()}},
    ("support", "POST", "/loans/{loan_id}/outcomes"): lambda w, role, cell: {
        "path": f"/loans/{fixed(w, 'lp', cell)}/outcomes", "json": {"month": 6, "running": True, "out_of_poverty": True}},
    ("support", "POST", "/helper-units"): lambda w, role, cell: {"json": {
        "name": "县一中", "kind": "work_unit", "region_code": {"own": LOCAL, "other": BEIJING, "missing": "419999"}[cell]}},
    ("support", "GET", "/helper-units"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("support", "GET", "/helper-units/{unit_id}"): lambda w, role, cell: {"path": f"/helper-units/{fixed(w, 'u', cell)}"},
    ("support", "POST", "/helper-units/{unit_id}/pairings"): lambda w, role, cell: {
        "path": f"/helper-units/{fresh(w, 'pair_unit', cell)}/pairings", "json": {"worker_id": w.ids["w_local"]}},
    ("support", "POST", "/helper-units/{unit_id}/targets"): lambda w, role, cell: {
        "path": f"/helper-units/{fixed(w, 'u', cell)}/targets",
        "json": {"year": date.today().year, "metric": "reemployed", "target": 3}},
    ("support", "POST", "/assistance"): lambda w, role, cell: {"json": {
        "worker_id": worker(w, "admin", cell), "kind": "policy", "helper_unit": w.ids["u_own"]}},
    ("support", "GET", "/assistance"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("support", "GET", "/reports/support"): lambda w, role, cell: {"params": {"region": region_filter(cell)}},
    ("support", "GET", "/audit"): lambda w, role, cell: {"params": {"resource_id": fixed(w, "l", cell)}},
}


def test_the_matrix_covers_every_route(routes):
    """Every route x role has a row, and every row names a route that exists."""
    served = {(r.service, r.method, r.path, role) for r in routes for role in ROLES}
    written = set(TABLE)
    assert not served - written, f"routes without a row in {MATRIX.name}: {sorted(served - written)}"
    assert not written - served, f"rows for routes that do not exist: {sorted(written - served)}"
    built = {r.key for r in routes}
    assert not built - set(BUILDERS), f"routes the matrix cannot build a request for: {sorted(built - set(BUILDERS))}"


def _cells():
    for (service, method, path, role), expected in sorted(TABLE.items()):
        for cell in CELLS:
            yield pytest.param(service, method, path, role, cell, expected[cell],
                               id=f"{service} {method} {path} {role} {cell}")


@pytest.mark.parametrize(("service", "method", "path", "role", "cell", "expected"), list(_cells()))
def test_cell(world, service, method, path, role, cell, expected):
    request = BUILDERS[(service, method, path)](world, role, cell)
    url = request.pop("path", path)
    response = world.api(service, role).request(method, url, **request)
    assert response.status_code == expected, (
        f"{role} {method} {url} ({cell}): expected {expected}, got {response.status_code}: {response.text[:300]}")
    if expected >= 400:
        assert set(response.json()) == {"error"}, response.text


# --- lists are narrowed to the caller's reach ------------------------------------------------------------------

def _ids(response, key: str) -> set[str]:
    assert response.status_code == 200, response.text
    return {item[key] for item in response.json()["items"]}


def test_lists_show_only_what_the_caller_may_reach(world):
    ids = world.ids
    big = {"per_page": 200}
    # intake: workers
    everyone = {ids["w_local"], ids["w_reloc"], ids["w_bj"]}
    seen = {role: _ids(world.api("intake", role).get("/workers", params=big), "worker_id") & everyone
            for role in ("admin", "caseworker", "coordinator")}
    assert seen["admin"] == everyone
    assert seen["caseworker"] == {ids["w_local"], ids["w_reloc"]}
    assert seen["coordinator"] == {ids["w_reloc"]}
    # intake: vacancies
    mine = {ids["v1"], ids["v1x"], ids["v2"]}
    seen = {role: _ids(world.api("intake", role).get("/vacancies", params=big), "vacancy_id") & mine
            for role in ROLES}
    assert seen["admin"] == seen["caseworker"] == mine
    assert seen["coordinator"] == {ids["v1x"]}
    assert seen["employer"] == {ids["v1"], ids["v1x"]}
    # placement: referrals and placements
    both = {ids["r_own"], ids["r_other"]}
    seen = {role: _ids(world.api("placement", role).get("/referrals", params=big), "referral_id") & both
            for role in ("admin", "caseworker", "employer")}
    assert seen == {"admin": both, "caseworker": {ids["r_own"]}, "employer": {ids["r_own"]}}
    both = {ids["p_own"], ids["p_other"]}
    seen = {role: _ids(world.api("placement", role).get("/placements", params=big), "placement_id") & both
            for role in ("admin", "caseworker")}
    assert seen == {"admin": both, "caseworker": {ids["p_own"]}}
    due = world.api("placement", "caseworker").get("/followups/due", params={**big, "before": today(-400)})
    assert {i["placement_id"] for i in due.json()["items"]} & both == {ids["p_own"]}
    # matching: a vacancy's ranked workers
    ranked = {role: _ids(world.api("matching", role).get(f"/vacancies/{ids['v1x']}/matches",
                                                          params={"limit": 100}), "worker_id")
              for role in ("admin", "coordinator")}
    assert ids["w_reloc"] in ranked["coordinator"]
    assert ranked["coordinator"] <= ranked["admin"]


def test_a_vacancys_match_list_is_narrowed_to_the_callers_workers(world):
    """Matching narrows a vacancy's ranked workers: a caseworker sees the workers of its regions, a coordinator
    those willing to relocate; admins see every eligible one. E1's cross-region vacancy in Shenzhen ranks a
    welder of 濮阳 willing to move, one of Beijing willing to move, and one of Shenzhen who stays."""
    from secworld import CROSS_REGION_AT, RELOCATING
    from support import eventually

    local = world.new_worker(RELOCATING, willing_to_relocate=True, target_regions=[CROSS_REGION_AT])
    beijing = world.new_worker(BEIJING, willing_to_relocate=True, target_regions=[CROSS_REGION_AT])
    shenzhen = world.new_worker("440304")
    fresh = {local, beijing, shenzhen}
    url = f"/vacancies/{world.ids['v1x']}/matches"
    admin = world.api("matching")
    eventually(lambda: fresh <= _ids(admin.get(url, params={"limit": 100}), "worker_id"), timeout=30,
               what="matching ranks the three workers for the cross-region vacancy")
    caseworker = _ids(world.api("matching", "caseworker").get(url, params={"limit": 100}), "worker_id")
    coordinator = _ids(world.api("matching", "coordinator").get(url, params={"limit": 100}), "worker_id")
    assert caseworker & fresh == {local}
    assert coordinator & fresh == {local, beijing}
    ranks = [i["rank"] for i in world.api("matching", "caseworker").get(url).json()["items"]]
    assert ranks == list(range(1, len(ranks) + 1))
