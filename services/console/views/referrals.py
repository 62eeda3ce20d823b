"""Referrals (list, answers one by one or in batch, the letter as a PDF) and follow-ups (回访电话清单, 回访录入)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from services.console import messages
from services.console.api import ApiError, ServiceDown
from services.console.views.common import accounts, field_errors, page_args, services, settings, xlsx_response

bp = Blueprint("referrals", __name__)
ANSWERS = {"interview": "interviewing", "hire": "hired", "reject": "rejected", "withdraw": "withdrawn"}


@bp.route("/referrals")
def index():
    filters = {k: request.args.get(k, "").strip() for k in ("worker_id", "vacancy_id", "status", "stale")}
    paging = page_args()
    if request.args.get("format") == "xlsx":
        paging["per_page"] = 200
    result = services().get("placement", "/referrals", **filters, **paging)
    titles = _titles({r["vacancy_id"] for r in result["items"]})
    if request.args.get("format") == "xlsx":
        rows = [[r["referral_id"], r["worker_id"], titles.get(r["vacancy_id"], r["vacancy_id"]),
                 messages.enum_zh("referral_status", r["status"]), messages.enum_zh("reason", r.get("reason")),
                 (r.get("created_at") or "")[:10], r.get("waiting_days")] for r in result["items"]]
        return xlsx_response("推荐", ["编号", "求职者", "岗位", "状态", "原因", "推荐日期", "等待天数"], rows, "referrals")
    pages = max(1, -(-result["total"] // result["per_page"]))
    return render_template("referrals.html", items=result["items"], filters=filters, titles=titles,
                           page=result["page"], pages=pages, total=result["total"],
                           message=request.args.get("done"))


def _titles(vacancy_ids) -> dict[str, str]:
    out = {}
    for vacancy_id in list(vacancy_ids)[:50]:
        try:
            out[vacancy_id] = services().get("intake", f"/vacancies/{vacancy_id}")["title"]
        except (ApiError, ServiceDown):
            continue
    return out


@bp.route("/referrals/<uuid:referral_id>")
def show(referral_id):
    referral = services().get("placement", f"/referrals/{referral_id}")
    titles = _titles([referral["vacancy_id"]])
    return render_template("referral.html", r=referral, title=titles.get(referral["vacancy_id"], ""),
                           created=request.args.get("created"), today=date.today().isoformat())


def answer_body(action: str, form) -> dict:
    body: dict = {"status": ANSWERS[action]}
    if action == "hire":
        body["start_date"] = (form.get("start_date") or date.today().isoformat()).strip()
        wage = (form.get("monthly_wage") or "").strip()
        if wage:
            body["monthly_wage"] = int(wage) if wage.isdigit() else wage
    if action in ("reject", "withdraw"):
        body["reason"] = form.get("reason") or "other"
    return body


def apply_answer(api, referral_id: str, action: str, form) -> dict:
    """One answer; 录用 straight from 已推荐 passes through 面试中, as the service's state machine requires."""
    if action == "hire":
        current = api.get("placement", f"/referrals/{referral_id}")
        if current["status"] == "referred":
            api.post("placement", f"/referrals/{referral_id}/status", {"status": "interviewing"})
    return api.post("placement", f"/referrals/{referral_id}/status", answer_body(action, form))


@bp.route("/referrals/<uuid:referral_id>/status", methods=["POST"])
def status(referral_id):
    action = request.form.get("action", "")
    if action not in ANSWERS:
        return render_template("error.html", title="操作未完成", message="不认识的操作", status=422), 422
    try:
        apply_answer(services(), str(referral_id), action, request.form)
    except ApiError as exc:
        if exc.status == 409:
            return render_template("error.html", title="操作未完成", status=409,
                                   message="这条推荐的状态已经变了，不能再这样改（请刷新后查看）。"), 409
        if exc.status == 422:
            reasons = "；".join(f"{messages.label(k)}：{'、'.join(v)}" for k, v in field_errors(exc).items())
            return render_template("error.html", title="操作未完成", message=reasons, status=422), 422
        raise
    return redirect(url_for("referrals.show", referral_id=str(referral_id)))


@bp.route("/referrals/batch", methods=["POST"])
def batch():
    """The same answer for every ticked referral; each one's outcome is listed."""
    action = request.form.get("action", "")
    ids = request.form.getlist("referral_id")
    if action not in ANSWERS or not ids:
        return render_template("error.html", title="操作未完成", message="请先勾选推荐并选择答复", status=422), 422
    done, failed = 0, 0
    for referral_id in ids[:100]:
        try:
            apply_answer(services(), referral_id, action, request.form)
            done += 1
        except ApiError:
            failed += 1
    return redirect(url_for("referrals.index", done=f"已处理 {done} 条" + (f"，{failed} 条未能处理" if failed else "")))


@bp.route("/referrals/<uuid:referral_id>/letter.pdf")
def letter(referral_id):
    """推荐介绍信: the referral, the vacancy, and a short code with a QR code for the one-time answer link."""
    import segno
    from weasyprint import HTML

    referral_id = str(referral_id)
    api = services()
    referral = api.get("placement", f"/referrals/{referral_id}")
    worker = api.get("intake", f"/workers/{referral['worker_id']}")
    vacancy = api.get("intake", f"/vacancies/{referral['vacancy_id']}")
    try:
        employer = api.get("intake", f"/employers/{referral['employer_id']}")
    except ApiError:
        employer = {"name": ""}
    link = accounts().answer_link(referral_id=referral_id, employer_id=referral["employer_id"],
                                  created_by=g.user.username, days=settings().answer_link_days)
    url = request.host_url.rstrip("/") + url_for("public.answer", code=link["code"])
    qr = segno.make(url, error="m").svg_data_uri(scale=4)
    accounts().audit(actor=g.user.username, role=g.user.role, action="print_letter", resource="referral",
                     resource_id=referral_id, remote_addr=request.remote_addr)
    html = render_template("letter.html", r=referral, worker=worker, vacancy=vacancy, employer=employer, code=link["code"],
                           url=url, qr=qr, expires=link["expires_at"], today=date.today())
    pdf = HTML(string=html, base_url=request.host_url).write_pdf()
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="referral-{referral_id[:8]}.pdf"'})


RISK_ORDER = {"public_welfare": 1, "cross_region": 1}


@bp.route("/followups")
def followups():
    """回访电话清单: today's follow-up calls, riskiest first (overdue longest, then public-welfare posts and
    export workers), each with the phone for roles that may see it and a one-click result."""
    api = services()
    due = api.get("placement", "/followups/due", before=date.today().isoformat(), per_page=100)
    items = sorted(due["items"], key=lambda d: (-(d.get("days_overdue") or 0), -RISK_ORDER.get(d["placement_type"], 0)))
    for item in items[:40]:
        try:
            item["worker"] = api.get("intake", f"/workers/{item['worker_id']}")
        except (ApiError, ServiceDown):
            item["worker"] = None
        risks = []
        if item.get("overdue"):
            risks.append(f"超期 {item.get('days_overdue') or 0} 天")
        if item["placement_type"] == "public_welfare":
            risks.append("公益性岗位")
        if item["placement_type"] == "cross_region":
            risks.append("外出务工")
        item["risks"] = risks
    return render_template("followups.html", items=items, total=due.get("total", len(items)),
                           done=request.args.get("done"))


@bp.route("/placements/<uuid:placement_id>/followup", methods=["POST"])
def record_followup(placement_id):
    form = request.form
    body: dict = {"month": int(form.get("month") or 0) if (form.get("month") or "").isdigit() else form.get("month"),
                  "employed": form.get("employed") == "true"}
    wage = (form.get("monthly_wage") or "").strip()
    if wage:
        body["monthly_wage"] = int(wage) if wage.isdigit() else wage
    if form.get("note"):
        body["note"] = form["note"].strip()
    if not body["employed"]:
        body["left_reason"] = form.get("left_reason") or "other"
    try:
        services().post("placement", f"/placements/{placement_id}/followups", body)
    except ApiError as exc:
        if exc.status in (409, 422):
            reasons = "；".join(f"{messages.label(k)}：{'、'.join(v)}" for k, v in field_errors(exc).items())
            return render_template("error.html", title="回访未保存", message=reasons, status=exc.status), exc.status
        raise
    if request.headers.get("HX-Request"):
        return '<span class="ok">已记录</span>'
    return redirect(url_for("referrals.followups", done="1"))
