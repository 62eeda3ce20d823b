"""Bulk import through the running intake service: the spreadsheets a bureau keeps today (XLSX, CSV in GBK,
CSV in UTF-8 with a BOM, Chinese headers), mixed good and bad rows, every row answered."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

import pytest
from openpyxl import Workbook
from support import Api, id_check, mobile, national_id, token, unique_national_id, worker_body

HEADERS = ["姓名", "身份证号", "手机号", "区划代码", "技能", "学历", "困难类别", "愿意外出", "同意"]
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def caseworker(stack):
    return Api(stack.url("intake"), token("caseworker", regions=["4109"]))


@dataclass
class Sheet:
    """A bureau's spreadsheet and what the import must answer for each of its rows."""

    rows: list[list] = field(default_factory=list)
    expected: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # row -> (status, field named)

    def add(self, cells: list, status: str | None, named: str | None = None) -> int:
        self.rows.append(cells)
        number = len(self.rows) + 1  # the header is row 1
        if status is not None:
            self.expected[number] = (status, named)
        return number


def mixed_sheet(existing_id: str) -> tuple[Sheet, dict]:
    """Valid rows, a duplicate of a registered worker, a duplicate within the file, broken rows, a blank row."""
    good = unique_national_id(female=True)
    with_x = national_id(born=date(1975, 8, 9), want_x=True)
    twice = unique_national_id()
    bad_check = twice[:6] + "19800517123"
    bad_check += next(c for c in "10X98765432" if c != id_check(bad_check))
    bad_phone_id, no_consent_id, blank_consent_id, prefecture_id, elsewhere_id = (
        unique_national_id() for _ in range(5))
    sheet = Sheet()
    rows = {
        "good": sheet.add(["王芳", good, 13812345678, "410923", "电焊、ＣＡＤ制图；叉车、电焊", "初中", "下岗", "是", "是"],
                          "created"),
        "with_x": sheet.add(["陈静", with_x.lower(), "+86 139-0000-1111", "410922", "", "高中", "", "否", "同意"],
                            "created"),
        "existing": sheet.add(["赵强", existing_id, mobile(), "410923", "电焊", "", "", "", "是"], "duplicate",
                              "national_id"),
        "first": sheet.add(["钱一", twice, mobile(), "410923", "叉车", "", "", "", "是"], "created"),
        "again": sheet.add(["钱二", twice, mobile(), "410923", "", "", "", "", "是"], "duplicate", "national_id"),
        "bad_check": sheet.add(["孙三", bad_check, mobile(), "410923", "", "", "", "", "是"], "rejected",
                               "national_id"),
        "bad_phone": sheet.add(["周四", bad_phone_id, "1381234", "410923", "", "", "", "", "是"], "rejected",
                               "phone"),
        "no_consent": sheet.add(["吴五", no_consent_id, mobile(), "410923", "", "", "", "", "否"], "rejected",
                                "consent.data_processing"),
        "blank": sheet.add(["", "", "", "", "", "", "", "", ""], None),
        "blank_consent": sheet.add(["郑六", blank_consent_id, mobile(), "410923", "", "", "", "", ""], "rejected",
                                   "consent.data_processing"),
        "prefecture": sheet.add(["冯七", prefecture_id, mobile(), "410900", "", "", "", "", "是"], "rejected",
                                "region_code"),
        "elsewhere": sheet.add(["陈八", elsewhere_id, mobile(), "410102", "", "", "", "", "是"], "rejected",
                               "region_code"),
    }
    ids = {"good": good, "with_x": with_x, "twice": twice, "bad_phone": bad_phone_id}
    return sheet, {"rows": rows, "ids": ids}


def as_xlsx(headers: list[str], rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append([None if c == "" else c for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_csv(headers: list[str], rows: list[list], encoding: str) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([[str(c) for c in row] for row in rows])
    return text.getvalue().encode(encoding)


FORMATS = {
    "xlsx": ("workers.xlsx", lambda h, r: as_xlsx(h, r), XLSX_MIME),
    "csv-gbk": ("workers.csv", lambda h, r: as_csv(h, r, "gbk"), "text/csv"),
    "csv-utf8-bom": ("workers.csv", lambda h, r: as_csv(h, r, "utf-8-sig"), "text/csv"),
}


def upload(api: Api, name: str, data: bytes, mime: str, **form):
    return api.post("/workers/import", files={"file": (name, data, mime)}, data=form)


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_a_mixed_file_is_imported_row_by_row_and_its_good_rows_are_kept(caseworker, kind):
    existing = caseworker.post("/workers", json=worker_body()).json()
    sheet, made = mixed_sheet(existing["national_id"])
    rows = made["rows"]
    name, encode, mime = FORMATS[kind]
    data = encode(HEADERS, sheet.rows)
    if kind == "csv-gbk":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really GBK, not UTF-8 in disguise

    response = upload(caseworker, name, data, mime)
    assert response.status_code == 200, response.text
    result = response.json()

    answered = {r["row"]: r for r in result["rows"]}
    assert set(answered) == set(sheet.expected), "every non-blank row is answered, the blank one is not"
    for number, (status, named) in sheet.expected.items():
        row = answered[number]
        assert row["status"] == status, row
        if status == "created":
            assert row["worker_id"] and row["errors"] == {}
        else:
            assert list(row["errors"]) == [named], row
            assert all(reason for reason in row["errors"][named])
    assert (result["created"], result["duplicate"], result["rejected"]) == (3, 2, 6)

    assert answered[rows["existing"]]["worker_id"] == existing["worker_id"]
    assert answered[rows["again"]]["worker_id"] == answered[rows["first"]]["worker_id"]
    assert str(rows["first"]) in answered[rows["again"]]["errors"]["national_id"][0]

    good = caseworker.get(f"/workers/{answered[rows['good']]['worker_id']}").json()
    assert good["national_id"] == made["ids"]["good"]
    assert (good["name"], good["phone"], good["gender"]) == ("王芳", "13812345678", "female")
    assert good["skills"] == ["电焊", "CAD制图", "叉车"]
    assert (good["education"], good["hardship"], good["willing_to_relocate"]) == ("junior_middle", ["laid_off"], True)
    with_x = caseworker.get(f"/workers/{answered[rows['with_x']]['worker_id']}").json()
    assert (with_x["national_id"], with_x["phone"]) == (made["ids"]["with_x"], "13900001111")
    assert (with_x["education"], with_x["willing_to_relocate"]) == ("senior_middle", False)

    # A rejected row left nothing behind: its person registers normally now.
    retry = caseworker.post("/workers", json=worker_body(national_id=made["ids"]["bad_phone"]))
    assert retry.status_code == 201


def test_english_headers_and_a_consent_declared_for_the_whole_file_are_accepted(caseworker):
    rows = [["李四", unique_national_id(), mobile(), "410923", "电工"]]
    data = as_csv(["name", "national_id", "phone", "region_code", "skills"], rows, "utf-8")
    without = upload(caseworker, "workers.csv", data, "text/csv").json()
    assert without["rows"][0]["status"] == "rejected"
    assert list(without["rows"][0]["errors"]) == ["consent"]
    declared = upload(caseworker, "workers.csv", data, "text/csv", consent="true").json()
    assert declared["rows"][0]["status"] == "created"
    assert caseworker.get(f"/workers/{declared['rows'][0]['worker_id']}").json()["skills"] == ["电工"]


def test_importing_the_same_file_twice_creates_nothing_the_second_time(caseworker):
    rows = [["李四", unique_national_id(), mobile(), "410923", "电工", "", "", "", "是"] for _ in range(3)]
    data = as_xlsx(HEADERS, rows)
    first = upload(caseworker, "a.xlsx", data, XLSX_MIME).json()
    second = upload(caseworker, "a.xlsx", data, XLSX_MIME).json()
    assert (first["created"], second["created"], second["duplicate"]) == (3, 0, 3)
    assert [r["worker_id"] for r in second["rows"]] == [r["worker_id"] for r in first["rows"]]


def test_a_title_above_the_header_row_is_skipped_and_rows_keep_their_sheet_numbers(caseworker):
    nid = unique_national_id()
    book = Workbook()
    sheet = book.active
    sheet.append(["南乐县就业困难人员登记表"])
    sheet.append(["填报单位：南乐县人社局", None, None, "2024年3月"])
    sheet.append(HEADERS)
    sheet.append(["王芳", nid, mobile(), "410923", "电焊", "", "", "", "是"])
    out = io.BytesIO()
    book.save(out)
    result = upload(caseworker, "workers.xlsx", out.getvalue(), XLSX_MIME).json()
    assert [(r["row"], r["status"]) for r in result["rows"]] == [(4, "created")]


def test_a_cell_with_a_control_character_rejects_its_row_naming_the_field(caseworker):
    rows = [["王\x00芳", unique_national_id(), mobile(), "410923", "电焊", "", "", "", "是"],
            ["李四", unique_national_id(), mobile(), "410923", "电焊\x1b", "", "", "", "是"],
            ["张三", unique_national_id(), mobile(), "410923", "电焊", "", "", "", "是"]]
    result = upload(caseworker, "workers.csv", as_csv(HEADERS, rows, "utf-8"), "text/csv").json()
    assert [(r["status"], list(r["errors"])) for r in result["rows"]] == [
        ("rejected", ["name"]), ("rejected", ["skills.0"]), ("created", [])]


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("workers.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), ".xlsx"),
    ("workers.csv", ",".join(HEADERS).encode() + b"\n" + b"x" * 200_000 + b"\n", "CSV"),
    ("workers.csv", "姓名,手机号\n王芳,13812345678\n".encode(), "national ID column"),
    ("workers.xlsx", b"PK\x03\x04 this is not a workbook", "XLSX"),
    ("workers.csv", b"\xff\xfe\x00\x01\x80\x81\xfe", "UTF-8"),
    ("workers.csv", b"", "empty"),
])
def test_a_file_that_cannot_be_read_is_refused_naming_file(caseworker, name, data, reason):
    response = upload(caseworker, name, data, "application/octet-stream")
    assert response.status_code == 422
    error = response.json()["error"]
    assert list(error["fields"]) == ["file"]
    assert reason in error["fields"]["file"][0]


def test_an_upload_without_a_file_is_refused_naming_file(caseworker):
    response = caseworker.post("/workers/import", data={"consent": "true"})
    assert response.status_code == 422
    assert "file" in response.json()["error"]["fields"]
