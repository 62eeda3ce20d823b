"""Cells of the spreadsheets the system writes (CSV and XLSX): text that a spreadsheet program would run.

A cell beginning with `=`, `+`, `-` or `@` is a formula to Excel, LibreOffice and WPS (`=HYPERLINK(...)` sends
the reader's data away, `=cmd|...` ran programs on old versions); a leading tab or carriage return hides such
a start from a naive check. Every text cell written goes through `safe_cell`, which puts a single quote in
front (OWASP's advice: the program shows the text instead of running it). Numbers stay numbers.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value as a spreadsheet cell that cannot be run: text with a formula start gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values) -> list:
    return [safe_cell(v) for v in values]
