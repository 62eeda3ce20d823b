import pytest

from services.intake.domain.identity import InvalidValue
from services.intake.domain.normalise import normalise_terms, normalise_text, split_terms


def test_full_width_letters_become_half_width() -> None:
    assert normalise_text("ＣＡＤ制图") == "CAD制图"


def test_full_width_digits_become_half_width() -> None:
    assert normalise_text("Ａ２驾驶证　１２３") == "A2驾驶证 123"


def test_inner_whitespace_is_collapsed_and_the_ends_stripped() -> None:
    assert normalise_text(" \tCAD \u3000\n 制图  ") == "CAD 制图"


def test_terms_are_normalised_and_empties_dropped() -> None:
    assert normalise_terms(["  电焊 ", "", "　", "ＣＡＤ 制图"]) == ["电焊", "CAD 制图"]


def test_repeated_terms_are_removed_case_insensitively_keeping_the_first_spelling() -> None:
    assert normalise_terms(["Excel", "电焊", "EXCEL", "ｅｘｃｅｌ", "电焊"]) == ["Excel", "电焊"]


def test_terms_keep_the_workers_own_words() -> None:
    assert normalise_terms(["电焊工", "焊工"]) == ["电焊工", "焊工"]


def test_a_term_longer_than_the_limit_is_rejected() -> None:
    assert normalise_terms(["焊" * 40]) == ["焊" * 40]

    with pytest.raises(InvalidValue, match="longer than 40 characters"):
        normalise_terms(["焊" * 41])


def test_more_terms_than_the_limit_are_rejected() -> None:
    assert len(normalise_terms([f"技能{i}" for i in range(50)])) == 50

    with pytest.raises(InvalidValue, match="at most 50 terms"):
        normalise_terms([f"技能{i}" for i in range(51)])


def test_repeats_do_not_count_against_the_limit() -> None:
    assert normalise_terms(["电焊"] * 10, max_items=1) == ["电焊"]


def test_a_non_string_term_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="string"):
        normalise_terms(["电焊", 3])  # type: ignore[list-item]


def test_a_single_string_instead_of_a_list_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        normalise_terms("电焊")


def test_a_cell_is_split_on_chinese_and_english_separators() -> None:
    cell = "电焊、氩弧焊，叉车,保洁；收银;电工/木工／油漆|砌筑｜厨师\n面点\r\n育婴"

    expected = "电焊 氩弧焊 叉车 保洁 收银 电工 木工 油漆 砌筑 厨师 面点 育婴".split()

    assert split_terms(cell) == expected


def test_a_cell_is_not_split_on_spaces() -> None:
    assert split_terms("CAD 制图、 办公软件 ") == ["CAD 制图", "办公软件"]


def test_empty_pieces_of_a_cell_are_dropped() -> None:
    assert split_terms("、、电焊,,  ;") == ["电焊"]
    assert split_terms("") == []
