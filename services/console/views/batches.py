"""Coordinator pages: export batches (create, roster, departure, arrival, check-ins, early returns, income), the
batch ledger (台账) as XLSX, and the workers whose check-in is overdue."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, redirect, render_template, request, url_for

from services.console import messages
from services.console.api import ApiError, ServiceDown
from services.console.views.common import field_errors, page_args, services, split_list, xlsx_response

bp = Blueprint("batches", __name__)
CHECKIN_EVERY_DAYS = 30


def overdue_checkins(batch: dict, today: date) -> list[dict]:
    """Workers still away whose last check-in (or arrival) is more than CHECKIN_EVERY_DAYS old."""
    if not batch.get("arrived_on"):
        return []
    last: dict[str, str] = {}
    for c in batch.get("checkins") or []:
        last[c["worker_id"]] = max(last.get(c["worker_id"], ""), c["on"])
    out = []
    for w in batch.get("workers") or []:
        if w.get("returned_on"):
            continue
        seen = last.get(w["worker_id"]) or w.get("arrived_on") or batch["arrived_on"]
        days = (today - date.fromisoformat(seen[:10])).days
        if days > CHECKIN_EVERY_DAYS:
            out.append({"worker_id": w["worker_id"], "batch_id": batch["batch_id"], "last": seen, "days": days})
    return out


@bp.route("/export-batches")
def index():
    paging = page_args()
    result = services().get("placement", "/export-batches", **paging)
    today = date.today()
    overdue = []
    for b in result["items"][:20]:
        try:
            full = services().get("placement", f"/export-batches/{b['batch_id']}")
        except (ApiError, ServiceDown):
            continue
        overdue += overdue_checkins(full, today)
    pages = max(1, -(-result["total"] // result["per_page"]))
    return render_template("batches.html", items=result["items"], page=result["page"], pages=pages,
                           total=result["total"], overdue=overdue)


@bp.route("/export-batches/new", methods=["GET", "POST"])
def new():
    errors = {}
    form = request.form
    if request.method == "POST":
        body = {"destination_region": (form.get("destination_region") or "").strip(),
                "employer_id": (form.get("employer_id") or "").strip(),
                "worker_ids": split_list(form.get("worker_ids")),
                "departure_date": (form.get("departure_date") or "").strip()}
        if (form.get("vacancy_id") or "").strip():
            body["vacancy_id"] = form["vacancy_id"].strip()
        try:
            created = services().post("placement", "/export-batches", body)
        except ApiError as exc:
            if exc.status not in (400, 409, 422):
                raise
            errors = field_errors(exc)
        else:
            return redirect(url_for("batches.show", batch_id=created["batch_id"]))
    relocating = []
    try:
        relocating = services().get("intake", "/workers", willing_to_relocate="true", status="active", per_page=50)["items"]
    except (ApiError, ServiceDown):
        pass
    return render_template("batch_form.html", errors=errors, form=form, relocating=relocating,
                           today=date.today().isoformat()), (422 if errors else 200)


@bp.route("/export-batches/<uuid:batch_id>")
def show(batch_id):
    batch = services().get("placement", f"/export-batches/{batch_id}")
    return render_template("batch.html", b=batch, overdue=overdue_checkins(batch, date.today()),
                           today=date.today().isoformat(), month=date.today().strftime("%Y-%m"),
                           done=request.args.get("done"))


ACTIONS = {  # data-action -> (path, body from the form)
    "arrive": ("arrival", lambda f: {"arrived_on": f.get("arrived_on")}),
    "checkin": ("checkins", lambda f: {"worker_id": f.get("worker_id"), "on": f.get("on")}),
    "return": ("returns", lambda f: {"worker_id": f.get("worker_id"), "returned_on": f.get("returned_on"),
                                     "reason": f.get("reason") or "other"}),
    "income": ("income", lambda f: {"period": f.get("period"),
                                    "amount": int(f["amount"]) if (f.get("amount") or "").isdigit() else f.get("amount")}),
}


@bp.route("/export-batches/<uuid:batch_id>/<action>", methods=["POST"])
def act(batch_id, action):
    if action not in ACTIONS:
        return render_template("error.html", title="操作未完成", message="不认识的操作", status=404), 404
    path, build = ACTIONS[action]
    try:
        services().post("placement", f"/export-batches/{batch_id}/{path}", build(request.form))
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        reasons = "；".join(f"{messages.label(k)}：{'、'.join(v)}" for k, v in field_errors(exc).items())
        return render_template("error.html", title="操作未完成", message=reasons, status=exc.status), exc.status
    return redirect(url_for("batches.show", batch_id=str(batch_id), done=action))


@bp.route("/export-batches/<uuid:batch_id>/ledger.xlsx")
def ledger(batch_id):
    """台账: one row per worker (arrival, check-ins, early return), then the income by month."""
    b = services().get("placement", f"/export-batches/{batch_id}")
    checkins: dict[str, list[str]] = {}
    for c in b.get("checkins") or []:
        checkins.setdefault(c["worker_id"], []).append(c["on"])
    rows = [[w["worker_id"], b["destination_region"], b["departure_date"], w.get("arrived_on") or "",
             "、".join(sorted(checkins.get(w["worker_id"], []))), w.get("returned_on") or "",
             messages.enum_zh("return_reason", w.get("return_reason"))] for w in b.get("workers") or []]
    rows.append([])
    for i in b.get("income") or []:
        rows.append(["务工收入", i["period"], i["amount"]])
    rows.append(["收入合计", "", b.get("income_total", 0)])
    return xlsx_response("台账", ["求职者", "输入地", "出发日期", "到达日期", "报到", "提前返回", "返回原因"], rows,
                         f"batch-{str(batch_id)[:8]}")


def _recent_months(n: int) -> list[str]:
    today = date.today().replace(day=1)
    months = []
    for _ in range(n):
        months.append(today.strftime("%Y-%m"))
        today = (today - timedelta(days=1)).replace(day=1)
    return months
