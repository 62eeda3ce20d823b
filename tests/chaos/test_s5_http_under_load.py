"""Scenario 5: a bounded HTTP load on the write endpoints of intake (POST /workers, POST /vacancies) and placement
(POST /referrals, POST /placements), plus matching's read endpoint (matching has no write endpoint but retrain),
while the faults of scenarios 1 and 2 happen together: every service's consumer and the outbox relays are
SIGKILLed and restarted, and the broker is stopped and restarted empty.

No answer may be a 5xx, except a 503 with Retry-After, which the client waits out and retries; every request
gets an answer. Every acknowledged (2xx) write ends up in the owning database and in the read models that
follow it: workers and vacancies in matching and placement, referrals in matching, placements in intake
(which, in turn, updates the worker, and that update must reach matching too: versions agree everywhere).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from chaoskit import (
    Http,
    NationalIds,
    Supervised,
    System,
    dead_letters,
    report,
    rng,
    sizes,
    wait_caught_up,
    wait_for,
)
from support import employer_body, token, vacancy_body, worker_body

pytestmark = pytest.mark.timeout(sizes().timeout_s)

SERVICES = ("intake", "matching", "placement")


def test_acknowledged_writes_survive_faults_under_http_load(make_system):
    size = sizes()
    r = rng("s5")
    started = time.monotonic()
    system: System = make_system("s5")
    try:
        system.start_broker()
        system.create_topics()
        system.migrate(*SERVICES)
        for service in SERVICES:
            system.start_web(service)
        roles = {f"{s}-consumer": Supervised(lambda s=s: system.start_consumer(s)) for s in SERVICES}
        # Matching writes no events: it has no outbox to relay.
        roles.update({f"{s}-relay": Supervised(lambda s=s: system.start_relay(s)) for s in ("intake", "placement")})
        for role in roles.values():
            role.ensure()
        http = Http(token("admin"))
        intake, matching, placement = (system.url(s) for s in SERVICES)
        national_ids = NationalIds()

        # --- what referrals and placements need: workers and vacancies placement knows ----------------------
        employers = [http.call("POST", f"{intake}/employers", employer_body()).json()["employer_id"] for _ in range(3)]
        vacancies = [http.call("POST", f"{intake}/vacancies", vacancy_body(e, headcount=100)).json()["vacancy_id"]
                     for e in employers * 4]
        workers = [http.call("POST", f"{intake}/workers", worker_body(national_id=national_ids.next())).json()["worker_id"]
                   for _ in range(40)]
        p_workers, p_vacancies = system.table("placement", "workers"), system.table("placement", "vacancies")
        wait_for(lambda: system.scalar("placement", sa.select(sa.func.count()).select_from(p_workers)) == len(workers)
                 and system.scalar("placement", sa.select(sa.func.count()).select_from(p_vacancies)) == len(vacancies),
                 timeout=size.settle_s, what="placement knows the seeded workers and vacancies")

        acked: dict[str, set[str]] = {"worker": set(workers), "vacancy": set(vacancies), "referral": set(),
                                      "placement": set()}
        refused: dict[str, int] = {}
        lock = threading.Lock()
        stop = threading.Event()

        def act() -> None:
            kind = r.choices(["worker", "vacancy", "referral", "placement", "read", "bad"],
                             weights=[35, 15, 20, 15, 10, 5])[0]
            if kind == "worker":
                response = http.call("POST", f"{intake}/workers", worker_body(national_id=national_ids.next()))
                key = "worker_id"
            elif kind == "vacancy":
                response = http.call("POST", f"{intake}/vacancies", vacancy_body(r.choice(employers)))
                key = "vacancy_id"
            elif kind == "referral":
                response = http.call("POST", f"{placement}/referrals", {
                    "worker_id": r.choice(workers), "vacancy_id": r.choice(vacancies), "note": "chaos"})
                key = "referral_id"
            elif kind == "placement":
                response = http.call("POST", f"{placement}/placements", {
                    "worker_id": r.choice(workers), "placement_type": "self_employment", "start_date": "2026-03-01"})
                key = "placement_id"
            elif kind == "read":
                http.call("GET", f"{matching}/workers/{r.choice(workers)}/matches")
                return
            else:
                response = http.call("POST", f"{placement}/referrals", {"worker_id": str(uuid.uuid4()),
                                                                         "vacancy_id": r.choice(vacancies)})
                key = "-"
            if response is None:
                return
            with lock:
                if 200 <= response.status_code < 300 and key != "-":
                    acked[kind].add(response.json()[key])
                elif 400 <= response.status_code < 500:
                    refused[kind] = refused.get(kind, 0) + 1

        def load() -> None:
            while not stop.is_set():
                act()

        # --- the faults, on a schedule over the load's duration ---------------------------------------------
        plan = []
        for name in roles:
            kills = size.consumer_kills if name.endswith("consumer") else size.relay_kills
            plan += [(r.uniform(0.05, 0.95) * size.load_s, "kill", name) for _ in range(max(1, kills // 2))]
        outage_at = 0.4 * size.load_s
        plan += [(outage_at, "outage", ""), (outage_at + size.outage_s, "restart", "")]
        plan.sort()
        threads = [threading.Thread(target=load, name=f"s5-load-{i}", daemon=True) for i in range(size.load_threads)]
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        last_fault = t0
        kills = 0
        try:
            while time.monotonic() - t0 < size.load_s or plan:
                assert time.monotonic() - t0 < size.load_s * 3 + 60, "the fault schedule overran"
                for role in roles.values():
                    role.ensure()
                while plan and plan[0][0] <= time.monotonic() - t0:
                    _, action, name = plan.pop(0)
                    if action == "kill":
                        system.kill(roles[name].proc)
                        roles[name].kills += 1
                        kills += 1
                        roles[name].proc = roles[name].start()
                    elif action == "outage":
                        system.stack.stop_broker()
                    else:
                        system.restart_broker_empty()
                    last_fault = time.monotonic()
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=90)
        load_done = time.monotonic()
        assert not any(t.is_alive() for t in threads), "a load thread did not stop"

        # --- every acknowledged write, everywhere it must be --------------------------------------------------
        def ids(service: str, table: str, column: str) -> set[str]:
            t = system.table(service, table)
            return {row[0] for row in system.rows(service, sa.select(t.c[column]))}

        places = {
            "worker": [("intake", "workers", "id"), ("matching", "m_workers", "worker_id"),
                       ("placement", "workers", "worker_id")],
            "vacancy": [("intake", "vacancies", "id"), ("matching", "m_vacancies", "vacancy_id"),
                        ("placement", "vacancies", "vacancy_id")],
            "referral": [("placement", "referrals", "referral_id"), ("matching", "m_referrals", "referral_id")],
            "placement": [("placement", "placements", "placement_id"), ("intake", "placements_seen", "placement_id")],
        }

        def missing() -> dict[str, int]:
            for role in roles.values():
                role.ensure()
            return {f"{kind}@{service}.{table}": len(acked[kind] - ids(service, table, column))
                    for kind, where in places.items() for service, table, column in where
                    if acked[kind] - ids(service, table, column)}

        wait_for(lambda: not missing(), timeout=size.settle_s, what="every acknowledged write everywhere",
                 on_timeout=lambda: f"{missing()}\n" + system.log_tail("matching-consumer", "intake-relay", chars=3000))
        recovered = time.monotonic() - max(last_fault, load_done)
        for service in ("intake", "placement"):
            wait_for(lambda s=service: system.unsent(s) == 0, timeout=size.settle_s, what=f"{service} outbox drained")
        wait_caught_up(system, *SERVICES, timeout=size.settle_s)

        # Versions agree: each placement made intake update its worker, and that update reached matching.
        i_workers, m_workers = system.table("intake", "workers"), system.table("matching", "m_workers")
        intake_versions = dict(system.rows("intake", sa.select(i_workers.c.id, i_workers.c.version)))
        matching_versions = dict(system.rows("matching", sa.select(m_workers.c.worker_id, m_workers.c.version)))
        placement_versions = dict(system.rows("placement", sa.select(p_workers.c.worker_id, p_workers.c.version)))
        behind = sum(1 for w, v in intake_versions.items() if matching_versions.get(w) != v or placement_versions.get(w) != v)
        phantoms = (len(set(matching_versions) - set(intake_versions))
                    + len(ids("matching", "m_referrals", "referral_id") - ids("placement", "referrals", "referral_id"))
                    + len(ids("intake", "placements_seen", "placement_id") - ids("placement", "placements", "placement_id")))
        dlq = sum(len(dead_letters(system, s)) for s in SERVICES)
        statuses = dict(sorted(http.statuses.items()))
        report("s5 http under load", sent=sum(len(v) for v in acked.values()), requests=sum(statuses.values()),
               statuses=",".join(f"{k}:{v}" for k, v in statuses.items()), retried_503=http.retried_503,
               server_errors=http.server_errors(), no_answer=len(http.failures) - http.server_errors(),
               applied=sum(len(v) for v in acked.values()), duplicates=phantoms, lost=behind, dlq=dlq,
               kills=kills, recover_s=recovered, elapsed_s=time.monotonic() - started)
        assert not http.failures, http.failures[:5]
        assert behind == 0, f"{behind} workers' versions disagree between intake, matching and placement"
        assert phantoms == 0
        assert dlq == 0
        assert acked["referral"] and acked["placement"], "the load made no referral or no placement"
    finally:
        system.stop()
    assert not system.alive_pids()
