"""The console's page time beside its floor: the same API calls the page makes, made directly.

20 signed-in caseworkers (one session each) open worker pages and the 工作台 on the demo county, concurrently;
the floor is the same calls a page makes (services.console.views: one token, then intake / matching /
placement in the page's order), made by 20 threads with the same concurrency, without the console. Goal:
page p95 ≤ 1.5 × floor p95 + 50 ms (issue 14).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import requests

from bench.stats import summary as _summary

USERS = 20
PASSWORD = "bench-console-pass"  # noqa: S105 - a throwaway account in the bench's own data folder


def summary(samples_ms: Sequence[float]) -> dict:
    """bench.stats.summary with the p95 this figure is defined on."""
    out = _summary(samples_ms)
    if samples_ms:
        out["p95"] = round(float(np.percentile(np.asarray(samples_ms, dtype=np.float64), 95)), 3)
    return out


def _sign_in(url: str, username: str) -> requests.Session:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(f"{url}/login", timeout=30).text).group(1)
    r = s.post(f"{url}/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
               allow_redirects=False, timeout=30)
    if r.status_code != 302:
        raise RuntimeError(f"bench sign-in of {username} answered {r.status_code}")
    return s


FAILURES: dict[str, int] = {}


def _concurrently(jobs: Sequence[Callable[[], None]], threads: int, *, name: str = "") -> list[float]:
    """Run the jobs on `threads` threads; the milliseconds of each that succeeded (failures are counted)."""
    times: list[float] = []
    lock = threading.Lock()
    queue = list(jobs)

    def run():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            t0 = time.perf_counter()
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed page is counted, never timed, and the run goes on
                with lock:
                    FAILURES[name] = FAILURES.get(name, 0) + 1
                continue
            ms = (time.perf_counter() - t0) * 1000.0
            with lock:
                times.append(ms)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return times


def worker_page_calls(api, worker_id: str) -> None:
    """What /workers/<id> asks of the services (services/console/views/workers.show)."""
    api.get("intake", f"/workers/{worker_id}")
    matches = api.get("matching", f"/workers/{worker_id}/matches", limit=10)
    referrals = api.get("placement", "/referrals", worker_id=worker_id, per_page=100)["items"]
    api.get("placement", "/placements", worker_id=worker_id, per_page=100)
    for vacancy_id in ({m["vacancy_id"] for m in matches["items"]} | {r["vacancy_id"] for r in referrals}):
        api.get("intake", f"/vacancies/{vacancy_id}")


def home_page_calls(api) -> None:
    """What the caseworker's 工作台 asks of the services (services/console/views/auth._caseworker_home)."""
    from datetime import date

    api.get("placement", "/followups/due", before=date.today().isoformat(), per_page=20)
    api.get("placement", "/referrals", stale="true", per_page=20)
    api.get("intake", "/workers", status="active", per_page=100)
    api.get("placement", "/referrals", per_page=200)


def measure(*, console_url: str, settings, accounts, worker_ids: Sequence[str], rounds: int) -> dict:
    """Sign in USERS caseworkers, then time pages and floors; returns the figures and their summaries."""
    from services.console.api import Services

    users = []
    for i in range(USERS):
        name = f"bench-cw-{i:02d}"
        if accounts.get(name) is None:
            accounts.add(username=name, password=PASSWORD, role="caseworker", regions=["4109"])
        users.append(_sign_in(console_url, name))

    def page(session: requests.Session, path: str) -> Callable[[], None]:
        def go():
            r = session.get(console_url + path, timeout=60)
            if r.status_code != 200:
                raise RuntimeError(f"GET {path} answered {r.status_code}")
        return go

    def floor_worker(worker_id: str) -> Callable[[], None]:
        return lambda: worker_page_calls(Services(settings, role="caseworker", sub="bench", regions=["4109"]), worker_id)

    def floor_home() -> None:
        home_page_calls(Services(settings, role="caseworker", sub="bench", regions=["4109"]))

    ids = list(worker_ids)
    n = rounds * USERS
    # Warm-up: every connection pool and cache, once.
    _concurrently([page(users[i % USERS], f"/workers/{ids[i % len(ids)]}") for i in range(USERS)], USERS)
    FAILURES.clear()
    worker_pages = _concurrently([page(users[i % USERS], f"/workers/{ids[i % len(ids)]}") for i in range(n)], USERS,
                                 name="worker_page")
    worker_floor = _concurrently([floor_worker(ids[i % len(ids)]) for i in range(n)], USERS, name="worker_floor")
    home_pages = _concurrently([page(users[i % USERS], "/") for i in range(n)], USERS, name="home_page")
    home_floor = _concurrently([floor_home for _ in range(n)], USERS, name="home_floor")
    sw, swf, sh, shf = summary(worker_pages), summary(worker_floor), summary(home_pages), summary(home_floor)
    return {
        "figures": {"console_page_p95_ms": max(sw["p95"], sh["p95"]),
                    "console_floor_p95_ms": max(swf["p95"], shf["p95"]),
                    "console_worker_page_p95_ms": sw["p95"], "console_worker_floor_p95_ms": swf["p95"],
                    "console_home_page_p95_ms": sh["p95"], "console_home_floor_p95_ms": shf["p95"]},
        "details": {"users": USERS, "requests_per_page": n, "failed": dict(FAILURES), "worker_page_ms": sw, "worker_floor_ms": swf,
                    "home_page_ms": sh, "home_floor_ms": shf},
    }
