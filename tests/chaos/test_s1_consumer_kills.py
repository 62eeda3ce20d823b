"""Scenario 1: while worker, vacancy and placement events flow, matching's and placement's consumers are
SIGKILLed at random moments (and once exactly between the database commit and the offset commit) and
restarted. Afterwards every event is applied exactly once: the inboxes hold exactly the events sent, the read
models equal what the inputs say, and the one counter that only the inbox protects (a vacancy's `filled`,
bumped by each PlacementRecorded) equals the number of placements sent.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from chaoskit import (
    Deadline,
    Producer,
    Supervised,
    System,
    dead_letters,
    placement_event,
    report,
    rng,
    sizes,
    vacancy_event,
    wait_caught_up,
    wait_for,
    worker_event,
)

from shared.bus.consumer import FAULT_KILL_AFTER_DB_COMMIT
from shared.events import make_event

pytestmark = pytest.mark.timeout(sizes().timeout_s)


def test_every_event_is_applied_exactly_once_while_consumers_are_killed(make_system):
    size = sizes()
    r = rng("s1")
    started = time.monotonic()
    system: System = make_system("s1")
    try:
        system.start_broker()
        system.create_topics()
        system.migrate("matching", "placement")

        # --- the inputs ------------------------------------------------------------------------------------
        total = size.consumer_events
        n_vacancies = max(20, total // 25)
        employers = [str(uuid.uuid4()) for _ in range(max(3, n_vacancies // 10))]
        vacancy_owner = {str(uuid.uuid4()): r.choice(employers) for _ in range(n_vacancies)}
        vacancy_ids = list(vacancy_owner)
        first = [make_event("EmployerRegistered", {"employer_id": e, "region_code": "410923"}, producer="chaos")
                 for e in employers]
        first += [vacancy_event(v, 1, vacancy_owner[v], r) for v in vacancy_ids]
        rest_count = total - len(first)
        n_workers = max(10, rest_count * 7 // 10 // 3)
        worker_ids = [str(uuid.uuid4()) for _ in range(n_workers)]
        worker_picks = [("w", r.choice(worker_ids)) for _ in range(rest_count * 7 // 10)]
        vacancy_picks = [("v", r.choice(vacancy_ids)) for _ in range(rest_count // 10)]
        n_placements = rest_count - len(worker_picks) - len(vacancy_picks)
        stream = worker_picks + vacancy_picks + [("p", "")] * n_placements
        r.shuffle(stream)
        # Versions are numbered in stream order, so each aggregate's versions go out in increasing order.
        worker_seen: Counter = Counter()
        vacancy_seen: Counter = Counter({v: 1 for v in vacancy_ids})
        rest = []
        last_worker: dict[str, object] = {}
        last_vacancy: dict[str, object] = {v: e for v, e in zip(vacancy_ids, first[len(employers):], strict=True)}
        placements_per_vacancy: Counter = Counter()
        for kind, aggregate_id in stream:
            if kind == "w":
                worker_seen[aggregate_id] += 1
                event = worker_event(aggregate_id, worker_seen[aggregate_id], r)
                last_worker[aggregate_id] = event
            elif kind == "v":
                vacancy_seen[aggregate_id] += 1
                event = vacancy_event(aggregate_id, vacancy_seen[aggregate_id], vacancy_owner[aggregate_id], r)
                last_vacancy[aggregate_id] = event
            else:
                vacancy = r.choice(vacancy_ids)
                event = placement_event(r.choice(worker_ids), vacancy)
                placements_per_vacancy[vacancy] += 1
            rest.append(event)
        every = first + rest
        assert len(every) == total
        for_matching = {e.event_id for e in every if e.topic != "jobbridge.employers"}
        for_placement = {e.event_id for e in every if e.topic != "jobbridge.placements"}

        # --- the consumers; the first of each dies after its first batch's database commit, before the offset commit
        roles = {name: Supervised(lambda name=name: system.start_consumer(name)) for name in ("matching", "placement")}
        for name, role in roles.items():
            role.proc = system.start_consumer(name, env={FAULT_KILL_AFTER_DB_COMMIT: "1"})

        kill_plan = sorted((r.uniform(1.0, size.consumer_flow_s), name)
                           for name in roles for _ in range(size.consumer_kills))
        last_fault = [time.monotonic()]

        def tick() -> None:
            for role in roles.values():
                before = len(role.crashes)
                role.ensure()
                if len(role.crashes) > before:
                    last_fault[0] = time.monotonic()

        def applied() -> tuple[int, int]:
            return system.inbox_count("matching"), system.inbox_count("placement")

        producer = Producer(system.bootstrap)
        for event in first:
            producer.send(event)
        producer.flush()

        def vacancies_known():
            tick()
            table = system.table("matching", "m_vacancies")
            return system.scalar("matching", sa.select(sa.func.count()).select_from(table)) == n_vacancies

        wait_for(vacancies_known, timeout=size.settle_s, what="matching knows every vacancy",
                 on_timeout=lambda: system.log_tail("matching"))
        wait_for(lambda: (tick(), all(r.crashes for r in roles.values()))[1], timeout=size.settle_s,
                 what="both consumers died in the window between the database and the offset commit")

        # --- the flow, and the kills -----------------------------------------------------------------------------
        flow_started = time.monotonic()
        done = threading.Event()
        failures: list[BaseException] = []

        def produce() -> None:
            try:
                chunk = max(1, int(len(rest) / (size.consumer_flow_s / 0.05)))
                for i in range(0, len(rest), chunk):
                    for event in rest[i:i + chunk]:
                        producer.send(event)
                    target = flow_started + (i + chunk) / len(rest) * size.consumer_flow_s
                    time.sleep(max(0.0, target - time.monotonic()))
                producer.flush()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=produce, name="s1-producer", daemon=True)
        thread.start()
        flow_deadline = Deadline(size.consumer_flow_s * 3 + 60)
        while (kill_plan or not done.is_set()) and not flow_deadline.passed():
            tick()
            now = time.monotonic() - flow_started
            while kill_plan and kill_plan[0][0] <= now:
                _, name = kill_plan.pop(0)
                role = roles[name]
                if role.proc is not None:
                    system.kill(role.proc)
                    role.kills += 1
                    role.proc = role.start()
                    last_fault[0] = time.monotonic()
            time.sleep(0.05)
        thread.join(timeout=60)
        producer.close()
        assert not failures, f"producing failed: {failures[0]!r}"
        assert done.is_set() and not kill_plan, "the flow did not finish within its deadline"
        produced_at = time.monotonic()

        def all_applied():
            tick()
            return applied() == (len(for_matching), len(for_placement))

        wait_for(all_applied, timeout=size.settle_s, what="every event applied",
                 on_timeout=lambda: f"applied {applied()} of {(len(for_matching), len(for_placement))}\n"
                 + system.log_tail("matching-consumer", "placement-consumer", chars=1500))
        recovered = time.monotonic() - max(last_fault[0], produced_at)
        wait_caught_up(system, "matching", "placement", timeout=size.settle_s)

        # --- the sets ------------------------------------------------------------------------------------------------
        matching_inbox = system.inbox_ids("matching")
        placement_inbox = system.inbox_ids("placement")
        lost = len(for_matching - matching_inbox) + len(for_placement - placement_inbox)
        extra = len(matching_inbox - for_matching) + len(placement_inbox - for_placement)
        mismatches: list[str] = []

        m_workers = system.table("matching", "m_workers")
        held = {row.worker_id: row for row in system.rows("matching", sa.select(m_workers))}
        for worker_id, event in last_worker.items():
            row = held.get(worker_id)
            p = event.payload
            if row is None or row.version != p["version"] or row.region_code != p["region_code"] \
                    or row.profile["skills"] != p["skills"]:
                mismatches.append(f"matching worker {worker_id}: {row and row.version} != {p['version']}")
        changes = system.table("matching", "m_changes")
        per_worker = Counter(dict(system.rows("matching", sa.select(changes.c.entity_id, sa.func.count())
                                              .where(changes.c.kind == "worker").group_by(changes.c.entity_id))))
        # Each version applied once and in order makes exactly one change: a stale or doubled one makes another count.
        order_breaks = sum(1 for w in last_worker if per_worker[w] != worker_seen[w])

        m_vacancies = system.table("matching", "m_vacancies")
        doubled = short = 0
        for row in system.rows("matching", sa.select(m_vacancies)):
            expected = last_vacancy[row.vacancy_id].payload
            if row.version != expected["version"]:
                mismatches.append(f"matching vacancy {row.vacancy_id}: v{row.version} != v{expected['version']}")
            filled = row.profile.get("filled", 0)
            want = placements_per_vacancy[row.vacancy_id]
            doubled += max(0, filled - want)
            short += max(0, want - filled)

        for table_name, key, last in (("workers", "worker_id", last_worker), ("vacancies", "vacancy_id", last_vacancy)):
            table = system.table("placement", table_name)
            versions = dict(system.rows("placement", sa.select(table.c[key], table.c.version)))
            wrong = [k for k, e in last.items() if versions.get(k) != e.payload["version"]]
            mismatches += [f"placement {table_name} {k}: v{versions.get(k)}" for k in wrong[:5]]
            if len(versions) != len(last):
                mismatches.append(f"placement {table_name}: {len(versions)} rows, {len(last)} expected")

        dlq = len(dead_letters(system, "matching")) + len(dead_letters(system, "placement"))
        redelivered = int(system.metric("matching", "jobbridge_events_duplicate_total")
                          + system.metric("placement", "jobbridge_events_duplicate_total"))
        crashes = {name: role.crashes for name, role in roles.items()}
        report("s1 consumer kills", sent=total, applied=len(matching_inbox | placement_inbox),
               duplicates=extra + doubled, lost=lost + short, dlq=dlq, mismatches=len(mismatches),
               order_breaks=order_breaks, kills=sum(role.kills for role in roles.values()),
               fault_exits=sum(len(c) for c in crashes.values()), redelivered_skipped=redelivered,
               recover_s=recovered, elapsed_s=time.monotonic() - started)
        assert lost == 0 and short == 0, f"lost {lost} events, {short} placements"
        assert extra == 0 and doubled == 0, f"{extra} unknown events, {doubled} placements applied twice"
        assert not mismatches, mismatches[:10]
        assert order_breaks == 0
        assert dlq == 0
        for name, exits in crashes.items():
            assert 137 in exits, f"{name}: the fault between the database commit and the offset commit never fired"
        assert redelivered > 0, "no redelivered event was seen: the commit-to-offset window was not exercised"
    finally:
        system.stop()
    assert not system.alive_pids()
