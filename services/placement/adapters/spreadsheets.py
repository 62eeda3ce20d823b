"""The summary report as a file: CSV (UTF-8 with a BOM, so that Excel opens Chinese text right) or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from services.placement.domain.figures import flatten
from shared.cells import safe_cell

HEADER = ("figure", "value")


def _rows(report: Mapping) -> list[tuple[str, object]]:
    head = [("region", report.get("region") or ""), ("from", report["from"].isoformat()),
            ("to", report["to"].isoformat())]
    return head + flatten(report)


def _cell(value: object) -> object:
    # Every cell through the shared escape: a text that a spreadsheet program would run as a formula is not.
    return "" if value is None else safe_cell(value)


def summary_csv(report: Mapping) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for name, value in _rows(report):
        writer.writerow((_cell(name), _cell(value)))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def summary_xlsx(report: Mapping) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "summary"
    sheet.append(list(HEADER))
    for name, value in _rows(report):
        sheet.append([_cell(name), _cell(value)])
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 16
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
