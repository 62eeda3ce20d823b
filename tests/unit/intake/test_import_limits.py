"""The import's archive guard: a workbook is refused on what it would unpack to, before it is parsed."""

from __future__ import annotations

import pytest
from bombs import workbook_with_cell

from services.intake.importer import (
    MAX_CELL_CHARS,
    MAX_XLSX_ENTRIES,
    FileTooLarge,
    UnreadableFile,
    check_archive,
    read_rows,
)


def test_a_compressed_bomb_is_refused_by_its_ratio():
    bomb = workbook_with_cell(64 << 20)  # 64 MiB of one letter: about 64 KiB compressed
    assert len(bomb) < 1 << 20
    with pytest.raises(FileTooLarge, match="MiB|inflates"):
        check_archive(bomb)


def test_a_giant_cell_is_refused_before_openpyxl_reads_it():
    sheet = workbook_with_cell(MAX_CELL_CHARS * 20)  # 40,000 characters: small, but no cell is that long
    with pytest.raises(FileTooLarge, match="longer than"):
        list(read_rows("w.xlsx", sheet))


def test_too_many_parts_are_refused():
    with pytest.raises(FileTooLarge, match="parts"):
        check_archive(workbook_with_cell(10, extra_parts=MAX_XLSX_ENTRIES))


def test_an_ordinary_workbook_passes_and_is_read():
    sheet = workbook_with_cell(MAX_CELL_CHARS // 2)
    check_archive(sheet)
    rows = list(read_rows("w.xlsx", sheet))
    assert len(rows) == 1 and rows[0][1]["national_id"] == "410923198005170012"


def test_a_long_csv_cell_is_refused_with_its_row_and_column():
    data = ("身份证号,技能\n410923198005170012," + "电" * (MAX_CELL_CHARS + 1) + "\n").encode()
    with pytest.raises(FileTooLarge, match="row 2, column 2"):
        list(read_rows("w.csv", data))


def test_not_a_zip_is_unreadable_not_too_large():
    with pytest.raises(UnreadableFile) as caught:
        check_archive(b"PK\x03\x04 broken")
    assert not isinstance(caught.value, FileTooLarge)
