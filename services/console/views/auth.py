"""Signing in and out, and each role's 工作台 (the home page)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from services.console.accounts import LoginRefused
from services.console.api import ServiceDown
from services.console.views.common import accounts, addr, services

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never an absolute URL or a scheme-relative one (an open redirect).
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("auth.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        try:
            user = accounts().authenticate(username, password, remote_addr=addr())
        except LoginRefused as exc:
            error = str(exc)
        else:
            old = session.get("sid")
            lang = session.get("lang")
            # A new session on sign-in: whatever id or token the browser held before is dropped (fixation).
            session.clear()
            if old:
                accounts().close_session(old, user=None, remote_addr=addr())
            session["sid"] = accounts().open_session(user, remote_addr=addr())
            if lang:
                session["lang"] = lang
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST", "GET"])
def logout():
    sid = session.get("sid")
    if sid:
        accounts().close_session(sid, user=g.get("user"), remote_addr=addr())
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/")
def home():
    role = g.user.role
    if role == "caseworker" or role == "admin":
        return _caseworker_home()
    if role == "employer":
        return redirect(url_for("referrals.index"))
    if role == "coordinator":
        return redirect(url_for("batches.index"))
    return redirect(url_for("admin.dashboard"))


def _caseworker_home():
    """今日待回访, 超期未答复的推荐, 新登记未推荐, 长期未就业 (30+ days)."""
    api = services()
    panels = {}
    problems = []

    def attempt(name, fn):
        try:
            panels[name] = fn()
        except ServiceDown as exc:
            problems.append(exc.message)
            panels[name] = None

    today = date.today()
    attempt("due", lambda: api.get("placement", "/followups/due", before=today.isoformat(), per_page=20))
    attempt("stale", lambda: api.get("placement", "/referrals", stale="true", per_page=20))
    attempt("recent", lambda: api.get("intake", "/workers", status="active", per_page=100))
    attempt("referred", lambda: api.get("placement", "/referrals", per_page=200))
    new_unreferred, long_unemployed = [], []
    if panels.get("recent") is not None:
        referred = {r["worker_id"] for r in (panels.get("referred") or {}).get("items", [])}
        cutoff = (today - timedelta(days=30)).isoformat()
        for w in panels["recent"]["items"]:
            registered = (w.get("registered_at") or "")[:10]
            if registered and registered <= cutoff:
                long_unemployed.append(w)
            elif w["worker_id"] not in referred:
                new_unreferred.append(w)
    return render_template("home.html", due=panels.get("due"), stale=panels.get("stale"),
                           new_unreferred=new_unreferred[:20], long_unemployed=long_unemployed[:20], problems=problems)


def flash_ok(message: str) -> None:
    flash(message, "ok")
