"""Reading the spreadsheets a bureau keeps today: CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX, Chinese or English headers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from services.intake.domain.normalise import normalise_text, split_terms

MAX_IMPORT_ROWS = 20_000

# Hostile files: what an upload may unpack to, checked on the archive's directory before anything is parsed.
# A 1 MiB workbook of 20,000 real rows unpacks to about 15 MiB; a bomb's one cell to hundreds of MiB. Python's
# zipfile never inflates an entry past the size its directory declares, so the declared sizes bound the memory.
MAX_XLSX_ENTRIES = 200
MAX_XLSX_INFLATED = 48 * 1024 * 1024        # all entries together
MAX_XLSX_RATIO = 100                         # inflated / compressed, for entries over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
MAX_CELL_CHARS = 2_000                       # the longest cell of a row (30 terms of 40 characters fit)
MAX_TEXT_RUN_BYTES = 4 * MAX_CELL_CHARS * 4  # the longest text between two XML tags (UTF-8, entities)
_LONG_RUN = re.compile(rb"[^<>]{%d,}" % (MAX_TEXT_RUN_BYTES + 1))

# Column headers a bureau uses, mapped onto the API's field names.
HEADERS = {
    "national_id": ("身份证号", "身份证号码", "公民身份号码", "身份证"),
    "name": ("姓名",),
    "phone": ("手机号", "手机号码", "联系电话", "电话"),
    "region_code": ("区划代码", "行政区划代码", "地区代码", "户籍地代码", "所在地代码"),
    "skills": ("技能", "专业技能", "技能特长"),
    "certificates": ("证书", "职业资格证书", "资格证书"),
    "education": ("学历", "文化程度"),
    "experience_years": ("工作年限", "从业年限"),
    "desired_occupations": ("求职意向", "意向工种", "期望职业"),
    "desired_wage_min": ("期望月薪", "期望工资", "最低期望工资"),
    "willing_to_relocate": ("愿意外出", "愿意异地就业", "外出务工意愿"),
    "target_regions": ("意向地区代码", "目标地区"),
    "hardship": ("困难类别", "人员类别"),
    "consent": ("同意", "同意授权", "本人同意"),
}
LIST_FIELDS = {"skills", "certificates", "desired_occupations", "target_regions", "hardship"}
EDUCATION_WORDS = {
    "无": "none", "文盲": "none", "小学": "primary", "初中": "junior_middle", "高中": "senior_middle",
    "中专": "vocational", "技校": "vocational", "职高": "vocational", "大专": "college", "专科": "college",
    "本科": "bachelor", "研究生": "postgraduate", "硕士": "postgraduate", "博士": "postgraduate",
}
HARDSHIP_WORDS = {
    "下岗": "laid_off", "下岗失业": "laid_off", "失业": "unemployed", "零就业家庭": "zero_employment_household",
    "残疾": "disabled", "残疾人": "disabled", "低保": "low_income", "低收入": "low_income", "其他": "other",
}
YES = {"是", "yes", "y", "true", "1", "愿意", "同意", "√"}
NO = {"否", "no", "n", "false", "0", "不愿意", "不同意", ""}


class UnreadableFile(ValueError):
    pass


class FileTooLarge(UnreadableFile):
    """The file unpacks (or would be read) past a limit: answered 413 with the limit it broke."""


def _header_map(headers: list[str]) -> dict[int, str]:
    lookup = {}
    for field, names in HEADERS.items():
        lookup[field] = field
        for name in names:
            lookup[name] = field
    mapping = {}
    for index, header in enumerate(headers):
        key = normalise_text(str(header or "")).strip()
        if key in lookup:
            mapping[index] = lookup[key]
        elif key.lower() in lookup:
            mapping[index] = lookup[key.lower()]
    if "national_id" not in mapping.values():
        raise UnreadableFile("no national ID column (身份证号 or national_id) in the header row")
    return mapping


def _decode_csv(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")  # a superset of GBK, as Excel on a Chinese Windows writes it
    except UnicodeDecodeError:
        raise UnreadableFile("the CSV is neither UTF-8 nor GBK") from None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return normalise_text(str(value))


def _row_to_body(cells: list, mapping: dict[int, str]) -> dict:
    body: dict = {}
    for index, field in mapping.items():
        raw = _cell(cells[index]) if index < len(cells) else ""
        if field in LIST_FIELDS:
            terms = split_terms(raw)
            if field == "hardship":
                terms = [HARDSHIP_WORDS.get(t, t) for t in terms]
            body[field] = terms
        elif field == "education":
            if raw:
                body[field] = EDUCATION_WORDS.get(raw, raw)
        elif field in ("experience_years",):
            if raw:
                body[field] = raw
        elif field == "desired_wage_min":
            if raw:
                body[field] = raw
        elif field in ("willing_to_relocate", "consent"):
            lowered = raw.lower()
            value = True if lowered in YES else False if lowered in NO else raw
            body[field] = {"data_processing": value} if field == "consent" else value
        else:
            body[field] = raw
    return body


def read_rows(filename: str, data: bytes) -> Iterator[tuple[int, dict]]:
    """Yield (spreadsheet row number, request-shaped body) for each non-empty data row."""
    name = (filename or "").lower()
    if name.endswith(".xls") or data[:4] == OLE_MAGIC:
        raise UnreadableFile("an old .xls workbook: save it as .xlsx or CSV")
    if name.endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        yield from _bodies(_xlsx_cells(data))
    else:
        yield from _bodies(_csv_cells(data))


OLE_MAGIC = b"\xd0\xcf\x11\xe0"
# A bureau's sheet often has a title (and a date or unit line) above the header row.
HEADER_SEARCH_ROWS = 5


def _blank(cells) -> bool:
    return not any(c is not None and str(c).strip() for c in cells)


def _bodies(numbered_cells: Iterator[tuple[int, list]]) -> Iterator[tuple[int, dict]]:
    mapping: dict[int, str] | None = None
    seen_any = False
    data_rows = 0
    for number, cells in numbered_cells:
        if _blank(cells):
            continue
        seen_any = True
        if mapping is None:
            if number > HEADER_SEARCH_ROWS:
                break
            try:
                mapping = _header_map(["" if c is None else str(c) for c in cells])
            except UnreadableFile:
                pass
            continue
        for column, cell in enumerate(cells, start=1):
            if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
                raise FileTooLarge(f"row {number}, column {column}: a cell of {len(cell)} characters, more than "
                                   f"{MAX_CELL_CHARS}")
        data_rows += 1
        if data_rows > MAX_IMPORT_ROWS:
            raise UnreadableFile(f"more than {MAX_IMPORT_ROWS} rows: split the file")
        yield number, _row_to_body(cells, mapping)
    if not seen_any:
        raise UnreadableFile("the file is empty")
    if mapping is None:
        raise UnreadableFile(
            f"no national ID column (身份证号 or national_id) in a header row among the first {HEADER_SEARCH_ROWS} rows")


def _csv_cells(data: bytes) -> Iterator[tuple[int, list]]:
    reader = csv.reader(io.StringIO(_decode_csv(data)))
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:  # a field over the csv module's size limit, a broken quote in strict mode
        raise UnreadableFile(f"not a readable CSV (line {reader.line_num}: {exc})") from None


def check_archive(data: bytes) -> None:
    """Refuse a workbook whose archive unpacks past the limits, before openpyxl reads a byte of it: the entry
    count, every entry's declared size and ratio, and the longest run of text between two XML tags (a cell),
    scanned in chunks so that the scan itself holds no more than one chunk."""
    import zipfile

    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        entries = book.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UnreadableFile("not a readable XLSX workbook") from None
    if len(entries) > MAX_XLSX_ENTRIES:
        raise FileTooLarge(f"the workbook holds {len(entries)} parts, more than {MAX_XLSX_ENTRIES}")
    total = sum(e.file_size for e in entries)
    if total > MAX_XLSX_INFLATED:
        raise FileTooLarge(f"the workbook unpacks to {total / 2**20:.0f} MiB, more than "
                           f"{MAX_XLSX_INFLATED // 2**20} MiB (a compressed bomb or a file to split)")
    for e in entries:
        if e.file_size > RATIO_FLOOR and e.file_size > MAX_XLSX_RATIO * max(e.compress_size, 1):
            raise FileTooLarge(f"part {e.filename} inflates {e.file_size // max(e.compress_size, 1)} times, more "
                               f"than {MAX_XLSX_RATIO} (a compressed bomb)")
    for e in entries:
        if not e.filename.endswith(".xml"):
            continue
        carry = 0  # the run of text at the end of the previous chunk, which the next one may continue
        try:
            with book.open(e) as part:
                while chunk := part.read(256 * 1024):
                    first = min((i for i in (chunk.find(b"<"), chunk.find(b">")) if i >= 0), default=len(chunk))
                    if carry + first > MAX_TEXT_RUN_BYTES or _LONG_RUN.search(chunk):
                        raise FileTooLarge(f"a cell in {e.filename} is longer than {MAX_CELL_CHARS} characters")
                    last = max(chunk.rfind(b"<"), chunk.rfind(b">"))
                    carry = carry + len(chunk) if last < 0 else len(chunk) - last - 1
        except zipfile.BadZipFile:
            raise UnreadableFile(f"part {e.filename} of the workbook is damaged") from None


def _xlsx_cells(data: bytes) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook

    check_archive(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise UnreadableFile("not a readable XLSX workbook") from None
    try:
        if not book.worksheets:
            raise UnreadableFile("the workbook has no worksheet")
        rows = book.worksheets[0].iter_rows(values_only=True)
        number = 0
        while True:
            try:
                cells = next(rows)
            except StopIteration:
                return
            except Exception:  # noqa: BLE001 - a damaged sheet fails while it is read, in as many ways
                raise UnreadableFile(f"the first worksheet cannot be read after row {number}") from None
            number += 1
            yield number, list(cells)
    finally:
        book.close()
