"""Micro-loans from the union's fund: the order of their states, the repayment schedule, what is owed.

applied → examined → approved → disbursed → closed, and applied | examined → rejected (with a reason).
A disbursed loan is repaid in monthly instalments; paying more than what is owed is refused; a loan closes
when nothing is owed any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from shared.errors import Conflict, InvalidInput

APPLIED, EXAMINED, APPROVED, REJECTED, DISBURSED, CLOSED = (
    "applied", "examined", "approved", "rejected", "disbursed", "closed")
STATUSES = (APPLIED, EXAMINED, APPROVED, REJECTED, DISBURSED, CLOSED)
TARGETS = (EXAMINED, APPROVED, REJECTED, DISBURSED, CLOSED)
NEXT = {
    APPLIED: (EXAMINED, REJECTED),
    EXAMINED: (APPROVED, REJECTED),
    APPROVED: (DISBURSED,),
    DISBURSED: (CLOSED,),
    REJECTED: (),
    CLOSED: (),
}
REJECTION_REASONS = ("project_not_viable", "no_guarantee", "over_limit", "not_eligible", "withdrawn", "other")
OUTCOME_MONTHS = (6, 12)
DEFAULT_TERM_MONTHS = 12
MAX_TERM_MONTHS = 60


class LoanOutOfOrder(Conflict):
    code = "loan_out_of_order"


class RepaymentTooLarge(InvalidInput):
    code = "repayment_too_large"


class OutcomeRecorded(Conflict):
    code = "outcome_recorded"


def check_transition(current: str, target: str, *, reason: str | None, owed: int) -> None:
    if target not in NEXT.get(current, ()):
        allowed = ", ".join(NEXT.get(current, ())) or "nothing (final)"
        raise LoanOutOfOrder(f"a loan that is {current} cannot become {target}",
                             fields={"status": [f"{current} → {target} is out of order; from {current}: {allowed}"]},
                             extra={"current": current})
    if target == REJECTED and not reason:
        raise InvalidInput("a refusal needs its reason", fields={"reason": ["required for rejected"]})
    if target == CLOSED and owed > 0:
        raise LoanOutOfOrder(f"{owed} is still owed", fields={"status": [f"{owed} is still owed; repay it first"]})


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Instalment:
    seq: int
    due_on: date
    amount: int


def schedule(amount: int, term_months: int, disbursed_on: date) -> list[Instalment]:
    """Equal monthly instalments from a month after disbursement; the last one takes the remainder."""
    base = amount // term_months
    out = [Instalment(i, add_months(disbursed_on, i), base) for i in range(1, term_months + 1)]
    last = out[-1]
    out[-1] = Instalment(last.seq, last.due_on, amount - base * (term_months - 1))
    return out


def owed(amount: int, repaid: int) -> int:
    return amount - repaid


def check_repayment(value: int, *, status: str, amount: int, repaid: int, paid_on: date,
                    disbursed_on: date | None) -> None:
    if status != DISBURSED:
        raise LoanOutOfOrder(f"a loan that is {status} takes no repayment",
                             fields={"amount": [f"the loan is {status}, not disbursed"]})
    left = owed(amount, repaid)
    if value > left:
        raise RepaymentTooLarge(f"the repayment {value} is larger than what is owed ({left})",
                                fields={"amount": [f"must not be above the {left} owed"]}, extra={"owed": left})
    if disbursed_on and paid_on < disbursed_on:
        raise InvalidInput("paid before the loan was disbursed",
                           fields={"paid_on": [f"must not be before {disbursed_on.isoformat()}"]})


def due_by(instalments: Iterable[Instalment], day: date) -> int:
    """What should have been repaid by the end of `day`."""
    return sum(i.amount for i in instalments if i.due_on <= day)


def overdue_amount(instalments: Sequence[Instalment], repaid: int, today: date) -> int:
    """What fell due before today and is not repaid (an instalment due today is not late yet)."""
    return max(0, sum(i.amount for i in instalments if i.due_on < today) - repaid)


def check_outcome(month: int, *, status: str, disbursed_on: date | None, today: date, done: set[int]) -> None:
    if status not in (DISBURSED, CLOSED) or disbursed_on is None:
        raise LoanOutOfOrder(f"a loan that is {status} has no outcome yet",
                             fields={"month": [f"the loan is {status}; outcomes follow disbursement"]})
    if month in done:
        raise OutcomeRecorded(f"the {month}-month outcome is recorded already", fields={"month": ["recorded already"]})
    if add_months(disbursed_on, month) > today:
        raise InvalidInput(f"the {month}-month outcome is not due yet",
                           fields={"month": [f"due on {add_months(disbursed_on, month).isoformat()}"]})
