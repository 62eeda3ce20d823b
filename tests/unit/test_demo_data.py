import csv
import re
from datetime import date
from functools import cache
from pathlib import Path

import pytest

import shared
from services.intake.domain.identity import (
    age_on,
    is_4050,
    parse_national_id,
    validate_credit_code,
    validate_mobile,
)
from shared.demo import DESTINATIONS, generate_employers, generate_vacancies, generate_workers
from shared.regions import is_known_region, region_name

TODAY = date(2025, 6, 1)
EDUCATION = set("none primary junior_middle senior_middle vocational college bachelor postgraduate".split())
HARDSHIP = {"laid_off", "unemployed", "zero_employment_household", "disabled", "low_income", "other"}
WORKER_FIELDS = set(
    "national_id name phone region_code skills certificates education experience_years"
    " desired_occupations desired_wage_min willing_to_relocate target_regions hardship consent".split()
)
VACANCY_FIELDS = set(
    "employer_id title occupation required_skills preferred_skills required_certificates"
    " region_code wage_min wage_max headcount vacancy_type accommodation open_until".split()
)


@cache
def workers() -> tuple[dict, ...]:
    return tuple(generate_workers(3000, seed=7, today=TODAY))


@cache
def employers() -> tuple[dict, ...]:
    return tuple(generate_employers(300, seed=11, today=TODAY))


@cache
def vacancies() -> tuple[dict, ...]:
    ids = [f"emp-{i}" for i in range(len(employers()))]
    regions = {i: e["region_code"] for i, e in zip(ids, employers(), strict=True)}
    return tuple(generate_vacancies(2000, employer_ids=ids, employer_regions=regions, seed=13, today=TODAY))


@cache
def detailed_occupations() -> frozenset[str]:
    path = Path(shared.__file__).parent / "data" / "csco22.csv"
    with path.open(encoding="utf-8", newline="") as f:
        # A trailing L, S or L/S marks green and digital occupations; it is not part of the name.
        return frozenset(re.sub(r"(L/S|L|S)$", "", r["name"]) for r in csv.DictReader(f) if r["level"] == "4")


def test_worker_bodies_have_exactly_the_contract_fields() -> None:
    for w in workers():
        assert set(w) == WORKER_FIELDS
        assert w["consent"] == {"data_processing": True}


def test_every_worker_national_id_is_valid_and_born_in_the_province() -> None:
    for w in workers():
        parsed = parse_national_id(w["national_id"], today=TODAY)
        assert parsed.normalised == w["national_id"]
        assert parsed.region_code.startswith("41") and is_known_region(parsed.region_code)
        assert 18 <= age_on(parsed.birth_date, TODAY) < 60


def test_national_ids_and_phones_are_unique() -> None:
    assert len({w["national_id"] for w in workers()}) == len(workers())
    assert len({w["phone"] for w in workers()}) == len(workers())


def test_every_worker_phone_is_a_valid_mobile() -> None:
    for w in workers():
        assert validate_mobile(w["phone"]) == w["phone"]


def test_workers_live_in_counties_of_the_chosen_prefecture() -> None:
    for w in workers():
        assert w["region_code"].startswith("4109") and is_known_region(w["region_code"])
    assert len({w["region_code"] for w in workers()}) == 6


def test_about_35_percent_of_workers_are_4050_workers() -> None:
    share = sum(
        is_4050(gender=p.gender, age=age_on(p.birth_date, TODAY))
        for p in (parse_national_id(w["national_id"], today=TODAY) for w in workers())
    ) / len(workers())

    assert 0.25 <= share <= 0.45


def test_worker_fields_stay_within_their_ranges() -> None:
    for w in workers():
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", w["name"])
        assert 1 <= len(w["skills"]) <= 4 and len(set(w["skills"])) == len(w["skills"])
        assert 1 <= len(w["desired_occupations"]) <= 2
        assert w["education"] in EDUCATION
        assert set(w["hardship"]) <= HARDSHIP
        assert 1800 <= w["desired_wage_min"] <= 6000 and w["desired_wage_min"] % 100 == 0
        assert w["experience_years"] >= 0
        assert bool(w["target_regions"]) == w["willing_to_relocate"]
        assert all(is_known_region(t) for t in w["target_regions"])


def test_most_workers_have_a_hardship_and_about_30_percent_would_relocate() -> None:
    with_hardship = sum(bool(w["hardship"]) for w in workers()) / len(workers())
    willing = sum(w["willing_to_relocate"] for w in workers()) / len(workers())

    assert with_hardship > 0.8
    assert 0.25 <= willing <= 0.35


def test_destinations_are_known_prefecture_level_cities() -> None:
    for code in DESTINATIONS:
        assert is_known_region(code) and code.endswith("00") and not code.endswith("0000")
    assert region_name("440300") == "广东省深圳市"
    assert region_name("320500") == "江苏省苏州市"
    assert region_name("330100") == "浙江省杭州市"


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    again = list(generate_workers(50, seed=7, today=TODAY))
    other = list(generate_workers(50, seed=8, today=TODAY))

    assert again == list(workers()[:50])
    assert other != again


def test_workers_can_be_generated_for_another_county() -> None:
    nanle = list(generate_workers(20, county_prefix="410923", today=TODAY))

    assert {w["region_code"] for w in nanle} == {"410923"}


def test_an_unknown_county_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="no known region"):
        next(generate_workers(1, county_prefix="9999", today=TODAY))


def test_every_employer_has_a_valid_credit_code_phone_and_region() -> None:
    for e in employers():
        assert set(e) == {"name", "credit_code", "region_code", "contact_phone"}
        assert validate_credit_code(e["credit_code"]) == e["credit_code"]
        assert e["credit_code"][2:8] == e["region_code"]
        assert validate_mobile(e["contact_phone"]) == e["contact_phone"]
        assert is_known_region(e["region_code"])
    assert len({e["credit_code"] for e in employers()}) == len(employers())


def test_employer_names_start_with_their_place() -> None:
    names = {e["region_code"]: e["name"] for e in employers()}

    assert names["410902"].startswith("濮阳市华龙区")
    assert names["410923"].startswith("南乐县")
    assert all(n.endswith("公司") for n in names.values())


def test_most_employers_are_local_and_some_in_destination_cities() -> None:
    local = sum(e["region_code"].startswith("4109") for e in employers()) / len(employers())

    assert 0.7 <= local <= 0.9
    assert all(
        e["region_code"].startswith("4109") or any(e["region_code"][:4] == d[:4] for d in DESTINATIONS)
        for e in employers()
    )


def test_vacancy_bodies_have_exactly_the_contract_fields_and_sane_values() -> None:
    for v in vacancies():
        assert set(v) == VACANCY_FIELDS
        assert v["wage_min"] < v["wage_max"]
        assert 1 <= v["headcount"] <= 20
        assert is_known_region(v["region_code"])
        assert v["required_skills"] and not set(v["required_skills"]) & set(v["preferred_skills"])
        assert 30 <= (date.fromisoformat(v["open_until"]) - TODAY).days <= 120


def test_vacancy_types_are_mostly_regular_with_some_welfare_and_cross_region_posts() -> None:
    n = len(vacancies())
    share = {t: sum(v["vacancy_type"] == t for v in vacancies()) / n for t in ("regular", "public_welfare")}

    assert 0.62 <= share["regular"] <= 0.78
    assert 0.10 <= share["public_welfare"] <= 0.20
    assert {v["vacancy_type"] for v in vacancies()} == {"regular", "public_welfare", "cross_region"}


def test_vacancies_are_in_their_employers_region_and_cross_region_ones_in_destinations() -> None:
    regions = {f"emp-{i}": e["region_code"] for i, e in enumerate(employers())}
    for v in vacancies():
        assert v["region_code"] == regions[v["employer_id"]]
        in_destination = any(v["region_code"][:4] == d[:4] for d in DESTINATIONS)
        assert in_destination == (v["vacancy_type"] == "cross_region")


def test_cross_region_vacancies_mostly_offer_accommodation() -> None:
    cross = [v for v in vacancies() if v["vacancy_type"] == "cross_region"]

    assert sum(v["accommodation"] for v in cross) / len(cross) > 0.7


def test_public_welfare_posts_are_cleaning_greening_or_security() -> None:
    welfare = {v["occupation"] for v in vacancies() if v["vacancy_type"] == "public_welfare"}

    assert welfare == {"保洁员", "园林绿化工", "保安员"}


def test_vacancy_occupations_are_detailed_occupations_of_the_2022_classification() -> None:
    assert {v["occupation"] for v in vacancies()} <= detailed_occupations()


def test_every_skill_a_vacancy_requires_is_held_by_some_workers() -> None:
    held = {s for w in workers() for s in w["skills"]}

    assert {s for v in vacancies() for s in v["required_skills"]} <= held


def test_every_vacancy_has_a_worker_with_all_its_required_skills() -> None:
    skill_sets = {frozenset(w["skills"]) for w in workers()}
    covered = sum(any(set(v["required_skills"]) <= s for s in skill_sets) for v in vacancies())

    assert covered == len(vacancies())


def test_vacancies_without_employer_regions_are_placed_under_the_county_prefix() -> None:
    made = list(generate_vacancies(200, employer_ids=["a", "b", "c"], seed=1, today=TODAY))

    for v in made:
        if v["vacancy_type"] == "cross_region":
            assert any(v["region_code"][:4] == d[:4] for d in DESTINATIONS)
        else:
            assert v["region_code"].startswith("4109")
    local = {v["employer_id"]: v["region_code"] for v in made if v["vacancy_type"] != "cross_region"}
    assert set(local) == {"a", "b", "c"}


def test_vacancies_need_employers() -> None:
    with pytest.raises(ValueError, match="employer_ids"):
        next(generate_vacancies(1, employer_ids=[], today=TODAY))


def test_generators_are_deterministic_for_a_seed() -> None:
    assert list(generate_employers(20, seed=3, today=TODAY)) == list(
        generate_employers(20, seed=3, today=TODAY)
    )
    assert list(generate_vacancies(20, employer_ids=["x"], seed=3, today=TODAY)) == list(
        generate_vacancies(20, employer_ids=["x"], seed=3, today=TODAY)
    )
