"""The support report as a file: CSV (UTF-8 with a BOM, so that Excel opens Chinese text right) or XLSX.
Unit names are text people typed: every text cell goes through `safe_cell`, so none runs as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from services.support.domain.figures import flatten, safe_cell

HEADER = ("figure", "value")


def _rows(report: Mapping) -> list[tuple[object, object]]:
    head = [("region", report.get("region") or ""), ("from", report["from"].isoformat()),
            ("to", report["to"].isoformat())]
    body = {k: v for k, v in report.items() if k not in ("region", "from", "to")}
    return [(safe_cell(n), safe_cell("" if v is None else v)) for n, v in head + flatten(body)]


def report_csv(report: Mapping) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(_rows(report))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def report_xlsx(report: Mapping) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "support"
    sheet.append(list(HEADER))
    for name, value in _rows(report):
        sheet.append([name, value])
    sheet.column_dimensions["A"].width = 44
    sheet.column_dimensions["B"].width = 16
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
