"""Clean-up of free-text terms (skills, certificates, occupations) as caseworkers and spreadsheets type them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from services.intake.domain.identity import InvalidValue

# Not whitespace: "CAD 制图" is one skill.
_TERM_SEPARATORS = re.compile(r"[、，,；;/／|｜\r\n]+")


def normalise_text(s: str) -> str:
    """NFKC (full-width letters, digits and spaces to half-width), inner whitespace collapsed, stripped."""
    return " ".join(unicodedata.normalize("NFKC", s).split())


def split_terms(s: str) -> list[str]:
    """Split a spreadsheet cell such as "电焊、氩弧焊；叉车" into normalised, non-empty terms."""
    terms = (normalise_text(part) for part in _TERM_SEPARATORS.split(s))
    return [t for t in terms if t]


def normalise_terms(values: Iterable[str], *, max_items: int = 50, max_len: int = 40) -> list[str]:
    """Normalise a list of terms, dropping empties and case-insensitive repeats, keeping the first spelling."""
    if isinstance(values, str):
        raise TypeError("expected a list of terms, not a single string")
    seen: set[str] = set()
    terms: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidValue(f"every term must be a string, got {type(value).__name__}")
        term = normalise_text(value)
        if not term:
            continue
        if len(term) > max_len:
            raise InvalidValue(f"term {term[:max_len]!r}... is longer than {max_len} characters")
        key = term.casefold()
        if key in seen:
            continue
        seen.add(key)
        terms.append(term)
        if len(terms) > max_items:
            raise InvalidValue(f"at most {max_items} terms are allowed")
    return terms
