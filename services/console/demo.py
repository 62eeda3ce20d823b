"""Demo accounts for `make run` / `make up`: one per role, printed so that a new user can sign in at once.

Development only: the passwords are printed and the same every time; an account that exists is left alone.
"""

from __future__ import annotations

from services.console.accounts import AccountError, Accounts

DEMO_PASSWORD = "demo-2026-jobbridge"  # noqa: S105 - printed on purpose; refused in production by cmd_up
DEMO_REGION = "4109"


def demo_accounts(employer_id: str | None) -> list[dict]:
    accounts = [
        {"username": "caseworker", "role": "caseworker", "regions": [DEMO_REGION], "display_name": "濮阳经办人"},
        {"username": "coordinator", "role": "coordinator", "regions": [], "display_name": "劳务输出协调员"},
        {"username": "manager", "role": "manager", "regions": [DEMO_REGION], "display_name": "就业局领导"},
        {"username": "admin", "role": "admin", "regions": [], "display_name": "系统管理员"},
    ]
    if employer_id:
        accounts.insert(1, {"username": "employer", "role": "employer", "regions": [], "employer_id": employer_id,
                            "display_name": "用人单位"})
    return accounts


def ensure_demo_accounts(accounts: Accounts, employer_id: str | None) -> list[dict]:
    made = []
    for spec in demo_accounts(employer_id):
        if accounts.get(spec["username"]) is None:
            try:
                accounts.add(password=DEMO_PASSWORD, actor="cli", **spec)
            except AccountError:
                continue
        made.append({**spec, "password": DEMO_PASSWORD})
    return made
