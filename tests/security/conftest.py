"""Fixtures of the security suite: the services' routes (from each app's own url_map) and the seeded world."""

from __future__ import annotations

import pytest
from secworld import (
    BEIJING,
    CROSS_REGION_AT,
    LOCAL,
    POOL,
    RELOCATING,
    SERVICES,
    Route,
    World,
    _openapi_path,
    role_tokens,
)
from support import eventually, token
from supportworld import seed_support

from shared.http import PUBLIC_ENDPOINTS


@pytest.fixture(scope="session")
def service_apps(tmp_path_factory):
    """Each service's Flask app, built in this process on a throwaway SQLite database: the source of truth for
    which routes exist and which schemas they read."""
    from shared.config import load_settings
    from shared.db import migrate

    root = tmp_path_factory.mktemp("apps")
    apps = {}
    for service in SERVICES:
        module = __import__(f"services.{service}.http", fromlist=["create_app"])
        url = f"sqlite:///{root / service}.db"
        migrate(service, url)
        settings = load_settings(service, {f"{service.upper()}_DATABASE_URL": url, "JOBBRIDGE_ENV": "test",
                                           "JOBBRIDGE_DATA_DIR": str(root), "JOBBRIDGE_LOG_LEVEL": "WARNING"})
        apps[service] = module.create_app(settings)
    return apps


@pytest.fixture(scope="session")
def routes(service_apps) -> list[Route]:
    """Every route a caller needs a token for, in every service."""
    found = []
    for service, app in service_apps.items():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append(Route(service, method, _openapi_path(rule.rule), rule.endpoint))
    return sorted(found, key=lambda r: r.key)


@pytest.fixture(scope="session")
def world(stack) -> World:
    w = World(stack=stack, tokens={"admin": token("admin", sub="sec-admin")})
    ids = w.ids
    ids["e1"] = w.new_employer(LOCAL)
    ids["e2"] = w.new_employer(BEIJING)
    w.tokens = role_tokens(ids["e1"], ids["e2"])
    ids["w_local"] = w.new_worker(LOCAL)
    ids["w_reloc"] = w.new_worker(RELOCATING, willing_to_relocate=True, target_regions=[CROSS_REGION_AT])
    ids["w_bj"] = w.new_worker(BEIJING)
    ids["v1"] = w.new_vacancy(ids["e1"], LOCAL)
    ids["v1x"] = w.new_vacancy(ids["e1"], CROSS_REGION_AT, vacancy_type="cross_region", accommodation=True)
    ids["v2"] = w.new_vacancy(ids["e2"], BEIJING)

    w.pools = {
        # intake only: erased once, closed once
        "erase": {"own": [w.new_worker(LOCAL) for _ in range(POOL)],
                  "other": [w.new_worker(BEIJING) for _ in range(POOL)]},
        "close": {"own": [w.new_vacancy(ids["e1"], LOCAL) for _ in range(POOL)],
                  "other": [w.new_vacancy(ids["e2"], BEIJING) for _ in range(POOL)]},
        # workers without a referral yet, for POST /referrals (one open referral per worker and vacancy)
        "refer": {"own": [w.new_worker(LOCAL) for _ in range(POOL)],
                  "other": [w.new_worker(BEIJING) for _ in range(POOL)]},
    }
    status_workers = {"own": [w.new_worker(LOCAL) for _ in range(POOL)],
                      "other": [w.new_worker(BEIJING) for _ in range(POOL)]}

    ids["r_own"] = w.referral(ids["w_local"], ids["v1"])
    ids["r_other"] = w.referral(ids["w_bj"], ids["v2"])
    w.pools["status"] = {"own": [w.referral(x, ids["v1"]) for x in status_workers["own"]],
                         "other": [w.referral(x, ids["v2"]) for x in status_workers["other"]]}
    ids["p_own"] = w.placement(ids["w_local"])
    ids["p_other"] = w.placement(ids["w_bj"])
    w.pools["followup"] = {"own": [w.placement(ids["w_local"]) for _ in range(POOL)],
                           "other": [w.placement(ids["w_bj"]) for _ in range(POOL)]}
    # One worker per batch: a worker in a batch that has not returned cannot join another.
    ids["b_own"] = w.batch("coordinator", [w.relocating()], ids["e1"], ids["v1x"])
    ids["b_other"] = w.batch("coordinator2", [w.relocating()], ids["e2"])
    for pool in ("arrival", "return"):
        w.pools[pool] = {"own": [w.batch("coordinator", [w.relocating()], ids["e1"]) for _ in range(POOL)],
                         "other": [w.batch("coordinator2", [w.relocating()], ids["e2"]) for _ in range(POOL)]}
    # Workers for POST /export-batches (each may depart once); the "other" side is a worker unwilling to relocate.
    w.pools["departing"] = {"own": [w.relocating() for _ in range(POOL)], "other": [ids["w_local"]] * POOL}

    seed_support(w)

    matching = w.api("matching")
    for worker in ("w_local", "w_reloc", "w_bj"):
        eventually(lambda worker=worker: matching.get(f"/workers/{ids[worker]}/matches").status_code == 200,
                   timeout=30, what=f"matching ranks {worker}")
    for vacancy in ("v1", "v1x", "v2"):
        eventually(lambda vacancy=vacancy: matching.get(f"/vacancies/{ids[vacancy]}/matches").status_code == 200,
                   timeout=30, what=f"matching ranks for {vacancy}")
    return w


