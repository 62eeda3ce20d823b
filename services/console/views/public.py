"""/r/<code>: the referral letter's one-time answer page, for an employer without an account.

The link expires, works once and every use is audited. The console calls placement with a token for that
referral's employer only (never an admin token), so the service checks the answer as it checks any employer's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Blueprint, current_app, render_template, request

from services.console.api import ApiError, ServiceDown, Services
from services.console.views.common import accounts, settings
from services.console.views.referrals import apply_answer

bp = Blueprint("public", __name__)


def _employer_api(link: dict) -> Services:
    return Services(settings(), role="employer", sub=f"answer-link:{link['code'][:4]}", employer_id=link["employer_id"],
                    request_id=None)


@bp.route("/r/<code>", methods=["GET", "POST"])
def answer(code: str):
    link = accounts().find_link(code)
    now = datetime.now(UTC)
    if link is None:
        return render_template("answer.html", state="unknown"), 404
    if link["used_at"] is not None:
        return render_template("answer.html", state="used", link=link), 410
    if link["expires_at"] <= now:
        return render_template("answer.html", state="expired", link=link), 410
    api = _employer_api(link)
    try:
        referral = api.get("placement", f"/referrals/{link['referral_id']}")
        vacancy = api.get("intake", f"/vacancies/{referral['vacancy_id']}")
    except ServiceDown as exc:
        return render_template("answer.html", state="down", message=exc.message), 503
    except ApiError:
        return render_template("answer.html", state="unknown"), 404
    if referral["status"] not in ("referred", "interviewing"):
        return render_template("answer.html", state="answered", referral=referral), 410
    if request.method == "POST":
        action = request.form.get("action")
        if action not in ("hire", "reject"):
            return render_template("answer.html", state="open", referral=referral, vacancy=vacancy,
                                   error="请选择录用或不录用", today=date.today().isoformat()), 422
        if not accounts().use_link(link["code"], answer=action, remote_addr=request.remote_addr):
            return render_template("answer.html", state="used", link=link), 410
        try:
            apply_answer(api, link["referral_id"], action, request.form)
        except (ApiError, ServiceDown) as exc:
            accounts().release_link(link["code"])
            message = exc.message if isinstance(exc, ServiceDown) else "答复未能保存，请检查到岗日期和月薪后重试。"
            current_app.logger.info("answer link refused: %s", exc)
            return render_template("answer.html", state="open", referral=referral, vacancy=vacancy, error=message,
                                   today=date.today().isoformat()), 422
        return render_template("answer.html", state="thanks", action=action, vacancy=vacancy)
    return render_template("answer.html", state="open", referral=referral, vacancy=vacancy, error=None,
                           today=date.today().isoformat())
