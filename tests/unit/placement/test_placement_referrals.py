"""The referral rules: every move of the state machine, the fields each status takes, the cap, waiting too long."""

from datetime import UTC, date, datetime, timedelta
from itertools import product

import pytest

from services.placement.domain.referrals import (
    STATUSES,
    DuplicateReferral,
    IllegalTransition,
    MoveNotAllowed,
    ReferralCapReached,
    VacancyFull,
    check_capacity,
    check_status_fields,
    check_transition,
    is_stale,
    referral_cap,
)
from shared.errors import Conflict, InvalidInput

# Written out from the contract, independently of the code's table.
LEGAL = {
    ("referred", "interviewing"),
    ("referred", "rejected"),
    ("referred", "withdrawn"),
    ("interviewing", "hired"),
    ("interviewing", "rejected"),
}
ALL_PAIRS = list(product(STATUSES, STATUSES))


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_a_caseworker_may_make_every_legal_move(current, target):
    check_transition(current, target, role="caseworker")


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_every_other_move_is_a_conflict_naming_the_current_status(current, target):
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target, role="admin")
    assert caught.value.status == 409
    assert caught.value.extra["current_status"] == current
    assert "status" in caught.value.fields


def test_final_statuses_say_they_are_final():
    for final in ("hired", "rejected", "withdrawn"):
        with pytest.raises(IllegalTransition, match=f"{final} is final"):
            check_transition(final, "interviewing", role="admin")


@pytest.mark.parametrize(("current", "target"), [p for p in sorted(LEGAL) if p[1] != "withdrawn"])
def test_an_employer_may_answer_a_referral(current, target):
    check_transition(current, target, role="employer")


def test_an_employer_may_not_withdraw_a_referral():
    with pytest.raises(MoveNotAllowed) as caught:
        check_transition("referred", "withdrawn", role="employer")
    assert caught.value.status == 403


def test_an_illegal_move_is_reported_as_illegal_even_for_an_employer():
    with pytest.raises(IllegalTransition):
        check_transition("hired", "withdrawn", role="employer")


def _fields(target, **kw):
    base = {"start_date": None, "monthly_wage": None, "reason": None, "reason_text": None}
    base.update(kw)
    check_status_fields(target, **base)


def test_hired_needs_a_start_date():
    with pytest.raises(InvalidInput) as caught:
        _fields("hired", monthly_wage=4000)
    assert set(caught.value.fields) == {"start_date"}
    _fields("hired", start_date=date(2025, 3, 1), monthly_wage=4000)


def test_rejected_needs_a_reason_from_the_list_and_other_needs_text():
    with pytest.raises(InvalidInput) as caught:
        _fields("rejected")
    assert set(caught.value.fields) == {"reason"}
    with pytest.raises(InvalidInput) as caught:
        _fields("rejected", reason="other")
    assert set(caught.value.fields) == {"reason_text"}
    with pytest.raises(InvalidInput):
        _fields("rejected", reason="placed_elsewhere")  # a withdrawal reason, not a rejection reason
    for reason in ("skills_mismatch", "wage_not_accepted", "unreachable", "no_show", "position_filled"):
        _fields("rejected", reason=reason)
    _fields("rejected", reason="other", reason_text="工厂停产")


def test_fields_of_another_status_are_refused():
    with pytest.raises(InvalidInput) as caught:
        _fields("interviewing", start_date=date(2025, 1, 1), monthly_wage=1, reason="no_show")
    assert set(caught.value.fields) == {"start_date", "monthly_wage", "reason"}
    with pytest.raises(InvalidInput) as caught:
        _fields("hired", start_date=date(2025, 1, 1), reason_text="why")
    assert set(caught.value.fields) == {"reason_text"}


def test_a_withdrawal_may_give_a_reason_of_its_own():
    _fields("withdrawn")
    _fields("withdrawn", reason="placed_elsewhere")
    with pytest.raises(InvalidInput):
        _fields("withdrawn", reason="no_show")


@pytest.mark.parametrize(("headcount", "hires", "multiple", "cap"), [
    (1, 0, 3.0, 3), (2, 1, 3.0, 3), (5, 0, 3.0, 15), (3, 3, 3.0, 0), (3, 5, 3.0, 0), (1, 0, 2.5, 2), (2, 0, 2.5, 5),
    (10, 0, 1.1, 11),
])
def test_the_cap_is_the_multiple_of_the_open_headcount_rounded_down(headcount, hires, multiple, cap):
    assert referral_cap(headcount, hires, multiple) == cap


def test_a_referral_up_to_the_cap_is_accepted_and_the_next_is_a_conflict_with_the_reason():
    check_capacity(headcount=2, hires=1, open_referrals=2, multiple=3.0)  # the third of 3
    with pytest.raises(ReferralCapReached) as caught:
        check_capacity(headcount=2, hires=1, open_referrals=3, multiple=3.0)
    assert caught.value.status == 409
    assert caught.value.extra == {"open_referrals": 3, "cap": 3}
    assert "cap is 3" in caught.value.message


def test_a_full_vacancy_takes_no_referral_at_all():
    with pytest.raises(VacancyFull) as caught:
        check_capacity(headcount=2, hires=2, open_referrals=0, multiple=3.0)
    assert caught.value.status == 409
    assert caught.value.code == "vacancy_full"


def test_a_duplicate_referral_is_a_conflict():
    assert issubclass(DuplicateReferral, Conflict)


NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def test_an_open_referral_is_stale_only_after_more_than_the_configured_days():
    assert not is_stale("referred", NOW - timedelta(days=14), now=NOW, stale_days=14)
    assert is_stale("referred", NOW - timedelta(days=14, seconds=1), now=NOW, stale_days=14)
    assert is_stale("interviewing", NOW - timedelta(days=30), now=NOW, stale_days=14)


def test_a_closed_referral_is_never_stale():
    for status in ("hired", "rejected", "withdrawn"):
        assert not is_stale(status, NOW - timedelta(days=400), now=NOW, stale_days=14)
