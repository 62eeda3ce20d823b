"""The matching domain's plain data: who is looking, what is offered, and a scored result.

`WorkerProfile` carries no gender, ethnicity, religion, origin or disability flag as such. It does carry
`is_4050` and `hardship` (which may contain "disabled"), because the bureau's policy boost needs them;
they are read ONLY by `ranker.PolicyBoost`. The model's feature function takes `features.WorkerSignals`,
a projection that has no field for them, so the model cannot see them even by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VACANCY_TYPES = ("regular", "public_welfare", "cross_region")
HARDSHIP_CATEGORIES = (
    "laid_off",
    "unemployed",
    "zero_employment_household",
    "disabled",
    "low_income",
    "other",
)


@dataclass(frozen=True, slots=True)
class WorkerProfile:
    """A job seeker as the matching service knows them (no name, ID number or phone)."""

    worker_id: str
    region_code: str
    skills: tuple[str, ...] = ()
    certificates: tuple[str, ...] = ()
    education: str = "none"
    experience_years: float = 0.0
    desired_occupations: tuple[str, ...] = ()
    desired_wage_min: int | None = None
    willing_to_relocate: bool = False
    target_regions: tuple[str, ...] = ()
    is_4050: bool = False
    hardship: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True, slots=True)
class VacancyProfile:
    """An employer's vacancy, with the referral counters the placement service reports."""

    vacancy_id: str
    employer_id: str
    title: str
    occupation: str
    required_skills: tuple[str, ...] = ()
    preferred_skills: tuple[str, ...] = ()
    required_certificates: tuple[str, ...] = ()
    region_code: str = ""
    wage_min: int | None = None
    wage_max: int | None = None
    headcount: int = 1
    filled: int = 0
    open_referrals: int = 0
    vacancy_type: str = "regular"
    accommodation: bool = False
    status: str = "open"

    @property
    def remaining(self) -> int:
        """Places still to fill."""
        return max(self.headcount - self.filled, 0)

    @property
    def is_open(self) -> bool:
        """Open and with at least one place left."""
        return self.status == "open" and self.remaining > 0


@dataclass(slots=True)
class Scored:
    """One item of a ranked list: the other side's id, the final score and why.

    `explanation` maps each model feature to its contribution, plus `baseline` (learned models only),
    `policy_boost` and `crowding_penalty`; the values add up to `score` (before clipping to 0..1).
    `raise_rank` lists the missing skills or certificates that would add the most score, best first.
    `evidence` says in words what the score rests on, e.g. 岗位"电焊学徒"≈职业"电焊工"(置信度0.58).
    """

    id: str
    score: float
    matched_skills: list[str] = field(default_factory=list)
    missing_skills: list[str] = field(default_factory=list)
    explanation: dict[str, float] = field(default_factory=dict)
    raise_rank: list[dict] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # the evidence used, in a caseworker's words

    def to_dict(self) -> dict:
        """A JSON-ready dict (the HTTP layer renames `id` to `worker_id`/`vacancy_id`)."""
        return {
            "id": self.id,
            "score": self.score,
            "matched_skills": list(self.matched_skills),
            "missing_skills": list(self.missing_skills),
            "explanation": dict(self.explanation),
            "raise_rank": [dict(r) for r in self.raise_rank],
            "evidence": list(self.evidence),
        }
