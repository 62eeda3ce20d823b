"""Models, policy boost, crowding, explanations, training and promotion."""

import numpy as np
import pytest

from services.matching.domain.features import FEATURES
from services.matching.domain.model import VacancyProfile, WorkerProfile
from services.matching.domain.ranker import (
    NO_BOOST,
    PRIOR_WEIGHTS,
    BruteForceRanker,
    CrowdingPenalty,
    Outcome,
    PolicyBoost,
    PriorModel,
    Scorer,
    TrainedModel,
    evaluate,
    model_from_bytes,
    model_to_bytes,
    outcome_target,
    retrain,
    split_by_group,
    train,
)

RNG = np.random.default_rng(7)


def worker(**kw) -> WorkerProfile:
    base = dict(worker_id="w1", region_code="410923", skills=("电焊",), experience_years=3.0)
    return WorkerProfile(**{**base, **kw})


def vacancy(**kw) -> VacancyProfile:
    base = dict(
        vacancy_id="v1", employer_id="e1", title="焊工", occupation="焊工", required_skills=("电焊", "叉车"),
        region_code="410923", wage_min=4000, wage_max=6000, headcount=2,
    )  # fmt: skip
    return VacancyProfile(**{**base, **kw})


def outcomes_from(weights: np.ndarray, n: int, *, groups: int = 80, seed: int = 0) -> list[Outcome]:
    """Outcomes whose hire probability is logistic in the features with the given weights."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, len(FEATURES)))
    p = 1 / (1 + np.exp(-(X @ weights - weights.sum() / 2) * 4))
    y = rng.random(n) < p
    return [
        Outcome(
            features=dict(zip(FEATURES, x, strict=True)),
            label="hired" if h else "rejected",
            group=f"v{i % groups}",
        )
        for i, (x, h) in enumerate(zip(X, y, strict=True))
    ]


def test_prior_weights_sum_to_one_and_contributions_add_up_to_the_score():
    assert sum(PRIOR_WEIGHTS.values()) == pytest.approx(1.0)
    assert set(PRIOR_WEIGHTS) == set(FEATURES)
    [scored] = BruteForceRanker(Scorer(boost=NO_BOOST)).rank_vacancies_for_worker(worker(), [vacancy()])
    parts = sum(v for k, v in scored.explanation.items())
    assert parts == pytest.approx(scored.score, abs=1e-3)
    assert set(scored.explanation) == {*FEATURES, "policy_boost", "crowding_penalty"}


def test_the_policy_boost_is_its_own_explanation_line_and_is_capped():
    boost = PolicyBoost()
    assert boost.amount(worker()) == 0.0
    assert boost.amount(worker(is_4050=True)) == 0.05
    assert boost.amount(worker(is_4050=True, hardship=("zero_employment_household", "disabled"))) == 0.1
    ranked = BruteForceRanker().rank_workers_for_vacancy(
        vacancy(), [worker(worker_id="plain"), worker(worker_id="priority", is_4050=True)]
    )
    by_id = {s.id: s for s in ranked}
    assert by_id["priority"].explanation["policy_boost"] == 0.05
    assert by_id["plain"].explanation["policy_boost"] == 0.0
    assert by_id["priority"].score == pytest.approx(by_id["plain"].score + 0.05, abs=1e-3)
    assert [s.id for s in ranked] == ["priority", "plain"]


def test_a_disabled_worker_gets_the_same_model_contributions_and_only_a_boost_line():
    ranked = BruteForceRanker().rank_workers_for_vacancy(
        vacancy(), [worker(worker_id="a"), worker(worker_id="b", hardship=("disabled",))]
    )
    a, b = sorted(ranked, key=lambda s: s.id)
    model_lines = lambda s: {k: v for k, v in s.explanation.items() if k in FEATURES}  # noqa: E731
    assert model_lines(a) == model_lines(b)
    assert b.explanation["policy_boost"] - a.explanation["policy_boost"] == pytest.approx(0.03)
    ranked_no_boost = BruteForceRanker(Scorer(boost=NO_BOOST)).rank_workers_for_vacancy(
        vacancy(), [worker(worker_id="a"), worker(worker_id="b", hardship=("disabled",))]
    )
    assert ranked_no_boost[0].score == ranked_no_boost[1].score


def test_the_crowding_penalty_lowers_a_vacancy_with_many_open_referrals_per_place():
    crowding = CrowdingPenalty()
    assert crowding.amount(open_referrals=2, remaining=1) == 0.0
    assert crowding.amount(open_referrals=5, remaining=1) == pytest.approx(0.06)
    assert crowding.amount(open_referrals=500, remaining=1) == crowding.cap
    busy = vacancy(vacancy_id="busy", open_referrals=8, headcount=1)
    quiet = vacancy(vacancy_id="quiet", open_referrals=0, headcount=1)
    ranked = BruteForceRanker().rank_vacancies_for_worker(worker(), [busy, quiet])
    assert [s.id for s in ranked] == ["quiet", "busy"]
    assert ranked[1].explanation["crowding_penalty"] < 0


def test_what_would_raise_the_rank_names_the_missing_skill_with_its_gain_and_a_course():
    [scored] = BruteForceRanker().rank_vacancies_for_worker(worker(), [vacancy()])
    assert scored.matched_skills == ["电焊"] and scored.missing_skills == ["叉车"]
    [tip] = scored.raise_rank
    assert tip["skill"] == "叉车" and tip["training"] == "叉车 course" and tip["gain"] > 0.05
    assert tip["occupation"] == "起重装卸机械操作工"


def test_a_trained_models_contributions_add_up_to_its_probability():
    model = train(outcomes_from(np.arange(1.0, 8.0), 400))
    X = RNG.random((5, len(FEATURES)))
    scores, contrib, baseline = model.contributions(X)
    assert np.allclose(baseline + contrib.sum(axis=1), scores)
    assert ((0 < scores) & (scores < 1)).all()


def test_rejections_that_say_nothing_about_the_match_are_not_trained_on():
    assert outcome_target(Outcome(features=[0.0] * 7, label="rejected", reason="position_filled")) is None
    assert (
        outcome_target(Outcome(features=[0.0] * 7, label="rejected", reason="could_not_be_reached")) is None
    )
    assert outcome_target(Outcome(features=[0.0] * 7, label="rejected", reason="lacks_skills")) == (0, 1.0)
    assert outcome_target(Outcome(features=[0.0] * 7, label="retained")) == (1, 1.5)


def test_a_retrained_model_is_promoted_when_it_is_better_on_held_out_outcomes():
    truth = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0])  # only experience matters
    result = retrain(outcomes_from(truth, 2000), PriorModel())
    assert result.promoted and result.active is result.candidate
    assert result.candidate_metrics["auc"] >= result.current_metrics["auc"]
    assert result.active.version.startswith("lr-") and result.active.metrics["holdout_auc"] > 0.8


def test_a_retrained_model_is_not_promoted_when_it_is_worse_on_held_out_outcomes():
    # Training vacancies teach the opposite of what the held-out vacancies show: the candidate must lose.
    outcomes = outcomes_from(np.array([5.0, 0, 0, 0, 0, 0, 0]), 2000)
    _, held = split_by_group(outcomes)
    held_groups = {o.group for o in held}
    flipped = [
        o
        if o.group in held_groups
        else Outcome(o.features, "rejected" if o.label == "hired" else "hired", None, o.group)
        for o in outcomes
    ]
    result = retrain(flipped, PriorModel())
    assert not result.promoted and isinstance(result.active, PriorModel)
    assert result.candidate_metrics["auc"] < result.current_metrics["auc"]


def test_too_few_outcomes_keep_the_current_model():
    result = retrain(outcomes_from(np.ones(7), 10), PriorModel())
    assert not result.promoted and result.candidate is None and "not enough" in result.reason


def test_held_out_vacancies_never_appear_in_training():
    train_part, held = split_by_group(outcomes_from(np.ones(7), 500))
    assert held and train_part and not {o.group for o in train_part} & {o.group for o in held}


def test_models_round_trip_through_json_bytes():
    model = train(outcomes_from(np.arange(7.0), 300))
    again = model_from_bytes(model_to_bytes(model))
    assert isinstance(again, TrainedModel) and again.version == model.version
    X = RNG.random((4, len(FEATURES)))
    assert np.allclose(again.contributions(X)[0], model.contributions(X)[0])
    prior = model_from_bytes(model_to_bytes(PriorModel()))
    assert isinstance(prior, PriorModel) and dict(prior.weights) == PRIOR_WEIGHTS
    assert model_to_bytes(model).startswith(b"{")  # JSON, never a pickle


def test_a_model_trained_on_other_features_is_refused():
    doc = model_to_bytes(train(outcomes_from(np.ones(7), 300))).replace(b'"experience"', b'"age"')
    with pytest.raises(ValueError, match="different features"):
        model_from_bytes(doc)


def test_evaluate_reports_auc_and_ndcg_per_vacancy():
    metrics = evaluate(PriorModel(), outcomes_from(np.ones(7), 400))
    assert 0.5 < metrics["auc"] <= 1.0 and 0 < metrics["ndcg"] <= 1.0 and metrics["rows"] == 400


def test_ranking_workers_for_a_vacancy_keeps_active_workers_only():
    ranked = BruteForceRanker().rank_workers_for_vacancy(
        vacancy(), [worker(worker_id="on"), worker(worker_id="off", active=False)]
    )
    assert [s.id for s in ranked] == ["on"]
