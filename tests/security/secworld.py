"""What the security suite shares: every route of the three services, and a small world seeded into the running
`stack` with objects inside and outside each role's reach (the fixtures are in conftest.py).

The world: a caseworker of 濮阳市 (regions ["4109"]), a coordinator (and a second one), an employer (E1, in
濮阳) and another employer (E2, in Beijing). Workers: one in 南乐县 who stays, one in 濮阳县 willing to relocate,
one in Beijing. Vacancies: E1's regular and cross-region ones, E2's regular one.
Referrals, placements and export batches on both sides, and pools of fresh objects for the cells that change
or consume them (a referral moves on once, a batch arrives once, a worker is erased once).
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from support import (
    SEED,
    Api,
    employer_body,
    eventually,
    mobile,
    token,
    unique_national_id,
    vacancy_body,
    worker_body,
)

SERVICES = ("intake", "matching", "placement", "support")
ROLES = ("admin", "caseworker", "coordinator", "employer", "manager")
CELLS = ("own", "other", "missing")
CASEWORKER_REGIONS = ("4109",)
LOCAL = "410923"        # 南乐县, 濮阳市: inside the caseworker's regions
RELOCATING = "410928"   # 濮阳县, 濮阳市: the worker willing to relocate lives here
BEIJING = "110101"      # 东城区: another province
CROSS_REGION_AT = "440305"  # 南山区, 深圳市: where E1's cross-region jobs are
POOL = len(ROLES)      # fresh objects per side for the cells that consume one (one per role)

# Rare characters, so that a registered name cannot turn up in a body by coincidence (a vacancy title, a skill).
_NAME_CHARS = "甄璇翊琰珩琛瑾璟霁翎昳晞暄煜熠烨骞彧奕逸筠箐棠樾"
_rng = random.Random(SEED ^ 0x5EC)  # seeded with the run's seed (tests/support.py), printed on failure


def unique_name() -> str:
    return "".join(_rng.choice(_NAME_CHARS) for _ in range(3))


# --- routes ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str       # OpenAPI style: /workers/{worker_id}
    endpoint: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.method, self.path)


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


# --- the world ---------------------------------------------------------------------------------------------

@dataclass
class World:
    stack: object
    tokens: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    pools: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Every personal value registered in this world: the masking, audit and erasure checks look for them.
    names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    national_ids: set[str] = field(default_factory=set)
    # Employers' unified social credit codes: public, and 18 characters like a resident ID.
    credit_codes: set[str] = field(default_factory=set)
    _days: itertools.count = field(default_factory=lambda: itertools.count(1))
    # The worker each batch made here sends (a worker in a batch that has not returned cannot join another).
    members: dict[str, str] = field(default_factory=dict)
    _placed: itertools.count = field(default_factory=lambda: itertools.count(0))

    def api(self, service: str, role: str = "admin") -> Api:
        return Api(self.stack.url(service), self.tokens[role])

    def pop(self, pool: str, side: str) -> str:
        return self.pools[pool][side].pop()

    def next_day(self) -> date:
        """A different day for each check-in (one per worker and day), between the departure and today."""
        return date.today() - timedelta(days=next(self._days) % 25)

    # --- intake objects ----------------------------------------------------------------------------------

    def new_worker_body(self, region: str, **over) -> dict:
        name, phone = unique_name(), mobile()
        nid = unique_national_id(region=region)
        self.names.add(name)
        self.phones.add(phone)
        self.national_ids.add(nid)
        return worker_body(national_id=nid, name=name, phone=phone, region_code=region, **over)

    def new_worker(self, region: str, **over) -> str:
        response = self.api("intake").post("/workers", json=self.new_worker_body(region, **over))
        assert response.status_code == 201, response.text
        return response.json()["worker_id"]

    def new_employer(self, region: str) -> str:
        body = employer_body(region_code=region)
        self.phones.add(body["contact_phone"])
        self.credit_codes.add(body["credit_code"])
        response = self.api("intake").post("/employers", json=body)
        assert response.status_code == 201, response.text
        return response.json()["employer_id"]

    def new_vacancy(self, employer_id: str, region: str, **over) -> str:
        response = self.api("intake").post("/vacancies", json=vacancy_body(employer_id, region_code=region,
                                                                          headcount=10, **over))
        assert response.status_code == 201, response.text
        return response.json()["vacancy_id"]

    # --- placement objects (placement hears of workers and vacancies through events: wait for them) -------

    def referral(self, worker_id: str, vacancy_id: str) -> str:
        api = self.api("placement")

        def refer():
            r = api.post("/referrals", json={"worker_id": worker_id, "vacancy_id": vacancy_id})
            return r.json()["referral_id"] if r.status_code == 201 else None

        return eventually(refer, timeout=30, what=f"placement knows worker {worker_id} and vacancy {vacancy_id}")

    def relocating(self) -> str:
        """A new worker willing to relocate, for one export batch."""
        return self.new_worker(RELOCATING, willing_to_relocate=True, target_regions=[CROSS_REGION_AT])

    def placement(self, worker_id: str) -> str:
        api = self.api("placement")
        # A different start each time: a second active placement starting the same day is a duplicate (409).
        start = (date.today() - timedelta(days=45 + next(self._placed))).isoformat()

        def place():
            r = api.post("/placements", json={"worker_id": worker_id, "placement_type": "self_employment",
                                              "start_date": start})
            return r.json()["placement_id"] if r.status_code == 201 else None

        return eventually(place, timeout=30, what=f"placement knows worker {worker_id}")

    def batch(self, role: str, worker_ids: list[str], employer_id: str, vacancy_id: str | None = None) -> str:
        api = self.api("placement", role)
        body = {"destination_region": CROSS_REGION_AT, "employer_id": employer_id, "vacancy_id": vacancy_id,
                "worker_ids": worker_ids, "departure_date": (date.today() - timedelta(days=30)).isoformat()}

        def send():
            r = api.post("/export-batches", json=body)
            return r.json()["batch_id"] if r.status_code == 201 else None

        batch_id = eventually(send, timeout=30, what="placement knows the batch's workers, employer and vacancy")
        self.members[batch_id] = worker_ids[0]
        return batch_id


def role_tokens(e1: str, e2: str) -> dict[str, str]:
    return {
        "admin": token("admin", sub="sec-admin"),
        "caseworker": token("caseworker", regions=CASEWORKER_REGIONS, sub="sec-caseworker"),
        "coordinator": token("coordinator", sub="sec-coordinator"),
        "coordinator2": token("coordinator", sub="sec-coordinator-2"),
        "employer": token("employer", employer_id=e1, sub="sec-employer"),
        "employer2": token("employer", employer_id=e2, sub="sec-employer-2"),
        "manager": token("manager", regions=CASEWORKER_REGIONS, sub="sec-manager"),
    }


def missing_id() -> str:
    return str(uuid.uuid4())


def log_files(stack) -> list[Path]:
    return sorted(Path(stack.log_dir).glob("*.log"))
