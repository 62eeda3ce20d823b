"""Vacancies: the list, posting and editing (employers their own; the three types), closing, and a vacancy's
ranked candidates (masked for employers by the services)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from services.console.api import ApiError, ServiceDown
from services.console.views.common import field_errors, page_args, services, split_list, xlsx_response

bp = Blueprint("vacancies", __name__)


@bp.route("/vacancies")
def index():
    filters = {k: request.args.get(k, "").strip() for k in ("region", "type", "status")}
    paging = page_args()
    if request.args.get("format") == "xlsx":
        paging["per_page"] = 200
    result = services().get("intake", "/vacancies", **filters, **paging)
    if request.args.get("format") == "xlsx":
        rows = [[v["vacancy_id"], v["title"], v["occupation"], v["region_code"], v["wage_min"], v["wage_max"],
                 v["headcount"], v["vacancy_type"], v["status"], v.get("open_until")] for v in result["items"]]
        return xlsx_response("岗位", ["编号", "岗位名称", "工种", "区划", "最低月薪", "最高月薪", "人数", "类型", "状态", "截止"],
                             rows, "vacancies")
    pages = max(1, -(-result["total"] // result["per_page"]))
    return render_template("vacancies.html", items=result["items"], filters=filters, page=result["page"],
                           pages=pages, total=result["total"])


def _vacancy_body(form, *, creating: bool) -> dict:
    body: dict = {}
    for key in ("title", "occupation", "region_code", "open_until"):
        value = (form.get(key) or "").strip()
        if value or creating:
            body[key] = value or None
    for key in ("required_skills", "preferred_skills", "required_certificates"):
        body[key] = split_list(form.get(key))
    for key in ("wage_min", "wage_max", "headcount"):
        raw = (form.get(key) or "").strip()
        if raw:
            try:
                body[key] = int(raw)
            except ValueError:
                body[key] = raw
        elif creating:
            body[key] = None
    if creating:
        body["vacancy_type"] = form.get("vacancy_type") or "regular"
        body["employer_id"] = g.user.employer_id if g.user.role == "employer" else (form.get("employer_id") or "").strip()
    body["accommodation"] = form.get("accommodation") == "true"
    return body


@bp.route("/vacancies/new", methods=["GET", "POST"])
def new():
    errors = {}
    if request.method == "POST":
        try:
            created = services().post("intake", "/vacancies", _vacancy_body(request.form, creating=True))
        except ApiError as exc:
            if exc.status not in (400, 403, 409, 422):
                raise
            errors = field_errors(exc)
        else:
            return redirect(url_for("vacancies.show", vacancy_id=created["vacancy_id"]))
    return render_template("vacancy_form.html", errors=errors, form=request.form, vacancy=None), (422 if errors else 200)


@bp.route("/vacancies/<uuid:vacancy_id>/edit", methods=["GET", "POST"])
def edit(vacancy_id):
    vacancy_id = str(vacancy_id)
    vacancy = services().get("intake", f"/vacancies/{vacancy_id}")
    errors = {}
    form = request.form
    if request.method == "POST":
        body = _vacancy_body(form, creating=False)
        body.pop("region_code", None) if not body.get("region_code") else None
        try:
            services().patch("intake", f"/vacancies/{vacancy_id}", body)
        except ApiError as exc:
            if exc.status not in (400, 403, 409, 422):
                raise
            errors = field_errors(exc)
        else:
            return redirect(url_for("vacancies.show", vacancy_id=vacancy_id))
    else:
        form = {k: ("、".join(v) if isinstance(v, list) else ("" if v is None else v)) for k, v in vacancy.items()}
        form["accommodation"] = "true" if vacancy.get("accommodation") else ""
    return render_template("vacancy_form.html", errors=errors, form=form, vacancy=vacancy), (422 if errors else 200)


@bp.route("/vacancies/<uuid:vacancy_id>/close", methods=["POST"])
def close(vacancy_id):
    services().post("intake", f"/vacancies/{vacancy_id}/close", {"reason": "filled" if request.form.get("reason") == "filled"
                                                                 else "closed_by_employer"})
    return redirect(url_for("vacancies.show", vacancy_id=str(vacancy_id)))


@bp.route("/vacancies/<uuid:vacancy_id>")
def show(vacancy_id):
    vacancy_id = str(vacancy_id)
    api = services()
    vacancy = api.get("intake", f"/vacancies/{vacancy_id}")
    candidates, problems = [], []
    if g.user.role in ("admin", "caseworker", "employer", "coordinator"):
        try:
            ranked = api.get("matching", f"/vacancies/{vacancy_id}/matches", limit=10)["items"]
        except ServiceDown as exc:
            problems.append(exc.message)
            ranked = []
        except ApiError:
            ranked = []
        for item in ranked:
            try:
                person = api.get("intake", f"/workers/{item['worker_id']}")
            except ApiError:
                person = None  # an employer reads candidates through their match only (masked by the services)
            candidates.append({**item, "worker": person})
    return render_template("vacancy.html", vacancy=vacancy, candidates=candidates, problems=problems)
