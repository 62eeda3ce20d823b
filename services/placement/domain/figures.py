"""The bureau's figures, computed from plain facts: who was placed when, referrals, follow-ups, export batches.

Every figure counts people where the programme counts people (a worker placed twice is one re-employed
worker), keeps public-welfare posts apart from unsubsidised work, and says `None` rather than 0 when there is
nothing to divide by. The exact definitions are in docs/decisions/0003-placement-figures.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from services.placement.domain.placements import PLACEMENT_TYPES, followup_date

RETENTION_MONTHS = (3, 6)


@dataclass(frozen=True)
class PlacementFact:
    worker_id: str
    placement_type: str
    start_date: date
    is_4050: bool
    registered_on: date | None
    # month -> still employed, for the follow-ups recorded
    followups: Mapping[int, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ReferralFact:
    created_on: date
    hired: bool
    responded: bool


@dataclass(frozen=True)
class ExportFact:
    worker_id: str
    departure_date: date
    returned_early: bool


@dataclass(frozen=True)
class IncomeFact:
    period: str  # YYYY-MM
    amount: int
    share: float  # the part of the batch's workers inside the report's regions (1.0 without a region filter)


def _in(day: date, start: date, end: date) -> bool:
    return start <= day <= end


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def retention(placements: Iterable[PlacementFact], month: int, start: date, end: date) -> tuple[int, int]:
    """(employed, known) over placements whose `month`-month date falls in the period.

    Known: a follow-up for that month was recorded, or an earlier one found the worker gone (not retained).
    A placement with neither is not yet known and left out, rather than guessed either way. Each worker counts
    once: by the earliest of its placements whose date falls in the period.
    """
    employed = known = 0
    for p in _first_per_worker(p for p in placements if _in(followup_date(p.start_date, month), start, end)):
        if month in p.followups:
            known += 1
            employed += 1 if p.followups[month] else 0
        elif any(m < month and not still for m, still in p.followups.items()):
            known += 1
    return employed, known


def _first_per_worker(placements: Iterable[PlacementFact]) -> list[PlacementFact]:
    """Each worker's earliest placement (by start, then type): a worker counts once per figure and period."""
    first: dict[str, PlacementFact] = {}
    for p in placements:
        seen = first.get(p.worker_id)
        if seen is None or (p.start_date, PLACEMENT_TYPES.index(p.placement_type)) < (
                seen.start_date, PLACEMENT_TYPES.index(seen.placement_type)):
            first[p.worker_id] = p
    return list(first.values())


def median_days_to_placement(placements: Iterable[PlacementFact]) -> float | None:
    """Median of registration → start over workers (each by its first placement); a start before registration
    counts as 0 days."""
    days = [max(0, (p.start_date - p.registered_on).days) for p in _first_per_worker(placements)
            if p.registered_on is not None]
    if not days:
        return None
    value = statistics.median(days)
    return int(value) if float(value).is_integer() else float(value)


def _money(value: float) -> int | float:
    value = round(value, 2)
    return int(value) if float(value).is_integer() else value


def summary(*, start: date, end: date, placements: Iterable[PlacementFact], referrals: Iterable[ReferralFact],
            exports: Iterable[ExportFact], income: Iterable[IncomeFact]) -> dict:
    """All figures of one region and period. Facts outside the period are ignored here, so callers may over-fetch."""
    placements = list(placements)
    in_period = [p for p in placements if _in(p.start_date, start, end)]
    people = {p.worker_id for p in in_period}
    by_type = {kind: len({p.worker_id for p in in_period if p.placement_type == kind}) for kind in PLACEMENT_TYPES}

    referrals = [r for r in referrals if _in(r.created_on, start, end)]
    hired = sum(1 for r in referrals if r.hired)
    responded = sum(1 for r in referrals if r.responded)

    exported = [e for e in exports if _in(e.departure_date, start, end)]
    first_period, last_period = f"{start:%Y-%m}", f"{end:%Y-%m}"
    money = sum(i.amount * i.share for i in income if first_period <= i.period <= last_period)

    kept = {}
    for month in RETENTION_MONTHS:
        employed, known = retention(placements, month, start, end)
        kept[f"m{month}"] = _rate(employed, known)

    return {
        "reemployed": len(people),
        "reemployed_4050": len({p.worker_id for p in in_period if p.is_4050}),
        "by_type": by_type,
        "placements": len(in_period),
        "exported_workers": len({e.worker_id for e in exported}),
        "returned_early": len({e.worker_id for e in exported if e.returned_early}),
        "export_income": _money(money),
        "referrals": len(referrals),
        "referral_to_hire_rate": _rate(hired, len(referrals)),
        "employer_response_rate": _rate(responded, len(referrals)),
        "retention": kept,
        "median_days_to_placement": median_days_to_placement(in_period),
    }


FLAT_ORDER = (
    "reemployed", "reemployed_4050", "by_type.regular", "by_type.public_welfare", "by_type.self_employment",
    "by_type.cross_region", "placements", "exported_workers", "returned_early", "export_income", "referrals",
    "referral_to_hire_rate", "employer_response_rate", "retention.m3", "retention.m6", "median_days_to_placement",
)


def flatten(figures: Mapping) -> list[tuple[str, object]]:
    """The figures as (name, value) rows, nested names dotted, in a fixed order (for CSV and XLSX)."""
    rows = []
    for name in FLAT_ORDER:
        value: object = figures
        for part in name.split("."):
            value = value[part]  # type: ignore[index]
        rows.append((name, value))
    return rows
