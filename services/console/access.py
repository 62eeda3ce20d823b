"""Which role may open which console page: one table, enforced before every request.

An endpoint missing from the table is refused for everyone (as in the services' policy tables), so a new page
cannot be forgotten open. Whether the *object* on a page is in the user's reach is the services' decision:
the console calls them as the user, and shows their 403/404.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.exceptions import Forbidden

ALL = frozenset({"admin", "caseworker", "coordinator", "employer", "manager"})
PUBLIC = frozenset({"auth.login", "auth.logout", "public.answer", "static", "assets", "healthz", "readyz"})

PAGES: dict[str, frozenset[str]] = {
    "auth.home": ALL,
    "workers.index": frozenset({"admin", "caseworker", "coordinator", "manager"}),
    "workers.new": frozenset({"admin", "caseworker"}),
    "workers.import_": frozenset({"admin", "caseworker"}),
    "workers.show": frozenset({"admin", "caseworker", "coordinator", "manager"}),
    "workers.edit": frozenset({"admin", "caseworker"}),
    "workers.refer": frozenset({"admin", "caseworker"}),
    "vacancies.index": ALL,
    "vacancies.new": frozenset({"admin", "caseworker", "employer"}),
    "vacancies.show": ALL,
    "vacancies.edit": frozenset({"admin", "caseworker", "employer"}),
    "vacancies.close": frozenset({"admin", "caseworker", "employer"}),
    "referrals.index": frozenset({"admin", "caseworker", "employer", "manager"}),
    "referrals.show": frozenset({"admin", "caseworker", "employer", "manager"}),
    "referrals.status": frozenset({"admin", "caseworker", "employer"}),
    "referrals.batch": frozenset({"admin", "caseworker", "employer"}),
    "referrals.letter": frozenset({"admin", "caseworker"}),
    "referrals.followups": frozenset({"admin", "caseworker"}),
    "referrals.record_followup": frozenset({"admin", "caseworker"}),
    "batches.index": frozenset({"admin", "coordinator", "manager"}),
    "batches.new": frozenset({"admin", "coordinator"}),
    "batches.show": frozenset({"admin", "coordinator", "manager"}),
    "batches.act": frozenset({"admin", "coordinator"}),
    "batches.ledger": frozenset({"admin", "coordinator", "manager"}),
    "admin.dashboard": frozenset({"admin", "caseworker", "manager"}),
    "admin.users": frozenset({"admin"}),
    "admin.audit": frozenset({"admin", "manager"}),
    "admin.model": frozenset({"admin", "manager"}),
    "admin.retrain": frozenset({"admin"}),
}

NAV = [  # (endpoint, label): shown to the roles that may open the page
    ("auth.home", "工作台"),
    ("workers.index", "求职者"),
    ("workers.new", "求职登记"),
    ("vacancies.index", "岗位"),
    ("referrals.index", "推荐"),
    ("referrals.followups", "回访"),
    ("batches.index", "劳务输出"),
    ("admin.dashboard", "统计"),
    ("admin.audit", "审计日志"),
    ("admin.model", "匹配模型"),
    ("admin.users", "用户管理"),
]


def allowed(endpoint: str | None, role: str) -> bool:
    return role in PAGES.get(endpoint or "", frozenset())


def enforce(endpoint: str | None, user):
    """None to go on; a redirect to sign in; or a 403."""
    if endpoint in PUBLIC or endpoint is None:
        return None
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    if not allowed(endpoint, user.role):
        raise Forbidden()
    return None


def nav_for(user) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [(e, label) for e, label in NAV if allowed(e, user.role)]
