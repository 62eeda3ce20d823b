"""The console in a real browser (Debian's Chromium through pytest-playwright): a day's work of each role.

Screenshots of every page visited go to test-results/screenshots/ (JOBBRIDGE_SCREENSHOTS_DIR; `make screenshots`
points it at docs/screenshots/).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from consoleworld import CROSS_REGION_AT, LOCAL, PASSWORD, SCREENSHOTS
from playwright.sync_api import Page, expect
from support import eventually, unique_national_id

pytestmark = pytest.mark.e2e


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, console, username: str) -> None:
    page.goto(f"{console.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header .me")).to_contain_text(username)


def test_a_caseworker_registers_refers_and_prints_and_the_employer_answers_by_the_letters_link(console, page, browser):
    sign_in(page, console, "c-case")
    shot(page, "01-caseworker-home")
    expect(page.locator("#panel-due h2")).to_have_text(re.compile("今日待回访"))

    # Registration: the service's reason shown in Chinese beside the field, nothing kept.
    page.goto(f"{console.url}/workers/new")
    good_id = unique_national_id(region=LOCAL, born=date(1972, 3, 8), female=True)
    bad_id = good_id[:17] + ("0" if good_id[17] != "0" else "1")
    page.get_by_label("身份证号").fill(bad_id)
    page.get_by_label("姓名").fill("刘秀兰")
    page.get_by_label("手机号").fill("13912340001")
    page.get_by_label("所在地区划代码").fill(LOCAL)
    page.get_by_label("技能", exact=True).fill("数控车床、仓储")
    page.get_by_label("期望最低月薪（元）").fill("3000")
    page.get_by_label("零就业家庭").check()
    page.get_by_label("本人已签字同意处理其个人信息").check()
    page.get_by_role("button", name="登记").click()
    error = page.locator(".field.has-error", has=page.get_by_label("身份证号")).locator(".error")
    expect(error).to_contain_text("校验位")
    shot(page, "02-registration-error")
    page.get_by_label("身份证号").fill(good_id)
    page.get_by_label("本人已签字同意处理其个人信息").check()
    page.get_by_role("button", name="登记").click()
    expect(page.locator("h1")).to_contain_text("刘秀兰")
    expect(page.locator("h1 .tag")).to_have_text("4050")  # a woman born 1972
    worker_id = page.url.split("/workers/")[1].split("?")[0]

    # Matches: the new worker reaches matching through events within seconds.
    def ranked():
        page.reload()
        return page.locator("li.match", has_text="数控车床操作工").count() > 0

    eventually(ranked, timeout=40, interval=1, what="the vacancy ranked on the worker's page")
    match = page.locator("li.match", has_text="数控车床操作工")
    expect(match.locator(".why")).to_contain_text("数控车床")
    expect(match.locator(".raise")).to_contain_text("数控车工证")  # the required certificate she lacks
    shot(page, "03-worker-page")

    # One-click referral (htmx fragment), then the letter.
    match.locator('[data-action="refer"]').click()
    expect(match.locator(".refer-result")).to_contain_text("已推荐")
    match.locator(".refer-result a").click()
    expect(page.locator("#referral-status")).to_have_text("已推荐")
    shot(page, "04-referral")
    referral_id = page.url.split("/referrals/")[1].split("?")[0]
    pdf = page.request.get(f"{console.url}/referrals/{referral_id}/letter.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body()[:5] == b"%PDF-" and len(pdf.body()) > 10_000  # Noto CJK glyphs and the QR code embedded
    link = console.accounts.link_for_referral(referral_id)
    assert link is not None and link["used_at"] is None, "printing the letter makes its one-time answer link"

    manager_api = console.api("placement", "manager")
    hired_before = manager_api.get("/reports/summary", params={"region": "4109"}).json()["reemployed"]

    # The employer answers through the letter's link, without an account; the link works once.
    employer = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    phone = employer.new_page()
    phone.goto(f"{console.url}/r/{link['code']}")
    expect(phone.locator("h1")).to_contain_text("数控车床操作工")
    shot(phone, "05-answer-link-phone")
    phone.get_by_label("到岗日期（录用时填）").fill((date.today() - timedelta(days=40)).isoformat())
    phone.get_by_label("月薪（元，录用时填）").fill("4200")
    phone.locator('[data-action="hire"]').click()
    expect(phone.locator("h1")).to_have_text("已收到答复")
    again = phone.goto(f"{console.url}/r/{link['code']}")
    assert again.status == 410
    expect(phone.locator("h1")).to_have_text("此链接已使用")
    employer.close()
    answered = [a for a in console.accounts.audit_entries(action="answer_by_link") if a["resource_id"] == referral_id]
    assert len(answered) == 1 and answered[0]["detail"] == "hire"

    # The hire is on the worker's timeline, and her first follow-up is due (she started 40 days ago).
    page.goto(f"{console.url}/workers/{worker_id}")
    expect(page.locator("#timeline")).to_contain_text("录用")
    page.goto(f"{console.url}/followups")
    call = page.locator("li.call", has_text="刘秀兰")
    expect(call).to_contain_text("13912340001")  # her caseworker may see and dial the phone
    shot(page, "06-followup-calls")
    call.locator('[data-action="followup"]', has_text="在岗").click()
    expect(call).to_contain_text("已记录")  # answered in place (htmx)
    page.reload()
    expect(page.locator("li.call", has_text="刘秀兰")).to_have_count(0)
    page.goto(f"{console.url}/")
    expect(page.locator("#panel-new")).to_be_visible()
    shot(page, "11-caseworker-home-later")

    # The manager's figures count the hire.
    manager = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    mpage = manager.new_page()
    sign_in(mpage, console, "c-manager")
    mpage.goto(f"{console.url}/dashboard?region=4109")
    expect(mpage.locator("#fig-reemployed")).to_have_text(str(hired_before + 1))
    expect(mpage.locator("#charts")).to_have_attribute("data-drawn", "1")
    expect(mpage.locator("#chart-monthly canvas")).to_have_count(1)
    shot(mpage, "07-manager-figures")
    xlsx = mpage.request.get(f"{console.url}/dashboard?region=4109&format=xlsx")
    assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"
    manager.close()


def test_an_employer_answers_referrals_in_the_console(console, page):
    ids = console.ids
    worker = console.new_worker(LOCAL, skills=["数控车床"])
    referral = console.referral(worker, ids["v1"])
    sign_in(page, console, "c-emp")
    expect(page.locator("h1")).to_contain_text("收到的推荐")
    row = page.locator("tr", has=page.locator(f'input[value="{referral}"]'))
    row.locator("input[type=checkbox]").check()
    page.locator('#batch-form [data-action="interview"]').click()
    expect(page.locator(".flash.ok")).to_contain_text("已处理 1 条")
    shot(page, "08-employer-referrals")
    page.goto(f"{console.url}/referrals/{referral}")
    expect(page.locator("#referral-status")).to_have_text("面试中")
    page.get_by_label("原因").select_option("wage_not_accepted")
    page.locator('[data-action="reject"]').click()
    expect(page.locator("#referral-status")).to_contain_text("不录用")
    page.goto(f"{console.url}/vacancies/{ids['v1']}")
    shot(page, "09-employer-vacancy")
    html = page.content()
    assert not [p for p in console.phones | console.national_ids if p in html]


def test_a_coordinator_runs_an_export_batch_to_income(console, page):
    worker = console.new_worker(LOCAL, skills=["电工"], willing_to_relocate=True, target_regions=[CROSS_REGION_AT])
    employer = console.new_employer(CROSS_REGION_AT)
    sign_in(page, console, "c-coord")
    page.goto(f"{console.url}/export-batches/new")
    page.get_by_label("输入地区划代码").fill(CROSS_REGION_AT)
    page.get_by_label("用人单位编号").fill(employer)
    page.get_by_label("外出人员编号").fill(worker)
    page.get_by_label("出发日期").fill((date.today() - timedelta(days=3)).isoformat())

    def created():
        page.get_by_role("button", name="创建批次").click()
        return "/export-batches/new" not in page.url

    eventually(created, timeout=30, interval=1, what="placement knows the new worker and employer")
    expect(page.locator("h1")).to_contain_text("劳务输出批次")
    page.locator('[data-action="arrive"]').click()
    expect(page.locator("h1 .tag")).to_have_text("已到达")
    page.locator('[data-action="checkin"]').first.click()
    expect(page.locator(".flash.ok")).to_be_visible()
    page.get_by_label("务工收入（元）").fill("3600")
    page.locator('[data-action="income"]').click()
    expect(page.locator("#income-total")).to_have_text("3600 元")
    shot(page, "10-coordinator-batch")
    ledger = page.request.get(page.url.split("?")[0] + "/ledger.xlsx")
    assert ledger.status == 200 and ledger.body()[:2] == b"PK"
    from io import BytesIO

    from openpyxl import load_workbook

    cells = [c for row in load_workbook(BytesIO(ledger.body())).active.iter_rows(values_only=True) for c in row]
    assert worker in cells and 3600 in cells


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (375, 740)])
def test_the_pages_fit_a_laptop_and_a_phone(console, page, width, height):
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, console, "c-case")
    for path, name in (("/", "home"), ("/workers", "workers"), ("/workers/new", "register"),
                       (f"/workers/{console.ids['w_local']}", "worker"), ("/referrals", "referrals")):
        page.goto(console.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px screen"
        shot(page, f"size-{width}-{name}")
