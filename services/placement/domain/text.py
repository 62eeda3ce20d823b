"""Free-text fields (notes, reasons) must not become a back door for personal data.

Placement stores no personal data; a note that carries a resident ID or a mobile number would put it in the
database and in front of employers. Names cannot be recognised reliably, so the API says so in its docs, and
notes are cleared when the worker is erased.
"""

from __future__ import annotations

import re

_ID_LIKE = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
_MOBILE_LIKE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def personal_data_in(text: str | None) -> str | None:
    """The kind of personal data found in `text` ("a resident ID number", "a phone number"), or None."""
    if not text:
        return None
    compact = re.sub(r"[\s\-]", "", text)
    if _ID_LIKE.search(compact):
        return "a resident ID number"
    if _MOBILE_LIKE.search(compact):
        return "a phone number"
    return None
