"""Matching learns from the outcomes placement reports: hires, rejections with reasons, retention.

The test environment retrains automatically after 50 new outcomes (JOBBRIDGE_RETRAIN_AFTER_OUTCOMES).
"""

from __future__ import annotations

from datetime import date

from support import Api, employer_body, eventually, token, vacancy_body, worker_body

from services.matching.domain.ranker import Outcome, split_by_group

REGION = "410526"  # 滑县, 安阳市: a prefecture no other test uses, so their workers do not crowd the probe's top 100


def test_outcomes_from_placement_reach_matching_and_trigger_a_retrain(stack):
    admin = token("admin")
    intake = Api(stack.url("intake"), admin)
    placement = Api(stack.url("placement"), admin)
    matching = Api(stack.url("matching"), admin)
    before = matching.get("/model").json()
    employer = intake.post("/employers", json=employer_body(region_code=REGION)).json()["employer_id"]

    def new_vacancy() -> str:
        return intake.post("/vacancies", json=vacancy_body(employer, region_code=REGION, headcount=20)).json()[
            "vacancy_id"]

    # The promotion rule judges a candidate on the held-out vacancies (a stable hash of the id): make sure
    # both the training and the held-out side have vacancies, so the retrain can be judged at all.
    vacancies: list[str] = []
    while len(vacancies) < 40:
        vacancies.append(new_vacancy())
        train_part, held = split_by_group([Outcome(features=[0.0] * 7, label="hired", group=v) for v in vacancies])
        if len(vacancies) >= 12 and len(held) >= 3 and len(train_part) >= 6:
            break
    assert len(held) >= 3, "no held-out vacancies: the split cannot judge a candidate"
    # A bureau whose employers hire welders for welding posts and turn away the others for their skills.
    welders = [intake.post("/workers", json=worker_body(region_code=REGION, skills=["电焊"])).json()["worker_id"]
               for _ in range(2 * len(vacancies))]
    others = [intake.post("/workers", json=worker_body(region_code=REGION, skills=["保洁"], desired_occupations=["保洁员"]))
              .json()["worker_id"] for _ in range(3 * len(vacancies))]
    # Workers never referred (hired workers leave the lists): the ones whose ranking is compared.
    fresh_welders = [intake.post("/workers", json=worker_body(region_code=REGION, skills=["电焊"])).json()["worker_id"]
                     for _ in range(3)]
    fresh_others = [intake.post("/workers", json=worker_body(region_code=REGION, skills=["保洁"],
                                                              desired_occupations=["保洁员"])).json()["worker_id"]
                    for _ in range(3)]
    fresh = fresh_welders + fresh_others
    probe = vacancies[0]
    def probe_scores():
        """Each fresh worker's score for the probe, from the worker's own list (a vacancy's top 100 is crowded)."""
        out, versions = {}, set()
        for w in fresh:
            r = matching.get(f"/workers/{w}/matches?limit=100").json()
            hit = next((i for i in r.get("items", []) if i["vacancy_id"] == probe), None)
            if hit is None:
                return None
            out[w] = hit["score"]
            versions.add(r["model_version"])
        return {"model_version": versions.pop() if len(versions) == 1 else None, "scores": out}

    def all_welders_ranked():
        return probe_scores()

    ranked_before = eventually(all_welders_ranked, timeout=120, what="the fresh workers are rankable for the probe")
    assert ranked_before["model_version"] == "prior"

    def refer(worker, vacancy):
        r = placement.post("/referrals", json={"worker_id": worker, "vacancy_id": vacancy, "note": "电焊岗位推荐"})
        return r.json()["referral_id"] if r.status_code == 201 else None

    outcomes = 0
    # Every vacancy gets two welders (hired) and three others (rejected): both classes on both sides.
    pairs = [p for i, v in enumerate(vacancies)
             for p in ((welders[2 * i], v), (others[3 * i], v), (welders[2 * i + 1], v), (others[3 * i + 1], v),
                       (others[3 * i + 2], v))]
    for worker, vacancy in pairs:
        referral = eventually(lambda w=worker, v=vacancy: refer(w, v), what="placement knows the pair")
        assert placement.post(f"/referrals/{referral}/status", json={"status": "interviewing"}).status_code == 200
        if worker in welders:
            body = {"status": "hired", "start_date": date.today().isoformat(), "monthly_wage": 4500}
        else:
            body = {"status": "rejected", "reason": "skills_mismatch"}
        assert placement.post(f"/referrals/{referral}/status", json=body).status_code == 200
        outcomes += 1
    assert outcomes == 5 * len(vacancies)

    def recorded():
        model = matching.get("/model").json()
        return model if model["outcomes_recorded"] >= before["outcomes_recorded"] + outcomes else None

    eventually(recorded, timeout=120, what="outcomes recorded by matching")

    def retrained():
        model = matching.get("/model").json()
        learned = [h for h in model["history"] if h["version"] not in {x["version"] for x in before["history"]}]
        return learned or None

    eventually(retrained, timeout=120, what="an automatic retrain after 50 new outcomes")
    # With every outcome in, a retrain is judged on held-out vacancies holding both classes: it is promoted.
    result = matching.post("/model/retrain", timeout=180).json()  # a loaded 2-core machine is slow
    assert result["promoted"] is True, result
    model = matching.get("/model").json()
    assert model["kind"] == "learned" and model["version"] == result["version"]
    assert model["training_rows"] >= outcomes
    assert model["metrics"]["candidate_auc"] >= model["metrics"]["current_auc"]
    assert model["version"] == next(h["version"] for h in model["history"] if h["active"])

    # The ranking itself changed: the learned model scores the next list, and hired welders stay first.
    def ranked_by_new_model():
        r = probe_scores()
        return r if r and r["model_version"] == model["version"] else None

    ranked_after = eventually(ranked_by_new_model, timeout=30, what="the list uses the promoted model")
    scores_before = ranked_before["scores"]
    scores_after = ranked_after["scores"]
    assert set(fresh) <= set(scores_after)
    assert any(abs(scores_before[w] - scores_after[w]) > 1e-3 for w in fresh)
    assert min(scores_after[w] for w in fresh_welders) > max(scores_after[w] for w in fresh_others)
