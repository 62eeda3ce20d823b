"""Scenario 4: one, two and three replicas of matching's and of placement's consumer in one group each, over
six-partition topics; with two or three, one replica of each is SIGKILLed mid-stream and not restarted, so the
others must take its partitions. The read models of every run are identical to the single-replica run's, and
to what the inputs say.

Per-aggregate order is checked by effects: each worker gets Registered v1 then Updated v2..v5, so a worker row
with five recorded changes went through its versions one by one in order (an update applied before the
registration would have made the registration stale: four changes); each referral is Created then Withdrawn,
so an open referral, or a vacancy whose open-referral counter is not zero, means a withdrawal overtook its
creation.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from chaoskit import (
    Producer,
    System,
    dead_letters,
    placement_event,
    report,
    sizes,
    vacancy_event,
    wait_caught_up,
    wait_for,
    worker_event,
)

from shared.events import Envelope, make_event

pytestmark = pytest.mark.timeout(sizes().timeout_s)

VERSIONS = 5


def inputs(n_workers: int, seed: int) -> tuple[list[Envelope], list[Envelope], dict]:
    """Events that do not depend on time: (first, stream, expectations). `first` are the employers and the
    vacancies' first versions, applied before the stream so that counters never meet an unknown vacancy."""
    r = random.Random(seed)
    employers = [str(uuid.UUID(int=r.getrandbits(128))) for _ in range(5)]
    vacancies = {str(uuid.UUID(int=r.getrandbits(128))): r.choice(employers) for _ in range(max(10, n_workers // 10))}
    workers = [str(uuid.UUID(int=r.getrandbits(128))) for _ in range(n_workers)]
    first = [make_event("EmployerRegistered", {"employer_id": e, "region_code": "410923"}, producer="chaos")
             for e in employers]
    first += [vacancy_event(v, 1, e, r) for v, e in vacancies.items()]
    queues: list[list[Envelope]] = []
    for w in workers:
        queues.append([worker_event(w, v, r) for v in range(1, VERSIONS + 1)])
    for v, e in vacancies.items():
        queues.append([vacancy_event(v, n, e, r) for n in (2, 3)])
    placements: Counter = Counter()
    for _ in range(n_workers // 2):
        vacancy = r.choice(list(vacancies))
        placements[vacancy] += 1
        queues.append([placement_event(r.choice(workers), vacancy)])
    referrals = []
    for _ in range(n_workers // 2):
        referral = {"referral_id": str(uuid.UUID(int=r.getrandbits(128))), "worker_id": r.choice(workers),
                    "vacancy_id": r.choice(list(vacancies))}
        referrals.append(referral["referral_id"])
        queues.append([
            make_event("ReferralCreated", {**referral, "status": "referred"}, producer="chaos"),
            make_event("ReferralStatusChanged", {**referral, "from_status": "referred", "status": "withdrawn"},
                       producer="chaos"),
        ])
    stream = []
    while queues:  # interleave: any aggregate's next event, never one of its later ones first
        q = r.choice(queues)
        stream.append(q.pop(0))
        if not q:
            queues.remove(q)
    return first, stream, {"workers": workers, "vacancies": vacancies, "placements": placements,
                           "referrals": referrals}


def snapshot(system: System) -> dict:
    out = {}
    for service, names in (("matching", ("m_workers", "m_vacancies", "m_referrals")),
                           ("placement", ("workers", "vacancies", "employers"))):
        for name in names:
            table = system.table(service, name)
            columns = [c for c in table.c if c.name != "updated_at"]
            out[f"{service}.{name}"] = sorted(map(tuple, system.rows(service, sa.select(*columns))), key=str)
        out[f"{service}.inbox"] = sorted(system.inbox_ids(service))
    changes = system.table("matching", "m_changes")
    out["matching.changes_per_entity"] = sorted(system.rows("matching", sa.select(
        changes.c.kind, changes.c.entity_id, sa.func.count()).group_by(changes.c.kind, changes.c.entity_id)))
    return out


def run(make_system, replicas: int, first, stream, expect) -> tuple[dict, dict]:
    size = sizes()
    started = time.monotonic()
    system: System = make_system(f"s4r{replicas}")
    try:
        system.start_broker()
        system.create_topics()
        system.migrate("matching", "placement")
        procs = {s: [system.start_consumer(s, name=f"{s}-consumer-{i}") for i in range(replicas)]
                 for s in ("matching", "placement")}
        producer = Producer(system.bootstrap)
        for event in first:
            producer.send(event)
        producer.flush()
        vacancies_table = system.table("matching", "m_vacancies")
        wait_for(lambda: system.scalar("matching", sa.select(sa.func.count()).select_from(vacancies_table))
                 == len(expect["vacancies"]), timeout=size.settle_s, what="vacancies known",
                 on_timeout=lambda: system.log_tail("matching"))
        # The stream, paced so that the kill lands in its middle; one replica of each dies at half-way.
        flow_s = 8.0 if size.name == "ci" else 60.0
        t0 = time.monotonic()
        killed = 0
        for i, event in enumerate(stream):
            producer.send(event)
            if i % 50 == 0:
                time.sleep(max(0.0, t0 + i / len(stream) * flow_s - time.monotonic()))
            if replicas > 1 and not killed and i >= len(stream) // 2:
                producer.flush()
                for service in procs:
                    system.kill(procs[service].pop(0))
                    killed += 1
        producer.flush()
        producer.close()
        produced = time.monotonic()
        for_matching = {e.event_id for e in first + stream if e.topic != "jobbridge.employers"}
        for_placement = {e.event_id for e in first + stream if e.topic in ("jobbridge.workers", "jobbridge.employers",
                                                                         "jobbridge.vacancies")}
        wait_for(lambda: system.inbox_count("matching") >= len(for_matching)
                 and system.inbox_count("placement") >= len(for_placement), timeout=size.settle_s,
                 what=f"every event applied with {replicas} replicas",
                 on_timeout=lambda: f"{system.inbox_count('matching')}/{len(for_matching)} "
                 f"{system.inbox_count('placement')}/{len(for_placement)}\n" + system.log_tail("matching-consumer", chars=3000))
        took = time.monotonic() - produced
        wait_caught_up(system, "matching", "placement", timeout=size.settle_s)
        snap = snapshot(system)
        facts = {"took_s": took, "killed": killed, "elapsed_s": time.monotonic() - started,
                 "dlq": len(dead_letters(system, "matching")) + len(dead_letters(system, "placement")),
                 "redelivered": int(system.metric("matching", "jobbridge_events_duplicate_total")
                                    + system.metric("placement", "jobbridge_events_duplicate_total")),
                 "lost": len(for_matching - set(snap["matching.inbox"])) + len(for_placement - set(snap["placement.inbox"])),
                 "extra": len(set(snap["matching.inbox"]) - for_matching) + len(set(snap["placement.inbox"]) - for_placement)}
        return snap, facts
    finally:
        system.stop()
        assert not system.alive_pids()


def check_against_inputs(snap: dict, expect: dict) -> list[str]:
    problems = []
    workers = {row[0]: row for row in snap["matching.m_workers"]}
    changes = {(kind, entity): n for kind, entity, n in snap["matching.changes_per_entity"]}
    for w in expect["workers"]:
        if workers.get(w) is None or workers[w][1] != VERSIONS:
            problems.append(f"worker {w} at version {workers.get(w) and workers[w][1]}")
        elif changes.get(("worker", w)) != VERSIONS:
            problems.append(f"worker {w}: {changes.get(('worker', w))} changes, its versions out of order")
    columns = ("vacancy_id", "version", "employer_id", "vacancy_type", "status", "profile")
    for row in snap["matching.m_vacancies"]:
        vacancy = dict(zip(columns, row, strict=False))
        if vacancy["version"] != 3:
            problems.append(f"vacancy {vacancy['vacancy_id']} at version {vacancy['version']}")
        if vacancy["profile"].get("filled") != expect["placements"][vacancy["vacancy_id"]]:
            problems.append(f"vacancy {vacancy['vacancy_id']} filled {vacancy['profile'].get('filled')}, "
                            f"{expect['placements'][vacancy['vacancy_id']]} placements sent")
        if vacancy["profile"].get("open_referrals") != 0:
            problems.append(f"vacancy {vacancy['vacancy_id']} has {vacancy['profile'].get('open_referrals')} open referrals")
    still_open = [row[0] for row in snap["matching.m_referrals"] if row[3]]
    if still_open or len(snap["matching.m_referrals"]) != len(expect["referrals"]):
        problems.append(f"{len(still_open)} referrals open after their withdrawal")
    return problems


def test_replicas_share_the_partitions_and_reach_the_single_replica_result(make_system):
    size = sizes()
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
    print(f"[chaos] s4: inputs seed {seed} (CHAOS_SEED={seed} repeats them)", flush=True)
    first, stream, expect = inputs(size.scaleout_workers, seed)
    # The three runs are independent systems (own broker, databases, processes); side by side, their waits
    # (pacing, session timeouts) overlap instead of adding up.
    results: dict = {}
    errors: list[BaseException] = []

    def run_one(replicas: int) -> None:
        try:
            results[replicas] = run(make_system, replicas, first, stream, expect)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run_one, args=(k,), name=f"s4-{k}") for k in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=size.timeout_s)
    if errors:
        raise errors[0]
    assert sorted(results) == [1, 2, 3], "a run did not finish"
    baseline = results[1][0]
    for replicas, (snap, facts) in sorted(results.items()):
        differs = [k for k in baseline if snap[k] != baseline[k]]
        problems = check_against_inputs(snap, expect)
        report(f"s4 scale-out {replicas} replica{'s' if replicas > 1 else ''}", sent=len(first) + len(stream),
               applied=len(snap["matching.inbox"]) + len(snap["placement.inbox"]), duplicates=facts["extra"],
               lost=facts["lost"], dlq=facts["dlq"], killed=facts["killed"], redelivered_skipped=facts["redelivered"],
               differs_from_1=len(differs), order_or_state_problems=len(problems), recover_s=facts["took_s"],
               elapsed_s=facts["elapsed_s"])
        assert facts["lost"] == 0 and facts["extra"] == 0 and facts["dlq"] == 0, facts
        assert not problems, problems[:10]
        assert not differs, f"{replicas} replicas: {differs} differ from the single-replica run"
