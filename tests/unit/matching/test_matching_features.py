"""Pair features and the hard rules that come before any score."""

import dataclasses
import inspect
import random

import numpy as np
import pytest

from services.matching.domain.features import (
    FEATURES,
    Encoder,
    WorkerSignals,
    certificate_key,
    features_dict,
    pair_features,
    passes_hard_rules,
    region_distance,
    target_range,
    wage_fit,
)
from services.matching.domain.model import VacancyProfile, WorkerProfile
from services.matching.domain.ranker import BruteForceRanker
from services.matching.evaluation.retrieval import feature_tensor, synthetic_population


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


def worker(**kw) -> WorkerProfile:
    base = dict(worker_id="w1", region_code="410923", skills=("电焊",), desired_occupations=("电焊工",))
    return WorkerProfile(**{**base, **kw})


def vacancy(**kw) -> VacancyProfile:
    base = dict(
        vacancy_id="v1",
        employer_id="e1",
        title="焊工",
        occupation="焊工",
        required_skills=("焊工",),
        region_code="410923",
        wage_min=4000,
        wage_max=6000,
        headcount=2,
    )
    return VacancyProfile(**{**base, **kw})


def features(encoder, w, v) -> dict[str, float]:
    return features_dict(pair_features(encoder.encode_worker(w), encoder.encode_vacancy(v)))


def test_a_welding_worker_ranks_a_welder_vacancy_above_a_sewing_vacancy(encoder):
    welder = vacancy(vacancy_id="weld", title="招聘焊工", occupation="焊工", required_skills=("焊工",))
    sewer = vacancy(vacancy_id="sew", title="缝纫工", occupation="缝纫工", required_skills=("缝纫",))
    ranked = BruteForceRanker().rank_vacancies_for_worker(worker(), [sewer, welder])
    assert [s.id for s in ranked] == ["weld", "sew"]
    assert ranked[0].matched_skills == ["焊工"] and ranked[1].missing_skills == ["缝纫"]


def test_synonyms_cover_required_skills_and_meet_in_the_vector(encoder):
    f = features(
        encoder, worker(skills=("电焊",), desired_occupations=()), vacancy(required_skills=("焊工", "氩弧焊"))
    )
    assert f["required_skill_coverage"] == 1.0
    assert f["skill_similarity"] > 0.3  # 电焊 and 焊工 share one character; the code token does the rest
    # Same detailed occupation, weighted by both codes' calibrated confidence (soft evidence).
    (code_w, p_w), (code_v, p_v) = encoder.soft_codes("电焊")[0], encoder.soft_codes("焊工")[0]
    assert code_w == code_v
    assert f["occupation_similarity"] == pytest.approx(1.0 * p_w * p_v)


def test_occupation_similarity_follows_the_classification_hierarchy(encoder):
    same_minor = features(
        encoder, worker(skills=("车工",), desired_occupations=()), vacancy(occupation="铣工")
    )
    other_major = features(
        encoder, worker(skills=("保洁",), desired_occupations=()), vacancy(occupation="焊工")
    )
    p_w, p_v = encoder.soft_codes("车工")[0][1], encoder.soft_codes("铣工")[0][1]
    assert same_minor["occupation_similarity"] == pytest.approx(0.6 * p_w * p_v)
    assert other_major["occupation_similarity"] == 0.0


def test_region_distance_and_proximity_grade_county_prefecture_province_and_elsewhere(encoder):
    assert [region_distance("410923", r) for r in ("410923", "410902", "410102", "320102")] == [0, 1, 2, 3]
    assert region_distance("", "410923") == 3
    near = [
        features(encoder, worker(), vacancy(region_code=r))["region_proximity"] for r in ("410923", "410902")
    ]
    assert near == [1.0, 0.66]


def test_a_worker_from_another_prefecture_who_will_not_relocate_fails_the_region_rule():
    assert passes_hard_rules(worker(region_code="410102"), vacancy()) == (False, "region")
    assert passes_hard_rules(worker(region_code="410902"), vacancy()) == (True, None)


def test_a_willing_worker_passes_for_cross_region_vacancies_and_target_regions_only():
    mover = worker(willing_to_relocate=True, target_regions=("320000",))
    assert passes_hard_rules(mover, vacancy(region_code="440305", vacancy_type="cross_region"))[0]
    assert passes_hard_rules(mover, vacancy(region_code="320102"))[0]
    assert passes_hard_rules(mover, vacancy(region_code="440305")) == (False, "region")
    assert target_range("410900") == (410900, 411000) and target_range("41") == (410000, 420000)


def test_closed_or_full_vacancies_and_inactive_workers_fail_the_hard_rules():
    assert passes_hard_rules(worker(), vacancy(status="closed")) == (False, "vacancy_closed")
    assert passes_hard_rules(worker(), vacancy(headcount=2, filled=2)) == (False, "vacancy_closed")
    assert passes_hard_rules(worker(active=False), vacancy()) == (False, "worker_inactive")


def test_a_minimum_wage_above_the_vacancy_maximum_fails_and_no_minimum_passes():
    assert passes_hard_rules(worker(desired_wage_min=6500), vacancy(wage_max=6000)) == (False, "wage")
    assert passes_hard_rules(worker(desired_wage_min=6000), vacancy(wage_max=6000))[0]
    assert passes_hard_rules(worker(desired_wage_min=None), vacancy(wage_max=2000))[0]


def test_wage_fit_is_the_share_of_the_band_at_or_above_the_minimum():
    assert wage_fit(None, 3000, 4000) == 1.0
    assert wage_fit(3000, 3000, 5000) == 1.0
    assert wage_fit(4000, 3000, 5000) == 0.5
    assert wage_fit(4000, None, None) == 0.5


def test_a_missing_certificate_is_not_a_hard_rule_but_lowers_the_score_and_is_named(encoder):
    w, v = worker(certificates=()), vacancy(required_certificates=("焊工证",))
    assert passes_hard_rules(w, v) == (True, None)
    assert features(encoder, w, v)["certificates"] == 0.0
    [scored] = BruteForceRanker().rank_vacancies_for_worker(w, [v])
    assert "焊工证" in scored.missing_skills
    assert any(r.get("certificate") == "焊工证" and r["gain"] > 0 for r in scored.raise_rank)


def test_certificate_names_are_matched_on_what_they_certify(encoder):
    assert certificate_key("焊工证书") == certificate_key("焊工证") == certificate_key("焊工上岗证") == "焊工"
    held = features(encoder, worker(certificates=("焊工证书",)), vacancy(required_certificates=("焊工证",)))
    assert held["certificates"] == 1.0
    narrower = features(
        encoder, worker(certificates=("高压电工证",)), vacancy(required_certificates=("电工证",))
    )
    assert narrower["certificates"] == 1.0


def test_the_feature_function_cannot_see_protected_attributes_or_policy_categories():
    params = inspect.signature(pair_features).parameters
    assert [p.annotation for p in params.values()] == ["WorkerSignals", "VacancySignals"]
    fields = {f.name for f in dataclasses.fields(WorkerSignals)}
    forbidden = {"gender", "sex", "ethnicity", "religion", "origin", "disability", "disabled", "hardship",
                 "is_4050", "age", "birth_date", "national_id", "name", "phone", "education"}  # fmt: skip
    assert not fields & forbidden


def test_workers_differing_only_in_hardship_or_4050_get_identical_features(encoder):
    v = encoder.encode_vacancy(vacancy())
    plain = pair_features(encoder.encode_worker(worker()), v)
    flagged = pair_features(
        encoder.encode_worker(worker(hardship=("disabled", "low_income"), is_4050=True)), v
    )
    assert np.array_equal(plain, flagged)


def test_features_are_all_between_zero_and_one_on_random_pairs(encoder):
    workers, vacancies = synthetic_population(60, 30, seed=3)
    for w in workers:
        for v in random.Random(1).sample(vacancies, 5):
            x = pair_features(encoder.encode_worker(w), encoder.encode_vacancy(v))
            assert x.shape == (len(FEATURES),) and ((0 <= x) & (x <= 1)).all()


def test_the_vectorised_feature_tensor_equals_pair_features(encoder):
    workers, vacancies = synthetic_population(40, 15, seed=5)
    w_sigs = [encoder.encode_worker(w) for w in workers]
    v_sigs = [encoder.encode_vacancy(v) for v in vacancies]
    tensor = feature_tensor(w_sigs, v_sigs)
    for i, v in enumerate(v_sigs):
        for j, w in enumerate(w_sigs):
            assert np.allclose(tensor[i, j], pair_features(w, v), atol=1e-6)
