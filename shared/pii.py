"""Masking of personal data for callers who may not see it.

Masking is judged by what a reader can infer, not by format: everything a masked caller sees of a worker
taken together (masked ID, age band, the 4050 flag, region, registration date) must leave at least 10,000
candidates for the national ID. The ID keeps only its region (the first six characters, which the worker's
`region_code` shows anyway); the age is shown as a ten-year band. With the tail of the ID and the exact age,
as shown before, a reader was left with a few dozen candidates (see docs/privacy.md for the arithmetic).

`mask_worker` is the one function that turns a worker as a full reader sees it into what a masked one sees:
the API and the console call it, so a page cannot show more than the JSON does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

ID_REGION_CHARS = 6
# Fields of a worker that a masked reader never receives (hardship becomes an empty list).
WITHHELD = ("birth_date", "birth_year", "gender", "age")


def mask_national_id(value: str | None) -> str | None:
    """410923************: only the region prefix stays."""
    if not value:
        return value
    if len(value) <= ID_REGION_CHARS:
        return "*" * len(value)
    return value[:ID_REGION_CHARS] + "*" * (len(value) - ID_REGION_CHARS)


def mask_name(value: str | None) -> str | None:
    """张*: the family name's first character stays, the rest is one star (the length is not told either)."""
    if not value:
        return value
    return value[0] + "*"


def mask_phone(value: str | None) -> str | None:
    """138****5678."""
    if not value:
        return value
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_address(value: str | None) -> str | None:
    if not value:
        return value
    return value[: min(6, len(value) // 2)] + "****"


def age_band(age: int | None) -> str | None:
    """40-49: the decade of an age (under 20: "16-19"; the ID rules allow no one younger to register)."""
    if age is None:
        return None
    if age < 20:
        return "16-19"
    low = (age // 10) * 10
    return f"{low}-{low + 9}"


def mask_worker(worker: Mapping[str, Any]) -> dict[str, Any]:
    """A worker as a masked reader may see it, from the worker as a full reader sees it."""
    out = dict(worker)
    out["national_id"] = mask_national_id(worker.get("national_id"))
    out["name"] = mask_name(worker.get("name"))
    out["phone"] = mask_phone(worker.get("phone"))
    out["age_band"] = worker.get("age_band") or age_band(worker.get("age"))
    for key in WITHHELD:
        if key in out:
            out[key] = None
    # Hardship is sensitive: only those who may see personal data see it.
    out["hardship"] = []
    out["pii_masked"] = True
    return out


# --- free text that would carry personal data -------------------------------------------------------------
# Free text (skills, certificates, desired occupations, referral and follow-up notes) goes into events and read
# models that masked roles see: a resident ID, a mobile number or an e-mail address typed into it would leak
# past every mask. Names cannot be recognised reliably; the API's docs say so, and erasure clears notes.

_ID_LIKE = re.compile(r"(?<!\d)[1-9]\d{16}[\dXx](?![\dXx])")
_MOBILE_LIKE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_EMAIL_LIKE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_JOINERS = re.compile(r"[\s\-()（）.]")

SCREEN_REASONS = {
    "id": "a resident ID number / 身份证号码",
    "phone": "a phone number / 手机号码",
    "email": "an e-mail address / 电子邮箱",
}


def personal_data_in(text: str | None) -> str | None:
    """The kind of personal data found in `text` (a reason for the caller, English / Chinese), or None."""
    if not text:
        return None
    plain = unicodedata.normalize("NFKC", text)
    if _EMAIL_LIKE.search(plain):
        return SCREEN_REASONS["email"]
    compact = _JOINERS.sub("", plain)
    if _ID_LIKE.search(compact):
        return SCREEN_REASONS["id"]
    if _MOBILE_LIKE.search(compact):
        return SCREEN_REASONS["phone"]
    return None


def screen_message(found: str) -> str:
    return f"must not contain personal data: {found} (不得填写个人信息)"
