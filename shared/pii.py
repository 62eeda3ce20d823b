"""Masking of personal data for callers who may not see it."""

from __future__ import annotations


def mask_national_id(value: str | None) -> str | None:
    """410923********1234: the region prefix and the last four stay."""
    if not value:
        return value
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """张*: the family name stays."""
    if not value:
        return value
    return value[0] + "*" * max(1, len(value) - 1)


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
