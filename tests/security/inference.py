"""How many resident IDs fit what a reader has seen of a worker: the measure of masking by inference.

A GB 11643 ID is region (6 digits) + birth date (8) + order code (3, odd for men) + a check character. A
reader who knows the region and some facts about the holder (a masked ID's visible characters, an age or an
age band, the gender or the 4050 flag, which is a function of gender and age) is left with every (birth date,
order code) pair consistent with all of them; the check character then follows, or, when it is shown, rules
out ten of every eleven pairs. This module counts those pairs exactly, from the facts as the API shows them
and independently of the code under test.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
MAX_AGE = 120


def _age(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _fits(template: str, start: int, digits: str) -> bool:
    return all(t in ("*", d) for t, d in zip(template[start : start + len(digits)], digits, strict=True))


def _age_range(view: dict) -> tuple[int, int]:
    if view.get("age") is not None:
        return int(view["age"]), int(view["age"])
    band = view.get("age_band")
    if band:
        low, high = band.split("-")
        return int(low), int(high)
    return 0, MAX_AGE


def id_candidates(view: dict, *, today: date, female_4050: int = 40, male_4050: int = 50) -> int:
    """The number of resident IDs consistent with everything in `view` (merged facts about one worker)."""
    region = view.get("region_code") or ""
    template = (view.get("national_id") or "").upper()
    if len(template) != 18:
        template = "*" * 18
    if "*" in template[:6]:
        # The reader knows the region anyway (region_code is shown to every role that sees the worker).
        template = (region + "*" * 6)[:6] + template[6:]
    if "*" in template[:6]:
        raise ValueError("no region to start from")
    region_sum = sum(int(c) * w for c, w in zip(template[:6], WEIGHTS[:6], strict=True))
    check = template[17]

    genders = ("female", "male")
    if view.get("gender") in genders:
        genders = (view["gender"],)
    # Order codes that fit the template, by gender, as a histogram of their weighted sum mod 11.
    seq_sums: dict[str, Counter] = {}
    for gender in genders:
        sums: Counter = Counter()
        for order in range(1, 1000):
            digits = f"{order:03d}"
            if (order % 2 == 1) != (gender == "male") or not _fits(template, 14, digits):
                continue
            sums[sum(int(c) * w for c, w in zip(digits, WEIGHTS[14:17], strict=True)) % 11] += 1
        seq_sums[gender] = sums

    ref = today
    if view.get("registered_at"):
        ref = date.fromisoformat(str(view["registered_at"])[:10])
    low_age, high_age = _age_range(view)
    first = _years_before(ref, high_age + 1) + timedelta(days=1)
    last = _years_before(ref, low_age)
    if view.get("birth_date"):
        first = last = date.fromisoformat(str(view["birth_date"])[:10])
    if view.get("birth_year"):
        first = max(first, date(int(view["birth_year"]), 1, 1))
        last = min(last, date(int(view["birth_year"]), 12, 31))
    flag = view.get("is_4050")

    total = 0
    day = first
    while day <= last:
        digits = f"{day:%Y%m%d}"
        if _fits(template, 6, digits):
            age = _age(day, ref)
            date_sum = sum(int(c) * w for c, w in zip(digits, WEIGHTS[6:14], strict=True))
            for gender in genders:
                if flag is not None and bool(flag) != (age >= (female_4050 if gender == "female" else male_4050)):
                    continue
                sums = seq_sums[gender]
                if check == "*":
                    total += sum(sums.values())
                else:
                    need = (CHECK.index(check) - region_sum - date_sum) % 11
                    total += sums[need]
        day += timedelta(days=1)
    return total
