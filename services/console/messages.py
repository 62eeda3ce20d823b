"""The services' validation messages and enum values in Chinese, for the pages.

The services answer in English with the field and the reason; a page shows the reason beside the field in
Chinese. Known reasons are matched by pattern; an unknown one is shown as it came, after a Chinese lead-in,
so that nothing the service said is lost.
"""

from __future__ import annotations

import re

FIELD_LABELS = {
    "national_id": "身份证号", "name": "姓名", "phone": "手机号", "region_code": "所在地区划代码",
    "skills": "技能", "certificates": "证书", "education": "学历", "experience_years": "工作年限",
    "desired_occupations": "意向工种", "desired_wage_min": "期望最低月薪", "willing_to_relocate": "愿意外出务工",
    "target_regions": "意向务工地", "hardship": "就业困难类别", "consent.data_processing": "同意处理个人信息",
    "consent": "同意处理个人信息", "title": "岗位名称", "occupation": "工种", "required_skills": "必备技能",
    "preferred_skills": "优先技能", "required_certificates": "必备证书", "wage_min": "最低月薪", "wage_max": "最高月薪",
    "headcount": "招聘人数", "vacancy_type": "岗位类型", "accommodation": "提供住宿", "open_until": "截止日期",
    "worker_id": "求职者", "vacancy_id": "岗位", "status": "状态", "start_date": "到岗日期", "monthly_wage": "月薪",
    "reason": "原因", "month": "回访月份", "employed": "是否在岗", "note": "备注", "destination_region": "输入地区划代码",
    "employer_id": "用人单位", "worker_ids": "外出人员", "departure_date": "出发日期", "arrived_on": "到达日期",
    "on": "报到日期", "returned_on": "返回日期", "period": "月份", "amount": "金额", "file": "文件",
    "username": "用户名", "password": "密码", "role": "角色", "regions": "负责地区", "body": "表单",
}

ENUMS = {
    "education": {"none": "未上学", "primary": "小学", "junior_middle": "初中", "senior_middle": "高中",
                  "vocational": "中专/技校", "college": "大专", "bachelor": "本科", "postgraduate": "研究生"},
    "hardship": {"laid_off": "下岗失业", "unemployed": "失业", "zero_employment_household": "零就业家庭",
                 "disabled": "残疾", "low_income": "低保/低收入", "other": "其他"},
    "vacancy_type": {"regular": "普通岗位", "public_welfare": "公益性岗位", "cross_region": "劳务输出岗位"},
    "referral_status": {"referred": "已推荐", "interviewing": "面试中", "hired": "录用", "rejected": "不录用",
                        "withdrawn": "已撤回"},
    "reason": {"skills_mismatch": "技能不符", "wage_not_accepted": "薪资未谈拢", "unreachable": "联系不上",
               "no_show": "未到面试", "position_filled": "岗位已满", "other": "其他", "worker_declined": "求职者放弃",
               "placed_elsewhere": "已在别处就业", "worker_erased": "个人信息已删除"},
    "worker_status": {"active": "求职中", "placed": "已就业", "erased": "已删除"},
    "role": {"admin": "管理员", "caseworker": "经办人", "coordinator": "劳务输出协调员", "employer": "用人单位",
             "manager": "局领导/管理人员"},
    "placement_type": {"regular": "普通就业", "public_welfare": "公益性岗位", "cross_region": "劳务输出",
                       "self_employment": "自主创业"},
    "return_reason": {"health": "健康原因", "family": "家庭原因", "wage_not_paid": "工资未付", "working_conditions": "工作条件",
                      "job_mismatch": "岗位不符", "other": "其他"},
    "batch_status": {"departed": "已出发", "arrived": "已到达", "returned": "已返回"},
}

_PATTERNS: list[tuple[re.Pattern, str]] = [(re.compile(p, re.I), zh) for p, zh in [
    (r"^Missing data for required field\.?$", "必填"),
    (r"^Field may not be null\.?$", "必填"),
    (r"^Unknown field\.?$", "不认识的字段"),
    (r"^Not a valid integer\.?$", "请填写整数"),
    (r"^Not a valid number\.?$", "请填写数字"),
    (r"^Not a valid date\.?$", "请填写日期（如 2026-01-31）"),
    (r"^Not a valid boolean\.?$", "请选择是或否"),
    (r"^Must be one of: (.*)\.$", "只能是其中之一：\\1"),
    (r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$", "应在 \\1 到 \\2 之间"),
    (r"^Must be greater than or equal to (\S+)\.$", "不能小于 \\1"),
    (r"^must be 18 characters, got (\d+)$", "应为 18 位，现在是 \\1 位"),
    (r"^must be 11 digits, got (\d+)$", "应为 11 位数字，现在是 \\1 位"),
    (r"^check character should be (.)$", "校验位不对（按 GB 11643 应为 \\1），请核对身份证号"),
    (r"^check digit should be (.)$", "校验位不对（应为 \\1），请核对"),
    (r"^the first 17 characters must be digits$", "前 17 位必须是数字"),
    (r"^the last character must be a digit or X$", "最后一位必须是数字或 X"),
    (r"^birth date (\S+) is not a real date$", "出生日期 \\1 不存在"),
    (r"^birth date (\S+) is in the future$", "出生日期 \\1 在将来"),
    (r"^region prefix (\d+) is not a province$", "前两位 \\1 不是省级代码"),
    (r"^must be a mainland mobile number.*$", "应为大陆手机号（13-19 开头，不收座机）"),
    (r"^must contain only digits.*$", "只能包含数字、空格、连字符和 +86"),
    (r"^must be a 6-digit GB/T 2260 code$", "应为 6 位行政区划代码"),
    (r"^(\S+) is not a province prefix$", "\\1 不是省级代码"),
    (r"^(\S+) is not a county-level division$", "\\1 不是县级区划"),
    (r"^(\S+) is not a known division$", "\\1 不是有效的行政区划代码"),
    (r"^must be digits$", "只能是数字"),
    (r"^must not be blank$", "不能为空"),
    (r"^must not be in the past$", "不能早于今天"),
    (r"^consent to data processing is required$", "须经本人同意处理个人信息（请勾选）"),
    (r"^wage_max must not be below wage_min$", "最高月薪不能低于最低月薪"),
    (r"^at most (\d+) terms are allowed$", "最多 \\1 项"),
    (r"^Length must be between (\d+) and (\d+)\.$", "长度应在 \\1 到 \\2 之间"),
    (r"^Longer than maximum length (\d+)\.$", "不能超过 \\1 个字"),
    (r"^a worker with this national ID is registered already$", "该身份证号已登记过"),
    (r"^unknown worker.*$", "找不到该求职者（刚登记的需几秒同步，请稍后再试）"),
    (r"^.*vacancy is closed.*$", "岗位已关闭"),
    (r"^.*open referral.*$", "该求职者对此岗位已有未结束的推荐"),
    (r"^.*cap.*$", "该岗位推荐人数已达上限"),
    (r"^outside (.*)$", "超出您负责的地区（\\1）"),
    (r"^empty$", "文件是空的"),
]]


def zh_reason(reason: str) -> str:
    text = str(reason).strip()
    for pattern, zh in _PATTERNS:
        if pattern.match(text):
            return pattern.sub(zh, text)
    return f"输入有误（{text}）"


def zh_fields(fields: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """{field: [reason, ...]} with each reason in Chinese; nested paths keep their first part too."""
    out: dict[str, list[str]] = {}
    for name, reasons in (fields or {}).items():
        items = reasons if isinstance(reasons, list) else [reasons]
        zh = [zh_reason(r) for r in items]
        out.setdefault(name, []).extend(zh)
        base = name.split(".")[0]
        if base != name and base != "consent":
            out.setdefault(base, []).extend(zh)
    return out


def label(name: str) -> str:
    return FIELD_LABELS.get(name, name)


def enum_zh(kind: str, value) -> str:
    if value is None:
        return ""
    return ENUMS.get(kind, {}).get(str(value), str(value))
