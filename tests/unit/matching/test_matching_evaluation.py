"""The evaluation: the development split stays clean, metrics are what they say, figures come from code."""

from __future__ import annotations

import numpy as np
import pytest

from services.matching.domain.features import Encoder
from services.matching.domain.ranker import PriorModel
from services.matching.domain.text import Taxonomy
from services.matching.evaluation.devset import is_development_code, is_tuning_code, load_development, split
from services.matching.evaluation.quality import EscoDataMissing, goals, require_esco, run_quality
from services.matching.evaluation.realtext import build_task, evaluate_task, per_query, summarise
from services.matching.evaluation.retrieval import jobbridge_scores


def test_only_development_rows_are_read_and_tune_and_report_share_no_code():
    cases = load_development()
    assert cases and all(is_development_code(c.code) for c in cases)
    tune, report = split(cases)
    assert tune and report
    assert {c.code for c in tune}.isdisjoint({c.code for c in report})
    assert all(is_tuning_code(c.code) for c in tune)


def test_the_development_filter_drops_odd_codes_at_the_first_read(tmp_path):
    even = next(f"1-01-00-{i:02d}" for i in range(100) if is_development_code(f"1-01-00-{i:02d}"))
    odd = next(f"1-01-00-{i:02d}" for i in range(100) if not is_development_code(f"1-01-00-{i:02d}"))
    path = tmp_path / "testcases.csv"
    path.write_text(f"job_name,expected_code,expected_name\n甲,{even},x\n乙,{odd},y\n", encoding="utf-8")
    assert [(c.title, c.code) for c in load_development(path)] == [("甲", even)]


def test_per_query_metrics_on_a_known_ranking():
    # Query 0: the right doc ranks 2nd; query 1: right doc first; query 2: right doc beyond the top 10.
    d_codes = ["1-01-01-01", "2-02-02-02"] + [f"3-03-03-{i:02d}" for i in range(12)]
    q_codes = ["2-02-02-02", "1-01-01-01", "3-03-03-11"]
    scores = np.zeros((3, len(d_codes)))
    scores[0, 0], scores[0, 1] = 2.0, 1.0
    scores[1, 0] = 1.0
    scores[2, :] = np.linspace(1, 0.5, len(d_codes))  # doc 13 (the right one) is last
    m = per_query(scores, q_codes, d_codes)
    assert m["mrr@10"].tolist() == [0.5, 1.0, 0.0]
    assert m["hit@1"].tolist() == [0.0, 1.0, 0.0]
    assert m["hit@10"].tolist() == [1.0, 1.0, 0.0]
    assert m["ndcg@10"][1] == 1.0 and 0 < m["ndcg@10"][0] < 1


def test_bootstrap_intervals_are_seeded_and_contain_the_mean():
    values = {"x": np.random.default_rng(3).random(200)}
    a, b = summarise(values, seed=5), summarise(values, seed=5)
    assert a == b
    mean, low, high = a["x"]
    assert low < mean < high


def test_the_reported_jobbridge_row_is_recomputed_from_the_scores():
    taxonomy = Taxonomy.load()
    tune, _ = split(load_development())
    task = build_task(tune[:40], taxonomy)
    encoder = Encoder(taxonomy)
    report = evaluate_task(task, taxonomy, encoder=encoder)
    scores = jobbridge_scores(task.as_retrieval_set(), encoder, PriorModel())
    mrr = per_query(scores, task.v_codes, task.w_codes)["mrr@10"].mean()
    assert report["directions"]["vacancy→workers"]["methods"]["jobbridge"]["mrr@10"][0] == pytest.approx(
        mrr, abs=1e-4
    )
    back = per_query(scores.T, task.w_codes, task.v_codes)["mrr@10"].mean()
    assert report["directions"]["worker→vacancies"]["methods"]["jobbridge"]["mrr@10"][0] == pytest.approx(
        back, abs=1e-4
    )


def test_missing_esco_data_fails_loudly(tmp_path):
    with pytest.raises(EscoDataMissing, match="esco_v1.1.1_classification_en_csv.zip"):
        require_esco(tmp_path)
    with pytest.raises(EscoDataMissing):
        run_quality(quick=True, esco_dir=tmp_path, learning=False, fairness=False)


def _report(jobbridge_mrr: float, baseline_mrr: float) -> dict:
    def row(mrr):
        return {
            "mrr@10": [mrr, mrr - 0.01, mrr + 0.01],
            "hit@10": [mrr, mrr, mrr],
            "ndcg@10": [mrr, mrr, mrr],
        }

    direction = {
        "methods": {"jobbridge": row(jobbridge_mrr), "BM25": row(baseline_mrr)},
        "best_baseline": {"mrr@10": "BM25", "hit@10": "BM25", "ndcg@10": "BM25"},
    }
    esco = {
        "methods": {"jobbridge": {"ndcg@10": [0.9, 0.89, 0.91]}, "BM25": {"ndcg@10": [0.85, 0.84, 0.86]}},
        "best_baseline": "BM25",
    }
    return {
        "development": {"directions": {"vacancy→workers": direction, "worker→vacancies": direction}},
        "esco": esco,
        "fairness": {"without_boost": {"impact_ratio": 0.79}},
    }


def test_goals_are_judged_from_the_numbers_not_typed_in():
    passing = {g["goal"]: g["result"] for g in goals(_report(0.61, 0.5))}
    failing = {g["goal"]: g["result"] for g in goals(_report(0.59, 0.5))}
    mrr_goal = next(k for k in passing if "vacancy→workers: MRR" in k)
    assert passing[mrr_goal] == "PASS" and failing[mrr_goal] == "MISS"
    esco_goal = next(k for k in passing if k.startswith("ESCO"))
    assert passing[esco_goal] == "PASS"
    fairness_goal = next(k for k in passing if "4050" in k)
    assert passing[fairness_goal] == "MISS"  # 0.79 < 0.8
