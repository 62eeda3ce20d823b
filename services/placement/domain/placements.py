"""Placements and their follow-ups: which type a placement has, when each follow-up falls due, what is due now."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from shared.errors import Conflict, InvalidInput

PLACEMENT_TYPES = ("regular", "public_welfare", "self_employment", "cross_region")
FOLLOWUP_MONTHS = (1, 3, 6, 12)
# How early a follow-up may be recorded before its date: caseworkers phone in batches, not on the exact day.
FOLLOWUP_EARLY_DAYS = 7
LEFT_REASONS = (
    "contract_ended", "dismissed", "quit_wage", "quit_conditions", "health", "family", "relocated", "other",
)
ACTIVE = "active"
ENDED = "ended"


class PlacementEnded(Conflict):
    code = "placement_ended"


class DuplicateFollowUp(Conflict):
    code = "duplicate_followup"


class FollowUpNotDue(InvalidInput):
    code = "followup_not_due"


class InconsistentPlacement(InvalidInput):
    code = "inconsistent_placement"


def add_months(start: date, months: int) -> date:
    """The same day `months` calendar months later, or the month's last day (31 January + 1 = 28/29 February)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def followup_date(start: date, month: int) -> date:
    return add_months(start, month)


def type_for_vacancy(vacancy_type: str) -> str:
    """A hire through a referral is a placement of the vacancy's kind."""
    return {"public_welfare": "public_welfare", "cross_region": "cross_region"}.get(vacancy_type, "regular")


def check_direct_placement(data: Mapping, *, vacancy: Mapping | None) -> None:
    """A direct placement's fields must agree with each other and with its vacancy."""
    kind = data["placement_type"]
    errors: dict[str, list[str]] = {}
    if data.get("micro_loan_amount") is not None and kind != "self_employment":
        errors["micro_loan_amount"] = ["only for self_employment"]
    if kind == "self_employment":
        if data.get("vacancy_id"):
            errors["vacancy_id"] = ["a self-employed worker has no vacancy"]
        if data.get("employer_id"):
            errors["employer_id"] = ["a self-employed worker has no employer"]
    if vacancy is not None:
        expected = type_for_vacancy(vacancy["vacancy_type"])
        if kind != expected and kind != "self_employment":
            errors["placement_type"] = [f"the vacancy is {vacancy['vacancy_type']}: the placement must be {expected}"]
        if data.get("employer_id") and data["employer_id"] != vacancy["employer_id"]:
            errors["employer_id"] = ["is not the vacancy's employer"]
    if errors:
        raise InconsistentPlacement("the placement is inconsistent: " + ", ".join(sorted(errors)), fields=errors)


def check_followup(*, month: int, employed: bool, left_reason: str | None, left_reason_text: str | None,
                   monthly_wage: int | None, start_date: date, status: str, recorded: Iterable[int],
                   today: date) -> None:
    """Raise unless this follow-up may be recorded now."""
    errors: dict[str, list[str]] = {}
    if employed:
        if left_reason is not None:
            errors["left_reason"] = ["only when employed is false"]
        if left_reason_text is not None:
            errors["left_reason_text"] = ["only when employed is false"]
    else:
        if left_reason is None:
            errors["left_reason"] = [f"required when employed is false; one of {', '.join(LEFT_REASONS)}"]
        elif left_reason == "other" and not (left_reason_text and left_reason_text.strip()):
            errors["left_reason_text"] = ["required when left_reason is other"]
        if monthly_wage is not None:
            errors["monthly_wage"] = ["only when employed is true"]
    if errors:
        raise InvalidInput("invalid follow-up: " + ", ".join(sorted(errors)), fields=errors)
    if month in set(recorded):
        raise DuplicateFollowUp(f"the {month}-month follow-up is recorded already",
                                fields={"month": ["recorded already"]})
    if status == ENDED:
        raise PlacementEnded("the placement has ended; no further follow-ups", fields={"month": ["placement ended"]})
    due = followup_date(start_date, month)
    if today < due - timedelta(days=FOLLOWUP_EARLY_DAYS):
        raise FollowUpNotDue(f"the {month}-month follow-up falls on {due.isoformat()}",
                             fields={"month": [f"not due before {due.isoformat()}"]})


@dataclass(frozen=True)
class OpenPlacement:
    placement_id: str
    worker_id: str
    start_date: date
    recorded_months: frozenset[int]


@dataclass(frozen=True)
class DueFollowUp:
    placement_id: str
    worker_id: str
    month: int
    due_on: date
    overdue: bool
    days_overdue: int


def due_followups(placements: Iterable[OpenPlacement], *, before: date, today: date) -> list[DueFollowUp]:
    """Follow-ups of active placements falling on or before `before` and not recorded; overdue when past today."""
    out = []
    for p in placements:
        for month in FOLLOWUP_MONTHS:
            if month in p.recorded_months:
                continue
            due = followup_date(p.start_date, month)
            if due > before:
                break  # the months are in order: later ones fall later still
            late = (today - due).days
            out.append(DueFollowUp(p.placement_id, p.worker_id, month, due, late > 0, max(0, late)))
    out.sort(key=lambda d: (d.due_on, d.placement_id, d.month))
    return out
