"""Chinese free text onto the 2022 occupation classification."""

import time

import pytest

from services.matching.domain.text import (
    CSCO_PATH,
    SYNONYMS_PATH,
    Taxonomy,
    char_ngrams,
    code_hierarchy_similarity,
    default_vectorizer,
    hashed_column,
    normalize,
    read_csco,
    read_synonyms,
    strip_marker,
)

WELDER = "6-18-02-04"
SEWER = "6-05-01-03"

DEMO_SKILLS = [
    "电焊", "氩弧焊", "缝纫", "服装缝制", "电脑操作", "办公软件", "保洁", "家政服务", "绿化", "园林养护",
    "驾驶", "货车驾驶", "厨师", "中式烹调", "面点", "皮鞋制作", "制鞋", "叉车", "仓储管理", "电工",
    "水电安装", "养老护理", "育婴", "保安", "快递分拣", "数控车床", "砌筑", "木工", "油漆", "收银",
]  # fmt: skip


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


def test_normalise_turns_full_width_into_half_width_lowercases_latin_and_trims():
    assert normalize("  ＣＮＣ　数控\t车床 ") == "cnc 数控 车床"


def test_classification_markers_are_stripped_from_names():
    assert strip_marker("保洁员L") == "保洁员"
    assert strip_marker("计算机程序设计员S") == "计算机程序设计员"
    assert strip_marker("增材制造设备操作员L/S") == "增材制造设备操作员"
    assert strip_marker("焊工") == "焊工"


def test_the_classification_loads_in_under_a_second_with_every_detailed_occupation():
    start = time.perf_counter()
    occupations, groups = read_csco(CSCO_PATH)
    Taxonomy(occupations, groups, read_synonyms(SYNONYMS_PATH))
    assert time.perf_counter() - start < 1.0
    assert len(occupations) > 1600
    assert occupations["4-09-08-01"].name == "保洁员"


@pytest.mark.parametrize("term", ["电焊", "焊工", "电焊工", "氩弧焊", "氩弧焊工", "熟练电焊"])
def test_the_many_words_for_welding_resolve_to_the_welder_occupation(taxonomy, term):
    assert taxonomy.resolve(term)[0] == WELDER


@pytest.mark.parametrize("term", ["缝纫", "缝纫工", "服装缝制"])
def test_the_words_for_sewing_resolve_to_the_sewer_occupation(taxonomy, term):
    assert taxonomy.resolve(term)[0] == SEWER


def test_cleaning_and_computer_work_resolve_as_the_bureau_expects(taxonomy):
    assert taxonomy.resolve("保洁") == taxonomy.resolve("清洁工") == ("4-09-08-01",)
    assert taxonomy.resolve("电脑操作") == taxonomy.resolve("计算机操作员")


@pytest.mark.parametrize("skill", DEMO_SKILLS)
def test_every_demo_skill_resolves_to_a_real_detailed_occupation(taxonomy, skill):
    codes = taxonomy.resolve(skill)
    assert codes and all(code in taxonomy.occupations for code in codes)


def test_every_canonical_term_in_the_shipped_synonym_list_is_in_the_classification(taxonomy):
    assert taxonomy.unresolved_synonyms == []


def test_an_extra_synonyms_file_extends_the_list_and_wins_over_aliases(tmp_path):
    extra = tmp_path / "bureau.csv"
    extra.write_text("term,canonical\n挖机,挖掘铲运和桩工机械司机\n木工,6-06-03-02\n", encoding="utf-8")
    taxonomy = Taxonomy.load(extra_synonyms=extra)
    assert taxonomy.name(taxonomy.resolve("挖机")[0]) == "挖掘铲运和桩工机械司机"
    assert taxonomy.resolve("木工")[0] == "6-06-03-02"
    assert Taxonomy.load().resolve("木工")[0] == "6-06-03-01"


def test_an_unlisted_short_term_falls_back_to_character_ngram_similarity(taxonomy):
    assert taxonomy.resolve("面包烘焙")[0] == "6-02-01-01"  # 糕点面包烘焙师, no alias says 面包烘焙
    assert taxonomy.similar("缝纫机工", k=1)[0][0] == SEWER


def test_sentences_get_no_guessed_occupation(taxonomy):
    assert taxonomy.resolve("使用焊机或焊接设备，焊接金属工件并检测焊缝外观质量") == ()


def test_code_hierarchy_similarity_grades_by_the_shared_part_of_the_code():
    assert code_hierarchy_similarity(WELDER, WELDER) == 1.0
    assert code_hierarchy_similarity(WELDER, "6-18-02-01") == 0.6
    assert code_hierarchy_similarity(WELDER, "6-18-01-01") == 0.3
    assert code_hierarchy_similarity(WELDER, SEWER) == 0.1
    assert code_hierarchy_similarity(WELDER, "4-09-08-01") == 0.0
    assert code_hierarchy_similarity(WELDER, "") == 0.0


def test_character_ngrams_stay_inside_chinese_runs():
    assert char_ngrams("电焊工", (2, 3)) == ["电焊", "焊工", "电焊工"]
    assert char_ngrams("焊 工", (2,)) == ["焊", "工"]


def test_token_columns_are_the_same_in_every_process(taxonomy):
    # Python's hash() differs per process; columns must not, or a rebuilt index would not match queries.
    assert hashed_column("电焊") == 410805
    vec = default_vectorizer(taxonomy)
    assert vec.column("焊工") < len(vec.vocab) <= vec.column("#6-18-02-04") < vec.n_features


def test_vectorizer_gives_rare_tokens_more_weight_than_common_ones(taxonomy):
    vec = default_vectorizer(taxonomy)
    assert vec.weights(["氩弧焊"])[vec.column("弧焊")] > 5 * vec.weights(["技术人员"])[vec.column("人员")]
    assert vec.term_idf("从未见过的词") == vec.default_idf
