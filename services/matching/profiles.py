"""Between events, stored read-model rows and the domain's profiles."""

from __future__ import annotations

from functools import cache

from services.matching.domain.model import VacancyProfile, WorkerProfile

_WORKER_LISTS = ("skills", "certificates", "desired_occupations", "target_regions", "hardship")
_VACANCY_LISTS = ("required_skills", "preferred_skills", "required_certificates")


def worker_profile_from_event(p: dict) -> dict:
    """The JSON-ready profile kept in the read model (nothing personal arrives in events)."""
    out = {key: list(p.get(key) or []) for key in _WORKER_LISTS}
    out.update(
        region_code=p["region_code"],
        education=p.get("education") or "none",
        experience_years=float(p.get("experience_years") or 0),
        desired_wage_min=p.get("desired_wage_min"),
        willing_to_relocate=bool(p.get("willing_to_relocate")),
        is_4050=bool(p.get("is_4050")),
        status=p.get("status") or "active",
    )
    return out


def vacancy_profile_from_event(p: dict) -> dict:
    out = {key: list(p.get(key) or []) for key in _VACANCY_LISTS}
    out.update(
        employer_id=p["employer_id"],
        title=p["title"],
        occupation=p.get("occupation") or "",
        region_code=p["region_code"],
        wage_min=p.get("wage_min"),
        wage_max=p.get("wage_max"),
        headcount=int(p["headcount"]),
        vacancy_type=p["vacancy_type"],
        accommodation=bool(p.get("accommodation")),
        status=p.get("status") or "open",
        filled=0,
        open_referrals=0,
    )
    return out


def worker_profile(worker_id: str, profile: dict) -> WorkerProfile:
    return WorkerProfile(
        worker_id=worker_id,
        region_code=profile["region_code"],
        skills=tuple(profile.get("skills", ())),
        certificates=tuple(profile.get("certificates", ())),
        education=profile.get("education") or "none",
        experience_years=float(profile.get("experience_years") or 0),
        desired_occupations=tuple(profile.get("desired_occupations", ())),
        desired_wage_min=profile.get("desired_wage_min"),
        willing_to_relocate=bool(profile.get("willing_to_relocate")),
        target_regions=tuple(profile.get("target_regions", ())),
        is_4050=bool(profile.get("is_4050")),
        hardship=tuple(profile.get("hardship", ())),
        active=profile.get("status", "active") == "active",
    )


def vacancy_profile(vacancy_id: str, profile: dict) -> VacancyProfile:
    return VacancyProfile(
        vacancy_id=vacancy_id,
        employer_id=profile["employer_id"],
        title=profile["title"],
        occupation=profile.get("occupation", ""),
        required_skills=tuple(profile.get("required_skills", ())),
        preferred_skills=tuple(profile.get("preferred_skills", ())),
        required_certificates=tuple(profile.get("required_certificates", ())),
        region_code=profile["region_code"],
        wage_min=profile.get("wage_min"),
        wage_max=profile.get("wage_max"),
        headcount=int(profile.get("headcount", 1)),
        filled=int(profile.get("filled", 0)),
        open_referrals=int(profile.get("open_referrals", 0)),
        vacancy_type=profile.get("vacancy_type", "regular"),
        accommodation=bool(profile.get("accommodation")),
        status=profile.get("status", "open"),
    )


@cache
def encoder(synonyms_path: str | None = None):
    """One encoder per process (building one reads the classification): the bureau's extra synonyms included."""
    from services.matching.domain.features import Encoder
    from services.matching.domain.text import Taxonomy

    return Encoder(Taxonomy.load(extra_synonyms=synonyms_path))


def pair_feature_dict(worker: dict, vacancy: dict, *, synonyms_path: str | None = None) -> dict[str, float]:
    """The model's features of one stored worker and vacancy (what an outcome is learned from)."""
    from services.matching.domain.features import features_dict, pair_features

    enc = encoder(synonyms_path)
    w = enc.encode_worker(worker_profile("w", worker))
    v = enc.encode_vacancy(vacancy_profile("v", vacancy))
    return features_dict(pair_features(w, v))
