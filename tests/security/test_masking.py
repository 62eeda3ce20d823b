"""Personal data leaves the API masked unless the caller is admin or a caseworker of the worker's region.

Checked as an attacker would: by pattern over the raw bytes of every answer (bodies and error messages alike,
never by field name), for an employer's and a coordinator's sessions crawling every GET route they may call,
every export (CSV, and the XML inside the XLSX zip), and matching and placement for every role (they hold no
personal data at all).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import pytest
from secworld import LOCAL, World, missing_id
from support import Api, token

# Not inside a longer number, a decimal fraction or a token of Latin letters and digits (a UUID's last group
# such as "a16552616840" is not a phone); a resident ID starts with a province code (11..82). Chinese text
# right before a number does not hide it.
NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z.\-])[1-8]\d{16}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z.\-])1[3-9]\d{9}(?![0-9A-Za-z])")
MASKED_ID = re.compile(r"^\d{6}\*{12}$")
MASKED_PHONE = re.compile(r"^1\d{2}\*{4}\d{4}$")

ID_PARAMS = {
    "worker_id": ("w_local", "w_reloc", "w_bj"),
    "vacancy_id": ("v1", "v1x", "v2"),
    "employer_id": ("e1", "e2"),
    "referral_id": ("r_own", "r_other"),
    "placement_id": ("p_own", "p_other"),
    "batch_id": ("b_own", "b_other"),
}


def query_variants(world: World, path: str) -> list[dict]:
    """Filters a curious caller would try on a list: none, its region, another, the largest page."""
    variants: list[dict] = [{}]
    if path in ("/workers", "/vacancies", "/followups/due", "/placements", "/reports/summary"):
        variants += [{"region": "4109"}, {"region": "1101"}, {"region": "11"}]
    if path in ("/workers", "/vacancies", "/referrals", "/placements", "/export-batches"):
        variants += [{"per_page": 200}]
    if path == "/workers":
        variants += [{"willing_to_relocate": "false"}, {"skill": "电焊"}]
    if path == "/referrals":
        variants += [{"vacancy_id": world.ids["v2"]}, {"worker_id": world.ids["w_bj"]}]
    if path == "/reports/summary":
        variants += [{"format": "csv"}, {"format": "xlsx"}]
    if path.endswith("/matches"):
        variants += [{"limit": 100}]
    if path == "/audit":
        variants += [{"limit": 1000}]
    return variants


def concrete_paths(world: World, path: str) -> Iterator[str]:
    names = re.findall(r"{(\w+)}", path)
    if not names:
        yield path
        return
    (name,) = names
    for key in ID_PARAMS[name]:
        yield path.replace(f"{{{name}}}", world.ids[key])
    yield path.replace(f"{{{name}}}", missing_id())


def texts_of(response) -> list[str]:
    """The raw body; for a workbook, the XML of every part as well."""
    body = response.content
    texts = [body.decode("utf-8", errors="replace")]
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as book:
            texts += [book.read(name).decode("utf-8", errors="replace") for name in book.namelist()]
    return texts


def crawl(world: World, routes, role: str, services=("intake", "matching", "placement")) -> list[tuple[str, str]]:
    """(what was asked, raw text) for every GET route the role may call, with every id and filter variant."""
    from test_access_matrix import TABLE

    seen = []
    for route in routes:
        if route.method != "GET" or route.service not in services:
            continue
        allowed = TABLE[(route.service, "GET", route.path, role)]
        if set(allowed.values()) == {403}:
            continue
        api = world.api(route.service, role)
        for url in concrete_paths(world, route.path):
            for params in query_variants(world, route.path):
                response = api.get(url, params=params)
                for text in texts_of(response):
                    seen.append((f"{role} GET {route.service}{url} {params} -> {response.status_code}", text))
    return seen


def leaks(world: World, text: str, *, allowed_phones=frozenset()) -> list[str]:
    found = [f"national ID pattern {m}" for m in NATIONAL_ID.findall(text) if m not in world.credit_codes]
    found += [f"mobile {m}" for m in MOBILE.findall(text) if m not in allowed_phones]
    found += [f"name {n}" for n in world.names if n in text]
    found += [f"national ID {n}" for n in world.national_ids if n in text or n.lower() in text]
    return found


def assert_no_leaks(world: World, pages, **kw) -> None:
    problems = [(what, leak) for what, text in pages for leak in leaks(world, text, **kw)]
    assert not problems, f"{len(problems)} unmasked values, first: {problems[:5]}"


def employer_phone(world: World) -> str:
    return world.api("intake").get(f"/employers/{world.ids['e1']}").json()["contact_phone"]


def test_an_employers_session_shows_no_personal_data(world, routes):
    pages = crawl(world, routes, "employer")
    assert len(pages) > 20
    # The employer's own contact phone is its own data; every other mobile number must be masked.
    assert_no_leaks(world, pages, allowed_phones={employer_phone(world)})


def test_a_coordinators_session_shows_workers_masked(world, routes):
    pages = crawl(world, routes, "coordinator")
    assert_no_leaks(world, pages)
    # It does see the relocating worker, masked in the contract's format.
    shown = world.api("intake", "coordinator").get(f"/workers/{world.ids['w_reloc']}").json()
    assert shown["pii_masked"] is True
    assert MASKED_ID.match(shown["national_id"]) and MASKED_PHONE.match(shown["phone"])
    assert re.fullmatch(r".\*+", shown["name"]) and shown["birth_date"] is None and shown["hardship"] == []


@pytest.mark.parametrize("role", ["admin", "caseworker"])
def test_matching_and_placement_hold_no_personal_data_for_any_role(world, routes, role):
    assert_no_leaks(world, crawl(world, routes, role, services=("matching", "placement")))


@pytest.mark.parametrize("role", ["admin", "caseworker"])
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_exports_carry_no_personal_data(world, role, kind):
    region = "41" if role == "admin" else "4109"
    response = world.api("placement", role).get("/reports/summary", params={"format": kind, "region": region})
    assert response.status_code == 200
    pages = [(f"{role} {kind}", text) for text in texts_of(response)]
    assert len(pages) >= (1 if kind == "csv" else 3) and "reemployed" in " ".join(t for _, t in pages)
    assert_no_leaks(world, pages)


def test_errors_do_not_echo_personal_values(world):
    caseworker = world.api("intake", "caseworker")
    body = world.new_worker_body(LOCAL)
    assert caseworker.post("/workers", json=body).status_code == 201
    twice = caseworker.post("/workers", json=body)
    assert twice.status_code == 409 and twice.json()["error"]["worker_id"]
    nid = body["national_id"]
    wrong_check = nid[:-1] + ("0" if nid[-1] != "0" else "1")
    broken = caseworker.post("/workers", json={**body, "national_id": wrong_check, "phone": body["phone"][:-1]})
    assert broken.status_code == 422
    header = "身份证号,姓名,手机号,区划代码,同意\n"
    sheet = header + f"{body['national_id']},{body['name']},{body['phone']},{LOCAL},是\n"
    imported = caseworker.post("/workers/import", files={"file": ("w.csv", sheet.encode("utf-8-sig"), "text/csv")})
    assert imported.status_code == 200 and imported.json()["duplicate"] == 1
    for response in (twice, broken, imported):
        text = response.text
        assert body["national_id"] not in text and body["name"] not in text and body["phone"] not in text, text
    # Another region's caseworker trying the same ID learns nothing about the worker either.
    elsewhere = Api(world.stack.url("intake"), token("caseworker", regions=["1101"]))
    refused = elsewhere.post("/workers", json=body)
    assert refused.status_code == 403 and body["national_id"] not in refused.text


def test_employers_and_coordinators_do_not_see_the_priority_boost(world):
    """The policy boost tells a 4050 worker, a disability or a low income apart: only those who may see the
    worker's personal data see it; the others get the job-fit score."""
    ids = world.ids
    views = {
        "employer": world.api("matching", "employer").get(f"/vacancies/{ids['v1']}/matches", params={"limit": 100}),
        "coordinator (vacancy)": world.api("matching", "coordinator").get(f"/vacancies/{ids['v1x']}/matches"),
        "coordinator (worker)": world.api("matching", "coordinator").get(f"/workers/{ids['w_reloc']}/matches"),
    }
    for who, response in views.items():
        assert response.status_code == 200, (who, response.text)
        items = response.json()["items"]
        assert items, who
        assert all("policy_boost" not in i["explanation"] and 0 <= i["score"] <= 1 for i in items), who
    admin = world.api("matching").get(f"/vacancies/{ids['v1']}/matches", params={"limit": 100}).json()["items"]
    assert admin and all("policy_boost" in i["explanation"] for i in admin)


def test_a_managers_session_shows_workers_masked(world, routes):
    """Managers read lists and records of their regions, never with full personal data."""
    pages = crawl(world, routes, "manager")
    assert len(pages) > 20
    assert_no_leaks(world, pages)
    shown = world.api("intake", "manager").get(f"/workers/{world.ids['w_local']}").json()
    assert shown["pii_masked"] is True
    assert MASKED_ID.match(shown["national_id"]) and MASKED_PHONE.match(shown["phone"])
