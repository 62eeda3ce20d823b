"""Export batch rules: who may be sent, dates on the trip, income months, the batch's status."""

from datetime import date

import pytest

from services.placement.domain.exports import (
    WorkersNotEligible,
    batch_status,
    check_event_date,
    check_income_period,
    check_members,
)
from services.placement.domain.text import personal_data_in
from shared.errors import InvalidInput

KNOWN = {
    "w1": {"willing_to_relocate": True, "erased": False},
    "w2": {"willing_to_relocate": False, "erased": False},
    "w3": {"willing_to_relocate": True, "erased": True},
}


def test_only_known_workers_willing_to_relocate_may_be_sent():
    check_members(["w1"], KNOWN)


def test_the_refusal_names_unknown_and_unwilling_workers_apart():
    with pytest.raises(WorkersNotEligible) as caught:
        check_members(["w1", "w2", "w3", "w9"], KNOWN)
    assert caught.value.status == 422
    assert caught.value.extra == {"unknown_worker_ids": ["w3", "w9"], "unwilling_worker_ids": ["w2"]}
    text = " ".join(caught.value.fields["worker_ids"])
    assert "w2" in text and "w9" in text and "w3" in text


DEPARTURE = date(2025, 3, 1)
TODAY = date(2025, 6, 1)


def test_a_date_on_the_trip_lies_between_departure_and_today():
    check_event_date(DEPARTURE, field="on", departure=DEPARTURE, today=TODAY)
    check_event_date(TODAY, field="on", departure=DEPARTURE, today=TODAY)
    with pytest.raises(InvalidInput, match="before the departure"):
        check_event_date(date(2025, 2, 28), field="on", departure=DEPARTURE, today=TODAY)
    with pytest.raises(InvalidInput, match="future"):
        check_event_date(date(2025, 6, 2), field="on", departure=DEPARTURE, today=TODAY)


def test_a_return_is_not_before_the_arrival():
    with pytest.raises(InvalidInput) as caught:
        check_event_date(date(2025, 3, 2), field="returned_on", departure=DEPARTURE, today=TODAY,
                         not_before=date(2025, 3, 3), not_before_what="the arrival")
    assert set(caught.value.fields) == {"returned_on"}


def test_income_is_for_a_month_from_the_departure_month_up_to_this_month():
    check_income_period("2025-03", departure=date(2025, 3, 20), today=TODAY)
    check_income_period("2025-06", departure=DEPARTURE, today=TODAY)
    with pytest.raises(InvalidInput):
        check_income_period("2025-02", departure=DEPARTURE, today=TODAY)
    with pytest.raises(InvalidInput):
        check_income_period("2025-07", departure=DEPARTURE, today=TODAY)


def test_a_batch_has_departed_until_someone_arrives_and_returned_when_everyone_came_back():
    assert batch_status([{"arrived_on": None, "returned_on": None}]) == "departed"
    assert batch_status([{"arrived_on": DEPARTURE, "returned_on": None},
                         {"arrived_on": None, "returned_on": None}]) == "arrived"
    assert batch_status([{"arrived_on": DEPARTURE, "returned_on": TODAY},
                         {"arrived_on": None, "returned_on": TODAY}]) == "returned"


@pytest.mark.parametrize("text", [
    "身份证410923198005170012", "id 41092319800517001X", "电话 138 0013 8000", "call 13800138000 please",
    "138-0013-8000",
])
def test_notes_carrying_an_id_or_a_phone_number_are_caught(text):
    assert personal_data_in(text)


@pytest.mark.parametrize("text", ["面试表现良好", "工资 4500 元", "2025年3月1日到岗", "wage 12000, 3 shifts", None, ""])
def test_ordinary_notes_pass(text):
    assert personal_data_in(text) is None
