"""Masking judged by inference: for every role that may not see personal data, everything it receives of a
worker (the worker itself, lists, matches, referrals, batches, reports), merged, must leave at least 10,000
candidates for the national ID, and no more of the name than its first character.

The candidate count (inference.py) is computed from the facts as they arrive, independently of the masking
code; the first test shows that it does catch the mask this replaced (first 6 + last 4 with the exact age).
"""

from __future__ import annotations

from datetime import date

import pytest
from inference import id_candidates
from secworld import LOCAL, World
from support import Api, national_id, token
from test_masking import concrete_paths, query_variants, texts_of

from shared.auth import ROLES

MIN_CANDIDATES = 10_000
FULL_ROLES = {"admin"}  # and a caseworker of the worker's region: the "caseworker elsewhere" reader is not one
MAX_WORKERS_PER_ROLE = 40
WORKER_ROUTES = ("worker", "matches", "referral", "placement", "export", "followup", "report", "checkin")
ELSEWHERE = "44"  # the regions of a caseworker who is a masked reader of the world's workers


def masked_readers(world: World) -> dict[str, str]:
    """Every role without the right to personal data (a role added to shared.auth comes in by itself)."""
    readers = {"caseworker elsewhere": token("caseworker", regions=[ELSEWHERE], sub="sec-caseworker-elsewhere")}
    for role in ROLES:
        if role in FULL_ROLES or role == "caseworker":
            continue
        readers[role] = world.tokens.get(role) or token(role, regions=["41", "11"], sub=f"sec-{role}")
    return readers


def _walk(value, found: list[dict]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("worker_id"), str):
            found.append(value)
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)


def _merge(into: dict, view: dict) -> None:
    for key, value in view.items():
        if value is None or isinstance(value, (dict, list)):
            continue
        if key == "national_id" and into.get(key) and str(into[key]).count("*") <= str(value).count("*"):
            continue
        into[key] = value


def crawl_views(world: World, routes, bearer: str) -> tuple[dict[str, dict], list[str]]:
    """Per worker id, every fact the reader received about that worker; and every raw text it received."""
    views: dict[str, dict] = {}
    texts: list[str] = []
    for route in routes:
        # Only the routes whose answers can hold facts about a worker (vacancies, employers, the model page and
        # the audit log are crawled for leaks by test_masking.py).
        if route.method != "GET" or not any(w in route.path for w in WORKER_ROUTES):
            continue
        api = Api(world.stack.url(route.service), bearer)
        for url in concrete_paths(world, route.path):
            for params in query_variants(world, route.path):
                response = api.get(url, params=params)
                texts += texts_of(response)
                if response.status_code != 200 or "json" not in response.headers.get("Content-Type", ""):
                    continue
                found: list[dict] = []
                _walk(response.json(), found)
                for view in found:
                    _merge(views.setdefault(view["worker_id"], {}), view)
    return views, texts


def test_the_count_catches_the_mask_it_replaced():
    """A plausible bug: the old mask (last four shown) with the exact age leaves a few dozen IDs."""
    today = date.today()
    born = date(today.year - 45, 3, 17)
    nid = national_id(region=LOCAL, born=born, female=False)
    old = {"national_id": nid[:6] + "*" * 8 + nid[-4:], "age": 45, "region_code": LOCAL, "is_4050": False}
    assert id_candidates(old, today=today) < 100
    new = {"national_id": nid[:6] + "*" * 12, "age_band": "40-49", "region_code": LOCAL, "is_4050": False}
    assert id_candidates(new, today=today) >= 1_000_000
    # A full reader's view leaves exactly one: the counter takes every shown character into account.
    assert id_candidates({"national_id": nid, "birth_date": born.isoformat(), "region_code": LOCAL},
                         today=today) == 1


@pytest.fixture(scope="module")
def readers(world):
    return masked_readers(world)


@pytest.mark.parametrize("reader", ["employer", "coordinator", "caseworker elsewhere",
                                    *[r for r in ROLES if r not in ("admin", "caseworker", "employer", "coordinator")]])
def test_what_a_masked_reader_receives_leaves_ten_thousand_ids(world, routes, readers, reader):
    views, texts = crawl_views(world, routes, readers[reader])
    admin = world.api("intake")
    today = date.today()
    counted = {}
    for worker_id in sorted(views)[:MAX_WORKERS_PER_ROLE]:
        truth = admin.get(f"/workers/{worker_id}")
        if truth.status_code != 200:
            continue  # erased meanwhile
        truth = truth.json()
        if reader == "caseworker elsewhere" and truth["region_code"].startswith(ELSEWHERE):
            continue  # a worker of its own region (another test's): it is a full reader of that one
        # A reader who was not told the region is assumed to know it (the vacancy's region is a good guess).
        view = {"region_code": truth["region_code"], **views[worker_id]}
        if view.get("pii_masked") is False:
            pytest.fail(f"{reader} received worker {worker_id} unmasked")
        counted[worker_id] = id_candidates(view, today=today)
        # The true ID is among the candidates (the count describes this worker, not an empty set)...
        assert id_candidates({**view, "national_id": truth["national_id"]}, today=today) == 1, view
        # ...and the name shows no more than its first character.
        if view.get("name") is not None:
            assert view["name"] == truth["name"][0] + "*", (reader, view["name"])
    if reader in ("employer", "coordinator"):
        assert counted, f"{reader} received nothing about any worker: the check would prove nothing"
    if counted:
        fewest = min(counted.values())
        print(f"{reader}: {len(counted)} workers seen, fewest ID candidates {fewest}")
        assert fewest >= MIN_CANDIDATES, (reader, fewest, views[min(counted, key=counted.get)])
    blob = "\n".join(texts)
    # A caseworker elsewhere reads its own region's workers in full (other tests register some there): a world
    # name that shares its letters with one of those names proves nothing either way.
    own_names: list[str] = []
    if reader == "caseworker elsewhere":
        own = admin.get("/workers", params={"region": ELSEWHERE, "per_page": 200}).json()["items"]
        own_names = [w["name"] for w in own if w.get("name")]
    for name in world.names:
        if any(name[:2] in other or name[1:] in other for other in own_names):
            continue
        assert name[:2] not in blob and name[1:] not in blob, (reader, "more than the surname shown")


def test_a_coordinator_receives_the_facts_the_count_is_made_of(world, routes, readers):
    """Not vacuous: the coordinator does receive the relocating worker's masked ID, age band and 4050 flag."""
    views, _ = crawl_views(world, [r for r in routes if r.service == "intake"], readers["coordinator"])
    seen = views[world.ids["w_reloc"]]
    assert seen["national_id"].endswith("*" * 12) and seen["national_id"][:6].isdigit()
    assert seen.get("age_band") and seen.get("age") is None and seen.get("birth_date") is None
    assert "is_4050" in seen and seen["region_code"] and seen["name"].endswith("*")
