"""The fast index gives the brute-force ranking, reflects writes at once and stays thread-safe."""

import random
import threading
from dataclasses import replace

import pytest

from services.matching.domain.index import MatchIndex, UnknownVacancy, UnknownWorker
from services.matching.domain.model import VacancyProfile, WorkerProfile
from services.matching.domain.ranker import BruteForceRanker, PolicyBoost, PriorModel, Scorer
from services.matching.evaluation.retrieval import synthetic_population


def same_ranking(got, want):
    assert [s.id for s in got] == [s.id for s in want]
    for a, b in zip(got, want, strict=True):
        assert a.score == pytest.approx(b.score, abs=2e-4)
        assert a.matched_skills == b.matched_skills and a.missing_skills == b.missing_skills
        assert a.explanation == pytest.approx(b.explanation, abs=2e-4)
        assert [r.get("skill") or r.get("certificate") for r in a.raise_rank] == [
            r.get("skill") or r.get("certificate") for r in b.raise_rank
        ]


def assert_matches_brute_force(index: MatchIndex, workers, vacancies, *, sample: int = 12):
    brute = BruteForceRanker(index.scorer)
    rng = random.Random(0)
    for w in rng.sample(workers, min(sample, len(workers))):
        same_ranking(
            index.matches_for_worker(w.worker_id, limit=15),
            brute.rank_vacancies_for_worker(w, vacancies, limit=15),
        )
    for v in rng.sample(vacancies, min(sample, len(vacancies))):
        same_ranking(
            index.matches_for_vacancy(v.vacancy_id, limit=15),
            brute.rank_workers_for_vacancy(v, workers, limit=15),
        )


@pytest.fixture
def population():
    return synthetic_population(150, 60, seed=11)


def test_index_results_equal_a_brute_force_ranking_on_a_small_random_set(population):
    workers, vacancies = population
    index = MatchIndex(background_compaction=False)
    index.bulk_load(workers[:100], vacancies[:40])  # in the main matrices
    for w in workers[100:]:
        index.upsert_worker(w)  # in the delta
    for v in vacancies[40:]:
        index.upsert_vacancy(v)
    assert index.stats().worker_delta_rows == 50
    assert_matches_brute_force(index, workers, vacancies)
    index.compact()
    assert index.stats().worker_delta_rows == 0
    assert_matches_brute_force(index, workers, vacancies)


def test_a_removal_takes_effect_immediately(population):
    workers, vacancies = population
    index = MatchIndex()
    index.bulk_load(workers, vacancies)
    v = next(v for v in vacancies if index.matches_for_vacancy(v.vacancy_id))
    top = index.matches_for_vacancy(v.vacancy_id)[0].id
    assert index.remove_worker(top)
    assert top not in [s.id for s in index.matches_for_vacancy(v.vacancy_id, limit=500)]
    with pytest.raises(UnknownWorker):
        index.matches_for_worker(top)
    assert not index.remove_worker(top)
    w = next(w for w in workers if w.worker_id != top and index.matches_for_worker(w.worker_id))
    first = index.matches_for_worker(w.worker_id)[0].id
    index.remove_vacancy(first)
    assert first not in [s.id for s in index.matches_for_worker(w.worker_id, limit=500)]


def test_an_updated_worker_is_ranked_on_the_new_profile_at_once():
    index = MatchIndex()
    welder_job = VacancyProfile("weld", "e", "焊工", "焊工", required_skills=("电焊",), region_code="410923")
    sewing_job = VacancyProfile(
        "sew", "e", "缝纫工", "缝纫工", required_skills=("缝纫",), region_code="410923"
    )
    index.bulk_load([WorkerProfile("w", "410923", skills=("缝纫",))], [welder_job, sewing_job])
    assert index.matches_for_worker("w")[0].id == "sew"
    index.upsert_worker(WorkerProfile("w", "410923", skills=("氩弧焊",)))
    assert index.matches_for_worker("w")[0].id == "weld"
    assert index.stats().workers == 1


def test_a_vacancy_that_is_filled_or_closed_disappears_from_worker_lists(population):
    workers, vacancies = population
    index = MatchIndex()
    index.bulk_load(workers, vacancies)
    w = next(w for w in workers if index.matches_for_worker(w.worker_id))
    v_id = index.matches_for_worker(w.worker_id)[0].id
    v = index.vacancy(v_id)
    index.update_vacancy_counts(v_id, filled=v.headcount)
    assert v_id not in [s.id for s in index.matches_for_worker(w.worker_id, limit=500)]
    assert index.matches_for_vacancy(v_id) == []
    index.update_vacancy_counts(v_id, filled=0)
    assert v_id in [s.id for s in index.matches_for_worker(w.worker_id, limit=500)]
    index.upsert_vacancy(replace(index.vacancy(v_id), status="closed"))
    assert v_id not in [s.id for s in index.matches_for_worker(w.worker_id, limit=500)]


def test_open_referrals_reported_later_lower_the_vacancy_for_new_workers():
    index = MatchIndex()
    jobs = [
        VacancyProfile(f"v{i}", "e", "焊工", "焊工", required_skills=("电焊",), region_code="410923")
        for i in range(2)
    ]
    index.bulk_load([WorkerProfile("w", "410923", skills=("电焊",))], jobs)
    assert [s.id for s in index.matches_for_worker("w")] == ["v0", "v1"]
    index.update_vacancy_counts("v0", open_referrals=10)
    ranked = index.matches_for_worker("w")
    assert [s.id for s in ranked] == ["v1", "v0"] and ranked[1].explanation["crowding_penalty"] < 0


def test_region_and_vacancy_type_filters_narrow_a_workers_list(population):
    workers, vacancies = population
    index = MatchIndex()
    index.bulk_load(workers, vacancies)
    mover = next(w for w in workers if w.willing_to_relocate)
    cross = index.matches_for_worker(mover.worker_id, vacancy_type="cross_region", limit=100)
    assert cross and all(index.vacancy(s.id).vacancy_type == "cross_region" for s in cross)
    local = index.matches_for_worker(mover.worker_id, region=mover.region_code[:4], limit=100)
    assert all(index.vacancy(s.id).region_code.startswith(mover.region_code[:4]) for s in local)


def test_unknown_ids_raise_domain_errors():
    index = MatchIndex()
    with pytest.raises(UnknownWorker):
        index.matches_for_worker("nobody")
    with pytest.raises(UnknownVacancy):
        index.matches_for_vacancy("nothing")


def test_background_compaction_keeps_the_ranking_and_replays_writes_made_meanwhile(population):
    workers, vacancies = population
    index = MatchIndex(compact_min=20, compact_ratio=0.0, background_compaction=True)
    for v in vacancies:
        index.upsert_vacancy(v)
    changed = []
    for i, w in enumerate(workers):
        index.upsert_worker(w)
        if i % 7 == 0:
            changed.append(replace(w, skills=(*w.skills, "叉车")))
            index.upsert_worker(changed[-1])
        if i % 11 == 0:
            index.remove_worker(w.worker_id)
    index.wait_for_compaction()
    removed = {w.worker_id for i, w in enumerate(workers) if i % 11 == 0}
    final = {w.worker_id: w for w in workers} | {w.worker_id: w for w in changed}
    live = [w for wid, w in final.items() if wid not in removed]
    assert index.stats().workers == len(live)
    assert_matches_brute_force(index, live, vacancies)


def test_concurrent_reads_and_writes_neither_fail_nor_lose_writes(population):
    workers, vacancies = population
    index = MatchIndex(compact_min=30, compact_ratio=0.0)
    index.bulk_load(workers[:50], vacancies)
    errors = []

    def read():
        try:
            for _ in range(15):
                for w in workers[:5]:
                    index.matches_for_worker(w.worker_id, limit=5)
                index.matches_for_vacancy(vacancies[0].vacancy_id, limit=5)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for w in workers[50:]:
        index.upsert_worker(w)
    for t in readers:
        t.join()
    index.wait_for_compaction()
    assert not errors
    assert index.stats().workers == len(workers)


def test_swapping_the_model_and_the_policy_changes_the_next_query(population):
    workers, vacancies = population
    index = MatchIndex()
    index.bulk_load(workers, vacancies)
    w = next(w for w in workers if w.is_4050 and index.matches_for_worker(w.worker_id))
    assert index.matches_for_worker(w.worker_id)[0].explanation["policy_boost"] > 0
    index.set_policy(boost=PolicyBoost(is_4050=0.0, hardship={}, cap=0.0))
    assert index.matches_for_worker(w.worker_id)[0].explanation["policy_boost"] == 0
    before = index.matches_for_worker(w.worker_id)
    assert any(s.explanation["skill_similarity"] > 0 for s in before)
    only_region = PriorModel(weights={"region_proximity": 1.0}, version="region-only")
    index.set_model(only_region)
    assert index.model.version == "region-only"
    after = index.matches_for_worker(w.worker_id)
    # The new model is what scores now: nothing but region proximity (less the crowding penalty) counts,
    # and the list is ordered by it.
    assert all(
        s.explanation["skill_similarity"] == 0 and s.explanation["required_skill_coverage"] == 0
        for s in after
    )
    for s in after:
        expected = max(0.0, s.explanation["region_proximity"] + s.explanation["crowding_penalty"])
        assert s.score == pytest.approx(expected, abs=1e-3)
    assert [s.score for s in after] == sorted((s.score for s in after), reverse=True)
    assert [s.id for s in after] != [s.id for s in before] or [s.score for s in after] != [
        s.score for s in before
    ]


def test_the_floor_query_returns_the_top_k_by_bare_similarity(population):
    workers, vacancies = population
    index = MatchIndex()
    index.bulk_load(workers, vacancies)
    assert len(index.floor_query_worker(workers[0].worker_id, 10)) == 10
    assert len(index.floor_query_vacancy(vacancies[0].vacancy_id, 10)) == 10


def test_features_for_a_pair_are_what_the_model_sees(population):
    workers, vacancies = population
    index = MatchIndex()
    index.bulk_load(workers, vacancies)
    features = index.features_for(workers[0].worker_id, vacancies[0].vacancy_id)
    assert set(features) == set(Scorer().model.weights)
    assert index.features_for("nobody", vacancies[0].vacancy_id) is None
