"""Benchmark data from the demo generator: read-model profiles, event payloads, POST bodies, an XLSX file."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.intake.domain.identity import age_on, is_4050, parse_national_id
from services.intake.domain.normalise import normalise_terms
from services.matching.profiles import vacancy_profile_from_event, worker_profile_from_event
from shared import demo

COUNTY = "4109"  # 濮阳市, the demo county
N_EMPLOYERS = 1000
WORKER_SEED = 7
VACANCY_SEED = 13
BODY_SEED = 101  # the bodies sent to intake: a stream of their own, unique national IDs within it


def stable_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def worker_payload(body: dict[str, Any], worker_id: str, today: date) -> dict[str, Any]:
    """The WorkerRegistered payload intake would publish for this POST body (nothing personal)."""
    nid = parse_national_id(body["national_id"], today=today)
    age = age_on(nid.birth_date, today)
    return {
        "worker_id": worker_id,
        "version": 1,
        "region_code": body["region_code"],
        "age": age,
        "is_4050": is_4050(gender=nid.gender, age=age),
        "skills": normalise_terms(body["skills"]),
        "certificates": normalise_terms(body["certificates"]),
        "education": body.get("education"),
        "experience_years": float(body.get("experience_years") or 0),
        "desired_occupations": normalise_terms(body["desired_occupations"]),
        "desired_wage_min": body.get("desired_wage_min"),
        "willing_to_relocate": bool(body.get("willing_to_relocate")),
        "target_regions": list(dict.fromkeys(body.get("target_regions") or [])),
        "hardship": list(dict.fromkeys(body.get("hardship") or [])),
        "status": "active",
        "registered_on": today,
    }


def worker_payloads(n: int, *, today: date, seed: int = WORKER_SEED) -> Iterator[dict[str, Any]]:
    """n WorkerRegistered payloads of demo workers spread over the county's districts and counties."""
    rng = random.Random(seed * 7919)
    for body in demo.generate_workers(n, seed=seed, county_prefix=COUNTY, today=today):
        yield worker_payload(body, stable_uuid(rng), today)


@dataclass(frozen=True)
class Employers:
    ids: list[str]
    regions: dict[str, str]


def employers(*, today: date, n: int = N_EMPLOYERS) -> Employers:
    rng = random.Random(11 * 7919)
    ids, regions = [], {}
    for body in demo.generate_employers(n, county_prefix=COUNTY, today=today):
        employer_id = stable_uuid(rng)
        ids.append(employer_id)
        regions[employer_id] = body["region_code"]
    return Employers(ids, regions)


def vacancy_payloads(n: int, *, today: date, seed: int = VACANCY_SEED) -> Iterator[dict[str, Any]]:
    """n VacancyPosted payloads: regular, public-welfare and cross-region vacancies of the demo employers."""
    emp = employers(today=today)
    rng = random.Random(seed * 7919)
    for body in demo.generate_vacancies(n, employer_ids=emp.ids, employer_regions=emp.regions, seed=seed,
                                        county_prefix=COUNTY, today=today):
        yield {**body, "vacancy_id": stable_uuid(rng), "version": 1, "status": "open", "close_reason": None,
               "open_until": date.fromisoformat(body["open_until"]),
               "required_skills": normalise_terms(body["required_skills"]),
               "preferred_skills": normalise_terms(body["preferred_skills"]),
               "required_certificates": normalise_terms(body["required_certificates"])}


def read_model_rows(payloads, kind: str, now) -> Iterator[dict[str, Any]]:
    """Rows of m_workers / m_vacancies exactly as the matching consumer writes them for these events."""
    for p in payloads:
        if kind == "worker":
            yield {"worker_id": p["worker_id"], "version": 1, "region_code": p["region_code"],
                   "willing_to_relocate": bool(p["willing_to_relocate"]), "status": "active",
                   "profile": worker_profile_from_event(p), "updated_at": now}
        else:
            yield {"vacancy_id": p["vacancy_id"], "version": 1, "employer_id": p["employer_id"],
                   "vacancy_type": p["vacancy_type"], "status": "open", "profile": vacancy_profile_from_event(p),
                   "updated_at": now}


def worker_bodies(n: int, *, today: date) -> list[dict[str, Any]]:
    """n POST /workers bodies with distinct national IDs (for intake, whose database starts empty)."""
    return list(demo.generate_workers(n, seed=BODY_SEED, county_prefix=COUNTY, today=today))


_EDUCATION_ZH = {"none": "无", "primary": "小学", "junior_middle": "初中", "senior_middle": "高中",
                 "vocational": "中专", "college": "大专", "bachelor": "本科", "postgraduate": "研究生"}
_HARDSHIP_ZH = {"laid_off": "下岗失业", "unemployed": "失业", "zero_employment_household": "零就业家庭",
                "disabled": "残疾人", "low_income": "低保", "other": "其他"}
XLSX_HEADERS = ("身份证号", "姓名", "手机号", "区划代码", "技能", "证书", "学历", "工作年限", "求职意向",
                "期望月薪", "愿意外出", "意向地区代码", "困难类别", "同意")


def import_xlsx(bodies: list[dict[str, Any]]) -> bytes:
    """A bureau's spreadsheet of these workers: Chinese headers and words, lists joined with 、."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("求职登记")
    sheet.append(XLSX_HEADERS)
    for b in bodies:
        sheet.append([
            b["national_id"], b["name"], b["phone"], b["region_code"], "、".join(b["skills"]),
            "、".join(b["certificates"]), _EDUCATION_ZH.get(b.get("education") or "none", "无"),
            b.get("experience_years") or 0, "、".join(b["desired_occupations"]), b.get("desired_wage_min") or "",
            "是" if b.get("willing_to_relocate") else "否", "、".join(b.get("target_regions") or []),
            "、".join(_HARDSHIP_ZH[h] for h in b.get("hardship") or []), "是",
        ])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
