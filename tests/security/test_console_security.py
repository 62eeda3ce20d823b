"""The console's own defences: who may open which page (role x page x own/other/missing), CSRF, session
fixation, lockout, escaped output, headers, and an employer never seeing a full phone or ID number."""

from __future__ import annotations

import uuid

import pytest
import requests
from consoleworld import PASSWORD, csrf_token

pytestmark = pytest.mark.e2e

ROLES = {"admin": "c-admin", "caseworker": "c-case", "coordinator": "c-coord", "employer": "c-emp",
         "manager": "c-manager"}

# Pages without an object: the status each role gets (302 = sent on to its own home page).
PAGES = {
    "/": {"admin": 200, "caseworker": 200, "coordinator": 302, "employer": 302, "manager": 302},
    "/workers": {"admin": 200, "caseworker": 200, "coordinator": 200, "employer": 403, "manager": 200},
    "/workers/new": {"admin": 200, "caseworker": 200, "coordinator": 403, "employer": 403, "manager": 403},
    "/workers/import": {"admin": 200, "caseworker": 200, "coordinator": 403, "employer": 403, "manager": 403},
    "/vacancies": {"admin": 200, "caseworker": 200, "coordinator": 200, "employer": 200, "manager": 200},
    "/vacancies/new": {"admin": 200, "caseworker": 200, "coordinator": 403, "employer": 200, "manager": 403},
    "/referrals": {"admin": 200, "caseworker": 200, "coordinator": 403, "employer": 200, "manager": 200},
    "/followups": {"admin": 200, "caseworker": 200, "coordinator": 403, "employer": 403, "manager": 403},
    "/export-batches": {"admin": 200, "caseworker": 403, "coordinator": 200, "employer": 403, "manager": 200},
    "/export-batches/new": {"admin": 200, "caseworker": 403, "coordinator": 200, "employer": 403, "manager": 403},
    "/dashboard": {"admin": 200, "caseworker": 200, "coordinator": 403, "employer": 403, "manager": 200},
    "/admin/users": {"admin": 200, "caseworker": 403, "coordinator": 403, "employer": 403, "manager": 403},
    "/admin/audit": {"admin": 200, "caseworker": 403, "coordinator": 403, "employer": 403, "manager": 200},
    "/admin/model": {"admin": 200, "caseworker": 403, "coordinator": 403, "employer": 403, "manager": 200},
}

# Pages of one object: (own, other, missing) per role. own/other: a worker of 4109 willing to relocate / one of
# Beijing who stays; E1's vacancy / E2's; a referral to E1's vacancy of the local worker / of the Beijing worker
# to E2's; a batch (coordinators share batches). 404 = missing or out of reach, as the services answer.
OBJECT_PAGES = {
    ("/workers/{}", "w"): {"admin": (200, 200, 404), "caseworker": (200, 404, 404), "coordinator": (200, 404, 404),
                           "employer": (403, 403, 403), "manager": (200, 404, 404)},
    ("/workers/{}/edit", "w"): {"admin": (200, 200, 404), "caseworker": (200, 404, 404),
                                "coordinator": (403, 403, 403), "employer": (403, 403, 403),
                                "manager": (403, 403, 403)},
    ("/vacancies/{}", "v"): {"admin": (200, 200, 404), "caseworker": (200, 200, 404), "coordinator": (404, 404, 404),
                             "employer": (200, 404, 404), "manager": (200, 200, 404)},
    ("/referrals/{}", "r"): {"admin": (200, 200, 404), "caseworker": (200, 404, 404), "coordinator": (403, 403, 403),
                             "employer": (200, 404, 404), "manager": (200, 404, 404)},
    ("/referrals/{}/letter.pdf", "r"): {"admin": (200, 200, 404), "caseworker": (200, 404, 404),
                                        "coordinator": (403, 403, 403), "employer": (403, 403, 403),
                                        "manager": (403, 403, 403)},
    ("/export-batches/{}", "b"): {"admin": (200, 200, 404), "caseworker": (403, 403, 403),
                                  "coordinator": (200, 200, 404), "employer": (403, 403, 403),
                                  "manager": (200, 200, 404)},
}


@pytest.fixture(scope="module")
def sessions(console):
    return {role: console.session(username) for role, username in ROLES.items()}


@pytest.fixture(scope="module")
def objects(console):
    ids = console.ids
    # A worker away with one batch cannot leave with another: the other batch takes a worker of its own.
    from consoleworld import CROSS_REGION_AT, LOCAL

    traveller = console.new_worker(LOCAL, willing_to_relocate=True, target_regions=[CROSS_REGION_AT])
    other_batch = console.batch([traveller], ids["e2"])
    return {"w": (ids["w_local"], ids["w_bj"]), "v": (ids["v1"], ids["v2"]), "r": (ids["r_own"], ids["r_other"]),
            "b": (ids["b_own"], other_batch)}


def _cells():
    for page, expected in PAGES.items():
        for role, status in expected.items():
            yield pytest.param(page, role, status, id=f"{page} {role}")


@pytest.mark.parametrize(("page", "role", "status"), list(_cells()))
def test_a_page_opens_only_for_the_roles_it_serves(console, sessions, page, role, status):
    r = sessions[role].get(console.url + page, allow_redirects=False)
    assert r.status_code == status, f"{role} {page}: {r.status_code} {r.text[:200]}"


def _object_cells():
    for (pattern, kind), per_role in OBJECT_PAGES.items():
        for role, statuses in per_role.items():
            for cell, status in zip(("own", "other", "missing"), statuses, strict=True):
                yield pytest.param(pattern, kind, role, cell, status, id=f"{pattern} {role} {cell}")


@pytest.mark.parametrize(("pattern", "kind", "role", "cell", "status"), list(_object_cells()))
def test_an_object_page_shows_only_what_the_services_let_the_role_reach(console, sessions, objects, pattern, kind,
                                                                        role, cell, status):
    object_id = {"own": objects[kind][0], "other": objects[kind][1], "missing": str(uuid.uuid4())}[cell]
    r = sessions[role].get(console.url + pattern.format(object_id), allow_redirects=False)
    assert r.status_code == status, f"{role} {pattern} {cell}: {r.status_code} {r.text[:200]}"
    assert "Traceback" not in r.text


def test_a_page_without_a_session_sends_to_the_sign_in_form(console):
    r = requests.get(f"{console.url}/workers", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_form_posted_without_its_csrf_token_is_refused_and_keeps_nothing(console):
    s = console.session("c-case")
    before = console.api("intake").get("/workers", params={"per_page": 1}).json()["total"]
    body = {"national_id": "41092319800517001X", "name": "王五", "phone": "13812345678", "region_code": "410923",
            "consent.data_processing": "true"}
    r = s.post(f"{console.url}/workers/new", data=body, allow_redirects=False)
    assert r.status_code == 400
    assert "安全令牌" in r.text
    r = requests.post(f"{console.url}/login", data={"username": "c-case", "password": PASSWORD}, timeout=10,
                      allow_redirects=False)
    assert r.status_code == 400
    assert console.api("intake").get("/workers", params={"per_page": 1}).json()["total"] == before


def test_signing_in_gives_a_new_session_and_signing_out_ends_it(console):
    s = requests.Session()
    token = csrf_token(s.get(f"{console.url}/login").text)
    before = s.cookies.get("jobbridge_session")
    assert before, "the sign-in form sets a session cookie (it carries the CSRF token)"
    r = s.post(f"{console.url}/login", data={"username": "c-case", "password": PASSWORD, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 302
    after = s.cookies.get("jobbridge_session")
    assert after and after != before
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # The cookie from before sign-in is not signed in; the one from after is, until sign-out.
    assert requests.get(f"{console.url}/workers", cookies={"jobbridge_session": before}, allow_redirects=False,
                        timeout=10).status_code == 302
    assert requests.get(f"{console.url}/workers", cookies={"jobbridge_session": after}, allow_redirects=False,
                        timeout=10).status_code == 200
    home = s.get(f"{console.url}/")
    s.post(f"{console.url}/logout", data={"csrf_token": csrf_token(home.text)})
    assert requests.get(f"{console.url}/workers", cookies={"jobbridge_session": after}, allow_redirects=False,
                        timeout=10).status_code == 302, "a copied cookie outlives sign-out"


def test_repeated_wrong_passwords_lock_the_account_and_are_audited(console):
    console.accounts.add(username="c-lockme", password=PASSWORD, role="caseworker", regions=["4109"])
    s = requests.Session()
    for _ in range(5):
        r = s.post(f"{console.url}/login", data={"username": "c-lockme", "password": "wrong-password",
                                                  "csrf_token": csrf_token(s.get(f"{console.url}/login").text)})
        assert r.status_code == 401
    r = s.post(f"{console.url}/login", data={"username": "c-lockme", "password": PASSWORD,
                                              "csrf_token": csrf_token(s.get(f"{console.url}/login").text)},
               allow_redirects=False)
    assert r.status_code == 401 and "锁定" in r.text
    actions = [a["action"] for a in console.accounts.audit_entries(actor="c-lockme")]
    assert actions.count("login_failed") == 5 and "login_locked" in actions
    console.accounts.reset("c-lockme", PASSWORD)
    assert console.session("c-lockme")


def test_every_page_carries_a_csp_without_inline_script_and_refuses_frames(console):
    s = console.session("c-case")
    for page in ("/login", "/", f"/workers/{console.ids['w_local']}"):
        r = s.get(console.url + page)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in r.text  # every script is a file of the console's own


def test_stored_markup_is_shown_as_text(console):
    v = console.new_vacancy(console.ids["e1"], title="<script>alert(1)</script>焊工", occupation="焊工")
    r = console.session("c-emp").get(f"{console.url}/vacancies/{v}")
    assert r.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;焊工" in r.text
    assert "<script>alert(1)" not in r.text


def test_an_employer_never_sees_a_full_phone_or_id_number(console):
    s = console.session("c-emp")
    seen = ""
    for page in ("/", "/referrals", f"/referrals/{console.ids['r_own']}", f"/vacancies/{console.ids['v1']}",
                 "/vacancies", "/referrals?format=xlsx", "/vacancies?format=xlsx"):
        r = s.get(console.url + page)
        assert r.status_code == 200, page
        seen += r.text if "html" in r.headers["Content-Type"] else r.content.decode("latin-1")
    leaked = [p for p in console.phones | console.national_ids if p in seen]
    assert not leaked, f"full personal data on an employer's pages: {leaked}"
