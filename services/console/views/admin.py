"""Management pages: 统计 (charts and XLSX), the audit log, the matching model (retrain for admin), and the
admin's user management."""

from __future__ import annotations

import json
from datetime import date, timedelta

from flask import Blueprint, g, redirect, render_template, request, url_for

from services.console import messages
from services.console.accounts import AccountError
from services.console.api import ApiError, ServiceDown
from services.console.views.common import accounts, services, split_list, xlsx_response

bp = Blueprint("admin", __name__)
MONTHS = 6


def _months(n: int, today: date) -> list[tuple[str, date, date]]:
    first = today.replace(day=1)
    out = []
    for _ in range(n):
        nxt = (first + timedelta(days=32)).replace(day=1)
        out.append((first.strftime("%Y-%m"), first, min(nxt - timedelta(days=1), today)))
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(out))


@bp.route("/dashboard")
def dashboard():
    region = request.args.get("region", "").strip() or None
    today = date.today()
    start = request.args.get("from") or today.replace(month=1, day=1).isoformat()
    end = request.args.get("to") or today.isoformat()
    api = services()
    total = api.get("placement", "/reports/summary", region=region, **{"from": start, "to": end})
    monthly = []
    for label, first, last in _months(MONTHS, today):
        s = api.get("placement", "/reports/summary", region=region, **{"from": first.isoformat(), "to": last.isoformat()})
        monthly.append({"month": label, **s})
    if request.args.get("format") == "xlsx":
        header = ["月份", "再就业人数", "其中4050", "普通就业", "公益性岗位", "自主创业", "劳务输出", "外出人数", "务工收入",
                  "推荐录用率", "3个月留存", "6个月留存"]
        rows = [[m["month"], m["reemployed"], m["reemployed_4050"], m["by_type"]["regular"], m["by_type"]["public_welfare"],
                 m["by_type"]["self_employment"], m["by_type"]["cross_region"], m["exported_workers"], m["export_income"],
                 m["referral_to_hire_rate"], m["retention"]["m3"], m["retention"]["m6"]] for m in monthly]
        rows.append(["合计", total["reemployed"], total["reemployed_4050"], total["by_type"]["regular"],
                     total["by_type"]["public_welfare"], total["by_type"]["self_employment"], total["by_type"]["cross_region"],
                     total["exported_workers"], total["export_income"], total["referral_to_hire_rate"],
                     total["retention"]["m3"], total["retention"]["m6"]])
        return xlsx_response("统计", header, rows, "figures")
    charts = {
        "monthly": {"months": [m["month"] for m in monthly], "reemployed": [m["reemployed"] for m in monthly],
                    "r4050": [m["reemployed_4050"] for m in monthly]},
        "by_type": [{"name": messages.enum_zh("placement_type", k), "value": v} for k, v in total["by_type"].items()],
        "export": {"months": [m["month"] for m in monthly], "workers": [m["exported_workers"] for m in monthly],
                   "income": [m["export_income"] for m in monthly]},
    }
    share = (total["reemployed_4050"] / total["reemployed"]) if total["reemployed"] else None
    return render_template("dashboard.html", total=total, monthly=monthly, charts=json.dumps(charts, ensure_ascii=False),
                           share_4050=share, region=region or "", start=start, end=end)


@bp.route("/admin/users", methods=["GET", "POST"])
def users():
    error = None
    if request.method == "POST":
        form = request.form
        try:
            if form.get("action") == "disable":
                accounts().disable(form.get("username", ""), actor=g.user.username)
            elif form.get("action") == "reset":
                accounts().reset(form.get("username", ""), form.get("password", ""), actor=g.user.username)
            else:
                accounts().add(username=form.get("username", ""), password=form.get("password", ""),
                               role=form.get("role", ""), regions=split_list(form.get("regions")),
                               employer_id=(form.get("employer_id") or "").strip() or None, actor=g.user.username)
        except AccountError as exc:
            error = str(exc)
        else:
            return redirect(url_for("admin.users"))
    return render_template("users.html", users=accounts().list(), error=error), (422 if error else 200)


@bp.route("/admin/audit")
def audit():
    source = request.args.get("source", "console")
    rows, problem = [], None
    if source == "console":
        rows = accounts().audit_entries(limit=200, actor=request.args.get("actor") or None,
                                        action=request.args.get("action") or None)
    elif source in ("intake", "matching", "placement"):
        params = {k: request.args.get(k) for k in ("actor", "action", "resource_id") if request.args.get(k)}
        try:
            rows = services().get(source, "/audit", **params)
        except ServiceDown as exc:
            problem = exc.message
    return render_template("audit.html", rows=rows[:200], source=source, problem=problem)


@bp.route("/admin/model")
def model():
    info = services().get("matching", "/model")
    return render_template("model.html", m=info, result=None)


@bp.route("/admin/model/retrain", methods=["POST"])
def retrain():
    try:
        result = services().post("matching", "/model/retrain")
    except ApiError as exc:
        result = {"reason": messages.zh_reason(exc.message), "promoted": False}
    accounts().audit(actor=g.user.username, role=g.user.role, action="retrain", resource="model",
                     remote_addr=request.remote_addr, detail=str(result.get("version")))
    return render_template("model.html", m=services().get("matching", "/model"), result=result)
