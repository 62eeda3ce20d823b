import csv
from pathlib import Path

import shared
from shared.regions import (
    PROVINCE_PREFIXES,
    counties_under,
    get_region,
    is_county,
    is_known_region,
    matches_prefix,
    region_distance,
    region_name,
)

REGIONS_CSV = Path(shared.__file__).parent / "data" / "regions.csv"


def test_the_region_file_is_sorted_by_code_with_consistent_levels_and_parents() -> None:
    with REGIONS_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    codes = [r["code"] for r in rows]

    assert list(rows[0]) == ["code", "name", "parent_code", "level"]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    known = set(codes)
    for r in rows:
        assert len(r["code"]) == 6 and r["code"].isdigit()
        assert r["name"] == r["name"].strip() and r["name"]
        if r["level"] == "1":
            assert r["parent_code"] == "" and r["code"].endswith("0000")
        else:
            assert r["parent_code"] in known and r["code"].startswith(r["parent_code"][:2])


def test_the_provinces_are_the_34_provincial_divisions() -> None:
    assert len(PROVINCE_PREFIXES) == 34
    assert {"11", "41", "44", "65"} <= PROVINCE_PREFIXES
    assert "99" not in PROVINCE_PREFIXES and "10" not in PROVINCE_PREFIXES


def test_puyang_has_its_six_counties() -> None:
    assert counties_under("4109") == ["410902", "410922", "410923", "410926", "410927", "410928"]


def test_full_names_run_from_the_province_down() -> None:
    assert region_name("410923") == "河南省濮阳市南乐县"
    assert region_name("410900") == "河南省濮阳市"
    assert region_name("410000") == "河南省"
    assert region_name("999999") is None


def test_municipality_districts_are_county_level_under_the_municipality() -> None:
    assert is_county("110101")
    assert region_name("110105") == "北京市朝阳区"
    assert "310115" in counties_under("31")


def test_province_administered_county_level_cities_are_present() -> None:
    assert is_county("419001")
    assert region_name("419001") == "河南省济源市"
    assert is_county("429004")


def test_prefecture_level_city_without_counties_is_known_but_not_a_county() -> None:
    assert is_known_region("441900")
    assert not is_county("441900")
    assert counties_under("4419") == []


def test_known_regions_include_every_level() -> None:
    assert is_known_region("410000")
    assert is_known_region("410900")
    assert is_known_region("410923")
    assert not is_known_region("410901")
    assert not is_known_region("4109")
    assert get_region("410923").level == 3  # type: ignore[union-attr]


def test_only_county_level_codes_are_counties() -> None:
    assert is_county("410928")
    assert not is_county("410900")
    assert not is_county("410000")
    assert not is_county("999999")


def test_distance_grows_from_county_to_prefecture_to_province_to_elsewhere() -> None:
    assert region_distance("410923", "410923") == 0
    assert region_distance("410923", "410902") == 1
    assert region_distance("410923", "410102") == 2
    assert region_distance("410923", "440305") == 3


def test_counties_under_a_province_are_all_in_it() -> None:
    henan = counties_under("41")

    assert len(henan) > 150
    assert all(c.startswith("41") and is_county(c) for c in henan)


def test_there_are_about_2800_county_level_divisions() -> None:
    assert 2800 <= len(counties_under("")) <= 2900


def test_a_code_matches_any_of_the_prefixes() -> None:
    assert matches_prefix("410923", ["4109"])
    assert matches_prefix("410923", ["3201", "41"])
    assert matches_prefix("410923", ("410923",))
    assert not matches_prefix("410923", ["4101"])
    assert not matches_prefix("410923", [])


def test_an_empty_prefix_matches_nothing() -> None:
    assert not matches_prefix("410923", [""])


def test_a_single_prefix_string_is_one_prefix_not_its_characters() -> None:
    assert matches_prefix("410923", "4109")
    assert not matches_prefix("140923", "41")
