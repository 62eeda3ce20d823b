"""The console on top of the test stack, its accounts (one per role), a few objects each role can or cannot
reach, and small helpers to sign in over HTTP and in a browser. Used by the console's e2e and security tests."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import requests
from support import Api, employer_body, eventually, token, unique_national_id, vacancy_body, worker_body

PASSWORD = "console-test-pass-1"
LOCAL = "410923"
BEIJING = "110101"
CROSS_REGION_AT = "440304"
CHROMIUM = os.environ.get("JOBBRIDGE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("JOBBRIDGE_SCREENSHOTS_DIR", "test-results/screenshots"))


@dataclass
class ConsoleWorld:
    url: str
    stack: object
    accounts: object
    ids: dict[str, str] = field(default_factory=dict)
    phones: set[str] = field(default_factory=set)
    national_ids: set[str] = field(default_factory=set)

    def api(self, service: str, role: str = "admin") -> Api:
        tokens = {
            "admin": token("admin", sub="console-test-admin"),
            "caseworker": token("caseworker", regions=["4109"], sub="console-test-caseworker"),
            "coordinator": token("coordinator", sub="console-test-coordinator"),
            "manager": token("manager", regions=["4109"], sub="console-test-manager"),
        }
        return Api(self.stack.url(service), tokens[role])

    def new_worker(self, region: str = LOCAL, **over) -> str:
        body = worker_body(national_id=unique_national_id(region=region), region_code=region, **over)
        self.phones.add(body["phone"])
        self.national_ids.add(body["national_id"])
        r = self.api("intake").post("/workers", json=body)
        assert r.status_code == 201, r.text
        return r.json()["worker_id"]

    def new_employer(self, region: str = LOCAL) -> str:
        r = self.api("intake").post("/employers", json=employer_body(region_code=region))
        assert r.status_code == 201, r.text
        return r.json()["employer_id"]

    def new_vacancy(self, employer_id: str, region: str = LOCAL, **over) -> str:
        r = self.api("intake").post("/vacancies", json=vacancy_body(employer_id, region_code=region, **over))
        assert r.status_code == 201, r.text
        return r.json()["vacancy_id"]

    def referral(self, worker_id: str, vacancy_id: str) -> str:
        api = self.api("placement")

        def refer():
            r = api.post("/referrals", json={"worker_id": worker_id, "vacancy_id": vacancy_id})
            return r.json()["referral_id"] if r.status_code == 201 else None

        return eventually(refer, timeout=30, what="placement knows the worker and the vacancy")

    def batch(self, worker_ids: list[str], employer_id: str) -> str:
        api = self.api("placement", "coordinator")
        body = {"destination_region": CROSS_REGION_AT, "employer_id": employer_id, "worker_ids": worker_ids,
                "departure_date": (date.today() - timedelta(days=5)).isoformat()}

        def send():
            r = api.post("/export-batches", json=body)
            return r.json()["batch_id"] if r.status_code == 201 else None

        return eventually(send, timeout=30, what="placement knows the batch's workers and employer")

    def session(self, username: str, password: str = PASSWORD) -> requests.Session:
        """A signed-in HTTP session (the sign-in form, with its CSRF token)."""
        s = requests.Session()
        r = s.post(f"{self.url}/login", data={"username": username, "password": password,
                                              "csrf_token": csrf_token(s.get(f"{self.url}/login").text)},
                   allow_redirects=False)
        assert r.status_code == 302, f"sign-in of {username} answered {r.status_code}: {r.text[:300]}"
        return s


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def start_console(stack, databases) -> ConsoleWorld:
    from services.console.accounts import TEST_HASHER, Accounts
    from shared.db import make_engine, make_session_factory

    if "console" not in stack.ports:
        stack.env["CONSOLE_DATABASE_URL"] = databases.url("console")
        stack.env["CONSOLE_LOCKOUT_AFTER"] = "5"
        stack.start_console()
    accounts = Accounts(make_session_factory(make_engine(stack.env["CONSOLE_DATABASE_URL"])), hasher=TEST_HASHER)
    world = ConsoleWorld(url=stack.url("console"), stack=stack, accounts=accounts)
    ids = world.ids
    ids["e1"] = world.new_employer()
    ids["e2"] = world.new_employer()
    for username, role, regions, employer in (("c-admin", "admin", [], None), ("c-case", "caseworker", ["4109"], None),
                                              ("c-coord", "coordinator", [], None), ("c-emp", "employer", [], ids["e1"]),
                                              ("c-manager", "manager", ["4109"], None)):
        if accounts.get(username) is None:
            accounts.add(username=username, password=PASSWORD, role=role, regions=regions, employer_id=employer)
    ids["v1"] = world.new_vacancy(ids["e1"], title="数控车床操作工", required_skills=["数控车床"],
                                  required_certificates=["数控车工证"], occupation="车工")
    ids["v2"] = world.new_vacancy(ids["e2"], title="仓库管理员", required_skills=["仓储"], occupation="仓管")
    ids["w_local"] = world.new_worker(LOCAL, skills=["仓储", "数控车床"], willing_to_relocate=True,
                                      target_regions=[CROSS_REGION_AT])
    ids["w_bj"] = world.new_worker(BEIJING, skills=["仓储"])
    ids["r_own"] = world.referral(ids["w_local"], ids["v1"])
    ids["r_other"] = world.referral(ids["w_bj"], ids["v2"])
    ids["b_own"] = world.batch([ids["w_local"]], ids["e1"])
    return world
