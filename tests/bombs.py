"""Hostile workbooks for the import's limits: a real XLSX whose first sheet is replaced by crafted XML."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"
HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>national_id</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>skills</t></is></c></row>'
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>410923198005170012</t></is></c>'
        b'<c r="B2" t="inlineStr"><is><t>')
TAIL = b"</t></is></c></row></sheetData></worksheet>"


def workbook_with_cell(cell_bytes: int, *, extra_parts: int = 0) -> bytes:
    """A valid workbook whose B2 holds `cell_bytes` bytes of text, deflated (so a bomb when it is large)."""
    book = Workbook()
    book.active.append(["national_id"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for item in source.infolist():
            if item.filename == SHEET:
                info = zipfile.ZipInfo(SHEET)
                info.compress_type = zipfile.ZIP_DEFLATED
                with target.open(info, "w", force_zip64=True) as part:
                    part.write(HEAD)
                    block = b"A" * (1 << 20)
                    left = cell_bytes
                    while left > 0:
                        part.write(block[: min(left, len(block))])
                        left -= len(block)
                    part.write(TAIL)
            else:
                target.writestr(item, source.read(item.filename))
        for n in range(extra_parts):
            target.writestr(f"xl/extra/part{n}.xml", b"<x/>")
    return out.getvalue()
