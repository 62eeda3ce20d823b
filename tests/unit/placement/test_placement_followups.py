"""Placements and follow-ups: calendar months, the due list, when a follow-up may be recorded, type rules."""

from datetime import date

import pytest

from services.placement.domain.placements import (
    DuplicateFollowUp,
    FollowUpNotDue,
    InconsistentPlacement,
    OpenPlacement,
    PlacementEnded,
    add_months,
    check_direct_placement,
    check_followup,
    due_followups,
    type_for_vacancy,
)
from shared.errors import InvalidInput


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2025, 1, 15), 1, date(2025, 2, 15)),
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2025, 8, 31), 3, date(2025, 11, 30)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
    (date(2025, 7, 1), 6, date(2026, 1, 1)),
    (date(2025, 2, 28), 12, date(2026, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2025, 3, 31), -1, date(2025, 2, 28)),
    (date(2025, 3, 15), -7, date(2024, 8, 15)),
])
def test_months_are_calendar_months_clamped_to_the_last_day(start, months, expected):
    assert add_months(start, months) == expected


def test_a_hire_takes_the_kind_of_its_vacancy():
    assert type_for_vacancy("regular") == "regular"
    assert type_for_vacancy("public_welfare") == "public_welfare"
    assert type_for_vacancy("cross_region") == "cross_region"


def test_the_due_list_has_every_unrecorded_follow_up_up_to_the_date_with_overdue_ones_flagged():
    placements = [
        OpenPlacement("p1", "w1", date(2025, 1, 10), frozenset()),
        OpenPlacement("p2", "w2", date(2025, 3, 31), frozenset({1})),
        OpenPlacement("p3", "w3", date(2025, 6, 20), frozenset()),
    ]
    due = due_followups(placements, before=date(2025, 7, 10), today=date(2025, 5, 1))
    # p1: 1 → 2025-02-10, 3 → 2025-04-10, 6 → 2025-07-10 (on the day counts); 12 → 2026 (not yet).
    # p2: 1 recorded; 3 → 2025-06-30; 6 → 2025-09-30 (after). p3: 1 → 2025-07-20 (after).
    assert [(d.placement_id, d.month, d.due_on) for d in due] == [
        ("p1", 1, date(2025, 2, 10)),
        ("p1", 3, date(2025, 4, 10)),
        ("p2", 3, date(2025, 6, 30)),
        ("p1", 6, date(2025, 7, 10)),
    ]
    flags = {(d.placement_id, d.month): (d.overdue, d.days_overdue) for d in due}
    assert flags[("p1", 1)] == (True, 80)
    assert flags[("p1", 3)] == (True, 21)
    assert flags[("p2", 3)] == (False, 0)
    assert flags[("p1", 6)] == (False, 0)


def test_a_follow_up_due_today_is_not_yet_overdue():
    due = due_followups([OpenPlacement("p", "w", date(2025, 1, 1), frozenset())], before=date(2025, 2, 1),
                        today=date(2025, 2, 1))
    assert [(d.month, d.overdue) for d in due] == [(1, False)]


def test_a_recorded_later_month_leaves_the_earlier_missing_one_due():
    due = due_followups([OpenPlacement("p", "w", date(2024, 1, 1), frozenset({3, 6}))], before=date(2025, 6, 1),
                        today=date(2025, 6, 1))
    assert [d.month for d in due] == [1, 12]


def _followup(**kw):
    base = {"month": 3, "employed": True, "left_reason": None, "left_reason_text": None, "monthly_wage": None,
            "start_date": date(2025, 1, 1), "status": "active", "recorded": [], "today": date(2025, 4, 1)}
    base.update(kw)
    check_followup(**base)


def test_a_follow_up_may_be_recorded_from_a_week_before_its_date():
    _followup(today=date(2025, 3, 25))  # 3 months after 1 January is 1 April; a week before is 25 March
    with pytest.raises(FollowUpNotDue) as caught:
        _followup(today=date(2025, 3, 24))
    assert "2025-04-01" in caught.value.message
    assert caught.value.status == 422


def test_the_same_month_twice_is_a_conflict():
    with pytest.raises(DuplicateFollowUp) as caught:
        _followup(recorded=[1, 3])
    assert caught.value.status == 409


def test_a_placement_that_ended_takes_no_more_follow_ups():
    with pytest.raises(PlacementEnded) as caught:
        _followup(month=6, status="ended", recorded=[3], today=date(2025, 7, 1))
    assert caught.value.status == 409


def test_a_worker_who_left_needs_a_reason_and_other_needs_text():
    with pytest.raises(InvalidInput) as caught:
        _followup(employed=False)
    assert set(caught.value.fields) == {"left_reason"}
    with pytest.raises(InvalidInput) as caught:
        _followup(employed=False, left_reason="other")
    assert set(caught.value.fields) == {"left_reason_text"}
    with pytest.raises(InvalidInput) as caught:
        _followup(employed=False, left_reason="health", monthly_wage=3000)
    assert set(caught.value.fields) == {"monthly_wage"}
    _followup(employed=False, left_reason="health")


def test_a_worker_still_employed_has_no_left_reason():
    with pytest.raises(InvalidInput) as caught:
        _followup(employed=True, left_reason="health")
    assert set(caught.value.fields) == {"left_reason"}


def test_a_self_employed_placement_has_no_vacancy_or_employer_and_only_it_has_a_micro_loan():
    check_direct_placement({"placement_type": "self_employment", "micro_loan_amount": 50000}, vacancy=None)
    with pytest.raises(InconsistentPlacement) as caught:
        check_direct_placement({"placement_type": "self_employment", "vacancy_id": "v", "employer_id": "e"},
                               vacancy=None)
    assert set(caught.value.fields) == {"vacancy_id", "employer_id"}
    with pytest.raises(InconsistentPlacement) as caught:
        check_direct_placement({"placement_type": "regular", "micro_loan_amount": 1}, vacancy=None)
    assert set(caught.value.fields) == {"micro_loan_amount"}


def test_a_direct_placement_into_a_vacancy_has_the_vacancy_kind_and_employer():
    vacancy = {"vacancy_type": "public_welfare", "employer_id": "e1"}
    check_direct_placement({"placement_type": "public_welfare", "employer_id": "e1"}, vacancy=vacancy)
    with pytest.raises(InconsistentPlacement) as caught:
        check_direct_placement({"placement_type": "regular", "employer_id": "e2"}, vacancy=vacancy)
    assert set(caught.value.fields) == {"placement_type", "employer_id"}
