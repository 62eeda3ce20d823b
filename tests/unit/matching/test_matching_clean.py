"""The cleaner on real posting titles from the development split, and on what users really type."""

from __future__ import annotations

import pytest

from services.matching.domain.clean import (
    MAX_TEXT,
    certificate_occupation_term,
    clean_title,
    parse_skill_line,
)
from services.matching.domain.features import Encoder, cleaned_terms
from services.matching.domain.model import VacancyProfile, WorkerProfile
from services.matching.domain.ranker import BruteForceRanker
from services.matching.evaluation.devset import load_development

# Real titles (development split, even SHA-256 rows) → what should be left.
REAL = {
    "楚门酒吧(北京店)招聘服务员": ("服务员",),
    "深圳市荣源木业招聘锅炉工": ("锅炉工",),
    "通化市东昌区炙度...招聘服务员": ("服务员",),
    "龙湾汽车俱乐部招聘日料厨师": ("日料厨师",),
    "需求分析师-武汉洪山": ("需求分析师",),
    "视频编辑(J13341)": ("视频编辑",),
    "运营助理/专员（提供住宿＋带薪实习）": ("运营助理", "专员"),
    "经理助理（高薪双休不加班）": ("经理助理",),
    "验货员-质量工程师-Inspector": ("验货员", "质量工程师", "inspector"),
    "苹果部门工作轻松 300/天": ("苹果部门工作",),
}


@pytest.fixture(scope="module")
def development_titles():
    return {c.title for c in load_development()}


@pytest.mark.parametrize(("title", "expected"), REAL.items())
def test_real_titles_lose_employer_place_pay_perks_codes_and_notes(title, expected, development_titles):
    assert title in development_titles  # a real example, not one made up for the cleaner
    assert clean_title(title).parts == expected


def test_a_bracket_that_names_the_work_is_kept_as_context(development_titles):
    assert "技术经理（塑胶薄膜）" in development_titles
    cleaned = clean_title("技术经理（塑胶薄膜）")
    assert cleaned.parts == ("技术经理",) and cleaned.context == ("塑胶薄膜",)
    assert clean_title("物业客服经理（包住+晋升）").context == ()


def test_recruiting_words_pay_perks_and_seniority_are_stripped():
    cleaned = clean_title("急招电焊学徒 3000-5000元 包吃住 五险一金（郑州）")
    assert cleaned.parts == ("电焊",)
    assert cleaned.modifiers == ("学徒",)
    assert {"3000-5000元", "包吃住", "五险一金", "(郑州)"} <= set(cleaned.removed)
    assert clean_title("【直招】叉车司机 300/天 日结").parts == ("叉车司机",)
    assert clean_title("诚聘保洁员8k").parts == ("保洁员",)
    # 招 inside an occupation's own words stays.
    assert clean_title("招生顾问").parts == ("招生顾问",)


def test_full_width_emoji_mixed_scripts_and_very_long_text_are_handled():
    assert clean_title("ＣＮＣ操作员🔥急招🔥").parts == ("cnc操作员",)
    assert clean_title("Java开发工程师（北京）").parts == ("java开发工程师",)
    long = "电焊工" + "包吃住" * 50_000
    cleaned = clean_title(long)
    assert cleaned.parts == ("电焊工",)
    assert len(cleaned.original) > MAX_TEXT  # the input is kept, the work is bounded


@pytest.mark.parametrize("title", ["包吃住 五险一金 4000-6000元", "🔥🔥🔥", "急招！！！", "", "   "])
def test_a_title_that_cleans_to_nothing_says_so_and_is_matched_on_what_remains(title):
    assert clean_title(title).empty
    assert cleaned_terms(title) == []
    vacancy = VacancyProfile(
        vacancy_id="v",
        employer_id="e",
        title=title,
        occupation="",
        required_skills=("电焊",),
        region_code="410923",
    )
    welder = WorkerProfile(worker_id="weld", region_code="410923", skills=("电焊",))
    cleaner = WorkerProfile(worker_id="clean", region_code="410923", skills=("保洁",))
    ranked = BruteForceRanker().rank_workers_for_vacancy(vacancy, [cleaner, welder])
    assert [s.id for s in ranked] == ["weld", "clean"]


def test_a_skill_line_is_parsed_into_skills_certificates_and_availability():
    line = parse_skill_line("会开叉车，有证，能倒班")
    assert line.skills == ("叉车",)
    assert line.certificates == ("叉车证",)
    assert line.availability == ("倒班",)
    assert parse_skill_line("二保焊 氩弧焊 三年经验").skills == ("二保焊", "氩弧焊")
    assert parse_skill_line("有焊工证、电工证").certificates == ("焊工证", "电工证")


def test_variants_of_a_trade_and_its_certificate_meet_on_one_occupation():
    encoder = Encoder()
    welding = {encoder.soft_codes(t)[0][0] for t in ("电焊", "焊工", "二保焊", "氩弧焊", "电焊工")}
    assert len(welding) == 1
    forklift = {encoder.soft_codes(t)[0][0] for t in ("叉车", "叉车司机", "叉车工")}
    assert len(forklift) == 1
    assert encoder.soft_codes(certificate_occupation_term("焊工证"))[0][0] in welding
    assert encoder.soft_codes(certificate_occupation_term("叉车证"))[0][0] in forklift
    assert certificate_occupation_term("电工上岗证") == "电工"


def test_confidence_is_a_probability_and_ranks_the_candidates():
    top = Encoder().taxonomy.classify("急招日料厨师 包吃住", k=3)
    assert top and all(0.0 < p < 1.0 for _, p in top)
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
