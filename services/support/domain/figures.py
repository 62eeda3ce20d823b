"""The support figures of a period: training, micro-loans and one-to-one assistance, from plain facts.

Definitions (docs/decisions/0016-support-service.md):
- courses: courses starting in the period; trainees: distinct workers enrolled in them; completed: passes.
- employed_within_Nm_after_course: of the passes, the share with a placement starting between the course's
  first day and N months after its last day (the count beside it).
- loans / loan_amount: loans disbursed in the period; repayment_rate: of what fell due by the period's end
  (or today, when earlier), the share repaid — each loan counting at most what was due, so early repayment
  of one loan does not hide arrears of another; out_of_poverty_rate: of those loans with a 6- or 12-month
  outcome, the share whose latest outcome says out of poverty.
- assistance: entries given in the period, by kind and by unit; targets: agreements of the period's years,
  met when the unit reached its target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.support.domain.assistance import KINDS
from services.support.domain.loans import add_months


@dataclass(frozen=True)
class TraineeFact:
    worker_id: str
    course_id: str
    starts_on: date
    ends_on: date
    passed: bool


@dataclass(frozen=True)
class LoanFact:
    amount: int
    due: int  # what fell due by the report's end
    repaid: int  # repaid by the report's end
    out_of_poverty: bool | None  # the latest outcome; None without one


@dataclass(frozen=True)
class AssistanceFact:
    kind: str
    unit: str
    amount: int | None
    equipment: str | None = None
    quantity: int | None = None


@dataclass(frozen=True)
class TargetFact:
    unit: str
    year: int
    metric: str
    target: int
    achieved: int


def _rate(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(*, courses: int, trainees: Sequence[TraineeFact], placements: Mapping[str, Sequence[date]],
            loans: Sequence[LoanFact], assistance: Sequence[AssistanceFact], targets: Sequence[TargetFact]) -> dict:
    passes = [t for t in trainees if t.passed]

    def employed_within(months: int) -> int:
        return sum(1 for t in passes if any(t.starts_on <= s <= add_months(t.ends_on, months)
                                            for s in placements.get(t.worker_id, ())))

    m3, m6 = employed_within(3), employed_within(6)
    due = sum(ln.due for ln in loans)
    paid_on_time = sum(min(ln.repaid, ln.due) for ln in loans)
    with_outcome = [ln for ln in loans if ln.out_of_poverty is not None]
    by_kind: dict[str, dict] = {k: {"count": 0, "amount": 0} for k in KINDS}
    by_unit: dict[str, dict] = defaultdict(lambda: {"count": 0, "amount": 0})
    equipment: dict[str, int] = defaultdict(int)
    for a in assistance:
        for bucket in (by_kind[a.kind], by_unit[a.unit]):
            bucket["count"] += 1
            bucket["amount"] += a.amount or 0
        if a.equipment:
            equipment[a.equipment] += a.quantity or 0
    return {
        "courses": courses,
        "trainees": len({t.worker_id for t in trainees}),
        "enrolments": len(trainees),
        "completed": len(passes),
        "completion_rate": _rate(len(passes), len(trainees)),
        "employed_within_3m_after_course": _rate(m3, len(passes)),
        "employed_within_6m_after_course": _rate(m6, len(passes)),
        "employed_within_3m_after_course_count": m3,
        "employed_within_6m_after_course_count": m6,
        "loans": len(loans),
        "loan_amount": sum(ln.amount for ln in loans),
        "loan_due": due,
        "loan_repaid": sum(ln.repaid for ln in loans),
        "repayment_rate": _rate(paid_on_time, due),
        "loans_with_outcome": len(with_outcome),
        "out_of_poverty": sum(1 for ln in with_outcome if ln.out_of_poverty),
        "out_of_poverty_rate": _rate(sum(1 for ln in with_outcome if ln.out_of_poverty), len(with_outcome)),
        "assistance": len(assistance),
        "assistance_amount": sum(a.amount or 0 for a in assistance),
        "assistance_by_kind": by_kind,
        "assistance_by_unit": dict(sorted(by_unit.items())),
        "equipment": dict(sorted(equipment.items())),
        "targets": len(targets),
        "targets_met": sum(1 for t in targets if t.achieved >= t.target),
    }


def flatten(report: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    """Nested figures as (dotted name, value) rows, for CSV and XLSX."""
    rows: list[tuple[str, object]] = []
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet would read as a formula (= + - @, tab, CR first) is quoted with a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value

