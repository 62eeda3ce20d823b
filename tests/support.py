"""Helpers the integration and end-to-end tests share: tokens, an HTTP client, waiting, reading topics, valid IDs.

Valid resident IDs and credit codes are computed here from the standards themselves (GB 11643-1999 and
GB 32100-2015), independently of the code under test.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections.abc import Callable
from datetime import date

import requests

from shared.auth import issue_token
from shared.config import DEV_SECRET

# GB 11643-1999: weights of the first 17 digits; the check character is "10X98765432"[sum mod 11].
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# GB 32100-2015: 31-character alphabet without I, O, Z, S, V; weights 3^i mod 31; check = 31 - sum mod 31.
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# One seed for every random choice the system tests make (names, phones, birth dates, ID order codes): printed
# in the report header and beside every failure (tests/conftest.py); JOBBRIDGE_TEST_SEED=N repeats a run.
SEED = int(os.environ.get("JOBBRIDGE_TEST_SEED") or random.SystemRandom().randrange(2**31))
_counter = itertools.count(SEED % 10_000_000)
_rng = random.Random(SEED)
# Waits are liveness bounds, not speed goals (those are in `make bench`): on a loaded machine a wait may take
# PATIENCE times what it says before it fails.
PATIENCE = float(os.environ.get("JOBBRIDGE_TEST_PATIENCE") or 3)


def id_check(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def national_id(*, region: str = "410923", born: date = date(1980, 5, 17), female: bool = False,
                want_x: bool = False) -> str:
    """A valid resident ID, unique within the test run (the order code varies), born on `born`."""
    for _ in range(10_000):
        order = next(_counter) % 1000
        if (order % 2 == 1) == female:  # odd order code: male
            order = (order + 1) % 1000
        first17 = f"{region}{born:%Y%m%d}{order:03d}"
        check = id_check(first17)
        if want_x == (check == "X"):
            return first17 + check
    raise RuntimeError("could not build an ID")


def unique_national_id(**kw) -> str:
    """A valid ID with a birth date spread out so that ids differ across many calls."""
    born = kw.pop("born", None) or date(1960 + _rng.randrange(40), 1 + _rng.randrange(12), 1 + _rng.randrange(28))
    return national_id(born=born, **kw)


def credit_check(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code(region: str = "410923") -> str:
    serial = f"{next(_counter) % 10**8:08d}"
    first17 = f"91{region}{serial}0"
    return first17 + credit_check(first17)


def mobile() -> str:
    return f"13{_rng.randrange(10**9):09d}"


def token(role: str, *, regions=(), employer_id: str | None = None, sub: str | None = None, ttl: int = 3600,
          secret: str = DEV_SECRET) -> str:
    return issue_token(secret=secret, role=role, regions=list(regions), employer_id=employer_id,
                       sub=sub or f"test-{role}", ttl_s=ttl)


class Api:
    """A tiny client for one service with one caller's token."""

    def __init__(self, base: str, bearer: str | None):
        self.base = base.rstrip("/")
        self.session = requests.Session()
        if bearer:
            self.session.headers["Authorization"] = f"Bearer {bearer}"

    def as_(self, bearer: str | None) -> Api:
        return Api(self.base, bearer)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        response = self.session.request(method, self.base + path, **kw)
        assert response.status_code < 500, f"{method} {path} answered {response.status_code}: {response.text[:500]}"
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def eventually(check: Callable[[], object], *, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    """Poll until `check` returns something truthy; return it, or fail after `timeout` x PATIENCE seconds (a
    liveness bound: how fast it happens is measured by the bench, not asserted here)."""
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


def worker_body(**overrides) -> dict:
    body = {
        "national_id": unique_national_id(),
        "name": "李建国",
        "phone": mobile(),
        "region_code": "410923",
        "skills": ["电焊"],
        "certificates": [],
        "education": "junior_middle",
        "experience_years": 5,
        "desired_occupations": ["电焊工"],
        "desired_wage_min": 3000,
        "willing_to_relocate": False,
        "target_regions": [],
        "hardship": ["laid_off"],
        "consent": {"data_processing": True},
    }
    body.update(overrides)
    return body


def vacancy_body(employer_id: str, **overrides) -> dict:
    body = {
        "employer_id": employer_id,
        "title": "电焊工",
        "occupation": "焊工",
        "required_skills": ["电焊"],
        "preferred_skills": [],
        "required_certificates": [],
        "region_code": "410923",
        "wage_min": 3500,
        "wage_max": 6000,
        "headcount": 3,
        "vacancy_type": "regular",
        "accommodation": False,
        "open_until": date(date.today().year + 1, 6, 30).isoformat(),
    }
    body.update(overrides)
    return body


def employer_body(**overrides) -> dict:
    body = {"name": "濮阳市鑫达机械有限公司", "credit_code": credit_code(), "region_code": "410923",
            "contact_phone": mobile()}
    body.update(overrides)
    return body


def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 5.0) -> list:
    """Every message of a topic from offset 0 (no consumer group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             fetch_max_wait_ms=10, consumer_timeout_ms=int(timeout_s * 1000))
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        messages = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=200).values():
                messages.extend(records)
        return messages
    finally:
        consumer.close()


def envelope(message) -> dict:
    return json.loads(message.value)


def base_env(bootstrap: str) -> dict[str, str]:
    """The environment of a service process under test: this broker, test mode, generous limits."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update({
        "JOBBRIDGE_ENV": "test",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "JOBBRIDGE_LOG_LEVEL": "INFO",
        "JOBBRIDGE_RETRAIN_AFTER_OUTCOMES": "50",
        "JOBBRIDGE_RATE_LIMIT_WRITES": "100000/minute",
        "JOBBRIDGE_RATE_LIMIT_IMPORTS": "1000/minute",
    })
    return env
