"""Fit the confidence of `Taxonomy.classify` on the TUNE part of the development split.

`python -m services.matching.evaluation.calibrate` rewrites services/matching/domain/calibration.json:
a logistic regression from a candidate code's raw evidence (exact name/alias, share covered by a known
term, n-gram cosine) to the probability that the candidate is the posting's labelled code. Only TUNE rows
are used (see `devset`); `reliability` reports how well the probabilities hold on the REPORT rows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import numpy as np

from ..domain import text as text_module
from ..domain.text import CALIBRATION_PATH, Taxonomy
from .devset import TitleCase, load_development, split


def evidence_rows(
    cases: Sequence[TitleCase], taxonomy: Taxonomy, k: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """(raw evidence of every candidate, 1 if it is the labelled code) over the cases."""
    X, y = [], []
    for case in cases:
        for code, ev in taxonomy.candidate_evidence(case.title, k=k):
            X.append(ev)
            y.append(int(code == case.code))
    return np.asarray(X, dtype=float).reshape(-1, 4), np.asarray(y)


def fit(cases: Sequence[TitleCase], taxonomy: Taxonomy) -> dict:
    """The calibration document fitted on `cases`."""
    from sklearn.linear_model import LogisticRegression

    X, y = evidence_rows(cases, taxonomy)
    clf = LogisticRegression(C=10.0, max_iter=1000).fit(X, y)
    return {
        "intercept": round(float(clf.intercept_[0]), 4),
        "coef": [round(float(c), 4) for c in clf.coef_[0]],
        "features": ["exact_name_or_alias", "known_term_coverage", "ngram_cosine", "inverse_rank"],
        "fitted_on": f"development split, TUNE part ({len(cases)} titles, {len(X)} candidates)",
    }


def reliability(cases: Sequence[TitleCase], taxonomy: Taxonomy, bins: int = 5) -> dict:
    """Top-1 confidence vs how often the top-1 code is right, in confidence bins, and the ECE."""
    conf, right = [], []
    for case in cases:
        top = taxonomy.classify(case.title, k=1)
        conf.append(top[0][1] if top else 0.0)
        right.append(float(bool(top) and top[0][0] == case.code))
    conf_a, right_a = np.array(conf), np.array(right)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf_a >= lo) & ((conf_a < hi) if hi < 1 else (conf_a <= hi))
        if not m.any():
            continue
        rows.append(
            {
                "bin": f"{lo:.1f}-{hi:.1f}",
                "n": int(m.sum()),
                "confidence": round(float(conf_a[m].mean()), 3),
                "accuracy": round(float(right_a[m].mean()), 3),
            }
        )
        ece += m.mean() * abs(conf_a[m].mean() - right_a[m].mean())
    return {
        "bins": rows,
        "ece": round(float(ece), 4),
        "top1_accuracy": round(float(right_a.mean()), 4),
        "titles": len(cases),
    }


def main(argv: Sequence[str] | None = None) -> int:
    taxonomy = Taxonomy.load()
    tune, report = split(load_development())
    doc = fit(tune, taxonomy)
    CALIBRATION_PATH.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    text_module._CALIBRATION = None
    taxonomy._classify_cache.clear()
    print(json.dumps(doc, ensure_ascii=False))
    print(json.dumps(reliability(report, taxonomy), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
