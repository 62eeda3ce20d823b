"""Policy priority is explicit and after the model; protected attributes never move the model score."""

import pytest

from services.matching.domain.features import FEATURES, Encoder
from services.matching.domain.index import MatchIndex
from services.matching.domain.model import VacancyProfile, WorkerProfile
from services.matching.domain.text import Taxonomy
from services.matching.evaluation.retrieval import (
    TFIDF_GRID_ZH,
    bm25_scores,
    csco_dataset,
    fairness_report,
    jobbridge_scores,
    retrieval_metrics,
    tfidf_scores,
)


@pytest.fixture(scope="module")
def report():
    return fairness_report(n_workers=900, n_vacancies=60, seed=2)


def test_4050_workers_are_not_under_represented_in_top_lists_without_the_boost(report):
    assert report["without_boost"]["impact_ratio"] >= 0.8


def test_the_boost_raises_the_share_of_4050_workers_in_top_lists(report):
    assert report["with_boost"]["share_4050_top"] > report["without_boost"]["share_4050_top"]
    assert report["with_boost"]["share_4050_eligible"] == report["without_boost"]["share_4050_eligible"]


def test_in_the_index_a_disabled_worker_differs_from_an_identical_one_only_by_the_boost_line():
    index = MatchIndex()
    twin = dict(region_code="410923", skills=("缝纫", "服装缝制"), experience_years=4.0)
    index.bulk_load(
        [WorkerProfile("a", **twin), WorkerProfile("b", hardship=("disabled",), **twin)],
        [VacancyProfile("v", "e", "缝纫工", "缝纫工", required_skills=("缝纫",), region_code="410923")],
    )
    a, b = sorted(index.matches_for_vacancy("v"), key=lambda s: s.id)
    assert {k: a.explanation[k] for k in FEATURES} == {k: b.explanation[k] for k in FEATURES}
    assert b.score - a.score == pytest.approx(0.03, abs=1e-3) and b.explanation["policy_boost"] == 0.03
    assert index.features_for("a", "v") == index.features_for("b", "v")


def test_quality_smoke_jobbridge_is_at_least_as_good_as_tfidf_on_a_small_classification_sample():
    taxonomy = Taxonomy.load()
    ds = csco_dataset(taxonomy, limit=30, seed=0)
    ours = retrieval_metrics(ds, jobbridge_scores(ds, Encoder(taxonomy)))
    queries = [" ".join((v.title, v.occupation, *v.required_skills)) for v in ds.vacancies]
    docs = [" ".join((*w.skills, *w.desired_occupations)) for w in ds.workers]
    best_tfidf = max(
        retrieval_metrics(ds, tfidf_scores(queries, docs, **kw))["ndcg@10"] for kw in TFIDF_GRID_ZH.values()
    )
    assert ours["ndcg@10"] >= best_tfidf


def test_the_vectorised_bm25_equals_rank_bm25s_own_scores():
    from rank_bm25 import BM25Okapi

    docs = [list("焊工电焊氩弧焊"), list("缝纫工服装缝制"), list("保洁员清洁"), list("电工水电安装电工")]
    queries = [list("电焊工"), list("缝纫"), list("电工电工")]
    ours = bm25_scores(queries, docs)
    bm = BM25Okapi(docs)
    for q, row in zip(queries, ours, strict=True):
        assert row == pytest.approx(bm.get_scores(q))
