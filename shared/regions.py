"""GB/T 2260 administrative divisions: which codes exist, their names, and how far apart two are."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_REGIONS_CSV = Path(__file__).parent / "data" / "regions.csv"


@dataclass(frozen=True, slots=True)
class Region:
    """One row of the division list: level 1 province, 2 prefecture, 3 county."""

    code: str
    name: str
    parent_code: str | None
    level: int


@cache
def _regions() -> dict[str, Region]:
    with _REGIONS_CSV.open(encoding="utf-8", newline="") as f:
        return {
            row["code"]: Region(
                code=row["code"],
                name=row["name"],
                parent_code=row["parent_code"] or None,
                level=int(row["level"]),
            )
            for row in csv.DictReader(f)
        }


@cache
def _county_codes() -> tuple[str, ...]:
    return tuple(sorted(code for code, r in _regions().items() if r.level == 3))


PROVINCE_PREFIXES: frozenset[str] = frozenset(code[:2] for code, r in _regions().items() if r.level == 1)


def get_region(code: str) -> Region | None:
    """The region with this 6-digit code, or None."""
    return _regions().get(code)


def is_known_region(code: str) -> bool:
    """Whether the 6-digit code is in the division list, at any level."""
    return code in _regions()


def is_county(code: str) -> bool:
    """Whether the code is a known county-level division (county, district, county-level city)."""
    region = _regions().get(code)
    return region is not None and region.level == 3


def region_name(code: str) -> str | None:
    """The full name from the province down, e.g. "河南省濮阳市南乐县"; None for an unknown code."""
    regions = _regions()
    region = regions.get(code)
    if region is None:
        return None
    parts = []
    while region is not None:
        parts.append(region.name)
        region = regions.get(region.parent_code) if region.parent_code else None
    return "".join(reversed(parts))


def region_distance(a: str, b: str) -> int:
    """0 same county, 1 same prefecture, 2 same province, 3 elsewhere (compares 6-digit codes)."""
    if a == b:
        return 0
    if a[:4] == b[:4]:
        return 1
    if a[:2] == b[:2]:
        return 2
    return 3


def counties_under(prefix: str) -> list[str]:
    """County-level codes that start with the prefix, sorted."""
    return [code for code in _county_codes() if code.startswith(prefix)]


def matches_prefix(code: str, prefixes: Iterable[str]) -> bool:
    """Whether the code starts with one of the prefixes; an empty prefix matches nothing."""
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    # An empty prefix would match every code: too easy a way to grant a caseworker the whole country.
    return any(p and code.startswith(p) for p in prefixes)
