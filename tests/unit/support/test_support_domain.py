"""The support rules without a database: course dates and capacity, the loan's order of states, its repayment
schedule and what is owed or overdue, assistance entries, target scores, the figures, and safe spreadsheet cells."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest

from services.matching.courses import attach_courses
from services.support.domain import assistance as aid
from services.support.domain import figures
from services.support.domain import loans as ln
from services.support.domain import training as tr
from services.support.domain.figures import safe_cell
from shared.errors import Conflict, InvalidInput


def test_a_course_that_ends_before_it_starts_names_ends_on():
    with pytest.raises(InvalidInput) as caught:
        tr.check_dates(date(2026, 5, 2), date(2026, 5, 1))
    assert "ends_on" in caught.value.fields
    tr.check_dates(date(2026, 5, 1), date(2026, 5, 1))  # a one-day course


def test_a_capacity_below_the_enrolments_is_a_conflict_naming_capacity():
    with pytest.raises(tr.CapacityBelowEnrolments) as caught:
        tr.check_capacity(3, 4)
    assert "capacity" in caught.value.fields and caught.value.status == 409
    tr.check_capacity(4, 4)


def test_a_full_course_takes_nobody_more():
    tr.check_room(2, 1)
    with pytest.raises(tr.CourseFull):
        tr.check_room(2, 2)


def test_a_hiring_commitment_needs_an_employer_and_fits_the_class():
    with pytest.raises(InvalidInput, match="employer"):
        tr.check_hiring(None, 5, 10)
    with pytest.raises(InvalidInput) as caught:
        tr.check_hiring("e1", 11, 10)
    assert "hiring_commitment" in caught.value.fields


def test_completion_happens_once_and_a_fail_has_no_certificate():
    kw = {"starts_on": date(2026, 1, 1), "today": date(2026, 2, 1)}
    assert tr.check_completion(tr.ENROLLED, passed=True, certificate_no="A1", **kw) == tr.PASSED
    assert tr.check_completion(tr.ENROLLED, passed=False, certificate_no=None, **kw) == tr.FAILED
    with pytest.raises(InvalidInput):
        tr.check_completion(tr.ENROLLED, passed=False, certificate_no="A1", **kw)
    with pytest.raises(tr.AlreadyCompleted):
        tr.check_completion(tr.PASSED, passed=True, certificate_no=None, **kw)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ln.STATUSES, ln.TARGETS)))
def test_every_loan_move_outside_the_order_is_refused(current, target):
    legal = {("applied", "examined"), ("applied", "rejected"), ("examined", "approved"), ("examined", "rejected"),
             ("approved", "disbursed"), ("disbursed", "closed")}
    if (current, target) in legal:
        ln.check_transition(current, target, reason="other", owed=0)
    else:
        with pytest.raises(ln.LoanOutOfOrder) as caught:
            ln.check_transition(current, target, reason="other", owed=0)
        assert "status" in caught.value.fields


def test_a_refusal_needs_a_reason_and_a_loan_with_money_owed_does_not_close():
    with pytest.raises(InvalidInput) as caught:
        ln.check_transition("examined", "rejected", reason=None, owed=0)
    assert "reason" in caught.value.fields
    with pytest.raises(Conflict):
        ln.check_transition("disbursed", "closed", reason=None, owed=1)


def test_the_schedule_adds_up_to_the_amount_for_any_amount_and_term():
    seed = 20261201
    rng = random.Random(seed)
    for _ in range(300):
        amount, term = rng.randrange(1, 200_000), rng.randrange(1, 61)
        start = date(2024, 1 + rng.randrange(12), 1 + rng.randrange(28))
        plan = ln.schedule(amount, term, start)
        assert sum(i.amount for i in plan) == amount, f"seed {seed}: {amount}/{term}"
        assert [i.seq for i in plan] == list(range(1, term + 1))
        assert all(a.due_on < b.due_on for a, b in itertools.pairwise(plan)), f"seed {seed}"
        assert all(i.amount >= 0 for i in plan), f"seed {seed}"


def test_a_month_end_disbursement_falls_due_on_the_last_day_of_shorter_months():
    plan = ln.schedule(1200, 3, date(2025, 1, 31))
    assert [i.due_on for i in plan] == [date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]


def test_a_repayment_larger_than_what_is_owed_names_amount():
    kw = {"status": "disbursed", "amount": 1000, "paid_on": date(2025, 2, 1), "disbursed_on": date(2025, 1, 1)}
    ln.check_repayment(400, repaid=600, **kw)
    with pytest.raises(ln.RepaymentTooLarge) as caught:
        ln.check_repayment(401, repaid=600, **kw)
    assert "amount" in caught.value.fields and caught.value.extra["owed"] == 400


def test_overdue_counts_instalments_due_before_today_less_what_was_repaid():
    plan = ln.schedule(1200, 4, date(2025, 1, 10))
    assert ln.overdue_amount(plan, 0, date(2025, 2, 10)) == 0  # due today: not late yet
    assert ln.overdue_amount(plan, 0, date(2025, 2, 11)) == 300
    assert ln.overdue_amount(plan, 300, date(2025, 3, 11)) == 300
    assert ln.overdue_amount(plan, 900, date(2025, 3, 11)) == 0


def test_material_help_needs_an_amount_or_equipment_and_equipment_its_quantity():
    with pytest.raises(InvalidInput):
        aid.check_entry("financial", amount=None, equipment=None, quantity=None)
    with pytest.raises(InvalidInput):
        aid.check_entry("moral", amount=None, equipment="三轮车", quantity=1)
    aid.check_entry("material", amount=None, equipment="电焊机", quantity=160)
    aid.check_entry("policy", amount=None, equipment=None, quantity=None)


def test_a_target_score_is_the_share_reached_capped_at_100():
    assert (aid.score(1, 3), aid.score(3, 3), aid.score(5, 3), aid.score(0, 0)) == (33, 100, 100, 100)


def test_repayment_rate_counts_each_loan_up_to_what_fell_due():
    result = figures.summary(courses=0, trainees=[], placements={}, assistance=[], targets=[], loans=[
        figures.LoanFact(amount=1000, due=500, repaid=900, out_of_poverty=True),  # early repayment: counts 500
        figures.LoanFact(amount=1000, due=500, repaid=100, out_of_poverty=False),
        figures.LoanFact(amount=1000, due=0, repaid=0, out_of_poverty=None)])
    assert result["repayment_rate"] == round(600 / 1000, 4)
    assert (result["loans"], result["loan_amount"], result["out_of_poverty_rate"]) == (3, 3000, 0.5)


def test_employment_after_a_course_counts_passes_placed_within_the_window():
    trainees = [figures.TraineeFact("w1", "c", date(2025, 1, 1), date(2025, 2, 28), True),
                figures.TraineeFact("w2", "c", date(2025, 1, 1), date(2025, 2, 28), True),
                figures.TraineeFact("w3", "c", date(2025, 1, 1), date(2025, 2, 28), False)]
    placed = {"w1": [date(2025, 5, 28)], "w2": [date(2025, 8, 29)], "w3": [date(2025, 3, 1)]}
    result = figures.summary(courses=1, trainees=trainees, placements=placed, loans=[], assistance=[], targets=[])
    assert (result["employed_within_3m_after_course_count"], result["employed_within_6m_after_course_count"]) == (1, 1)
    assert result["completion_rate"] == round(2 / 3, 4)


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"])
def test_a_cell_that_would_run_as_a_formula_is_quoted(text):
    assert safe_cell(text) == "'" + text


def test_numbers_and_plain_text_stay_as_they_are():
    assert (safe_cell(-5), safe_cell("电焊"), safe_cell(None)) == (-5, "电焊", None)


def test_raise_rank_names_the_course_in_the_workers_prefecture_first():
    items = [{"raise_rank": [{"certificate": "焊工证"}, {"skill": "叉车"}]}]
    found = [
        {"course_id": "far", "title": "A", "skill_key": "电焊", "certificate_key": "焊工证", "region_code": "440300",
         "starts_on": date(2026, 1, 5), "capacity": 10, "enrolled": 0},
        {"course_id": "near", "title": "B", "skill_key": "电焊", "certificate_key": "焊工证", "region_code": "410923",
         "starts_on": date(2026, 2, 5), "capacity": 10, "enrolled": 7},
    ]
    attach_courses(items, found, region_code="410926")
    assert items[0]["raise_rank"][0]["course"]["course_id"] == "near"
    assert items[0]["raise_rank"][0]["course"]["free_places"] == 3
    assert "course" not in items[0]["raise_rank"][1]
