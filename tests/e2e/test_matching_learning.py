"""Matching learns from the outcomes placement reports: hires, rejections with reasons, retention.

The test environment retrains automatically after 50 new outcomes (JOBBRIDGE_RETRAIN_AFTER_OUTCOMES).
"""

from __future__ import annotations

from datetime import date

from support import Api, employer_body, eventually, token, vacancy_body, worker_body

REGION = "410926"  # 范县


def test_outcomes_from_placement_reach_matching_and_trigger_a_retrain(stack):
    admin = token("admin")
    intake = Api(stack.url("intake"), admin)
    placement = Api(stack.url("placement"), admin)
    matching = Api(stack.url("matching"), admin)
    before = matching.get("/model").json()
    employer = intake.post("/employers", json=employer_body(region_code=REGION)).json()["employer_id"]
    vacancies = [intake.post("/vacancies", json=vacancy_body(employer, region_code=REGION, headcount=20)).json()["vacancy_id"]
                 for _ in range(12)]
    # A bureau whose employers hire welders for welding posts and turn away the others for their skills.
    welders = [intake.post("/workers", json=worker_body(region_code=REGION, skills=["电焊"])).json()["worker_id"]
               for _ in range(18)]
    others = [intake.post("/workers", json=worker_body(region_code=REGION, skills=["保洁"], desired_occupations=["保洁员"]))
              .json()["worker_id"] for _ in range(40)]

    def refer(worker, vacancy):
        r = placement.post("/referrals", json={"worker_id": worker, "vacancy_id": vacancy, "note": "电焊岗位推荐"})
        return r.json()["referral_id"] if r.status_code == 201 else None

    outcomes = 0
    for i, worker in enumerate(welders + others):
        vacancy = vacancies[i % len(vacancies)]
        referral = eventually(lambda w=worker, v=vacancy: refer(w, v), what="placement knows the pair")
        assert placement.post(f"/referrals/{referral}/status", json={"status": "interviewing"}).status_code == 200
        if worker in welders:
            body = {"status": "hired", "start_date": date.today().isoformat(), "monthly_wage": 4500}
        else:
            body = {"status": "rejected", "reason": "skills_mismatch"}
        assert placement.post(f"/referrals/{referral}/status", json=body).status_code == 200
        outcomes += 1
    assert outcomes == 58

    def recorded():
        model = matching.get("/model").json()
        return model if model["outcomes_recorded"] >= before["outcomes_recorded"] + 58 else None

    eventually(recorded, timeout=30, what="outcomes recorded by matching")

    def retrained():
        model = matching.get("/model").json()
        learned = [h for h in model["history"] if h["version"] not in {x["version"] for x in before["history"]}]
        return learned or None

    learned = eventually(retrained, timeout=60, what="an automatic retrain after 50 new outcomes")
    assert learned[0]["training_rows"] >= 58
    assert learned[0]["metrics"], "a candidate model is judged on held-out outcomes"
    model = matching.get("/model").json()
    if model["kind"] == "learned":
        assert model["version"] == next(h["version"] for h in model["history"] if h["active"])
