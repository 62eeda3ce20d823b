from datetime import date

import pytest

from services.intake.domain.identity import (
    InvalidValue,
    NationalId,
    age_on,
    credit_code_check_char,
    is_4050,
    make_credit_code,
    make_national_id,
    national_id_check_char,
    parse_national_id,
    validate_credit_code,
    validate_mobile,
)

TODAY = date(2025, 6, 1)

# Reference implementations written from the standards, independent of the code under test.

# GB 11643-1999 (citizen identification number): weight of digit i is 2**(17 - i) mod 11, i.e.
# 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; the check character is "10X98765432"[sum mod 11].
GB11643_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
assert GB11643_WEIGHTS == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def reference_id(region: str, birth: str, order: int) -> str:
    first17 = f"{region}{birth}{order:03d}"
    total = sum(int(d) * w for d, w in zip(first17, GB11643_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


# GB 32100-2015 (unified social credit code): characters are worth their index in
# "0123456789ABCDEFGHJKLMNPQRTUWXY" (no I, O, Z, S, V); weight of position i is 3**i mod 31, i.e.
# 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28; check value = 31 - sum mod 31, where 31 means 0.
GB32100_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB32100_WEIGHTS = [3**i % 31 for i in range(17)]
assert GB32100_WEIGHTS == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def reference_credit_code(first17: str) -> str:
    total = sum(GB32100_CHARSET.index(c) * w for c, w in zip(first17, GB32100_WEIGHTS, strict=True))
    value = 31 - total % 31
    return first17 + GB32100_CHARSET[0 if value == 31 else value]


def id_with_check_x() -> str:
    for order in range(1000):
        candidate = reference_id("410923", "19800101", order)
        if candidate.endswith("X"):
            return candidate
    raise AssertionError("no order code gives X")


# --- resident ID ---------------------------------------------------------------------------


def test_valid_id_is_parsed_into_region_birth_date_and_gender() -> None:
    value = reference_id("410923", "19850317", 123)

    parsed = parse_national_id(value, today=TODAY)

    assert parsed == NationalId(
        normalised=value, region_code="410923", birth_date=date(1985, 3, 17), gender="male"
    )


def test_id_with_x_check_character_is_accepted() -> None:
    value = id_with_check_x()

    assert parse_national_id(value, today=TODAY).normalised == value


def test_lowercase_x_is_accepted_and_normalised_to_uppercase() -> None:
    value = id_with_check_x()

    assert parse_national_id(value.lower(), today=TODAY).normalised == value


def test_surrounding_whitespace_is_stripped() -> None:
    value = reference_id("410923", "19850317", 124)

    assert parse_national_id(f"  {value}\n", today=TODAY).normalised == value


def test_id_with_inner_space_is_rejected() -> None:
    value = reference_id("410923", "19850317", 124)

    with pytest.raises(InvalidValue, match="spaces"):
        parse_national_id(value[:6] + " " + value[6:], today=TODAY)


def test_id_with_wrong_check_digit_is_rejected_with_the_expected_digit() -> None:
    value = reference_id("410923", "19850317", 123)
    wrong = "0" if value[-1] != "0" else "1"

    with pytest.raises(InvalidValue) as caught:
        parse_national_id(value[:17] + wrong, today=TODAY)

    assert caught.value.reason == f"check digit should be {value[-1]}"


def test_id_with_february_30_is_rejected_as_not_a_real_date() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_national_id(reference_id("410923", "19800230", 12), today=TODAY)

    assert caught.value.reason == "birth date 19800230 is not a real date"


def test_id_born_on_february_29_of_a_leap_year_is_accepted() -> None:
    parsed = parse_national_id(reference_id("410923", "19840229", 12), today=TODAY)

    assert parsed.birth_date == date(1984, 2, 29)


def test_id_with_birth_date_in_the_future_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="in the future"):
        parse_national_id(reference_id("410923", "20250602", 12), today=TODAY)


def test_id_born_today_is_accepted() -> None:
    assert parse_national_id(reference_id("410923", "20250601", 12), today=TODAY).birth_date == TODAY


def test_id_born_more_than_120_years_ago_is_rejected() -> None:
    assert parse_national_id(reference_id("410923", "19050601", 12), today=TODAY)

    with pytest.raises(InvalidValue, match="more than 120 years ago"):
        parse_national_id(reference_id("410923", "19050531", 12), today=TODAY)


def test_id_with_region_prefix_99_is_rejected_as_not_a_province() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_national_id(reference_id("990923", "19850317", 12), today=TODAY)

    assert caught.value.reason == "region prefix 99 is not a province"


def test_id_with_an_abolished_county_code_of_a_real_province_is_accepted() -> None:
    # 410901 (濮阳市市辖区) is not in the current list, but IDs issued under old codes stay valid.
    assert parse_national_id(reference_id("410901", "19700101", 12), today=TODAY).region_code == "410901"


def test_id_of_17_characters_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="18 characters, got 17"):
        parse_national_id(reference_id("410923", "19850317", 12)[:17], today=TODAY)


def test_id_with_letters_inside_is_rejected() -> None:
    value = reference_id("410923", "19850317", 12)

    with pytest.raises(InvalidValue, match="first 17 characters must be digits"):
        parse_national_id(value[:8] + "AB" + value[10:], today=TODAY)


def test_id_with_full_width_digits_is_rejected() -> None:
    value = reference_id("410923", "19850317", 12)

    with pytest.raises(InvalidValue, match="digits"):
        parse_national_id("４" + value[1:], today=TODAY)


def test_id_ending_in_another_letter_is_rejected() -> None:
    value = reference_id("410923", "19850317", 12)

    with pytest.raises(InvalidValue, match="digit or X"):
        parse_national_id(value[:17] + "Y", today=TODAY)


@pytest.mark.parametrize(("order", "gender"), [(120, "female"), (121, "male"), (998, "female"), (1, "male")])
def test_gender_comes_from_the_parity_of_the_17th_digit(order: int, gender: str) -> None:
    assert parse_national_id(reference_id("410923", "19850317", order), today=TODAY).gender == gender


def test_check_char_matches_the_reference_for_many_numbers() -> None:
    for order in range(0, 1000, 7):
        value = reference_id("110105", "19921231", order)
        assert national_id_check_char(value[:17]) == value[-1]


def test_check_char_of_a_non_digit_string_is_refused() -> None:
    with pytest.raises(InvalidValue):
        national_id_check_char("41092319850317X12")


def test_made_id_is_valid_and_carries_region_birth_date_and_gender() -> None:
    for sequence in (0, 1, 50, 99):
        for gender in ("female", "male"):
            value = make_national_id(
                region_code="410928", birth_date=date(1975, 2, 28), sequence=sequence, gender=gender
            )

            assert value == reference_id(value[:6], value[6:14], int(value[14:17]))
            parsed = parse_national_id(value, today=TODAY)
            assert (parsed.region_code, parsed.birth_date, parsed.gender) == (
                "410928",
                date(1975, 2, 28),
                gender,
            )
            assert value[14:17] != "000"


def test_made_ids_differ_for_each_sequence_and_gender() -> None:
    made = {
        make_national_id(region_code="410928", birth_date=date(1975, 2, 28), sequence=s, gender=g)
        for s in range(100)
        for g in ("female", "male")
    }

    assert len(made) == 200


def test_making_an_id_with_a_bad_sequence_is_refused() -> None:
    with pytest.raises(ValueError, match="sequence"):
        make_national_id(region_code="410928", birth_date=date(1975, 2, 28), sequence=100, gender="male")


# --- age and 4050 ----------------------------------------------------------------------------


def test_age_counts_completed_years() -> None:
    assert age_on(date(1985, 6, 1), date(2025, 6, 1)) == 40
    assert age_on(date(1985, 6, 2), date(2025, 6, 1)) == 39
    assert age_on(date(1984, 2, 29), date(2025, 2, 28)) == 40
    assert age_on(date(1984, 2, 29), date(2025, 3, 1)) == 41


def test_woman_who_turns_40_today_is_a_4050_worker_and_one_born_a_day_later_is_not() -> None:
    forty_today = parse_national_id(reference_id("410923", "19850601", 120), today=TODAY)
    forty_tomorrow = parse_national_id(reference_id("410923", "19850602", 120), today=TODAY)

    assert forty_today.gender == forty_tomorrow.gender == "female"
    assert is_4050(gender="female", age=age_on(forty_today.birth_date, TODAY))
    assert not is_4050(gender="female", age=age_on(forty_tomorrow.birth_date, TODAY))


def test_man_of_49_is_not_a_4050_worker_and_a_man_of_50_is() -> None:
    fifty = parse_national_id(reference_id("410923", "19750601", 121), today=TODAY)
    forty_nine = parse_national_id(reference_id("410923", "19750602", 121), today=TODAY)

    assert fifty.gender == forty_nine.gender == "male"
    assert is_4050(gender="male", age=age_on(fifty.birth_date, TODAY))
    assert not is_4050(gender="male", age=age_on(forty_nine.birth_date, TODAY))


def test_a_man_of_45_is_not_a_4050_worker_though_a_woman_of_45_is() -> None:
    assert not is_4050(gender="male", age=45)
    assert is_4050(gender="female", age=45)


def test_4050_thresholds_can_be_configured() -> None:
    assert is_4050(gender="female", age=35, female_age=35)
    assert not is_4050(gender="male", age=50, male_age=55)


def test_4050_needs_a_known_gender() -> None:
    with pytest.raises(ValueError, match="gender"):
        is_4050(gender="unknown", age=60)


# --- unified social credit code --------------------------------------------------------------

# Codes of large listed companies as published on the national enterprise credit register.
PUBLISHED_CREDIT_CODES = ["9144030071526726XG", "91440300708461136T"]


@pytest.mark.parametrize("code", PUBLISHED_CREDIT_CODES)
def test_published_credit_codes_are_valid(code: str) -> None:
    assert reference_credit_code(code[:17]) == code
    assert validate_credit_code(code) == code


def test_credit_code_made_by_the_reference_is_accepted() -> None:
    code = reference_credit_code("91410923MA3X4P7K2")

    assert validate_credit_code(code) == code


def test_lowercase_credit_code_is_accepted_and_returned_in_uppercase() -> None:
    code = reference_credit_code("91410923MA3X4P7K2")

    assert validate_credit_code(f" {code.lower()} ") == code


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_credit_code_with_a_letter_the_standard_never_uses_is_rejected(letter: str) -> None:
    code = reference_credit_code("91410923MA3X4P7K2")
    bad = code[:10] + letter + code[11:]

    with pytest.raises(InvalidValue) as caught:
        validate_credit_code(bad)

    assert caught.value.reason.startswith(f"character '{letter}' at position 11 is not allowed")


def test_credit_code_with_wrong_check_character_is_rejected_with_the_expected_one() -> None:
    code = reference_credit_code("91410923MA3X4P7K2")
    wrong = "0" if code[-1] != "0" else "1"

    with pytest.raises(InvalidValue) as caught:
        validate_credit_code(code[:17] + wrong)

    assert caught.value.reason == f"check character should be {code[-1]}"


def test_credit_code_whose_division_code_has_letters_is_rejected() -> None:
    code = reference_credit_code("9141A923MA3X4P7K2")

    with pytest.raises(InvalidValue, match="administrative division"):
        validate_credit_code(code)


def test_credit_code_of_17_characters_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="18 characters, got 17"):
        validate_credit_code("91410923MA3X4P7K2")


def test_credit_code_check_char_matches_the_reference() -> None:
    for tail in ("000000000", "MA3X4P7K2", "YYYYYYYYY", "123456789", "ABCDEFGHJ"):
        first17 = "91410923" + tail
        assert credit_code_check_char(first17) == reference_credit_code(first17)[-1]


def test_made_credit_codes_are_valid_and_distinct() -> None:
    codes = {make_credit_code(region_code="410902", serial=s) for s in range(0, 5_000_000, 9_973)}

    for code in codes:
        assert code == reference_credit_code(code[:17])
        assert code.startswith("91410902")
    assert len(codes) == len(range(0, 5_000_000, 9_973))


# --- mobile numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+86 138 1234 5678",
        "+8613812345678",
        "86 138-1234-5678",
        "138-1234-5678",
        " 138 1234 5678 ",
    ],
)
def test_mobile_with_country_code_spaces_and_hyphens_is_reduced_to_11_digits(raw: str) -> None:
    assert validate_mobile(raw) == "13812345678"


def test_mobile_starting_19_is_accepted() -> None:
    assert validate_mobile("19912345678") == "19912345678"


@pytest.mark.parametrize("landline", ["010-62345678", "0393-4412345", "03934412345"])
def test_landline_numbers_are_rejected(landline: str) -> None:
    with pytest.raises(InvalidValue, match="mobile|digits"):
        validate_mobile(landline)


def test_12_digit_number_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="11 digits, got 12"):
        validate_mobile("138123456789")


def test_mobile_with_second_digit_2_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="13-19"):
        validate_mobile("12812345678")


def test_mobile_with_letters_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="only digits"):
        validate_mobile("1381234567a")
