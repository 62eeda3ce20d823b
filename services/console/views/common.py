"""Helpers the pages share: list fields from one text box, paging, XLSX downloads, form errors."""

from __future__ import annotations

import io
import re
from datetime import date

from flask import current_app, g, request, send_file

from services.console import messages
from services.console.app import services  # noqa: F401 - re-exported for the views

SPLIT = re.compile(r"[,，、\s;；]+")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def split_list(text: str | None) -> list[str]:
    """A list field typed in one box: items separated by commas, 、 or spaces."""
    return [t for t in SPLIT.split(text or "") if t]


def accounts():
    return current_app.extensions["accounts"]


def settings():
    return current_app.extensions["console_settings"]


def actor() -> str:
    return g.user.username if g.get("user") else "anonymous"


def addr() -> str | None:
    return request.remote_addr


def page_args(default_per_page: int = 20) -> dict:
    try:
        page = max(1, min(int(request.args.get("page", 1)), 100_000))
    except ValueError:
        page = 1
    return {"page": page, "per_page": default_per_page}


def safe_cell(value):
    """A spreadsheet cell that cannot run as a formula: text starting with = + - @ tab or CR gets a quote."""
    if isinstance(value, list | tuple):
        value = "、".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xlsx_response(title: str, header: list[str], rows: list[list], filename: str):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(header)
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return send_file(out, as_attachment=True, download_name=f"{filename}-{date.today().isoformat()}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def field_errors(exc) -> dict[str, list[str]]:
    errors = messages.zh_fields(exc.fields)
    if not errors:
        errors = {"body": [messages.zh_reason(exc.message)]}
    return errors
