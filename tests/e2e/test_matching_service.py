"""The matching service as a caseworker, an employer and a coordinator meet it, over HTTP, fed by real events."""

from __future__ import annotations

from datetime import date

from support import Api, employer_body, eventually, token, unique_national_id, vacancy_body, worker_body

REGION = "410922"  # 清丰县: this module's own county, so other tests' data do not crowd its lists


def _ids(response, key):
    return [item[key] for item in response.json()["items"]] if response.status_code == 200 else []


def setup_pair(stack, **worker_overrides):
    admin = token("admin")
    intake = Api(stack.url("intake"), admin)
    employer = intake.post("/employers", json=employer_body(region_code=REGION)).json()["employer_id"]
    vacancy = intake.post("/vacancies", json=vacancy_body(employer, region_code=REGION)).json()["vacancy_id"]
    worker = intake.post("/workers", json=worker_body(region_code=REGION, **worker_overrides)).json()["worker_id"]
    matching = Api(stack.url("matching"), admin)
    eventually(lambda: vacancy in _ids(matching.get(f"/workers/{worker}/matches"), "vacancy_id"),
               what="pair ranked")
    return intake, matching, employer, vacancy, worker


def test_an_erased_worker_leaves_every_match_list(stack):
    intake, matching, _, vacancy, worker = setup_pair(stack)
    assert worker in _ids(matching.get(f"/vacancies/{vacancy}/matches", params={"limit": 100}), "worker_id")
    assert intake.delete(f"/workers/{worker}").status_code == 204
    eventually(lambda: matching.get(f"/workers/{worker}/matches").status_code == 404, what="worker gone")
    assert worker not in _ids(matching.get(f"/vacancies/{vacancy}/matches", params={"limit": 100}), "worker_id")


def test_a_closed_vacancy_is_no_longer_proposed(stack):
    intake, matching, _, vacancy, worker = setup_pair(stack)
    assert intake.post(f"/vacancies/{vacancy}/close", json={"reason": "cancelled"}).status_code == 200
    eventually(lambda: vacancy not in _ids(matching.get(f"/workers/{worker}/matches"), "vacancy_id"),
               what="closed vacancy gone")
    assert matching.get(f"/vacancies/{vacancy}/matches").json()["items"] == []


def test_a_changed_worker_is_ranked_by_the_new_skills(stack):
    intake, matching, employer, welding, worker = setup_pair(stack)
    sewing = intake.post("/vacancies", json=vacancy_body(employer, region_code=REGION, title="缝纫工",
                                                         occupation="缝纫工", required_skills=["缝纫"])).json()["vacancy_id"]
    intake.patch(f"/workers/{worker}", json={"skills": ["缝纫", "服装缝制"], "desired_occupations": ["缝纫工"]})

    def sewing_first():
        ids = _ids(matching.get(f"/workers/{worker}/matches", params={"limit": 100}), "vacancy_id")
        return sewing in ids and welding in ids and ids.index(sewing) < ids.index(welding)

    eventually(sewing_first, what="sewing ranked above welding after the update")


def test_the_policy_boost_shows_as_its_own_line_and_only_for_priority_workers(stack):
    older_woman = unique_national_id(born=date(date.today().year - 45, 1, 1), female=True)
    young_man = unique_national_id(born=date(date.today().year - 30, 1, 1), female=False)
    intake, matching, _, vacancy, w4050 = setup_pair(stack, national_id=older_woman, hardship=[])
    other = intake.post("/workers", json=worker_body(region_code=REGION, national_id=young_man, hardship=[])).json()

    def items():
        r = matching.get(f"/vacancies/{vacancy}/matches", params={"limit": 100})
        got = {i["worker_id"]: i for i in r.json()["items"]}
        return got if w4050 in got and other["worker_id"] in got else None

    got = eventually(items, what="both workers ranked")
    assert got[w4050]["explanation"]["policy_boost"] > 0
    assert got[other["worker_id"]]["explanation"]["policy_boost"] == 0
    # Same skills and region: the model part is equal, only the boost differs.
    model_part = {k: v for k, v in got[w4050]["explanation"].items() if k != "policy_boost"}
    assert model_part == {k: v for k, v in got[other["worker_id"]]["explanation"].items() if k != "policy_boost"}


def test_roles_see_only_the_lists_they_may(stack):
    intake, matching, employer, vacancy, worker = setup_pair(stack)
    other_employer = intake.post("/employers", json=employer_body(region_code=REGION)).json()["employer_id"]
    own = matching.as_(token("employer", employer_id=employer))
    assert own.get(f"/vacancies/{vacancy}/matches").status_code == 200
    assert matching.as_(token("employer", employer_id=other_employer)).get(f"/vacancies/{vacancy}/matches").status_code == 404
    assert own.get(f"/workers/{worker}/matches").status_code == 403
    assert matching.as_(token("caseworker", regions=["4109"])).get(f"/workers/{worker}/matches").status_code == 200
    assert matching.as_(token("caseworker", regions=["4101"])).get(f"/workers/{worker}/matches").status_code == 404
    # This worker is not willing to relocate: a coordinator may not look.
    assert matching.as_(token("coordinator")).get(f"/workers/{worker}/matches").status_code == 404
    assert matching.get("/workers/00000000-0000-0000-0000-000000000000/matches").status_code == 404


def test_the_model_is_described_and_only_an_admin_may_retrain_it(stack):
    matching = Api(stack.url("matching"), token("admin"))
    model = matching.get("/model").json()
    assert model["version"] and "training_rows" in model and "metrics" in model
    assert matching.as_(token("caseworker", regions=["4109"])).post("/model/retrain").status_code == 403
    result = matching.post("/model/retrain")
    assert result.status_code == 200
    assert "promoted" in result.json() and result.json()["reason"]


def test_bad_query_parameters_are_named(stack):
    matching = Api(stack.url("matching"), token("admin"))
    r = matching.get("/workers/00000000-0000-0000-0000-000000000000/matches",
                     params={"limit": 0, "vacancy_type": "secret"})
    assert r.status_code == 422
    assert set(r.json()["error"]["fields"]) == {"limit", "vacancy_type"}
