"""Scoring models, the policy boost, the crowding penalty, explanations and (re)training.

Final score of a pair = model score (from the features only) + policy boost − crowding penalty, clipped to
0..1. The explanation lists each feature's contribution to the model score, then `policy_boost` and
`crowding_penalty` as lines of their own, so a caseworker sees what the model said and what policy added.

**The prior** (`PriorModel`, version "prior-v1") ranks before any outcome exists. It is a fixed weighted
sum of the features, weights summing to 1 so that the score reads as "share of a perfect match":

=========================  ======  ======================================================================
feature                    weight  why
=========================  ======  ======================================================================
required_skill_coverage    0.30    the employer's own must-haves: the most direct evidence there is
skill_similarity           0.20    everything else both sides wrote (preferred skills, titles), robust to
                                   wording; it also carries the taxonomy codes
occupation_similarity      0.15    same trade in the national classification, graded by its hierarchy
certificates               0.10    matters, but training can close it, so it must not dominate (ADR 0005)
region_proximity           0.10    a job near home is taken and kept more often; the hard rule already
                                   removed what is out of reach
wage_fit                   0.08    the hard rule removed real mismatches; this only prefers comfortable fits
experience                 0.07    years in a related trade; kept small, the least reliable field on a form
=========================  ======  ======================================================================

**The learned model** (`TrainedModel`) is a logistic regression on the same features, trained from
placement outcomes: hired (weight 1) and still employed at a follow-up (weight 1.5) are positive;
rejected is negative; a placement that ended before the follow-up is a weak negative (0.5). A rejection for
a reason that says nothing about the match — `position_filled`, `could_not_be_reached`, `withdrawn`, … —
is skipped: learning from it would teach the model that being referred late is a skill gap. A logistic
regression stays honest to explain: each feature's logit contribution is coef × (value − training mean),
and these are scaled onto probability units so that baseline + contributions = score exactly.

**Promotion**: `retrain` splits outcomes by vacancy (a held-out 20 %, stable per vacancy id), fits a
candidate on the rest and promotes it only if its held-out AUC is not below the current model's on the same
rows. Version strings: "prior-v1", "lr-<UTC timestamp>-<hash of coefficients>". Models serialise to JSON
(coefficients, not pickles: loading a model can never execute code).

`PolicyBoost` (4050 workers, hardship categories) is read from `WorkerProfile` after the model — the
features never see those fields. `CrowdingPenalty` spreads the chances: a vacancy with many open
referrals per remaining place is ranked lower for new workers.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from .features import (
    FEATURES,
    Encoder,
    VacancySignals,
    WorkerSignals,
    certificate_held,
    matched_and_missing,
    pair_features,
    passes_hard_rules,
)
from .model import Scored, VacancyProfile, WorkerProfile
from .text import code_hierarchy_similarity

PRIOR_WEIGHTS: dict[str, float] = {
    "required_skill_coverage": 0.30,
    "skill_similarity": 0.20,
    "occupation_similarity": 0.15,
    "certificates": 0.10,
    "region_proximity": 0.10,
    "wage_fit": 0.08,
    "experience": 0.07,
}


class ScoringModel(Protocol):
    """Features → model scores with additive per-feature contributions."""

    version: str
    kind: str

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(scores (n,), contributions (n, len(FEATURES)), baseline): baseline + Σ contributions = score."""
        ...

    def describe(self) -> dict:
        """What `GET /model` shows."""
        ...


@dataclass(frozen=True)
class PriorModel:
    """The documented fixed weighting (see the module docstring)."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(PRIOR_WEIGHTS))
    version: str = "prior-v1"
    kind: str = "prior"

    def weight_vector(self) -> np.ndarray:
        """Weights ordered as FEATURES."""
        return np.array([float(self.weights.get(name, 0.0)) for name in FEATURES])

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        contrib = np.asarray(X, dtype=np.float64) * self.weight_vector()
        return contrib.sum(axis=1), contrib, 0.0

    def describe(self) -> dict:
        return {
            "version": self.version,
            "kind": self.kind,
            "trained_at": None,
            "training_rows": 0,
            "weights": dict(self.weights),
            "metrics": {},
        }


@dataclass(frozen=True)
class TrainedModel:
    """A logistic regression over FEATURES, stored as plain coefficients."""

    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]  # training feature means: the explanation's baseline
    version: str
    trained_at: str
    training_rows: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    kind: str = "logistic"

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        X = np.asarray(X, dtype=np.float64)
        coef, mean = np.asarray(self.coef), np.asarray(self.mean)
        z0 = self.intercept + float(mean @ coef)
        p0 = _sigmoid(z0)
        logit = (X - mean) * coef
        dz = logit.sum(axis=1)
        p = _sigmoid(z0 + dz)
        # Spread p − p0 over features in proportion to their logit contributions (exact, sign-preserving
        # because the sigmoid is monotone); at dz ≈ 0 use the slope.
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(np.abs(dz) > 1e-12, (p - p0) / dz, p0 * (1 - p0))
        return p, logit * scale[:, None], p0

    def describe(self) -> dict:
        return {
            "version": self.version,
            "kind": self.kind,
            "trained_at": self.trained_at,
            "training_rows": self.training_rows,
            "coefficients": dict(zip(FEATURES, self.coef, strict=True)),
            "intercept": self.intercept,
            "metrics": dict(self.metrics),
        }


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def model_to_bytes(model: PriorModel | TrainedModel) -> bytes:
    """JSON bytes of a model (coefficients only)."""
    if isinstance(model, PriorModel):
        doc = {"kind": "prior", "version": model.version, "weights": dict(model.weights)}
    else:
        doc = {
            "kind": "logistic",
            "version": model.version,
            "features": list(FEATURES),
            "coef": list(model.coef),
            "intercept": model.intercept,
            "mean": list(model.mean),
            "trained_at": model.trained_at,
            "training_rows": model.training_rows,
            "metrics": dict(model.metrics),
        }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


def model_from_bytes(data: bytes) -> PriorModel | TrainedModel:
    """Inverse of `model_to_bytes`; refuses a model trained on other features."""
    doc = json.loads(data.decode("utf-8"))
    if doc["kind"] == "prior":
        return PriorModel(weights=doc["weights"], version=doc["version"])
    if doc["kind"] != "logistic" or tuple(doc["features"]) != FEATURES:
        raise ValueError("model was trained on different features")
    return TrainedModel(
        coef=tuple(float(c) for c in doc["coef"]),
        intercept=float(doc["intercept"]),
        mean=tuple(float(m) for m in doc["mean"]),
        version=doc["version"],
        trained_at=doc["trained_at"],
        training_rows=int(doc["training_rows"]),
        metrics=doc.get("metrics", {}),
    )


# -- policy after the model ------------------------------------------------------------------------
DEFAULT_HARDSHIP_BOOST: dict[str, float] = {
    "zero_employment_household": 0.05,
    "laid_off": 0.02,
    "low_income": 0.03,
    "disabled": 0.03,
    "unemployed": 0.01,
    "other": 0.0,
}


@dataclass(frozen=True)
class PolicyBoost:
    """The bureau's explicit priority for 4050 workers and hardship categories, added after the model."""

    is_4050: float = 0.05
    hardship: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_HARDSHIP_BOOST))
    cap: float = 0.1

    def amount(self, worker: WorkerProfile) -> float:
        """The boost for one worker (0 … cap)."""
        total = self.is_4050 if worker.is_4050 else 0.0
        total += sum(self.hardship.get(h, 0.0) for h in set(worker.hardship))
        return float(min(max(total, 0.0), self.cap))


NO_BOOST = PolicyBoost(is_4050=0.0, hardship={}, cap=0.0)


@dataclass(frozen=True)
class CrowdingPenalty:
    """Lower a vacancy for new workers when it has many open referrals per remaining place.

    Up to `free_per_place` open referrals per place cost nothing (a shortlist is normal); each further
    referral per place costs `per_referral`, up to `cap`.
    """

    free_per_place: float = 2.0
    per_referral: float = 0.02
    cap: float = 0.15

    def amount(self, open_referrals: int, remaining: int) -> float:
        """The penalty of one vacancy."""
        return float(self.amounts(np.array([open_referrals]), np.array([remaining]))[0])

    def amounts(self, open_referrals: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        """Vectorised `amount`."""
        ratio = np.asarray(open_referrals, np.float64) / np.maximum(np.asarray(remaining, np.float64), 1.0)
        return np.minimum(self.per_referral * np.maximum(ratio - self.free_per_place, 0.0), self.cap)


NO_CROWDING = CrowdingPenalty(per_referral=0.0, cap=0.0)


# -- scoring and explanations ----------------------------------------------------------------------
class Scorer:
    """Model + policy → final scores and explanations; shared by the brute-force ranker and the index."""

    def __init__(
        self,
        encoder: Encoder | None = None,
        model: PriorModel | TrainedModel | None = None,
        *,
        boost: PolicyBoost | None = None,
        crowding: CrowdingPenalty | None = None,
        raise_rank_items: int = 3,
    ) -> None:
        self.encoder = encoder or Encoder()
        self.model = model or PriorModel()
        self.boost = boost if boost is not None else PolicyBoost()
        self.crowding = crowding if crowding is not None else CrowdingPenalty()
        self.raise_rank_items = raise_rank_items

    def final(
        self, X: np.ndarray, boosts: np.ndarray, penalties: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(final scores, model scores, contributions, baseline) for a feature matrix."""
        model_scores, contrib, baseline = self.model.contributions(X)
        final = np.clip(model_scores + boosts - penalties, 0.0, 1.0)
        return final, model_scores, contrib, baseline

    def explain(
        self,
        *,
        item_id: str,
        final: float,
        contrib: np.ndarray,
        baseline: float,
        boost: float,
        penalty: float,
        worker: WorkerProfile,
        w_sig: WorkerSignals,
        v_sig: VacancySignals,
        model_score: float,
        memo: dict | None = None,
    ) -> Scored:
        """A `Scored` with matched/missing skills, per-feature contributions and what would raise it."""
        matched, missing = matched_and_missing(w_sig, v_sig)
        explanation: dict[str, float] = {}
        if self.model.kind != "prior":
            explanation["baseline"] = round(float(baseline), 4)
        explanation.update({name: round(float(c), 4) for name, c in zip(FEATURES, contrib, strict=True)})
        explanation["policy_boost"] = round(float(boost), 4)
        explanation["crowding_penalty"] = round(-float(penalty), 4) + 0.0  # never "-0.0"
        return Scored(
            id=item_id,
            score=round(float(final), 4),
            matched_skills=matched,
            missing_skills=missing,
            explanation=explanation,
            raise_rank=self.raise_rank(worker, w_sig, v_sig, model_score, memo=memo) if missing else [],
            evidence=self.evidence(w_sig, v_sig, contrib, matched),
        )

    def evidence(
        self, w_sig: WorkerSignals, v_sig: VacancySignals, contrib: np.ndarray, matched: Sequence[str]
    ) -> list[str]:
        """The evidence the score used, in words: the occupation codes that met (with their confidence),
        the skills that matched, and the text similarity — each only if it added to the score."""
        out: list[str] = []
        c = dict(zip(FEATURES, contrib, strict=True))
        name = self.encoder.taxonomy.name
        if c.get("occupation_similarity", 0.0) > 1e-4:
            best, pair = 0.0, None
            w_conf = _confidences(w_sig)
            for vc, pv in zip(v_sig.codes, _confidences(v_sig), strict=True):
                for wc, pw in zip(w_sig.codes, w_conf, strict=True):
                    s = code_hierarchy_similarity(vc, wc) * pv * pw
                    if s > best:
                        best, pair = s, (vc, pv, wc, pw)
            if pair is not None:
                vc, pv, wc, pw = pair
                wording = next((w for w, code, _ in v_sig.evidence if code == vc), "")
                vac = f'岗位"{wording}"≈职业"{name(vc)}"(置信度{pv:.2f})' if wording else f'岗位职业"{name(vc)}"'
                if vc == wc:
                    out.append(f'{vac}，与求职者的职业相同(置信度{pw:.2f})')
                else:
                    out.append(f'{vac}，与求职者的职业"{name(wc)}"(置信度{pw:.2f})同属一类')
        if matched:
            out.append("技能相符：" + "、".join(matched))
        if c.get("skill_similarity", 0.0) > 1e-4:
            out.append(f"岗位与求职者所写文字相近(相似度贡献{c['skill_similarity']:.2f})")
        return out

    def raise_rank(
        self,
        worker: WorkerProfile,
        w_sig: WorkerSignals,
        v_sig: VacancySignals,
        model_score: float,
        *,
        memo: dict | None = None,
    ) -> list[dict]:
        """Missing required skills/certificates, each with the model score it would add, best first."""
        memo = {} if memo is None else memo
        options: list[dict] = []
        for wording, keys in v_sig.required:
            if keys.isdisjoint(w_sig.skill_keys):
                key = ("skill", worker.worker_id, wording)
                if key not in memo:
                    memo[key] = self.encoder.encode_worker(replace(worker, skills=(*worker.skills, wording)))
                options.append({"skill": wording, "_sig": memo[key]})
        for wording, cert_key in v_sig.certificates:
            if not certificate_held(cert_key, w_sig.certificate_keys):
                key = ("certificate", worker.worker_id, wording)
                if key not in memo:
                    memo[key] = replace(w_sig, certificate_keys=(*w_sig.certificate_keys, cert_key))
                options.append({"certificate": wording, "_sig": memo[key]})
        if not options:
            return []
        X = np.vstack([pair_features(o["_sig"], v_sig) for o in options])
        scores, _, _ = self.model.contributions(X)
        out = []
        for option, score in zip(options, scores, strict=True):
            gain = float(score) - model_score
            if gain <= 1e-4:
                continue
            what = option.get("skill") or option.get("certificate")
            entry = {k: v for k, v in option.items() if not k.startswith("_")}
            entry["gain"] = round(gain, 4)
            entry["training"] = f"{what} course" if "skill" in option else f"{what} certificate course"
            codes = self.encoder.codes(what)
            if codes:
                entry["occupation_code"] = codes[0]
                entry["occupation"] = self.encoder.taxonomy.name(codes[0])
            out.append(entry)
        out.sort(key=lambda e: -e["gain"])
        return out[: self.raise_rank_items]


def _confidences(sig: WorkerSignals | VacancySignals) -> tuple[float, ...]:
    conf = sig.code_confidence
    return conf if len(conf) == len(sig.codes) else (1.0,) * len(sig.codes)


class Ranker(Protocol):
    """Ranks one side against a list of the other; the index implements the same by ids."""

    def rank_vacancies_for_worker(
        self, worker: WorkerProfile, vacancies: Sequence[VacancyProfile], *, limit: int = 20
    ) -> list[Scored]: ...

    def rank_workers_for_vacancy(
        self, vacancy: VacancyProfile, workers: Sequence[WorkerProfile], *, limit: int = 20
    ) -> list[Scored]: ...


class BruteForceRanker:
    """Scores every pair: the reference the index is tested against, and fine for small lists."""

    def __init__(self, scorer: Scorer | None = None) -> None:
        self.scorer = scorer or Scorer()

    def rank_vacancies_for_worker(
        self, worker: WorkerProfile, vacancies: Sequence[VacancyProfile], *, limit: int = 20
    ) -> list[Scored]:
        enc = self.scorer.encoder
        w_sig = enc.encode_worker(worker)
        rows = []
        for v in vacancies:
            v_sig = enc.encode_vacancy(v)
            if passes_hard_rules(w_sig, v_sig)[0]:
                rows.append((v, v_sig, pair_features(w_sig, v_sig)))
        if not rows:
            return []
        boost = self.scorer.boost.amount(worker)
        penalties = self.scorer.crowding.amounts(
            np.array([v.open_referrals for v, _, _ in rows]), np.array([v.remaining for v, _, _ in rows])
        )
        X = np.vstack([x for _, _, x in rows])
        final, model_scores, contrib, baseline = self.scorer.final(X, np.full(len(rows), boost), penalties)
        order = _top(final, [v.vacancy_id for v, _, _ in rows], limit)
        memo: dict = {}
        return [
            self.scorer.explain(
                item_id=rows[i][0].vacancy_id,
                final=final[i],
                contrib=contrib[i],
                baseline=baseline,
                boost=boost,
                penalty=penalties[i],
                worker=worker,
                w_sig=w_sig,
                v_sig=rows[i][1],
                model_score=float(model_scores[i]),
                memo=memo,
            )
            for i in order
        ]

    def rank_workers_for_vacancy(
        self, vacancy: VacancyProfile, workers: Sequence[WorkerProfile], *, limit: int = 20
    ) -> list[Scored]:
        enc = self.scorer.encoder
        v_sig = enc.encode_vacancy(vacancy)
        rows = []
        for w in workers:
            w_sig = enc.encode_worker(w)
            if passes_hard_rules(w_sig, v_sig)[0]:
                rows.append((w, w_sig, pair_features(w_sig, v_sig)))
        if not rows:
            return []
        boosts = np.array([self.scorer.boost.amount(w) for w, _, _ in rows])
        X = np.vstack([x for _, _, x in rows])
        # The crowding penalty is the same for every worker of one vacancy: it does not reorder them.
        final, model_scores, contrib, baseline = self.scorer.final(X, boosts, np.zeros(len(rows)))
        order = _top(final, [w.worker_id for w, _, _ in rows], limit)
        return [
            self.scorer.explain(
                item_id=rows[i][0].worker_id,
                final=final[i],
                contrib=contrib[i],
                baseline=baseline,
                boost=boosts[i],
                penalty=0.0,
                worker=rows[i][0],
                w_sig=rows[i][1],
                v_sig=v_sig,
                model_score=float(model_scores[i]),
            )
            for i in order
        ]


def _top(scores: np.ndarray, ids: Sequence[str], limit: int) -> list[int]:
    """Indices of the best `limit` scores; ties (to 6 decimals) broken by id so results are deterministic."""
    rounded = np.round(np.asarray(scores, dtype=np.float64), 6)
    if limit <= 0 or not len(rounded):
        return []
    if len(rounded) > limit:
        cutoff = np.partition(rounded, len(rounded) - limit)[len(rounded) - limit]
        pool = np.flatnonzero(rounded >= cutoff)  # the best `limit` and everything tied with the last
    else:
        pool = np.arange(len(rounded))
    return sorted(pool.tolist(), key=lambda i: (-rounded[i], ids[i]))[:limit]


# -- training --------------------------------------------------------------------------------------
NON_SKILL_REJECTIONS = frozenset(
    {"position_filled", "could_not_be_reached", "withdrawn", "worker_withdrew", "duplicate", "vacancy_closed"}
)


@dataclass(frozen=True)
class Outcome:
    """One referral's result with the pair's features as they were when the worker was referred.

    label: "hired", "retained" (still employed at a follow-up), "rejected", "left" (placement ended before
    a follow-up) or "withdrawn". group: the vacancy id (held-out splits and nDCG are per vacancy).
    """

    features: Mapping[str, float] | Sequence[float]
    label: str
    reason: str | None = None
    group: str = ""


def outcome_target(outcome: Outcome) -> tuple[int, float] | None:
    """(label, sample weight), or None for outcomes that carry no signal about the match."""
    if outcome.label == "hired":
        return 1, 1.0
    if outcome.label == "retained":
        return 1, 1.5
    if outcome.label == "left":
        return 0, 0.5
    if outcome.label == "rejected":
        if outcome.reason and outcome.reason in NON_SKILL_REJECTIONS:
            return None
        return 0, 1.0
    return None


def _matrix(outcomes: Sequence[Outcome]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rows, ys, ws, groups = [], [], [], []
    for o in outcomes:
        target = outcome_target(o)
        if target is None:
            continue
        f = o.features
        rows.append(
            [float(f[name]) for name in FEATURES] if isinstance(f, Mapping) else [float(v) for v in f]
        )
        ys.append(target[0])
        ws.append(target[1])
        groups.append(o.group)
    X = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    return X, np.asarray(ys, dtype=np.int64), np.asarray(ws, dtype=np.float64), groups


class NotEnoughOutcomes(ValueError):
    """Too few usable outcomes (or only one class) to train a model."""


def train(
    outcomes: Sequence[Outcome], *, C: float = 1.0, min_rows: int = 30, now: datetime | None = None
) -> TrainedModel:
    """Fit a logistic regression on all given outcomes (skipping those without a match signal)."""
    from sklearn.linear_model import LogisticRegression

    X, y, w, _ = _matrix(outcomes)
    if len(y) < min_rows or len(set(y.tolist())) < 2:
        raise NotEnoughOutcomes(f"{len(y)} usable outcomes, classes {sorted(set(y.tolist()))}")
    clf = LogisticRegression(C=C, max_iter=1000)
    clf.fit(X, y, sample_weight=w)
    coef = tuple(float(c) for c in clf.coef_[0])
    intercept = float(clf.intercept_[0])
    now = now or datetime.now(UTC)
    digest = hashlib.sha1(json.dumps([coef, intercept]).encode(), usedforsecurity=False).hexdigest()[:6]
    return TrainedModel(
        coef=coef,
        intercept=intercept,
        mean=tuple(float(m) for m in np.average(X, axis=0, weights=w)),
        version=f"lr-{now.strftime('%Y%m%dT%H%M%SZ')}-{digest}",
        trained_at=now.isoformat(timespec="seconds"),
        training_rows=len(y),
    )


def ndcg_at(relevance_in_rank_order: Sequence[float], k: int = 10) -> float:
    """nDCG@k of one ranked list of graded relevances (0 when nothing is relevant)."""
    rel = np.asarray(relevance_in_rank_order, dtype=np.float64)
    ideal = np.sort(rel)[::-1][:k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    idcg = float(((2**ideal - 1) * discounts[: len(ideal)]).sum())
    if idcg == 0:
        return 0.0
    top = rel[:k]
    return float(((2**top - 1) * discounts[: len(top)]).sum()) / idcg


def evaluate(
    model: PriorModel | TrainedModel, outcomes: Sequence[Outcome], *, k: int = 10
) -> dict[str, float]:
    """Held-out AUC (weighted) and mean per-vacancy nDCG@k of a model on outcomes."""
    from sklearn.metrics import roc_auc_score

    X, y, w, groups = _matrix(outcomes)
    out: dict[str, float] = {"rows": float(len(y))}
    if len(y) == 0:
        return out
    scores, _, _ = model.contributions(X)
    if len(set(y.tolist())) == 2:
        out["auc"] = float(roc_auc_score(y, scores, sample_weight=w))
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    ndcgs = []
    for idx in by_group.values():
        if y[idx].sum() == 0:
            continue
        order = sorted(idx, key=lambda i: -scores[i])
        ndcgs.append(ndcg_at([y[i] for i in order], k))
    if ndcgs:
        out["ndcg"] = float(np.mean(ndcgs))
        out["groups"] = float(len(ndcgs))
    return out


def split_by_group(
    outcomes: Sequence[Outcome], *, holdout: float = 0.2, salt: str = ""
) -> tuple[list[Outcome], list[Outcome]]:
    """(train, held out), by a stable hash of the vacancy id: one vacancy never sits on both sides."""
    train_part, held = [], []
    for o in outcomes:
        bucket = zlib.crc32((salt + o.group).encode("utf-8")) % 1000
        (held if bucket < holdout * 1000 else train_part).append(o)
    return train_part, held


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain decided: the model to use from now on and why."""

    active: PriorModel | TrainedModel
    candidate: TrainedModel | None
    promoted: bool
    reason: str
    candidate_metrics: Mapping[str, float] = field(default_factory=dict)
    current_metrics: Mapping[str, float] = field(default_factory=dict)


def retrain(
    outcomes: Sequence[Outcome],
    current: PriorModel | TrainedModel,
    *,
    holdout: float = 0.2,
    metric: str = "auc",
    min_rows: int = 30,
    C: float = 1.0,
    now: datetime | None = None,
) -> RetrainResult:
    """Train a candidate on part of the outcomes; promote it only if not worse on the held-out rest."""
    train_part, held = split_by_group(outcomes, holdout=holdout)
    try:
        candidate = train(train_part, C=C, min_rows=min_rows, now=now)
    except NotEnoughOutcomes as exc:
        return RetrainResult(
            active=current, candidate=None, promoted=False, reason=f"not enough outcomes: {exc}"
        )
    cand_m, cur_m = evaluate(candidate, held), evaluate(current, held)
    if metric not in cand_m or metric not in cur_m:
        return RetrainResult(
            active=current,
            candidate=candidate,
            promoted=False,
            reason=f"held-out outcomes cannot measure {metric}",
            candidate_metrics=cand_m,
            current_metrics=cur_m,
        )
    candidate = replace(
        candidate,
        metrics={f"holdout_{k}": v for k, v in cand_m.items()} | {f"previous_{metric}": cur_m[metric]},
    )
    if cand_m[metric] + 1e-12 >= cur_m[metric]:
        return RetrainResult(
            active=candidate,
            candidate=candidate,
            promoted=True,
            reason=f"held-out {metric} {cand_m[metric]:.4f} >= current {cur_m[metric]:.4f}",
            candidate_metrics=cand_m,
            current_metrics=cur_m,
        )
    return RetrainResult(
        active=current,
        candidate=candidate,
        promoted=False,
        reason=f"held-out {metric} {cand_m[metric]:.4f} < current {cur_m[metric]:.4f}",
        candidate_metrics=cand_m,
        current_metrics=cur_m,
    )
