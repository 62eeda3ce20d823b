"""The intake HTTP API through Flask's test client, against a real migrated database (SQLite or PostgreSQL).

Valid resident IDs and credit codes come from `support`, which computes them from GB 11643 and GB 32100
independently of the code under test; every broken one below is built from a valid one by breaking exactly
one rule, so a 422 can only come from that rule.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from support import (
    CREDIT_ALPHABET,
    credit_check,
    credit_code,
    employer_body,
    id_check,
    mobile,
    national_id,
    token,
    unique_national_id,
    vacancy_body,
    worker_body,
)

from services.intake.adapters.tables import outbox
from services.intake.http import create_app
from shared.config import load_settings
from shared.db import migrate

TODAY = date.today()


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (28 February for a 29 February that year lacks)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def assert_error_shape(response) -> dict:
    """The contract's error body: {"error": {"code", "message", "fields"}}, fields mapping names to reasons."""
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, response.get_data(as_text=True)
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    for name, reasons in error["fields"].items():
        assert isinstance(name, str) and reasons and all(isinstance(r, str) and r for r in reasons), error
    return error


class Caller:
    """One caller of the API: every answer below 500, every error in the contract's shape."""

    def __init__(self, client, bearer: str | None):
        self.client = client
        self.bearer = bearer

    def request(self, method: str, path: str, **kw):
        headers = dict(kw.pop("headers", {}))
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        response = self.client.open(path, method=method, headers=headers, **kw)
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.get_data(as_text=True)}"
        if response.status_code >= 400:
            assert_error_shape(response)
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def fields_of(response) -> dict:
    return response.get_json()["error"]["fields"]


@pytest.fixture(scope="module")
def intake_url(databases):
    url = databases.url("intake_api")
    migrate("intake", url)
    return url


@pytest.fixture(scope="module")
def make_app(intake_url, tmp_path_factory):
    apps = []
    data_dir = tmp_path_factory.mktemp("intake_api")

    def build(**env):
        settings = load_settings("intake", {
            "INTAKE_DATABASE_URL": intake_url, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_DATA_DIR": str(data_dir),
            "JOBBRIDGE_LOG_LEVEL": "WARNING", **env})
        app = create_app(settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["intake"].c.engine.dispose()


@pytest.fixture(scope="module")
def app(make_app):
    return make_app()


@pytest.fixture(scope="module")
def admin(app):
    return Caller(app.test_client(), token("admin"))


@pytest.fixture(scope="module")
def caseworker(app):
    return Caller(app.test_client(), token("caseworker", regions=["4109"]))


@pytest.fixture(scope="module")
def caseworker_elsewhere(app):
    return Caller(app.test_client(), token("caseworker", regions=["4101"]))


@pytest.fixture(scope="module")
def coordinator(app):
    return Caller(app.test_client(), token("coordinator"))


@pytest.fixture(scope="module")
def employer(app, admin):
    """An employer registered by the bureau, calling with its own token."""
    employer_id = admin.post("/employers", json=employer_body()).get_json()["employer_id"]
    return Caller(app.test_client(), token("employer", employer_id=employer_id)), employer_id


def register(caller: Caller, **overrides) -> dict:
    response = caller.post("/workers", json=worker_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def a_unique_skill() -> str:
    return f"焊接{uuid.uuid4().hex[:8]}"


# --- resident ID, GB 11643 ------------------------------------------------------------------------


def test_a_valid_id_registers_and_birth_date_and_gender_are_taken_from_it(caseworker):
    born = date(1983, 11, 2)
    nid = national_id(born=born, female=True)
    created = register(caseworker, national_id=nid)
    assert created["national_id"] == nid
    assert created["birth_date"] == born.isoformat()
    assert created["gender"] == "female"
    man = register(caseworker, national_id=national_id(born=born, female=False))
    assert man["gender"] == "male"


def test_birth_date_and_gender_cannot_be_typed_in_the_body(caseworker):
    response = caseworker.post("/workers", json=worker_body(birth_date="1990-01-01", gender="female"))
    assert response.status_code == 422
    assert {"birth_date", "gender"} <= set(fields_of(response))


def _wrong_check_digit() -> str:
    good = unique_national_id()
    return good[:17] + next(c for c in "10X98765432" if c != good[17])


def _with_check(first17: str) -> str:
    return first17 + id_check(first17)


BROKEN_IDS = {
    "wrong check digit": (_wrong_check_digit, "check digit"),
    "30 February": (lambda: _with_check("410923" + "19800230" + "123"), "not a real date"),
    "birth in the future": (lambda: _with_check("410923" + f"{TODAY.year + 1}0101" + "123"), "future"),
    "born 130 years ago": (lambda: _with_check("410923" + f"{TODAY.year - 130}0101" + "123"), "years ago"),
    "province 99": (lambda: _with_check("990101" + "19800517" + "123"), "province"),
    "17 characters": (lambda: unique_national_id()[:17], "18 characters"),
    "19 characters": (lambda: unique_national_id() + "1", "18 characters"),
    "a letter inside": (lambda: (lambda good: good[:10] + "A" + good[11:])(unique_national_id()), "digits"),
    "a check character other than X": (lambda: unique_national_id()[:17] + "Y", "digit or X"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_IDS))
def test_a_broken_resident_id_is_refused_naming_national_id_and_the_rule(caseworker, case):
    build, reason = BROKEN_IDS[case]
    response = caseworker.post("/workers", json=worker_body(national_id=build()))
    assert response.status_code == 422
    fields = fields_of(response)
    assert list(fields) == ["national_id"], fields
    assert reason in fields["national_id"][0]


def test_a_lowercase_x_check_character_is_accepted_and_stored_upper_case(caseworker):
    nid = national_id(born=date(1979, 3, 14), want_x=True)
    assert nid.endswith("X")
    created = register(caseworker, national_id=nid.lower())
    assert created["national_id"] == nid
    again = caseworker.post("/workers", json=worker_body(national_id=nid))
    assert again.status_code == 409
    assert again.get_json()["error"]["worker_id"] == created["worker_id"]


def test_the_same_id_twice_answers_409_with_the_existing_worker_id(caseworker, app):
    body = worker_body()
    first = register(caseworker, **body)

    def written() -> tuple[int, int]:
        with app.extensions["intake"].c.engine.connect() as conn:
            return (conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one(),
                    conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one())

    before = written()
    second = caseworker.post("/workers", json={**body, "name": "另一人", "phone": mobile()})
    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["worker_id"] == first["worker_id"]
    assert "national_id" in error["fields"]
    # Nothing of the refused registration is kept: no event, no audit row.
    assert written() == before


# --- unified social credit code, GB 32100 ---------------------------------------------------------


def credit_code_with_letters() -> str:
    """A valid code whose organisation part holds letters, as codes issued since 2015 do ("MA...")."""
    first17 = f"91410923MA{uuid.uuid4().int % 10**6:06d}Q"
    return first17 + credit_check(first17)


def test_a_valid_credit_code_registers_an_employer_in_either_case(admin):
    code = credit_code_with_letters()
    response = admin.post("/employers", json=employer_body(credit_code=code.lower()))
    assert response.status_code == 201
    employer_id = response.get_json()["employer_id"]
    assert admin.get(f"/employers/{employer_id}").get_json()["credit_code"] == code


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_a_credit_code_with_a_letter_the_standard_leaves_out_is_refused(admin, letter):
    assert letter not in CREDIT_ALPHABET
    good = credit_code()
    broken = good[:9] + letter + good[10:]
    response = admin.post("/employers", json=employer_body(credit_code=broken))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["credit_code"]
    assert repr(letter) in fields_of(response)["credit_code"][0]


def test_a_credit_code_with_a_wrong_check_character_is_refused(admin):
    good = credit_code()
    broken = good[:17] + next(c for c in CREDIT_ALPHABET if c != good[17])
    response = admin.post("/employers", json=employer_body(credit_code=broken))
    assert response.status_code == 422
    assert "check character" in fields_of(response)["credit_code"][0]


def test_a_credit_code_of_17_characters_is_refused(admin):
    response = admin.post("/employers", json=employer_body(credit_code=credit_code()[:17]))
    assert response.status_code == 422
    assert "18 characters" in fields_of(response)["credit_code"][0]


def test_the_same_credit_code_twice_answers_409_with_the_existing_employer_id(admin):
    body = employer_body()
    first = admin.post("/employers", json=body).get_json()["employer_id"]
    second = admin.post("/employers", json={**body, "name": "另一家公司"})
    assert second.status_code == 409
    assert second.get_json()["error"]["employer_id"] == first


# --- mobiles and regions --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["+86 138 1234 5678", "138-1234-5678", "8613812345678", "13812345678"])
def test_a_mobile_number_is_accepted_with_prefix_spaces_and_hyphens_and_stored_as_11_digits(caseworker, typed):
    created = register(caseworker, phone=typed)
    assert created["phone"] == "13812345678"


@pytest.mark.parametrize("phone", [
    "1381234567",      # 10 digits
    "138123456789",    # 12 digits
    "12812345678",     # no mainland mobile starts 12
    "03935551234",     # a landline of 南乐县
    "138I2345678",     # a letter
    "",
])
def test_a_number_that_is_not_a_mainland_mobile_is_refused_naming_phone(caseworker, admin, phone):
    response = caseworker.post("/workers", json=worker_body(phone=phone))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["phone"]
    response = admin.post("/employers", json=employer_body(contact_phone=phone))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["contact_phone"]


@pytest.mark.parametrize(("code", "reason"), [
    ("410999", "not a county-level division"),   # 濮阳市 has no county 99
    ("410900", "not a county-level division"),   # 濮阳市 itself: a prefecture, not where a worker lives
    ("410000", "not a county-level division"),   # 河南省
    ("990101", "not a province prefix"),
    ("41092", "6-digit"),
    ("4109233", "6-digit"),
])
def test_a_worker_region_must_be_a_real_county_level_division(caseworker, admin, code, reason):
    response = admin.post("/workers", json=worker_body(region_code=code))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["region_code"]
    assert reason in fields_of(response)["region_code"][0]


def test_a_region_change_to_a_prefecture_is_refused_too(caseworker):
    worker = register(caseworker)
    response = caseworker.patch(f"/workers/{worker['worker_id']}", json={"region_code": "410900"})
    assert response.status_code == 422
    assert list(fields_of(response)) == ["region_code"]


def test_an_unknown_target_region_is_refused_naming_its_position(caseworker):
    response = caseworker.post("/workers", json=worker_body(willing_to_relocate=True,
                                                            target_regions=["330100", "339999"]))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["target_regions.1"]


# --- skills and certificates ----------------------------------------------------------------------


def test_skills_are_normalised_to_half_width_without_duplicates_in_the_workers_words(caseworker):
    created = register(
        caseworker,
        skills=["  ＣＡＤ　制图 ", "cad 制图", "电焊", "电焊 ", "", "叉车ａ证", "氩弧焊"],
        certificates=["焊工证（初级）", "焊工证(初级)", "电工证"],
    )
    # Full-width letters and the ideographic space become half-width; the first spelling of a repeat wins;
    # and no term is replaced by a synonym ("电焊" stays "电焊", not "焊工").
    assert created["skills"] == ["CAD 制图", "电焊", "叉车a证", "氩弧焊"]
    assert created["certificates"] == ["焊工证(初级)", "电工证"]


def test_a_skill_longer_than_the_limit_is_refused_naming_skills(caseworker):
    response = caseworker.post("/workers", json=worker_body(skills=["焊" * 41]))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["skills"]


# --- consent, unknown fields, wrong types ---------------------------------------------------------


def test_consent_is_required_and_a_refused_consent_stores_nothing(caseworker):
    body = worker_body()
    without = {k: v for k, v in body.items() if k != "consent"}
    response = caseworker.post("/workers", json=without)
    assert response.status_code == 422
    assert list(fields_of(response)) == ["consent"]
    response = caseworker.post("/workers", json={**body, "consent": {"data_processing": False}})
    assert response.status_code == 422
    assert list(fields_of(response)) == ["consent.data_processing"]
    # Neither attempt left a record behind: the same ID registers now.
    assert caseworker.post("/workers", json=body).status_code == 201


@pytest.mark.parametrize(("path", "body"), [
    ("/workers", lambda e: worker_body(shoe_size=42)),
    ("/workers", lambda e: worker_body(consent={"data_processing": True, "signed_on": "2024-01-01"})),
    ("/employers", lambda e: employer_body(shoe_size=42)),
    ("/vacancies", lambda e: vacancy_body(e, shoe_size=42)),
])
def test_an_unknown_field_is_refused_naming_it(admin, employer, path, body):
    response = admin.post(path, json=body(employer[1]))
    assert response.status_code == 422
    (name,) = fields_of(response)
    assert name.endswith(("shoe_size", "signed_on"))
    assert name in response.get_json()["error"]["message"]


@pytest.mark.parametrize(("field", "value", "named"), [
    ("name", 123, "name"),
    ("name", "   ", "name"),
    ("national_id", 410923198005171234, "national_id"),
    ("skills", "电焊", "skills"),
    ("skills", [1], "skills.0"),
    ("experience_years", "five", "experience_years"),
    ("experience_years", -1, "experience_years"),
    ("desired_wage_min", True, "desired_wage_min"),
    ("desired_wage_min", 3500.5, "desired_wage_min"),
    ("willing_to_relocate", "maybe", "willing_to_relocate"),
    ("education", "phd", "education"),
    ("hardship", ["poor"], "hardship.0"),
    ("consent", True, "consent"),
])
def test_a_value_of_the_wrong_type_or_range_is_refused_naming_the_field(caseworker, field, value, named):
    response = caseworker.post("/workers", json=worker_body(**{field: value}))
    assert response.status_code == 422
    assert list(fields_of(response)) == [named]


@pytest.mark.parametrize(("path", "body", "named"), [
    ("/workers", lambda e: worker_body(name="李\x00建国"), "name"),
    ("/workers", lambda e: worker_body(name="李\ud800"), "name"),
    ("/workers", lambda e: worker_body(skills=["电焊\x1b[31m"]), "skills.0"),
    ("/workers", lambda e: worker_body(desired_occupations=["焊工\x7f"]), "desired_occupations.0"),
    ("/employers", lambda e: employer_body(name="鑫达\x00公司"), "name"),
    ("/vacancies", lambda e: vacancy_body(e, title="电焊工\x00"), "title"),
    ("/vacancies", lambda e: vacancy_body(e, required_skills=["\udfff"]), "required_skills.0"),
])
def test_control_characters_and_lone_surrogates_are_refused_naming_the_field(admin, employer, path, body, named):
    # json.dumps writes them as \u escapes, as a browser or a script would send them.
    response = admin.post(path, data=json.dumps(body(employer[1])), content_type="application/json")
    assert response.status_code == 422
    assert fields_of(response) == {named: ["must not contain control characters"]}


def test_tabs_and_line_breaks_inside_a_name_become_single_spaces(caseworker):
    assert register(caseworker, name="欧阳\t建国\r\n")["name"] == "欧阳 建国"


@pytest.mark.parametrize("query", ["skill=%00", "region=41%00"])
def test_a_control_character_in_a_query_is_refused(admin, query):
    response = admin.get(f"/workers?{query}")
    assert response.status_code == 422
    assert list(fields_of(response)) == [query.split("=")[0]]


@pytest.mark.parametrize("path", [
    "/workers/{id}%00", "/workers/not-an-id", "/workers/" + "a" * 5000, "/employers/{id}%00", "/vacancies/x%00",
    "/vacancies/{id}%00/close",
])
def test_a_path_id_that_cannot_be_an_id_answers_404(admin, caseworker, path):
    path = path.format(id=uuid.uuid4())
    for caller in (admin, caseworker):
        for method in ("GET", "PATCH", "DELETE", "POST"):
            assert caller.request(method, path, json={"title": "x"}).status_code in (404, 405)


def test_a_worker_id_in_upper_case_finds_the_worker(caseworker):
    worker = register(caseworker)
    assert caseworker.get(f"/workers/{worker['worker_id'].upper()}").get_json()["worker_id"] == worker["worker_id"]


def test_a_body_that_is_not_an_object_is_refused(caseworker):
    response = caseworker.post("/workers", json=[worker_body()])
    assert response.status_code == 422


def test_malformed_json_answers_400_in_the_error_shape(caseworker):
    response = caseworker.post("/workers", data='{"name": "李', content_type="application/json")
    assert response.status_code == 400
    error = assert_error_shape(response)
    assert "JSON" in error["message"]
    assert error["fields"]


def test_a_body_nested_too_deeply_answers_400_in_the_error_shape(caseworker):
    depth = 100_000  # 200 KB: well inside the size limit, far beyond what a JSON parser recurses into
    response = caseworker.post("/workers", data="[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400
    assert "body" in assert_error_shape(response)["fields"]


def test_a_body_over_1_mib_answers_413(caseworker):
    body = json.dumps(worker_body(name="李" * (1024 * 1024)))
    response = caseworker.post("/workers", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


# --- age and 4050 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("female", "years", "days_later", "age", "flag"), [
    (True, 40, 0, 40, True),    # a woman who turns 40 today
    (True, 40, 1, 39, False),   # a woman who turns 40 tomorrow
    (False, 50, 0, 50, True),   # a man who turns 50 today
    (False, 50, 1, 49, False),  # a man of 49 who turns 50 tomorrow
    (False, 45, 0, 45, False),  # a man of 45: a woman of 45 would count
])
def test_age_and_the_4050_flag_are_computed_on_the_day_of_registration(caseworker, female, years, days_later,
                                                                       age, flag):
    born = years_before(TODAY, years) + timedelta(days=days_later)
    created = register(caseworker, national_id=national_id(born=born, female=female))
    assert (created["age"], created["is_4050"]) == (age, flag)


def test_the_4050_ages_are_configuration(make_app):
    born = years_before(TODAY, 36)
    default = Caller(make_app().test_client(), token("admin"))
    configured = Caller(make_app(JOBBRIDGE_4050_FEMALE_AGE="35", JOBBRIDGE_4050_MALE_AGE="36").test_client(),
                        token("admin"))
    assert register(default, national_id=national_id(born=born, female=True))["is_4050"] is False
    assert register(configured, national_id=national_id(born=born, female=True))["is_4050"] is True
    assert register(configured, national_id=national_id(born=born, female=False))["is_4050"] is True


# --- PATCH ----------------------------------------------------------------------------------------


def test_a_worker_update_changes_what_may_change_and_keeps_the_rest(caseworker):
    worker = register(caseworker)
    response = caseworker.patch(f"/workers/{worker['worker_id']}",
                                json={"skills": ["叉车", "叉车"], "phone": "139-0000-1111", "desired_wage_min": 4000})
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["skills"] == ["叉车"]
    assert updated["phone"] == "13900001111"
    assert updated["desired_wage_min"] == 4000
    assert updated["version"] == worker["version"] + 1
    assert (updated["national_id"], updated["name"]) == (worker["national_id"], worker["name"])


@pytest.mark.parametrize("field", ["national_id", "birth_date", "gender", "age", "is_4050"])
def test_a_patch_cannot_change_the_national_id_or_what_comes_from_it(caseworker, field):
    worker = register(caseworker)
    other = {"national_id": unique_national_id(), "birth_date": "1960-01-01", "gender": "female", "age": 70,
             "is_4050": True}
    response = caseworker.patch(f"/workers/{worker['worker_id']}", json={field: other[field]})
    assert response.status_code == 422
    assert list(fields_of(response)) == [field]
    assert caseworker.get(f"/workers/{worker['worker_id']}").get_json()[field] == worker[field]


def test_an_empty_patch_is_refused(caseworker):
    worker = register(caseworker)
    response = caseworker.patch(f"/workers/{worker['worker_id']}", json={})
    assert response.status_code == 422


# --- listing --------------------------------------------------------------------------------------


def test_workers_are_filtered_by_region_skill_and_4050(admin):
    skill = a_unique_skill()
    older_woman = register(admin, skills=[skill], region_code="410922",
                           national_id=national_id(born=years_before(TODAY, 45), female=True))
    young_man = register(admin, skills=[skill, "叉车"], region_code="410923",
                         national_id=national_id(born=years_before(TODAY, 30)))
    elsewhere = register(admin, skills=[skill], region_code="410102",
                         national_id=national_id(born=years_before(TODAY, 55)))
    register(admin, skills=[skill + "x"])  # a longer skill that contains the term is another skill

    def ids(query: str) -> set[str]:
        response = admin.get(f"/workers?skill={skill}&per_page=200{query}")
        assert response.status_code == 200
        return {w["worker_id"] for w in response.get_json()["items"]}

    assert ids("") == {older_woman["worker_id"], young_man["worker_id"], elsewhere["worker_id"]}
    assert ids("&region=4109") == {older_woman["worker_id"], young_man["worker_id"]}
    assert ids("&region=410922") == {older_woman["worker_id"]}
    assert ids("&is_4050=true") == {older_woman["worker_id"], elsewhere["worker_id"]}
    assert ids("&is_4050=false") == {young_man["worker_id"]}
    assert ids("&region=4109&is_4050=true") == {older_woman["worker_id"]}


def test_a_caseworker_lists_only_workers_of_its_regions(admin, caseworker):
    skill = a_unique_skill()
    mine = register(admin, skills=[skill], region_code="410923")
    register(admin, skills=[skill], region_code="410102")
    items = caseworker.get(f"/workers?skill={skill}").get_json()["items"]
    assert [w["worker_id"] for w in items] == [mine["worker_id"]]


def test_workers_are_paged_without_overlap_and_the_page_size_is_capped(admin):
    skill = a_unique_skill()
    registered = {register(admin, skills=[skill])["worker_id"] for _ in range(5)}
    seen: list[str] = []
    for page, size in ((1, 2), (2, 2), (3, 1)):
        body = admin.get(f"/workers?skill={skill}&per_page=2&page={page}").get_json()
        assert (body["page"], body["per_page"], body["total"], len(body["items"])) == (page, 2, 5, size)
        seen += [w["worker_id"] for w in body["items"]]
    assert len(seen) == 5 and set(seen) == registered
    assert admin.get(f"/workers?skill={skill}&page=4").get_json()["items"] == []
    assert admin.get("/workers?per_page=200").status_code == 200
    for bad in ("per_page=201", "per_page=0", "per_page=many", "page=0", "is_4050=perhaps"):
        response = admin.get(f"/workers?{bad}")
        assert response.status_code == 422
        assert list(fields_of(response)) == [bad.split("=")[0]]


# --- who sees what --------------------------------------------------------------------------------


def test_a_coordinator_sees_a_relocating_worker_masked(caseworker, coordinator):
    nid, phone = unique_national_id(), mobile()
    worker = register(caseworker, name="张伟", national_id=nid, phone=phone, willing_to_relocate=True,
                      target_regions=["330100"], hardship=["disabled"])
    seen = coordinator.get(f"/workers/{worker['worker_id']}").get_json()
    assert seen["national_id"] == nid[:6] + "*" * 12
    low = worker["age"] // 10 * 10
    assert seen["age"] is None and seen["age_band"] == f"{low}-{low + 9}" and worker["age_band"] == seen["age_band"]
    assert seen["name"] == "张*"
    assert seen["phone"] == phone[:3] + "****" + phone[-4:]
    assert seen["pii_masked"] is True
    assert seen["birth_date"] is None and seen["hardship"] == []
    listed = coordinator.get("/workers?per_page=200&region=410923").get_json()["items"]
    mine = next(w for w in listed if w["worker_id"] == worker["worker_id"])
    assert (mine["national_id"], mine["name"], mine["phone"]) == (seen["national_id"], "张*", seen["phone"])
    assert nid not in json.dumps(listed) and phone not in json.dumps(listed)


def test_a_longer_name_keeps_only_the_family_name(caseworker, coordinator):
    worker = register(caseworker, name="欧阳建国", willing_to_relocate=True)
    seen = coordinator.get(f"/workers/{worker['worker_id']}").get_json()
    assert seen["name"] == "欧*"  # nor how long the name is


def test_a_coordinator_cannot_see_a_worker_who_stays_home(caseworker, coordinator):
    worker = register(caseworker, willing_to_relocate=False)
    assert coordinator.get(f"/workers/{worker['worker_id']}").status_code == 404


def test_a_caseworker_of_the_region_sees_everything(admin, caseworker):
    worker = register(admin, national_id=unique_national_id())
    seen = caseworker.get(f"/workers/{worker['worker_id']}").get_json()
    assert seen["pii_masked"] is False
    assert (seen["national_id"], seen["name"], seen["phone"]) == (worker["national_id"], worker["name"],
                                                                  worker["phone"])


def test_a_caseworker_of_another_region_gets_404_for_a_worker(caseworker, caseworker_elsewhere):
    worker = register(caseworker)
    path = f"/workers/{worker['worker_id']}"
    assert caseworker_elsewhere.get(path).status_code == 404
    assert caseworker_elsewhere.patch(path, json={"skills": ["x"]}).status_code == 404
    assert caseworker_elsewhere.delete(path).status_code == 404
    # And it may not register one in a region it does not serve.
    response = caseworker_elsewhere.post("/workers", json=worker_body(region_code="410923"))
    assert response.status_code == 403
    assert "region_code" in fields_of(response)


def test_an_unknown_worker_answers_404(admin):
    assert admin.get(f"/workers/{uuid.uuid4()}").status_code == 404


def test_errors_have_the_contract_shape_for_every_status(app, admin, employer):
    anonymous = Caller(app.test_client(), None)
    forged = Caller(app.test_client(), token("admin", secret="not-the-secret-" * 3))
    employer_caller, _ = employer
    expired = Caller(app.test_client(), token("admin", ttl=-3600))
    cases = [
        (anonymous.get("/workers"), 401),
        (forged.get("/workers"), 401),
        (expired.get("/workers"), 401),
        (employer_caller.post("/workers", json=worker_body()), 403),
        (admin.get(f"/vacancies/{uuid.uuid4()}"), 404),
        (admin.request("PUT", "/workers"), 405),
        (admin.get("/no-such-thing"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert_error_shape(response)


# --- vacancies ------------------------------------------------------------------------------------


def post_vacancy(caller: Caller, employer_id: str, **overrides) -> dict:
    response = caller.post("/vacancies", json=vacancy_body(employer_id, **overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_employer_posts_updates_and_closes_its_own_vacancy(employer):
    caller, employer_id = employer
    vacancy = post_vacancy(caller, employer_id, required_skills=["电焊", "ＣＡＤ"])
    assert (vacancy["status"], vacancy["version"], vacancy["required_skills"]) == ("open", 1, ["电焊", "CAD"])
    path = f"/vacancies/{vacancy['vacancy_id']}"
    updated = caller.patch(path, json={"title": "高级电焊工", "wage_max": 8000, "headcount": 5}).get_json()
    assert (updated["title"], updated["wage_max"], updated["headcount"], updated["version"]) == ("高级电焊工", 8000, 5, 2)
    closed = caller.post(f"{path}/close", json={"reason": "filled"}).get_json()
    assert (closed["status"], closed["close_reason"], closed["version"]) == ("closed", "filled", 3)
    assert caller.get(path).get_json()["status"] == "closed"
    response = caller.patch(path, json={"title": "再招"})
    assert response.status_code == 409
    # Closing again changes nothing.
    assert caller.post(f"{path}/close", json={}).get_json()["version"] == 3


def test_an_employer_cannot_post_for_or_touch_another_employers_vacancy(admin, employer, app):
    caller, _ = employer
    other_id = admin.post("/employers", json=employer_body()).get_json()["employer_id"]
    response = caller.post("/vacancies", json=vacancy_body(other_id))
    assert response.status_code == 403
    theirs = post_vacancy(admin, other_id)
    path = f"/vacancies/{theirs['vacancy_id']}"
    assert caller.get(path).status_code == 404
    assert caller.patch(path, json={"title": "x"}).status_code == 404
    assert caller.post(f"{path}/close", json={}).status_code == 404
    assert theirs["vacancy_id"] not in {v["vacancy_id"] for v in caller.get("/vacancies?per_page=200").get_json()["items"]}


def test_a_vacancy_for_an_unknown_employer_is_refused_naming_employer_id(admin):
    response = admin.post("/vacancies", json=vacancy_body(str(uuid.uuid4())))
    assert response.status_code == 422
    assert list(fields_of(response)) == ["employer_id"]


@pytest.mark.parametrize(("overrides", "named"), [
    ({"wage_min": 6000, "wage_max": 5000}, "wage_max"),
    ({"headcount": 0}, "headcount"),
    ({"headcount": "three"}, "headcount"),
    ({"vacancy_type": "seasonal"}, "vacancy_type"),
    ({"open_until": (TODAY - timedelta(days=1)).isoformat()}, "open_until"),
    ({"open_until": "2025-02-30"}, "open_until"),
    ({"accommodation": "sometimes"}, "accommodation"),
    ({"region_code": "419999"}, "region_code"),
    ({"wage_min": -1}, "wage_min"),
])
def test_an_inconsistent_or_out_of_range_vacancy_is_refused_naming_the_field(employer, overrides, named):
    caller, employer_id = employer
    response = caller.post("/vacancies", json=vacancy_body(employer_id, **overrides))
    assert response.status_code == 422
    assert list(fields_of(response)) == [named]


def test_an_update_that_turns_the_wage_range_upside_down_is_refused_naming_wage_max(employer):
    caller, employer_id = employer
    vacancy = post_vacancy(caller, employer_id, wage_min=3000, wage_max=5000)
    path = f"/vacancies/{vacancy['vacancy_id']}"
    response = caller.patch(path, json={"wage_min": 5500})
    assert response.status_code == 422
    assert list(fields_of(response)) == ["wage_max"]
    for change, named in (({"headcount": 0}, "headcount"), ({"employer_id": str(uuid.uuid4())}, "employer_id"),
                          ({"open_until": (TODAY - timedelta(days=1)).isoformat()}, "open_until")):
        response = caller.patch(path, json=change)
        assert response.status_code == 422
        assert list(fields_of(response)) == [named]
    assert caller.get(path).get_json()["version"] == 1


def test_vacancies_are_filtered_by_type_and_status(employer):
    caller, employer_id = employer
    regular = post_vacancy(caller, employer_id, vacancy_type="regular")
    away = post_vacancy(caller, employer_id, vacancy_type="cross_region", region_code="330106")
    caller.post(f"/vacancies/{regular['vacancy_id']}/close", json={})
    ids = lambda q: {v["vacancy_id"] for v in caller.get(f"/vacancies?per_page=200{q}").get_json()["items"]}  # noqa: E731
    assert away["vacancy_id"] in ids("&type=cross_region") and regular["vacancy_id"] not in ids("&type=cross_region")
    assert regular["vacancy_id"] in ids("&status=closed") and regular["vacancy_id"] not in ids("&status=open")
    assert away["vacancy_id"] in ids("&region=33")


def test_a_vacancy_past_its_open_until_is_closed_automatically_with_its_event_in_the_outbox(app, employer):
    caller, employer_id = employer
    service = app.extensions["intake"]
    ends_today = post_vacancy(caller, employer_id, open_until=TODAY.isoformat())
    ends_later = post_vacancy(caller, employer_id, open_until=(TODAY + timedelta(days=30)).isoformat())

    service.close_expired_vacancies(today=TODAY)
    assert caller.get(f"/vacancies/{ends_today['vacancy_id']}").get_json()["status"] == "open"

    assert service.close_expired_vacancies(today=TODAY + timedelta(days=1)) >= 1
    closed = caller.get(f"/vacancies/{ends_today['vacancy_id']}").get_json()
    assert (closed["status"], closed["close_reason"]) == ("closed", "expired")
    assert caller.get(f"/vacancies/{ends_later['vacancy_id']}").get_json()["status"] == "open"

    with service.c.factory() as session:
        rows = session.execute(
            sa.select(outbox.c.event_type, outbox.c.body, outbox.c.topic)
            .where(outbox.c.key == ends_today["vacancy_id"]).order_by(outbox.c.id)).all()
    assert [r.event_type for r in rows] == ["VacancyPosted", "VacancyClosed"]
    event = json.loads(bytes(rows[-1].body))
    assert rows[-1].topic == "jobbridge.vacancies"
    assert event["aggregate_id"] == ends_today["vacancy_id"]
    assert (event["payload"]["status"], event["payload"]["close_reason"]) == ("closed", "expired")
    # A second run finds nothing more to close for this vacancy.
    service.close_expired_vacancies(today=TODAY + timedelta(days=1))
    with service.c.factory() as session:
        count = session.execute(sa.select(sa.func.count()).select_from(outbox)
                                .where(outbox.c.key == ends_today["vacancy_id"])).scalar_one()
    assert count == 2


# --- free text screened for personal data ---------------------------------------------------------


SMUGGLED = {
    "phone": "电焊 联系 138-0013-8000",
    "national_id": "证号 410923198005170012",
    "email": "wang.lei@example.com",
}


@pytest.mark.parametrize("field", ["skills", "certificates", "desired_occupations"])
@pytest.mark.parametrize("kind", sorted(SMUGGLED))
def test_a_workers_free_text_refuses_personal_data_and_nothing_is_stored(caseworker, field, kind):
    body = worker_body(**{field: ["叉车", SMUGGLED[kind]]})
    response = caseworker.post("/workers", json=body)
    assert response.status_code == 422
    reasons = fields_of(response)
    assert list(reasons) == [field], reasons
    assert "personal data" in reasons[field][0] and "个人信息" in reasons[field][0]
    assert SMUGGLED[kind] not in response.get_data(as_text=True)  # the refused value is not echoed
    # Nothing was stored: the same ID registers now, once the text is clean.
    assert caseworker.post("/workers", json={**body, field: ["叉车"]}).status_code == 201


def test_a_patch_cannot_smuggle_a_phone_into_a_skill(caseworker):
    worker = register(caseworker)
    response = caseworker.patch(f"/workers/{worker['worker_id']}", json={"skills": ["电焊", "微信 13800138000"]})
    assert response.status_code == 422 and list(fields_of(response)) == ["skills"]
    assert caseworker.get(f"/workers/{worker['worker_id']}").get_json()["skills"] == worker["skills"]


def test_an_import_row_with_personal_data_in_a_skill_is_refused_and_the_others_kept(caseworker):
    good, bad = unique_national_id(), unique_national_id()
    sheet = ("身份证号,姓名,手机号,区划代码,技能,同意\n"
             f"{good},王芳,{mobile()},410923,电焊、叉车,是\n"
             f"{bad},李强,{mobile()},410923,电焊、电话13800138000,是\n")
    response = caseworker.post("/workers/import", data={"file": (io.BytesIO(sheet.encode("utf-8-sig")), "w.csv")},
                               content_type="multipart/form-data")
    assert response.status_code == 200
    result = response.get_json()
    assert (result["created"], result["rejected"]) == (1, 1)
    refused = next(r for r in result["rows"] if r["status"] == "rejected")
    assert refused["row"] == 3 and list(refused["errors"]) == ["skills"]
    assert "13800138000" not in response.get_data(as_text=True)


def test_a_vacancy_may_carry_the_employers_contact_line(admin, employer):
    _, employer_id = employer
    response = admin.post("/vacancies", json=vacancy_body(employer_id, title="电焊工 (联系电话 13800138000)",
                                                          required_skills=["电焊"]))
    assert response.status_code == 201, response.get_json()
