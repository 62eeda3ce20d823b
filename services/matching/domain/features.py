"""Features of a (worker, vacancy) pair, and the hard rules that come before any score.

The model sees a worker only through `WorkerSignals`, a projection of `WorkerProfile` that has no field
for gender, ethnicity, religion, origin, disability, `is_4050` or `hardship`: `pair_features` cannot use
what it is never given. (`is_4050` and `hardship` are read by `ranker.PolicyBoost` only, after the model.)

Features (all in 0..1; names are the keys of the explanation):

- `required_skill_coverage`: share of the vacancy's required skills the worker has — same words, or the
  same detailed occupation after normalisation (电焊 covers 焊工) — each weighted by its IDF, so that a
  specific skill (氩弧焊) counts for more than a generic one; 1.0 when none are required.
- `skill_similarity`: cosine of TF-IDF character n-gram vectors (all skills + desired occupations vs
  required + preferred skills + title + occupation), with the resolved classification codes added as
  extra tokens so that 电焊 and 焊工, which share no character pair, still meet.
- `occupation_similarity`: the best classification-hierarchy closeness between the worker's occupations
  (desired ones and those their skills resolve to) and the vacancy's occupation (1 / 0.6 / 0.3 / 0.1).
- `certificates`: share of required certificates held (after normalising 焊工证 / 焊工证书 / 焊工); 1.0
  when none are required.
- `region_proximity`: 1 same county, 0.66 same prefecture, 0.33 same province, 0 elsewhere.
- `wage_fit`: how much of the offered wage band lies at or above the worker's minimum (1.0 when the
  worker states none).
- `experience`: years of experience (saturating at 5) times `occupation_similarity`, i.e. experience in
  a related trade; experience in something else is not evidence for this vacancy.

Hard rules (`passes_hard_rules`): the vacancy is open with places left; the worker is active; region —
same prefecture, or the worker is willing to relocate and the vacancy is cross-region or inside one of the
worker's target regions; the worker's minimum wage is not above the vacancy's maximum.

Required certificates are deliberately NOT a hard rule (docs/decisions/0005): a bureau's main lever is
training, and a worker one certificate away from a job is exactly whom a caseworker should see — with the
certificate listed in `missing_skills` and in `raise_rank`. The `certificates` feature lowers the score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .clean import clean_title
from .model import VacancyProfile, WorkerProfile
from .text import Taxonomy, TextVectorizer, default_vectorizer, normalize, sparse_unit

FEATURES: tuple[str, ...] = (
    "required_skill_coverage",
    "skill_similarity",
    "occupation_similarity",
    "certificates",
    "region_proximity",
    "wage_fit",
    "experience",
)
F = {name: i for i, name in enumerate(FEATURES)}

REGION_PROXIMITY = (1.0, 0.66, 0.33, 0.0)  # by region_distance 0..3
EXPERIENCE_SATURATION_YEARS = 5.0
NO_REGION = -1
MIN_CONFIDENCE = 0.05  # candidate codes below this are not evidence at all


def cleaned_terms(text: str) -> list[str]:
    """A title or desired occupation as matching uses it: its cleaned parts.

    A title that cleans to nothing ("包吃住 五险一金 4000元") adds nothing: the vacancy is matched on what
    remains (its skills, occupation, region, wage), never on its perks.
    """
    if not normalize(text):
        return []
    return list(clean_title(text).parts)


def context_terms(text: str) -> list[str]:
    """What a title's brackets say about the work (技术经理（塑胶薄膜） → 塑胶薄膜): text evidence, no code."""
    return list(clean_title(text).context) if normalize(text) else []


# -- regions ---------------------------------------------------------------------------------------
def region_int(code: str | None) -> int:
    """A 6-digit GB/T 2260 code as an int (-1 when it is not one)."""
    code = (code or "").strip()
    return int(code) if len(code) == 6 and code.isdigit() else NO_REGION


def region_distance(a: str | int, b: str | int) -> int:
    """0 same county, 1 same prefecture (first 4 digits), 2 same province (first 2), 3 elsewhere."""
    ra = a if isinstance(a, int) else region_int(a)
    rb = b if isinstance(b, int) else region_int(b)
    if ra < 0 or rb < 0:
        return 3
    if ra == rb:
        return 0
    if ra // 100 == rb // 100:
        return 1
    if ra // 10000 == rb // 10000:
        return 2
    return 3


def target_range(code: str) -> tuple[int, int] | None:
    """A target region as a half-open range of 6-digit codes: 410000 or 41 → the province, 410900 → city."""
    code = (code or "").strip()
    if not code.isdigit() or len(code) not in (2, 4, 6):
        return None
    if len(code) == 6:
        # Trailing zero pairs mean "the whole prefecture/province" in GB/T 2260.
        code = code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code
    scale = 10 ** (6 - len(code))
    lo = int(code) * scale
    return lo, lo + scale


# -- signals: what the model may see ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkerSignals:
    """The model's view of a worker. It has no field for protected attributes or policy categories."""

    worker_id: str
    region: int
    skill_keys: frozenset[str]
    codes: tuple[str, ...]
    certificate_keys: tuple[str, ...]
    experience_years: float
    desired_wage_min: int | None
    willing_to_relocate: bool
    target_ranges: tuple[tuple[int, int], ...]
    active: bool
    vec_idx: np.ndarray
    vec_val: np.ndarray
    code_confidence: tuple[float, ...] = ()  # one per code; () means 1.0 each


@dataclass(frozen=True, slots=True)
class VacancySignals:
    """The model's view of a vacancy (the referral counters live in `VacancyProfile` / the index)."""

    vacancy_id: str
    region: int
    required: tuple[tuple[str, frozenset[str]], ...]  # (the vacancy's wording, match keys)
    required_weights: tuple[float, ...]  # how specific each required skill is (its IDF)
    preferred: tuple[tuple[str, frozenset[str]], ...]
    codes: tuple[str, ...]
    certificates: tuple[tuple[str, str], ...]  # (wording, normalised key)
    wage_min: int | None
    wage_max: int | None
    vacancy_type: str
    is_open: bool
    vec_idx: np.ndarray
    vec_val: np.ndarray
    code_confidence: tuple[float, ...] = ()  # one per code; () means 1.0 each
    evidence: tuple[tuple[str, str, float], ...] = ()  # (cleaned wording, code, confidence) of the title


_CERT_SUFFIX = re.compile(r"(?:职业)?(?:资格|技能|上岗|操作|特种作业操作)?(?:证书|证|资格)$")


def certificate_key(text: str) -> str:
    """焊工证 / 焊工证书 / 焊工上岗证 → 焊工 (a certificate is matched on what it certifies)."""
    key = normalize(text).replace(" ", "")
    stripped = _CERT_SUFFIX.sub("", key)
    return stripped or key


def certificate_held(required_key: str, held_keys: Sequence[str]) -> bool:
    """Held if a worker's certificate names the same thing or a narrower one (高压电工 holds 电工)."""
    return any(required_key == k or (len(required_key) >= 2 and required_key in k) for k in held_keys)


class Encoder:
    """Turns profiles into signals: normalised terms, classification codes and a unit sparse vector."""

    def __init__(
        self,
        taxonomy: Taxonomy | None = None,
        vectorizer: TextVectorizer | None = None,
        *,
        code_weight: float = 1.0,
        group_weight: float = 0.5,
        use_codes: bool = True,
        top_k: int = 3,
    ) -> None:
        self.taxonomy = taxonomy or Taxonomy.load()
        self.vectorizer = vectorizer or default_vectorizer(self.taxonomy)
        # Code tokens weigh as much as the rarest n-gram (times these factors): a shared detailed
        # occupation is strong evidence, a shared minor group half of it.
        self.code_weight = code_weight * self.vectorizer.default_idf
        self.group_weight = group_weight * self.vectorizer.default_idf
        self.use_codes = use_codes
        self.top_k = top_k

    def codes(self, term: str) -> tuple[str, ...]:
        """Classification codes of a term (none when codes are switched off)."""
        return self.taxonomy.resolve(term) if self.use_codes else ()

    def soft_codes(self, term: str) -> tuple[tuple[str, float], ...]:
        """Candidate codes of free text with their calibrated confidence (soft evidence)."""
        if not self.use_codes or not normalize(term):
            return ()
        return tuple((c, p) for c, p in self.taxonomy.classify(term, k=self.top_k) if p >= MIN_CONFIDENCE)

    def _merge_codes(self, terms: Sequence[str]) -> dict[str, float]:
        best: dict[str, float] = {}
        for term in terms:
            for code, p in self.soft_codes(term):
                best[code] = max(best.get(code, 0.0), p)
        return best

    def term_keys(self, term: str) -> frozenset[str]:
        """Match keys of a skill: its normalised words and its detailed occupation codes."""
        return frozenset(("t:" + normalize(term), *("c:" + c for c in self.codes(term))))

    def vector(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unit sparse vector of a bag of terms, with code tokens for what the taxonomy recognised."""
        weights = self.vectorizer.weights(terms)
        if self.use_codes:
            # Each code token weighs by the code's confidence: a guess is soft evidence, and a wrong
            # low-confidence guess costs a text match little (tests/unit/matching/test_matching_soft_codes.py).
            counts: dict[str, float] = {}
            for term in terms:
                for code, p in self.soft_codes(term):
                    counts[code] = counts.get(code, 0.0) + p
            groups: dict[str, float] = {}
            for code, c in counts.items():
                tid = self.vectorizer.column("#" + code)
                weights[tid] = weights.get(tid, 0.0) + self.code_weight * c
                group = code[:7]
                groups[group] = max(groups.get(group, 0.0), c)
            for group, c in groups.items():
                tid = self.vectorizer.column("#" + group)
                weights[tid] = weights.get(tid, 0.0) + self.group_weight * c
        return sparse_unit(weights)

    def encode_worker(self, worker: WorkerProfile) -> WorkerSignals:
        """Project a worker onto what the model may see."""
        desired = [p for t in worker.desired_occupations for p in cleaned_terms(t)]
        terms = [t for t in (*worker.skills, *desired) if normalize(t)]
        keys: set[str] = set()
        for skill in worker.skills:
            if normalize(skill):
                keys |= self.term_keys(skill)
        soft = self._merge_codes((*desired, *worker.skills))
        codes = tuple(soft)
        idx, val = self.vector(terms)
        return WorkerSignals(
            worker_id=worker.worker_id,
            region=region_int(worker.region_code),
            skill_keys=frozenset(keys),
            codes=codes,
            certificate_keys=tuple(certificate_key(c) for c in worker.certificates if normalize(c)),
            experience_years=max(float(worker.experience_years or 0.0), 0.0),
            desired_wage_min=worker.desired_wage_min,
            willing_to_relocate=bool(worker.willing_to_relocate),
            target_ranges=tuple(r for r in map(target_range, worker.target_regions) if r),
            active=bool(worker.active),
            vec_idx=idx,
            vec_val=val,
            code_confidence=tuple(soft.values()),
        )

    def encode_vacancy(self, vacancy: VacancyProfile) -> VacancySignals:
        """Project a vacancy onto what the model may see."""
        required = tuple(
            (s, self.term_keys(s)) for s in dict.fromkeys(vacancy.required_skills) if normalize(s)
        )
        preferred = tuple(
            (s, self.term_keys(s)) for s in dict.fromkeys(vacancy.preferred_skills) if normalize(s)
        )
        title_terms = cleaned_terms(vacancy.title)
        occupation_terms = cleaned_terms(vacancy.occupation)
        soft = self._merge_codes(occupation_terms) or self._merge_codes(title_terms)
        codes = tuple(soft)
        evidence = tuple(
            (wording, code, p)
            for wording in (occupation_terms or title_terms)[:3]
            for code, p in self.soft_codes(wording)[:1]
        )
        terms = [
            t
            for t in (
                *vacancy.required_skills,
                *vacancy.preferred_skills,
                *title_terms,
                *occupation_terms,
                *context_terms(vacancy.title),
            )
            if normalize(t)
        ]
        idx, val = self.vector(terms)
        return VacancySignals(
            vacancy_id=vacancy.vacancy_id,
            region=region_int(vacancy.region_code),
            required=required,
            required_weights=tuple(self.vectorizer.term_idf(s) for s, _ in required),
            preferred=preferred,
            codes=codes,
            certificates=tuple(
                (c, certificate_key(c)) for c in dict.fromkeys(vacancy.required_certificates) if normalize(c)
            ),
            wage_min=vacancy.wage_min,
            wage_max=vacancy.wage_max,
            vacancy_type=vacancy.vacancy_type,
            is_open=vacancy.is_open,
            vec_idx=idx,
            vec_val=val,
            code_confidence=tuple(soft.values()),
            evidence=evidence,
        )


# -- hard rules ------------------------------------------------------------------------------------
def passes_hard_rules(
    worker: WorkerSignals | WorkerProfile, vacancy: VacancySignals | VacancyProfile
) -> tuple[bool, str | None]:
    """(True, None) or (False, reason); reasons: vacancy_closed, worker_inactive, region, wage."""
    if isinstance(vacancy, VacancyProfile):
        is_open, v_region, v_type, v_wage_max = (
            vacancy.is_open,
            region_int(vacancy.region_code),
            vacancy.vacancy_type,
            vacancy.wage_max,
        )
    else:
        is_open, v_region, v_type, v_wage_max = (
            vacancy.is_open,
            vacancy.region,
            vacancy.vacancy_type,
            vacancy.wage_max,
        )
    if isinstance(worker, WorkerProfile):
        w_active, w_region, w_willing, w_ranges, w_min = (
            worker.active,
            region_int(worker.region_code),
            worker.willing_to_relocate,
            tuple(r for r in map(target_range, worker.target_regions) if r),
            worker.desired_wage_min,
        )
    else:
        w_active, w_region, w_willing, w_ranges, w_min = (
            worker.active,
            worker.region,
            worker.willing_to_relocate,
            worker.target_ranges,
            worker.desired_wage_min,
        )
    if not is_open:
        return False, "vacancy_closed"
    if not w_active:
        return False, "worker_inactive"
    if not region_allows(w_region, w_willing, w_ranges, v_region, v_type):
        return False, "region"
    if w_min is not None and v_wage_max is not None and w_min > v_wage_max:
        return False, "wage"
    return True, None


def region_allows(
    w_region: int, willing: bool, ranges: Sequence[tuple[int, int]], v_region: int, v_type: str
) -> bool:
    """Same prefecture, or willing to relocate and (cross-region vacancy or inside a target region)."""
    if w_region >= 0 and v_region >= 0 and w_region // 100 == v_region // 100:
        return True
    if not willing:
        return False
    return v_type == "cross_region" or any(lo <= v_region < hi for lo, hi in ranges)


# -- features --------------------------------------------------------------------------------------
def sparse_dot(ai: np.ndarray, av: np.ndarray, bi: np.ndarray, bv: np.ndarray) -> float:
    """Dot product of two sparse vectors given as sorted index arrays and values."""
    if not len(ai) or not len(bi):
        return 0.0
    pos = np.searchsorted(bi, ai)
    pos[pos >= len(bi)] = 0
    hit = bi[pos] == ai
    return float(np.dot(av[hit].astype(np.float64), bv[pos[hit]].astype(np.float64)))


def coverage(
    required: Sequence[tuple[str, frozenset[str]]], weights: Sequence[float], skill_keys: frozenset[str]
) -> float:
    """Share of required skills whose keys meet the worker's, each weighted by how specific it is."""
    if not required:
        return 1.0
    hit = sum(w for (_, keys), w in zip(required, weights, strict=True) if not keys.isdisjoint(skill_keys))
    return hit / sum(weights)


def occupation_similarity(
    worker_codes: Sequence[str],
    vacancy_codes: Sequence[str],
    worker_conf: Sequence[float] = (),
    vacancy_conf: Sequence[float] = (),
) -> float:
    """Best hierarchy closeness between any of the worker's and any of the vacancy's codes, each pair
    weighted by both codes' confidence (1.0 when none is given): a guessed code is soft evidence."""
    best = 0.0
    for i, vc in enumerate(vacancy_codes):
        v = vc.split("-")
        pv = vacancy_conf[i] if i < len(vacancy_conf) else 1.0
        for j, wc in enumerate(worker_codes):
            pw = worker_conf[j] if j < len(worker_conf) else 1.0
            if wc == vc:
                s = 1.0
            else:
                w = wc.split("-")
                s = 0.6 if w[:3] == v[:3] else 0.3 if w[:2] == v[:2] else 0.1 if w[0] == v[0] else 0.0
            best = max(best, s * pv * pw)
    return best


def certificate_share(required: Sequence[tuple[str, str]], held: Sequence[str]) -> float:
    """Share of required certificates held; 1.0 when none are required."""
    if not required:
        return 1.0
    return sum(1 for _, key in required if certificate_held(key, held)) / len(required)


def wage_fit(desired_min: int | None, wage_min: int | None, wage_max: int | None) -> float:
    """Share of the offered band at or above the worker's minimum (1 if none stated, 0.5 if no band)."""
    if desired_min is None:
        return 1.0
    lo = wage_min if wage_min is not None else wage_max
    hi = wage_max if wage_max is not None else wage_min
    if lo is None or hi is None:
        return 0.5
    if lo >= desired_min:
        return 1.0
    if hi <= lo:
        return 0.0
    return min(max((hi - desired_min) / (hi - lo), 0.0), 1.0)


def experience(years: float, occ_similarity: float) -> float:
    """Experience (saturating at 5 years) in a trade as close as the occupation similarity."""
    return min(years / EXPERIENCE_SATURATION_YEARS, 1.0) * occ_similarity


def feature_row(worker: WorkerSignals, vacancy: VacancySignals, similarity: float) -> list[float]:
    """The features (ordered as FEATURES) of one pair, given their text similarity."""
    occ = occupation_similarity(worker.codes, vacancy.codes, worker.code_confidence, vacancy.code_confidence)
    return [
        coverage(vacancy.required, vacancy.required_weights, worker.skill_keys),
        min(max(similarity, 0.0), 1.0),
        occ,
        certificate_share(vacancy.certificates, worker.certificate_keys),
        REGION_PROXIMITY[region_distance(worker.region, vacancy.region)],
        wage_fit(worker.desired_wage_min, vacancy.wage_min, vacancy.wage_max),
        experience(worker.experience_years, occ),
    ]


def pair_features(worker: WorkerSignals, vacancy: VacancySignals) -> np.ndarray:
    """The feature vector (ordered as FEATURES) of one pair.

    It takes signals, not profiles: protected attributes and policy categories cannot reach it.
    """
    similarity = sparse_dot(worker.vec_idx, worker.vec_val, vacancy.vec_idx, vacancy.vec_val)
    return np.array(feature_row(worker, vacancy, similarity), dtype=np.float64)


def features_dict(vector: np.ndarray) -> dict[str, float]:
    """FEATURES → values."""
    return {name: float(v) for name, v in zip(FEATURES, vector, strict=True)}


def matched_and_missing(worker: WorkerSignals, vacancy: VacancySignals) -> tuple[list[str], list[str]]:
    """The vacancy's skills the worker has (required and preferred), and what is missing of the required
    skills and certificates (in the vacancy's wording)."""
    matched = [
        s for s, keys in (*vacancy.required, *vacancy.preferred) if not keys.isdisjoint(worker.skill_keys)
    ]
    missing = [s for s, keys in vacancy.required if keys.isdisjoint(worker.skill_keys)]
    missing += [c for c, key in vacancy.certificates if not certificate_held(key, worker.certificate_keys)]
    return matched, missing
