"""The console's own logic without a browser or services: accounts and lockout, spreadsheet cells, the import
check, messages in Chinese, overdue check-ins, and the rank explained in sentences."""

from __future__ import annotations

from datetime import date

import pytest

from services.console.accounts import TEST_HASHER, AccountError, Accounts, LoginRefused
from services.console.messages import zh_fields, zh_reason
from services.console.views.batches import overdue_checkins
from services.console.views.common import safe_cell, split_list
from services.console.views.importcheck import check_rows, id_problem
from services.console.views.workers import explain
from shared.db import make_engine, make_session_factory, migrate


@pytest.fixture
def accounts(tmp_path):
    url = f"sqlite:///{tmp_path / 'console.db'}"
    migrate("console", url)
    return Accounts(make_session_factory(make_engine(url)), lockout_after=3, lockout_minutes=15, hasher=TEST_HASHER)


def test_a_password_is_stored_as_an_argon2id_hash_and_checked(accounts):
    accounts.add(username="wang", password="correct-horse", role="caseworker", regions=["4109"])
    with accounts.factory() as s:
        stored = s.execute(__import__("sqlalchemy").text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct-horse" not in stored
    assert accounts.authenticate("wang", "correct-horse", remote_addr=None).regions == ("4109",)
    with pytest.raises(LoginRefused, match="用户名或密码错误"):
        accounts.authenticate("wang", "wrong-horse", remote_addr=None)


def test_an_account_locks_after_repeated_failures_and_a_reset_unlocks_it(accounts):
    accounts.add(username="li", password="correct-horse", role="manager", regions=["41"])
    for _ in range(3):
        with pytest.raises(LoginRefused):
            accounts.authenticate("li", "nope-nope", remote_addr="10.0.0.1")
    with pytest.raises(LoginRefused, match="锁定"):
        accounts.authenticate("li", "correct-horse", remote_addr="10.0.0.1")
    accounts.reset("li", "another-horse")
    assert accounts.authenticate("li", "another-horse", remote_addr=None).role == "manager"
    actions = [a["action"] for a in accounts.audit_entries(actor="li")]
    assert actions.count("login_failed") == 3 and "login_locked" in actions
    assert [a["resource_id"] for a in accounts.audit_entries(action="user_reset")] == ["li"]


def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions(accounts):
    user = accounts.add(username="zhao", password="correct-horse", role="coordinator")
    sid = accounts.open_session(user, remote_addr=None)
    assert accounts.session_user(sid) == user
    accounts.disable("zhao")
    assert accounts.session_user(sid) is None
    with pytest.raises(LoginRefused, match="停用"):
        accounts.authenticate("zhao", "correct-horse", remote_addr=None)


@pytest.mark.parametrize(("role", "regions", "employer_id"), [
    ("caseworker", [], None), ("manager", [], None), ("employer", [], None), ("nobody", [], None),
    ("caseworker", ["41x9"], None)])
def test_an_account_without_what_its_role_needs_is_refused(accounts, role, regions, employer_id):
    with pytest.raises(AccountError):
        accounts.add(username="x", password="long-enough", role=role, regions=regions, employer_id=employer_id)


def test_an_answer_link_works_once(accounts):
    link = accounts.answer_link(referral_id="r-1", employer_id="e-1", created_by="wang", days=14)
    assert accounts.answer_link(referral_id="r-1", employer_id="e-1", created_by="wang", days=14)["code"] == link["code"]
    assert accounts.find_link(link["code"].lower())["referral_id"] == "r-1"
    assert accounts.use_link(link["code"], answer="hire", remote_addr=None)
    assert not accounts.use_link(link["code"], answer="reject", remote_addr=None)
    assert accounts.find_link("not-a-code") is None


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-3", "@cmd", "\tx", "\rx"])
def test_a_spreadsheet_cell_that_could_run_as_a_formula_is_quoted(text):
    assert safe_cell(text) == "'" + text


def test_plain_cells_and_lists_are_kept():
    assert safe_cell("电焊") == "电焊" and safe_cell(42) == 42 and safe_cell(["电焊", "=x"]) == "电焊、=x"


def test_a_list_field_splits_on_commas_dun_and_spaces():
    assert split_list("电焊，叉车、 保洁 ,厨师") == ["电焊", "叉车", "保洁", "厨师"]


def test_the_import_check_reports_every_row_before_anything_is_kept():
    good = "410923197203082627"
    assert id_problem(good) is None
    csv = ("身份证号,姓名,手机号,区划代码,同意\n"
           f"{good},刘秀兰,13912340001,410923,是\n"
           f"{good[:17]}0,王五,13912340002,410923,是\n"
           f"{good},刘秀兰,1391234,4109,否\n").encode("utf-8-sig")
    report = check_rows("workers.csv", csv)
    assert (report["good"], report["bad"]) == (1, 2)
    assert "校验位" in report["rows"][1]["problems"][0]
    assert set(report["rows"][2]["problems"]) == {"文件里出现了两次", "手机号应为 11 位大陆手机号", "区划代码应为 6 位数字",
                                                 "本人未同意处理个人信息"}


def test_the_services_reasons_are_shown_in_chinese():
    assert zh_reason("check character should be 7") == "校验位不对（按 GB 11643 应为 7），请核对身份证号"
    assert zh_reason("Missing data for required field.") == "必填"
    assert zh_reason("something new") == "输入有误（something new）"
    assert zh_fields({"consent.data_processing": ["consent to data processing is required"]}) == {
        "consent.data_processing": ["须经本人同意处理个人信息（请勾选）"]}


def test_a_worker_away_without_a_check_in_for_30_days_is_overdue():
    batch = {"batch_id": "b", "arrived_on": "2026-01-01", "checkins": [{"worker_id": "w1", "on": "2026-02-20"}],
             "workers": [{"worker_id": "w1"}, {"worker_id": "w2"}, {"worker_id": "w3", "returned_on": "2026-01-05"}]}
    overdue = overdue_checkins(batch, date(2026, 3, 1))
    assert [(o["worker_id"], o["days"]) for o in overdue] == [("w2", 59)]
    assert overdue_checkins({**batch, "arrived_on": None}, date(2026, 3, 1)) == []


def test_a_rank_is_explained_in_sentences():
    match = {"matched_skills": ["电焊"], "missing_skills": ["焊工证"],
             "explanation": {"required_skill_coverage": 0.4, "region_proximity": 0.2, "wage_fit": -0.1, "baseline": 0.3}}
    text = "".join(explain(match, {"wage_min": 3000, "wage_max": 2800}, {"desired_wage_min": 3500}))
    assert "会电焊" in text and "还缺焊工证" in text and "具备岗位要求的技能、离家近" in text
    assert "工资符合期望" in text and "低于本人期望的 3500 元" in text and "baseline" not in text


def test_outside_the_tests_passwords_get_argon2ids_recommended_cost():
    from argon2 import Type

    from services.console.accounts import HASHER

    assert HASHER.type is Type.ID and HASHER.memory_cost >= 64 * 1024 and HASHER.time_cost >= 3
