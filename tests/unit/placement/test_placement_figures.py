"""The report arithmetic on small fixtures whose right answers are worked out by hand below each one."""

from datetime import date

from services.placement.domain.figures import (
    ExportFact,
    IncomeFact,
    PlacementFact,
    ReferralFact,
    flatten,
    median_days_to_placement,
    retention,
    summary,
)

START, END = date(2025, 1, 1), date(2025, 12, 31)


def p(worker, kind, start, *, is_4050=False, registered=date(2025, 1, 1), followups=None):
    return PlacementFact(worker_id=worker, placement_type=kind, start_date=start, is_4050=is_4050,
                         registered_on=registered, followups=followups or {})


def test_a_worker_placed_twice_is_one_reemployed_worker_and_public_welfare_is_kept_apart():
    facts = [
        p("a", "regular", date(2025, 2, 1)),
        p("a", "regular", date(2025, 8, 1)),         # a again: still one person
        p("b", "public_welfare", date(2025, 3, 1), is_4050=True),
        p("c", "self_employment", date(2025, 4, 1), is_4050=True),
        p("d", "cross_region", date(2024, 12, 31)),  # before the period
        p("e", "regular", date(2026, 1, 1)),         # after the period
    ]
    out = summary(start=START, end=END, placements=facts, referrals=[], exports=[], income=[])
    assert out["reemployed"] == 3          # a, b, c
    assert out["reemployed_4050"] == 2     # b, c
    assert out["placements"] == 4          # a twice, b, c
    assert out["by_type"] == {"regular": 1, "public_welfare": 1, "self_employment": 1, "cross_region": 0}


def test_by_type_counts_people_per_type_so_a_person_with_two_types_is_in_both():
    facts = [p("a", "public_welfare", date(2025, 2, 1)), p("a", "regular", date(2025, 9, 1))]
    out = summary(start=START, end=END, placements=facts, referrals=[], exports=[], income=[])
    assert out["reemployed"] == 1
    assert out["by_type"]["public_welfare"] == 1
    assert out["by_type"]["regular"] == 1


def test_rates_are_none_when_there_is_nothing_to_divide_by():
    out = summary(start=START, end=END, placements=[], referrals=[], exports=[], income=[])
    assert out["referral_to_hire_rate"] is None
    assert out["employer_response_rate"] is None
    assert out["retention"] == {"m3": None, "m6": None}
    assert out["median_days_to_placement"] is None
    assert out["reemployed"] == 0
    assert out["export_income"] == 0


def test_referral_rates_count_referrals_created_in_the_period():
    referrals = [
        ReferralFact(date(2025, 1, 5), hired=True, responded=True),
        ReferralFact(date(2025, 2, 5), hired=False, responded=True),    # rejected
        ReferralFact(date(2025, 3, 5), hired=False, responded=False),   # no answer
        ReferralFact(date(2024, 12, 31), hired=True, responded=True),   # outside
    ]
    out = summary(start=START, end=END, placements=[], referrals=referrals, exports=[], income=[])
    assert out["referrals"] == 3
    assert out["referral_to_hire_rate"] == round(1 / 3, 4)
    assert out["employer_response_rate"] == round(2 / 3, 4)


def test_retention_counts_a_worker_who_left_earlier_as_not_retained_and_leaves_unknowns_out():
    facts = [
        p("a", "regular", date(2025, 1, 10), followups={3: True, 6: True}),   # m3 Apr 10, m6 Jul 10: kept, kept
        p("b", "regular", date(2025, 2, 10), followups={1: False}),           # left at month 1: not kept at 3 or 6
        p("c", "regular", date(2025, 3, 10), followups={3: False}),           # left at 3: not kept at 3 or 6
        p("d", "regular", date(2025, 4, 10), followups={3: True}),            # kept at 3, 6 unknown
        p("e", "regular", date(2025, 5, 10)),                                 # nothing recorded: unknown
        p("f", "regular", date(2024, 11, 10), followups={3: True, 6: False}),  # m3 Feb 10 2025, m6 May 10 2025
        p("g", "regular", date(2025, 11, 10), followups={1: True}),            # m3 in 2026: outside
    ]
    # m3 in 2025: a kept, b not, c not, d kept, e unknown, f kept → 3 of 5
    assert retention(facts, 3, START, END) == (3, 5)
    # m6 in 2025: a kept, b not, c not, d unknown, e unknown, f not → 1 of 4
    assert retention(facts, 6, START, END) == (1, 4)
    out = summary(start=START, end=END, placements=facts, referrals=[], exports=[], income=[])
    assert out["retention"] == {"m3": 0.6, "m6": 0.25}


def test_the_median_days_run_from_registration_to_start_and_a_start_before_registration_is_zero():
    facts = [
        p("a", "regular", date(2025, 1, 11), registered=date(2025, 1, 1)),   # 10
        p("b", "regular", date(2025, 3, 1), registered=date(2025, 1, 1)),    # 59
        p("c", "regular", date(2025, 1, 1), registered=date(2025, 2, 1)),    # -31 → 0
        p("d", "regular", date(2025, 1, 31), registered=date(2025, 1, 1)),   # 30
        p("e", "regular", date(2025, 6, 1), registered=None),                # unknown registration: left out
    ]
    assert median_days_to_placement(facts) == 20  # 0, 10, 30, 59 → (10 + 30) / 2
    assert median_days_to_placement(facts[:3]) == 10  # 0, 10, 59


def test_a_half_day_median_stays_a_half():
    facts = [p("a", "regular", date(2025, 1, 2)), p("b", "regular", date(2025, 1, 3))]  # 1 and 2 days
    assert median_days_to_placement(facts) == 1.5


def test_export_counts_distinct_workers_departing_in_the_period_and_early_returns_apart():
    exports = [
        ExportFact("a", date(2025, 3, 1), returned_early=False),
        ExportFact("b", date(2025, 3, 1), returned_early=True),
        ExportFact("a", date(2025, 9, 1), returned_early=False),   # a again in another batch: one person
        ExportFact("c", date(2024, 12, 1), returned_early=True),   # departed before the period
    ]
    out = summary(start=START, end=END, placements=[], referrals=[], exports=exports, income=[])
    assert out["exported_workers"] == 2
    assert out["returned_early"] == 1


def test_income_counts_the_months_of_the_period_split_by_the_share_of_workers_in_the_region():
    income = [
        IncomeFact("2025-01", 10_000, 1.0),
        IncomeFact("2025-12", 3_000, 0.5),     # half of that batch is from the region: 1 500
        IncomeFact("2026-01", 99_999, 1.0),    # outside
        IncomeFact("2024-12", 99_999, 1.0),    # outside
        IncomeFact("2025-06", 1_000, 1 / 3),   # 333.33
    ]
    out = summary(start=START, end=END, placements=[], referrals=[], exports=[], income=income)
    assert out["export_income"] == 11_833.33
    whole = summary(start=START, end=END, placements=[], referrals=[], exports=[], income=income[:2])
    assert whole["export_income"] == 11_500
    assert isinstance(whole["export_income"], int)


def test_a_period_inside_a_month_counts_that_month_of_income():
    out = summary(start=date(2025, 3, 15), end=date(2025, 3, 20), placements=[], referrals=[], exports=[],
                  income=[IncomeFact("2025-03", 700, 1.0), IncomeFact("2025-04", 1, 1.0)])
    assert out["export_income"] == 700


def test_the_flat_rows_carry_every_figure_once_in_a_fixed_order():
    out = summary(start=START, end=END, placements=[p("a", "regular", date(2025, 2, 1))], referrals=[], exports=[],
                  income=[])
    rows = dict(flatten(out))
    assert rows["reemployed"] == 1
    assert rows["by_type.regular"] == 1
    assert rows["retention.m3"] is None
    assert len(rows) == len(flatten(out)) == 16


def test_a_worker_placed_twice_counts_once_in_retention_and_the_median():
    facts = [
        p("a", "regular", date(2025, 1, 10), registered=date(2025, 1, 1), followups={3: True}),   # 9 days, kept
        p("a", "regular", date(2025, 1, 10), registered=date(2025, 1, 1), followups={3: True}),   # the same again
        p("a", "public_welfare", date(2025, 5, 10), registered=None),                            # later: not first
        p("b", "regular", date(2025, 2, 10), registered=date(2025, 1, 1), followups={3: False}),  # 40 days, left
    ]
    # m3 in 2025: a (once: its first placement whose m3 falls in the year, kept) and b (not kept) → 1 of 2
    assert retention(facts, 3, START, END) == (1, 2)
    assert median_days_to_placement(facts) == 24.5  # a 9, b 40 → (9 + 40) / 2
    out = summary(start=START, end=END, placements=facts, referrals=[], exports=[], income=[])
    assert out["reemployed"] == 2 and out["placements"] == 4
