"""The import's first step: read the file and say, row by row, what would happen, before anything is kept.

Only the checks that need no database are made here (ID number and its checksum, mobile number, region code,
consent, the same ID twice in the file); the service makes them all again, and the duplicates against the
register, when the caseworker confirms.
"""

from __future__ import annotations

import csv
import io
import itertools
import re

HEADERS = {
    "national_id": ("身份证号", "身份证号码", "公民身份号码", "身份证", "national_id"),
    "name": ("姓名", "name"),
    "phone": ("手机号", "手机", "联系电话", "phone"),
    "region_code": ("区划代码", "地区代码", "region_code"),
    "consent": ("同意", "本人同意", "consent"),
}
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"
MAX_ROWS = 5000


def id_problem(value: str) -> str | None:
    s = value.strip().upper()
    if len(s) != 18:
        return f"身份证号应为 18 位，现在是 {len(s)} 位"
    if not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        return "身份证号格式不对"
    expected = _CHECK[sum(int(c) * w for c, w in zip(s[:17], _WEIGHTS, strict=True)) % 11]
    if s[17] != expected:
        return f"身份证号校验位不对（应为 {expected}）"
    return None


def _cells(filename: str, data: bytes) -> list[list[str]]:
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        from openpyxl import load_workbook

        ws = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
        return [["" if c is None else str(c) for c in row] for row in itertools.islice(ws.iter_rows(values_only=True), MAX_ROWS + 6)]
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError("文件既不是 UTF-8 也不是 GBK 编码")
    return list(itertools.islice(csv.reader(io.StringIO(text)), MAX_ROWS + 6))


def check_rows(filename: str, data: bytes) -> dict:
    try:
        rows = _cells(filename, data)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, never a 500
        return {"error": f"读不了这个文件：{exc}", "rows": []}
    mapping, start = None, 0
    for i, row in enumerate(rows[:5]):
        names = {c.strip(): j for j, c in enumerate(row)}
        found = {f: names[n] for f, options in HEADERS.items() for n in options if n in names}
        if "national_id" in found:
            mapping, start = found, i + 1
            break
    if mapping is None:
        return {"error": "前 5 行里没有找到「身份证号」列", "rows": []}
    seen: set[str] = set()
    out = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(c.strip() for c in row):
            continue
        def get(f: str, row=row) -> str:
            return row[mapping[f]].strip() if f in mapping and mapping[f] < len(row) else ""

        problems = []
        nid = get("national_id")
        if (p := id_problem(nid)) is not None:
            problems.append(p)
        elif nid.upper() in seen:
            problems.append("文件里出现了两次")
        seen.add(nid.upper())
        if not get("name"):
            problems.append("缺少姓名")
        if "phone" in mapping and not re.fullmatch(r"1[3-9]\d{9}", re.sub(r"[\s-]", "", get("phone"))):
            problems.append("手机号应为 11 位大陆手机号")
        if "region_code" in mapping and not re.fullmatch(r"\d{6}", get("region_code")):
            problems.append("区划代码应为 6 位数字")
        if "consent" in mapping and get("consent") not in ("是", "同意", "1", "true", "yes", "Y", "y"):
            problems.append("本人未同意处理个人信息")
        out.append({"row": number, "name": get("name"), "national_id": nid[:6] + "…" if nid else "",
                    "ok": not problems, "problems": problems})
    return {"error": None, "rows": out, "good": sum(r["ok"] for r in out), "bad": sum(not r["ok"] for r in out)}
