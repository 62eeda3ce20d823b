"""Referrals: the state machine, the structured rejection reasons, the per-vacancy cap and the "waiting too long" rule.

Plain Python: no Flask, Kafka or SQL. The errors subclass the shared domain errors so that the HTTP edge maps
them to status codes in one place.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from shared.errors import Conflict, Forbidden, InvalidInput

REFERRED = "referred"
INTERVIEWING = "interviewing"
HIRED = "hired"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

STATUSES = (REFERRED, INTERVIEWING, HIRED, REJECTED, WITHDRAWN)
OPEN_STATUSES = frozenset({REFERRED, INTERVIEWING})
# The only legal moves; everything else (including a move to the same status) is refused and changes nothing.
TRANSITIONS: dict[str, frozenset[str]] = {
    REFERRED: frozenset({INTERVIEWING, REJECTED, WITHDRAWN}),
    INTERVIEWING: frozenset({HIRED, REJECTED}),
    HIRED: frozenset(),
    REJECTED: frozenset(),
    WITHDRAWN: frozenset(),
}
# An employer answers referrals; only the referring side (caseworker, admin) takes one back.
EMPLOYER_MOVES = frozenset({INTERVIEWING, HIRED, REJECTED})
# Moves that count as the employer having answered (a withdrawal is the caseworker's, not an answer).
RESPONSE_STATUSES = frozenset({INTERVIEWING, HIRED, REJECTED})

REJECTION_REASONS = ("skills_mismatch", "wage_not_accepted", "unreachable", "no_show", "position_filled", "other")
WITHDRAWAL_REASONS = ("worker_declined", "placed_elsewhere", "unreachable", "other")
# Set by the system, never by a caller: the worker's personal data was erased while the referral was open.
WORKER_ERASED = "worker_erased"
REASONS = tuple(dict.fromkeys(REJECTION_REASONS + WITHDRAWAL_REASONS))


class IllegalTransition(Conflict):
    code = "illegal_transition"


class ReferralCapReached(Conflict):
    code = "referral_cap_reached"


class VacancyFull(Conflict):
    code = "vacancy_full"


class DuplicateReferral(Conflict):
    code = "duplicate_referral"


class MoveNotAllowed(Forbidden):
    code = "move_not_allowed"


def check_transition(current: str, target: str, *, role: str) -> None:
    """Raise unless `role` may move a referral from `current` to `target`."""
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(TRANSITIONS.get(current, frozenset()))
        hint = f"allowed from {current}: {', '.join(allowed)}" if allowed else f"{current} is final"
        raise IllegalTransition(f"a referral cannot move from {current} to {target} ({hint})",
                                fields={"status": [f"cannot move from {current} to {target}"]},
                                extra={"current_status": current})
    if role == "employer" and target not in EMPLOYER_MOVES:
        raise MoveNotAllowed(f"an employer may not set a referral to {target}",
                             fields={"status": [f"{target} is the caseworker's to set"]})


def check_status_fields(target: str, *, start_date, monthly_wage, reason: str | None, reason_text: str | None) -> None:
    """Each target status takes its own fields and no others: a hire needs a start date, a rejection a reason."""
    errors: dict[str, list[str]] = {}
    if target == HIRED:
        if start_date is None:
            errors["start_date"] = ["required when status is hired"]
    else:
        if start_date is not None:
            errors["start_date"] = ["only with status hired"]
        if monthly_wage is not None:
            errors["monthly_wage"] = ["only with status hired"]
    if target == REJECTED:
        if reason is None:
            errors["reason"] = [f"required when status is rejected; one of {', '.join(REJECTION_REASONS)}"]
        elif reason not in REJECTION_REASONS:
            errors["reason"] = [f"a rejection reason is one of {', '.join(REJECTION_REASONS)}"]
        elif reason == "other" and not (reason_text and reason_text.strip()):
            errors["reason_text"] = ["required when reason is other"]
    elif target == WITHDRAWN:
        if reason is not None and reason not in WITHDRAWAL_REASONS:
            errors["reason"] = [f"a withdrawal reason is one of {', '.join(WITHDRAWAL_REASONS)}"]
        elif reason == "other" and not (reason_text and reason_text.strip()):
            errors["reason_text"] = ["required when reason is other"]
    else:
        if reason is not None:
            errors["reason"] = ["only with status rejected or withdrawn"]
    if reason is None and reason_text is not None and "reason_text" not in errors:
        errors["reason_text"] = ["only together with a reason"]
    if errors:
        raise InvalidInput(f"invalid fields for status {target}: {', '.join(sorted(errors))}", fields=errors)


def open_headcount(headcount: int, hires: int) -> int:
    return max(0, headcount - hires)


def referral_cap(headcount: int, hires: int, multiple: float) -> int:
    """How many open referrals a vacancy may have: the multiple of its open headcount, rounded down."""
    # A tiny epsilon so that 3.0 x 1 is 3 and not 2 after a float product like 2.9999999.
    return math.floor(multiple * open_headcount(headcount, hires) + 1e-9)


def check_capacity(*, headcount: int, hires: int, open_referrals: int, multiple: float) -> None:
    """Raise when one more referral would go to a full vacancy or over the cap."""
    if open_headcount(headcount, hires) == 0:
        raise VacancyFull(f"the vacancy is full: {hires} of {headcount} positions are filled",
                          fields={"vacancy_id": ["every position is filled"]},
                          extra={"headcount": headcount, "hires": hires})
    cap = referral_cap(headcount, hires, multiple)
    if open_referrals + 1 > cap:
        raise ReferralCapReached(
            f"the vacancy already has {open_referrals} open referrals; the cap is {cap} "
            f"({multiple:g} x {open_headcount(headcount, hires)} open positions)",
            fields={"vacancy_id": [f"{open_referrals} open referrals reach the cap of {cap}"]},
            extra={"open_referrals": open_referrals, "cap": cap},
        )


def is_stale(status: str, waiting_since: datetime, *, now: datetime, stale_days: int) -> bool:
    """An open referral with no answer (no status change) for more than `stale_days` days."""
    return status in OPEN_STATUSES and now - waiting_since > timedelta(days=stale_days)


def stale_cutoff(now: datetime, stale_days: int) -> datetime:
    """Open referrals whose last change is before this instant are waiting too long."""
    return now - timedelta(days=stale_days)
