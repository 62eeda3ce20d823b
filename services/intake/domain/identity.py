"""Identity numbers: resident ID (GB 11643-1999), unified social credit code (GB 32100-2015), mobiles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.regions import PROVINCE_PREFIXES

Gender = Literal["female", "male"]


class InvalidValue(ValueError):
    """A value that breaks a rule; `reason` says which, in words a caseworker can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- resident identity card number, GB 11643-1999 ---------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_DIGITS17 = re.compile(r"[0-9]{17}")
_MAX_AGE_YEARS = 120


@dataclass(frozen=True, slots=True)
class NationalId:
    """A checked resident ID number and what it says about its holder."""

    normalised: str
    region_code: str
    birth_date: date
    gender: Gender

    def __str__(self) -> str:
        return self.normalised


def national_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if not _DIGITS17.fullmatch(first17):
        raise InvalidValue("the first 17 characters must be digits")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def parse_national_id(value: str, *, today: date) -> NationalId:
    """Check an 18-character resident ID number and read its region, birth date and gender."""
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    s = value.strip()
    if any(c.isspace() for c in s):
        raise InvalidValue("must not contain spaces")
    if len(s) != 18:
        raise InvalidValue(f"must be 18 characters, got {len(s)}")
    if not _DIGITS17.fullmatch(s[:17]):
        raise InvalidValue("the first 17 characters must be digits")
    if s[17] not in "0123456789Xx":
        raise InvalidValue("the last character must be a digit or X")
    s = s.upper()
    if s[:2] not in PROVINCE_PREFIXES:
        raise InvalidValue(f"region prefix {s[:2]} is not a province")
    birth_date = _birth_date(s[6:14], today=today)
    expected = national_id_check_char(s[:17])
    if s[17] != expected:
        raise InvalidValue(f"check digit should be {expected}")
    return NationalId(
        normalised=s,
        region_code=s[:6],
        birth_date=birth_date,
        gender="male" if int(s[16]) % 2 else "female",
    )


def _birth_date(digits: str, *, today: date) -> date:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidValue(f"birth date {digits} is not a real date") from None
    if born > today:
        raise InvalidValue(f"birth date {born.isoformat()} is in the future")
    if born < _years_before(today, _MAX_AGE_YEARS):
        raise InvalidValue(f"birth date {born.isoformat()} is more than {_MAX_AGE_YEARS} years ago")
    return born


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def make_national_id(*, region_code: str, birth_date: date, sequence: int, gender: str) -> str:
    """A valid ID number for demo data; sequence 0..99 picks the order code, whose parity is the gender."""
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise ValueError(f"region_code must be 6 digits, got {region_code!r}")
    if not 0 <= sequence <= 99:
        raise ValueError(f"sequence must be 0..99, got {sequence}")
    if gender == "male":
        last = (sequence % 5) * 2 + 1
    elif gender == "female":
        # 2..8 rather than 0..8 so that no order code is 000, which is never issued.
        last = (sequence % 4) * 2 + 2
    else:
        raise ValueError(f"gender must be 'female' or 'male', got {gender!r}")
    first17 = f"{region_code}{birth_date:%Y%m%d}{sequence:02d}{last}"
    return first17 + national_id_check_char(first17)


def age_on(birth_date: date, day: date) -> int:
    """Completed years of age on the given day."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def is_4050(*, gender: str, age: int, female_age: int = 40, male_age: int = 50) -> bool:
    """Whether a worker counts as a "4050" worker: a woman of 40 or more, a man of 50 or more."""
    if gender == "female":
        return age >= female_age
    if gender == "male":
        return age >= male_age
    raise ValueError(f"gender must be 'female' or 'male', got {gender!r}")


# --- unified social credit code, GB 32100-2015 ------------------------------------------------

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUES = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997, the organisation code that makes up characters 9-17 of a credit code.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    if len(first17) != 17 or any(c not in _CREDIT_VALUES for c in first17):
        raise InvalidValue(f"the first 17 characters must come from {CREDIT_CODE_CHARSET}")
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> str:
    """Check an 18-character unified social credit code; returns it in upper case."""
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    s = value.strip().upper()
    if len(s) != 18:
        raise InvalidValue(f"must be 18 characters, got {len(s)}")
    for position, c in enumerate(s, start=1):
        if c not in _CREDIT_VALUES:
            raise InvalidValue(
                f"character {c!r} at position {position} is not allowed (I, O, S, V and Z are never used)"
            )
    if not s[2:8].isdigit():
        raise InvalidValue("characters 3-8 must be a 6-digit administrative division code")
    expected = credit_code_check_char(s[:17])
    if s[17] != expected:
        raise InvalidValue(f"check character should be {expected}")
    return s


def make_credit_code(*, region_code: str, serial: int) -> str:
    """A valid credit code for demo data: a registered enterprise (91) of the region, numbered by serial."""
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise ValueError(f"region_code must be 6 digits, got {region_code!r}")
    if not 0 <= serial <= 99_999_999:
        raise ValueError(f"serial must be 0..99999999, got {serial}")
    body = f"{serial:08d}"
    org_check = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    org_code = body + {10: "X", 11: "0"}.get(org_check, str(org_check))
    first17 = f"91{region_code}{org_code}"
    return first17 + credit_code_check_char(first17)


# --- mainland mobile numbers ------------------------------------------------------------------

_MOBILE_SEPARATORS = re.compile(r"[\s\-]+")


def validate_mobile(value: str) -> str:
    """Check a mainland mobile number, with or without +86, spaces and hyphens; returns the 11 digits."""
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    s = _MOBILE_SEPARATORS.sub("", value)
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    if not (s.isascii() and s.isdigit()):
        raise InvalidValue("must contain only digits, spaces, hyphens and an optional +86")
    if len(s) != 11:
        raise InvalidValue(f"must be 11 digits, got {len(s)}")
    if s[0] != "1" or s[1] not in "3456789":
        raise InvalidValue("must be a mainland mobile number starting 13-19 (landlines are not accepted)")
    return s
