"""The console: server-rendered pages for people. `create_app()` is gunicorn's entry point.

Start-up runs in named steps (configuration, database, security, languages, sessions, errors, pages), each a
small function below. The console holds no rules of its own: every page calls the services as the signed-in
user, and what a service refuses, the page shows.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, abort, g, render_template, request, send_from_directory, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect

from services.console import access, messages
from services.console.accounts import HASHER, TEST_HASHER, Accounts
from services.console.api import ApiError, ServiceDown, Services
from services.console.config import ConsoleSettings, load_console_settings
from shared.db import check_database, make_engine, make_session_factory

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
ASSETS = {  # what /assets/<name> serves, from the git-ignored folder `npm ci` fills
    "htmx.min.js": HERE / "node_modules" / "htmx.org" / "dist" / "htmx.min.js",
    "echarts.min.js": HERE / "node_modules" / "echarts" / "dist" / "echarts.min.js",
}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
LANGUAGES = ("zh_CN", "en")


def create_app(settings: ConsoleSettings | None = None) -> Flask:
    settings = settings or load_console_settings()
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    init_config(app, settings)
    init_database(app, settings)
    init_security(app)
    init_languages(app, settings)
    init_sessions(app)
    init_errors(app)
    init_pages(app)
    init_probes(app)
    return app


def init_config(app: Flask, settings: ConsoleSettings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="jobbridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookie,
        PERMANENT_SESSION_LIFETIME=settings.session_hours * 3600,
        MAX_CONTENT_LENGTH=settings.base.max_body_bytes * 5,  # an XLSX import may be a few MiB
        WTF_CSRF_TIME_LIMIT=settings.session_hours * 3600,
        WTF_CSRF_SSL_STRICT=settings.secure_cookie,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["console_settings"] = settings


def init_database(app: Flask, settings: ConsoleSettings) -> None:
    engine = make_engine(settings.base.database_url, pool_size=5)
    app.extensions["console_engine"] = engine
    app.extensions["accounts"] = Accounts(make_session_factory(engine), lockout_after=settings.lockout_after,
                                          lockout_minutes=settings.lockout_minutes,
                                          session_hours=settings.session_hours, hasher=hasher_for(settings))


def hasher_for(settings: ConsoleSettings):
    return TEST_HASHER if settings.base.environment == "test" else HASHER


def init_security(app: Flask) -> None:
    CSRFProtect(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        if g.get("request_id"):
            response.headers["X-Request-ID"] = g.request_id
        return response


def _compile_catalogs(settings: ConsoleSettings) -> str:
    """Compile the English catalog from its .po into the data folder (no binary file in the repository)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    out = Path(settings.base.data_dir).resolve() / "console-translations"
    for po in (HERE / "translations").glob("*/LC_MESSAGES/messages.po"):
        target = out / po.parent.parent.name / "LC_MESSAGES" / "messages.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(target)
    return str(out)


def init_languages(app: Flask, settings: ConsoleSettings) -> None:
    def locale() -> str:
        chosen = request.args.get("lang")
        if chosen in LANGUAGES:
            session["lang"] = chosen
        return session.get("lang") or "zh_CN"

    app.config["BABEL_DEFAULT_LOCALE"] = "zh_CN"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = _compile_catalogs(settings)
    Babel(app, locale_selector=locale)
    def page_query(page: int) -> str:
        args = request.args.to_dict()
        args["page"] = str(page)
        return urlencode(args)

    def xlsx_query() -> str:
        args = request.args.to_dict()
        args["format"] = "xlsx"
        return urlencode(args)

    app.jinja_env.globals.update(label=messages.label, enum_zh=messages.enum_zh, ENUMS=messages.ENUMS,
                                 page_query=page_query, xlsx_query=xlsx_query)


def init_sessions(app: Flask) -> None:
    @app.before_request
    def load_user():
        g.request_id = (request.headers.get("X-Request-ID") or uuid.uuid4().hex)[:64]
        g.user = None
        sid = session.get("sid")
        if sid:
            g.user = app.extensions["accounts"].session_user(sid)
            if g.user is None:
                session.pop("sid", None)
        return access.enforce(request.endpoint, g.user)

    @app.context_processor
    def who():
        return {"user": g.get("user"), "nav": access.nav_for(g.get("user")), "lang": session.get("lang", "zh_CN")}


def services() -> Services:
    """The services as the signed-in user (one token per request)."""
    from flask import current_app

    if "services" not in g:
        g.services = Services.for_user(current_app.extensions["console_settings"], g.user, request_id=g.request_id)
    return g.services


def init_errors(app: Flask) -> None:
    def page(status: int, title: str, message: str):
        return render_template("error.html", title=title, message=message, status=status), status

    @app.errorhandler(ServiceDown)
    def service_down(exc: ServiceDown):
        return page(503, "服务暂时不可用", exc.message)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        if exc.status == 404:
            return page(404, "未找到", "没有这条记录，或它不在您的权限范围内。")
        if exc.status in (401, 403):
            return page(403, "无权操作", "您的账号无权查看或执行此操作。")
        reasons = "；".join(f"{messages.label(k)}：{'、'.join(v)}" for k, v in messages.zh_fields(exc.fields).items())
        return page(exc.status if 400 <= exc.status < 500 else 400, "操作未完成",
                    reasons or messages.zh_reason(exc.message))

    @app.errorhandler(CSRFError)
    def csrf_error(_exc):
        return page(400, "表单已失效", "表单已过期或来源不明（缺少安全令牌），请刷新页面后重新提交。")

    @app.errorhandler(403)
    def forbidden(_exc):
        return page(403, "无权访问", "您的账号无权访问此页面。")

    @app.errorhandler(404)
    def not_found(_exc):
        return page(404, "未找到", "没有这个页面，或该记录不在您的权限范围内。")

    @app.errorhandler(405)
    def not_allowed(_exc):
        return page(405, "不支持的操作", "此页面不支持这种操作。")

    @app.errorhandler(413)
    def too_large(_exc):
        return page(413, "文件太大", "上传的文件超过了大小限制。")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return page(exc.code or 500, exc.name, exc.description or "")
        log.exception("unexpected error on %s", request.path)
        return page(500, "系统出错", f"系统出错，请稍后再试。请把编号 {g.get('request_id', '')} 告诉管理员。")


def init_pages(app: Flask) -> None:
    from services.console.views import admin, auth, batches, public, referrals, vacancies, workers

    for module in (auth, workers, vacancies, referrals, batches, admin, public):
        app.register_blueprint(module.bp)

    @app.route("/assets/<name>")
    def assets(name: str):
        path = ASSETS.get(name)
        if path is None or not path.exists():
            abort(404)
        return send_from_directory(path.parent, path.name, max_age=86400)


def init_probes(app: Flask) -> None:
    @app.route("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.route("/readyz")
    def readyz():
        try:
            check_database(app.extensions["console_engine"])
        except Exception:  # noqa: BLE001 - any failure means not ready
            return {"status": "unavailable", "database": "unreachable"}, 503
        return {"status": "ok", "database": "ok"}
