"""Caseworker pages: the job seekers list, registration and editing, bulk import, and the worker's page
(profile, ranked vacancies with why and how to rank higher, one-click referral, one timeline of history)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from services.console import messages
from services.console.api import ApiError, ServiceDown
from services.console.views.common import field_errors, page_args, services, split_list, xlsx_response

bp = Blueprint("workers", __name__)

LIST_FIELDS = ("skills", "certificates", "desired_occupations", "target_regions")
FILTERS = ("region", "skill", "is_4050", "status", "hardship")


def _filters() -> dict:
    return {k: request.args.get(k, "").strip() for k in FILTERS}


@bp.route("/workers")
def index():
    filters = _filters()
    paging = page_args()
    query = {k: v for k, v in filters.items() if v and k != "hardship"}
    download = request.args.get("format") == "xlsx"
    if download:
        paging = {"page": paging["page"], "per_page": 200}
    result = services().get("intake", "/workers", **query, **paging)
    items = result["items"]
    if filters["hardship"]:  # 零就业, 残疾, 低保: narrowed on the page the service returned
        items = [w for w in items if filters["hardship"] in (w.get("hardship") or [])]
    if download:
        header = ["编号", "姓名", "身份证号", "手机号", "年龄", "4050", "区划", "技能", "困难类别", "状态", "登记时间"]
        rows = [[w["worker_id"], w.get("name"), w.get("national_id"), w.get("phone"), w.get("age") or w.get("age_band"),
                 "是" if w.get("is_4050") else "否", w.get("region_code"), w.get("skills"),
                 [messages.enum_zh("hardship", h) for h in w.get("hardship") or []],
                 messages.enum_zh("worker_status", w.get("status")), (w.get("registered_at") or "")[:10]]
                for w in items]
        return xlsx_response("求职者", header, rows, "workers")
    pages = max(1, -(-result["total"] // result["per_page"]))
    return render_template("workers.html", items=items, filters=filters, page=result["page"], pages=pages,
                           total=result["total"])


def _worker_body(form, *, creating: bool) -> dict:
    body: dict = {}
    for key in ("national_id", "name", "phone", "region_code", "education"):
        value = (form.get(key) or "").strip()
        if value or (creating and key != "education"):
            body[key] = value or None
    if not creating:
        body.pop("national_id", None)
    for key in LIST_FIELDS:
        if key in form or creating:
            body[key] = split_list(form.get(key))
    for key, cast in (("experience_years", float), ("desired_wage_min", int)):
        raw = (form.get(key) or "").strip()
        if raw:
            try:
                body[key] = cast(raw)
            except ValueError:
                body[key] = raw  # the service names the field and the reason
    body["willing_to_relocate"] = form.get("willing_to_relocate") == "true"
    body["hardship"] = form.getlist("hardship")
    if creating:
        body["consent"] = {"data_processing": form.get("consent.data_processing") == "true"}
    return body


@bp.route("/workers/new", methods=["GET", "POST"])
def new():
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            created = services().post("intake", "/workers", _worker_body(form, creating=True))
        except ApiError as exc:
            if exc.status == 409 and exc.body.get("worker_id"):
                errors = {"national_id": [f"该身份证号已登记过（编号 {exc.body['worker_id']}）"]}
            elif exc.status in (400, 403, 409, 422):
                errors = field_errors(exc)
            else:
                raise
        else:
            return redirect(url_for("workers.show", worker_id=created["worker_id"], registered=1))
    return render_template("worker_form.html", errors=errors, form=form, worker=None), (422 if errors else 200)


@bp.route("/workers/<uuid:worker_id>/edit", methods=["GET", "POST"])
def edit(worker_id):
    worker_id = str(worker_id)
    worker = services().get("intake", f"/workers/{worker_id}")
    errors = {}
    if request.method == "POST":
        try:
            services().patch("intake", f"/workers/{worker_id}", _worker_body(request.form, creating=False))
        except ApiError as exc:
            if exc.status in (400, 403, 409, 422):
                errors = field_errors(exc)
            else:
                raise
        else:
            return redirect(url_for("workers.show", worker_id=worker_id))
        form = request.form
    else:
        form = {k: ("、".join(v) if isinstance(v, list) else ("" if v is None else v)) for k, v in worker.items()}
        form["willing_to_relocate"] = "true" if worker.get("willing_to_relocate") else ""
    return render_template("worker_form.html", errors=errors, form=form, worker=worker,
                           hardship=worker.get("hardship") or []), (422 if errors else 200)


@bp.route("/workers/import", methods=["GET", "POST"])
def import_():
    """Check the file first (nothing kept) and show every row's verdict; keep the good rows on confirm."""
    report = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return render_template("import.html", report=None, error="请选择 CSV 或 XLSX 文件"), 422
        data = upload.read()
        from services.console.views.importcheck import check_rows

        if request.form.get("confirm") != "1":
            report = check_rows(upload.filename, data)
            return render_template("import.html", report=report, error=None, filename=upload.filename)
        result = services().call("intake", "POST", "/workers/import",
                                 files={"file": (upload.filename, data)},
                                 data={"consent": "true" if request.form.get("consent") == "true" else "false"})
        return render_template("import.html", report=None, result=result, error=None)
    return render_template("import.html", report=report, error=None)


@bp.route("/workers/<uuid:worker_id>")
def show(worker_id):
    worker_id = str(worker_id)
    api = services()
    worker = api.get("intake", f"/workers/{worker_id}")
    matches, problems = None, []
    vacancies: dict[str, dict] = {}
    if g.user.role in ("admin", "caseworker", "coordinator"):
        try:
            matches = api.get("matching", f"/workers/{worker_id}/matches", limit=10)
        except ServiceDown as exc:
            problems.append(exc.message)
        except ApiError:
            matches = None
    timeline = []
    try:
        referrals = api.get("placement", "/referrals", worker_id=worker_id, per_page=100)["items"]
        placements = api.get("placement", "/placements", worker_id=worker_id, per_page=100)["items"] \
            if g.user.role in ("admin", "caseworker", "manager") else []
    except ServiceDown as exc:
        problems.append(exc.message)
        referrals, placements = [], []
    except ApiError:
        referrals, placements = [], []
    open_vacancies = {r["vacancy_id"] for r in referrals if r["status"] in ("referred", "interviewing")}
    wanted = {m["vacancy_id"] for m in (matches or {}).get("items", [])} | {r["vacancy_id"] for r in referrals}
    for vacancy_id in list(wanted)[:30]:
        try:
            vacancies[vacancy_id] = api.get("intake", f"/vacancies/{vacancy_id}")
        except (ApiError, ServiceDown):
            continue
    for r in referrals:
        timeline.append({"at": r["created_at"], "kind": "推荐", "text": f"推荐到「{_title(vacancies, r['vacancy_id'])}」",
                         "link": url_for("referrals.show", referral_id=r["referral_id"]),
                         "status": messages.enum_zh("referral_status", r["status"])})
        if r.get("responded_at") and r["status"] != "referred":
            timeline.append({"at": r["responded_at"], "kind": "答复",
                             "text": f"「{_title(vacancies, r['vacancy_id'])}」：{messages.enum_zh('referral_status', r['status'])}",
                             "link": None, "status": ""})
    for p in placements:
        timeline.append({"at": p["created_at"], "kind": "安置",
                         "text": f"{messages.enum_zh('placement_type', p['placement_type'])}，{p['start_date']} 到岗"
                                 + (f"，月薪 {p['monthly_wage']} 元" if p.get("monthly_wage") else ""),
                         "link": None, "status": p["status"]})
        for f in p.get("followups") or []:
            timeline.append({"at": f["recorded_at"], "kind": "回访",
                             "text": f"第 {f['month']} 个月回访：{'在岗' if f['employed'] else '已离岗'}"
                                     + (f"，月薪 {f['monthly_wage']} 元" if f.get("monthly_wage") else ""),
                             "link": None, "status": ""})
    timeline.sort(key=lambda e: e["at"] or "", reverse=True)
    items = []
    for m in (matches or {}).get("items", []):
        v = vacancies.get(m["vacancy_id"]) or {}
        items.append({**m, "vacancy": v, "sentences": explain(m, v, worker),
                      "open_referral": m["vacancy_id"] in open_vacancies})
    return render_template("worker.html", worker=worker, matches=items, timeline=timeline, problems=problems,
                           model_version=(matches or {}).get("model_version"), placements=placements)


def _title(vacancies, vacancy_id):
    return (vacancies.get(vacancy_id) or {}).get("title") or vacancy_id[:8]


FEATURE_ZH = {  # the matcher's explanation keys (services/matching/domain/features.py) in plain words
    "required_skill_coverage": "具备岗位要求的技能", "skill_similarity": "技能相近", "occupation_similarity": "工种对口",
    "certificates": "持有所需证书", "region_proximity": "离家近", "wage_fit": "工资符合期望", "experience": "有相关工作经验",
    "policy_boost": "就业困难人员优先", "crowding_penalty": "这个岗位已推荐的人较多",
}


def explain(match: dict, vacancy: dict, worker: dict) -> list[str]:
    """The ranking's reasons in plain sentences: what helped most, what held it back, and what would raise it."""
    out = []
    if match.get("matched_skills"):
        out.append(f"会{('、'.join(match['matched_skills']))}，正是这个岗位要的。")
    if match.get("missing_skills"):
        out.append(f"还缺{('、'.join(match['missing_skills']))}，所以没有排得更靠前。")
    contributions = sorted(((k, v) for k, v in (match.get("explanation") or {}).items() if k in FEATURE_ZH),
                           key=lambda kv: kv[1], reverse=True)
    ups = [FEATURE_ZH.get(k, k) for k, v in contributions if v > 0.01][:2]
    downs = [FEATURE_ZH.get(k, k) for k, v in contributions if v < -0.01][:2]
    if ups:
        out.append(f"排名主要因为{'、'.join(ups)}。")
    if downs:
        out.append(f"拉低排名的是{'、'.join(downs)}。")
    if vacancy.get("wage_min") and worker.get("desired_wage_min"):
        if vacancy["wage_max"] and vacancy["wage_max"] < worker["desired_wage_min"]:
            out.append(f"岗位最高月薪 {vacancy['wage_max']} 元，低于本人期望的 {worker['desired_wage_min']} 元。")
    return out


@bp.route("/workers/<uuid:worker_id>/refer", methods=["POST"])
def refer(worker_id):
    """One-click referral; an open referral or the vacancy's cap is shown as a warning, not an error page."""
    worker_id = str(worker_id)
    vacancy_id = request.form.get("vacancy_id", "")
    note = (request.form.get("note") or "").strip() or None
    try:
        created = services().post("placement", "/referrals", {"worker_id": worker_id, "vacancy_id": vacancy_id,
                                                              "note": note})
    except ApiError as exc:
        if exc.status == 409 and exc.code == "referral_cap_reached":
            warning = "这个岗位未结束的推荐已达上限，请先等用人单位答复或推荐其他岗位。"
        elif exc.status == 409:
            warning = "该求职者对这个岗位已有未结束的推荐，无需重复推荐。"
        elif exc.status == 422:
            warning = "无法推荐：" + "；".join(sum(field_errors(exc).values(), [])) if exc.fields else \
                "无法推荐：" + messages.zh_reason(exc.message)
        else:
            raise
        page = "refer_fragment.html" if request.headers.get("HX-Request") else "refer_result.html"
        # htmx swaps only 2xx answers in: the warning is a normal answer for the fragment.
        status = 200 if request.headers.get("HX-Request") else (409 if exc.status == 409 else 422)
        return render_template(page, warning=warning, referral=None, worker_id=worker_id), status
    if request.headers.get("HX-Request"):
        return render_template("refer_fragment.html", warning=None, referral=created, worker_id=worker_id)
    return redirect(url_for("referrals.show", referral_id=created["referral_id"], created=1))
