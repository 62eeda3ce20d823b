"""Upcoming courses for `raise_rank`: what a vacancy misses, and the next course with free places that teaches it.

Courses come from support's training events (consumer.py keeps `m_courses`). A course is named when its skill or
its certificate is the missing term (compared after NFKC and case folding), it starts today or later, and it has
a free place; one in the worker's prefecture (first four digits of the region) comes before one elsewhere, then
the earliest.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.matching.adapters.tables import courses


def course_term_key(term: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", term).split()).casefold()


def upcoming_courses(session: Session, terms: Iterable[str], *, today: date) -> list[dict]:
    """Open courses (starting today or later, with a free place) teaching any of `terms`."""
    keys = sorted({course_term_key(t) for t in terms})
    if not keys:
        return []
    rows = session.execute(
        sa.select(courses).where(sa.or_(courses.c.skill_key.in_(keys), courses.c.certificate_key.in_(keys)),
                                 courses.c.starts_on >= today, courses.c.enrolled < courses.c.capacity)
    ).mappings().all()
    return [dict(r) for r in rows]


def attach_courses(items: list[dict], found: list[dict], *, region_code: str | None) -> None:
    """Add `course` to each raise_rank entry that an upcoming course teaches (in place)."""
    prefecture = (region_code or "")[:4]

    def best(key: str, column: str) -> dict | None:
        fitting = [c for c in found if c[column] == key]
        fitting.sort(key=lambda c: (not (prefecture and c["region_code"].startswith(prefecture)), c["starts_on"],
                                    c["course_id"]))
        return fitting[0] if fitting else None

    for item in items:
        for entry in item.get("raise_rank") or []:
            if "skill" in entry:
                course = best(course_term_key(entry["skill"]), "skill_key")
            else:
                course = best(course_term_key(entry.get("certificate", "")), "certificate_key")
            if course is not None:
                entry["course"] = {"course_id": course["course_id"], "title": course["title"],
                                   "starts_on": course["starts_on"].isoformat(), "region_code": course["region_code"],
                                   "free_places": course["capacity"] - course["enrolled"]}


def missing_terms(items: Iterable[dict]) -> set[str]:
    return {e.get("skill") or e.get("certificate") or "" for item in items for e in item.get("raise_rank") or []} - {""}
