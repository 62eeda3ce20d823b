"""Scenario 7: a local cluster of three brokers loses one in the middle of a stream, later all of them, and
nothing is lost or applied twice.

The brokers (Tansu) share one S3-compatible store (moto on loopback) instead of replicating: every broker serves
every partition, so a broker that dies takes no data with it, and the store keeps every record while all the
brokers are down. Intake's API takes worker registrations throughout; its relay and matching's and placement's
consumers know all three addresses. One third into the stream, the broker holding the most client connections is
SIGKILLed (it stays dead until the end); at two thirds the other two are SIGKILLed as well and, after an outage,
all three are started again on their ports. Afterwards:

- lost = 0: every registration intake answered 201 is in matching's and placement's read models, and each
  consumer's inbox holds exactly the events of intake's outbox;
- applied twice = 0: matching's change log has one row per worker (a second application would add another),
  and the inbox-protected read models hold one row per worker;
- the records survived the restart of every broker: the topics keep their ids (no broker "forgot" them), so
  intake's relay did not have to replay its outbox;
- the time each fault took to heal is printed: from the kill (or the restart) until every write acknowledged
  before it, and the first one made after it, are applied by both consumers.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from chaoskit import Deadline, Http, NationalIds, Supervised, System, report, rng, sizes, wait_for
from support import token, worker_body

# The brokers keep everything in a Python S3 mock: slower than the memory broker, so more time than the others.
pytestmark = pytest.mark.timeout(sizes().timeout_s * 2)

SERVICES = ("intake", "matching", "placement")
CONSUMERS = ("matching", "placement")


def client_connections(ports: list[int]) -> dict[int, int]:
    """Established TCP connections to each broker port on this host (the services are its only clients)."""
    counts = dict.fromkeys(ports, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and local_port in counts:  # ESTABLISHED, on the broker's side
                counts[local_port] += 1
    return counts


def topic_ids(bootstrap: str) -> dict[str, str]:
    from kafka import KafkaAdminClient

    from shared.events import ALL_TOPICS

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        return {t["topic"] if "topic" in t else t["name"]: str(t["topic_id"]) for t in admin.describe_topics(list(ALL_TOPICS))}
    finally:
        admin.close()


def test_a_lost_broker_and_a_restart_of_all_lose_nothing_and_apply_nothing_twice(make_system):
    size = sizes()
    r = rng("s7")
    started = time.monotonic()
    system: System = make_system("s7")
    # Every fetch lists the partition's objects in the store: fewer partitions, fewer requests to the mock.
    system.stack.env["KAFKA_TOPIC_PARTITIONS"] = "2"
    try:
        system.start_cluster(3)
        system.create_topics()
        ports = system.stack.cluster_ports
        # A topic made through one broker is seen through each of the others: they share one store.
        for port in ports:
            seen = topic_ids(f"127.0.0.1:{port}")
            assert set(seen) >= {"jobbridge.workers", "jobbridge.placements"}, (port, seen)
        ids_at_start = topic_ids(system.bootstrap)
        system.migrate(*SERVICES)
        system.start_web("intake")
        relay = Supervised(lambda: system.start_relay("intake"))
        consumers = {s: Supervised(lambda s=s: system.start_consumer(s)) for s in CONSUMERS}
        roles = [relay, *consumers.values()]
        for role in roles:
            role.ensure()

        http = Http(token("admin"), retry_s=120)
        base = system.url("intake")
        national_ids = NationalIds()
        total = max(60, size.api_writes // 5)
        pace = size.api_duration_s / total
        acked: dict[str, float] = {}  # worker id -> when intake acknowledged it
        refused: list[str] = []
        lock = threading.Lock()
        position = iter(range(total))
        done = [0]
        t0 = time.monotonic()

        def writer() -> None:
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                time.sleep(max(0.0, t0 + i * pace - time.monotonic()))
                response = http.call("POST", f"{base}/workers", worker_body(
                    national_id=national_ids.next(), skills=[r.choice("电焊 缝纫 叉车 厨师".split())]))
                with lock:
                    if response is not None and response.status_code == 201:
                        acked[response.json()["worker_id"]] = time.monotonic()
                    else:
                        refused.append("no answer" if response is None else f"{response.status_code} {response.text[:200]}")
                    done[0] += 1

        m_workers = system.table("matching", "m_workers")
        p_workers = system.table("placement", "workers")

        def applied_everywhere(worker_ids: set[str]) -> bool:
            if not worker_ids:
                return False
            for service, table in (("matching", m_workers), ("placement", p_workers)):
                found = {row[0] for row in system.rows(service, sa.select(table.c.worker_id).where(table.c.worker_id.in_(worker_ids)))}
                if found != worker_ids:
                    return False
            return True

        def healed(moment: float) -> bool:
            """Every write acknowledged before `moment`, and the first one after it if any, applied by both."""
            with lock:
                before = {w for w, t in acked.items() if t <= moment}
                after = sorted((t, w) for w, t in acked.items() if t > moment)
                writing = any(t.is_alive() for t in threads)
            if writing and not after:
                return False  # the stream goes on: wait for a write made after the fault
            return applied_everywhere(before | ({after[0][1]} if after else set()))

        threads = [threading.Thread(target=writer, name=f"s7-writer-{i}", daemon=True) for i in range(2)]
        for thread in threads:
            thread.start()
        deadline = Deadline(size.api_duration_s * 4 + size.settle_s * 2)
        phase = "before"
        victim = -1
        victim_connections = 0
        killed_at = restarted_at = 0.0
        recover_one_s = recover_all_s = -1.0
        while phase != "done":
            assert not deadline.passed(), (f"scenario 7 stuck in phase {phase} at {done[0]}/{total}, applied: "
                                           f"{ {s: len(system.inbox_ids(s)) for s in CONSUMERS} }")
            for role in roles:
                role.ensure()  # a process that died is started again, as its supervisor would
            progress = done[0] / total
            now = time.monotonic()
            if phase == "before" and progress >= 0.3:
                connections = client_connections(ports)
                victim = max(range(len(ports)), key=lambda i: connections[ports[i]])
                victim_connections = connections[ports[victim]]
                system.kill_cluster_broker(victim)
                killed_at = time.monotonic()
                phase = "one-down"
            elif phase == "one-down" and recover_one_s < 0 and healed(killed_at):
                recover_one_s = now - killed_at
            elif phase == "one-down" and progress >= 0.7 and recover_one_s >= 0:
                for index in range(len(ports)):
                    system.kill_cluster_broker(index)
                time.sleep(size.outage_s)
                for index in range(len(ports)):
                    system.start_cluster_broker(index)
                restarted_at = time.monotonic()
                phase = "restarted"
            elif phase == "restarted" and recover_all_s < 0 and healed(restarted_at):
                recover_all_s = now - restarted_at
            elif phase == "restarted" and recover_all_s >= 0 and not any(t.is_alive() for t in threads):
                phase = "done"
            time.sleep(0.2)

        expected = set(acked)
        wait_for(lambda: applied_everywhere(expected), timeout=size.settle_s, what="every acknowledged worker applied",
                 interval=1.0, on_timeout=lambda: system.log_tail("matching-consumer", "placement-consumer", "intake-relay"))

        # --- lost: nothing --------------------------------------------------------------------------------------
        outbox = system.table("intake", "outbox")
        written = {row[0] for row in system.rows("intake", sa.select(outbox.c.event_id))}
        assert system.unsent("intake") == 0
        inboxes = {s: system.inbox_ids(s) for s in CONSUMERS}
        lost = {s: len(written - ids) for s, ids in inboxes.items()}
        assert lost == {"matching": 0, "placement": 0}
        assert all(ids == written for ids in inboxes.values())
        # --- applied twice: nothing ------------------------------------------------------------------------------
        changes = system.table("matching", "m_changes")
        change_rows = system.scalar("matching", sa.select(sa.func.count()).select_from(changes).where(
            changes.c.kind == "worker"))
        applied_twice = change_rows - len(expected)
        assert applied_twice == 0, f"{change_rows} change rows for {len(expected)} workers"
        for service, table in (("matching", m_workers), ("placement", p_workers)):
            assert system.scalar(service, sa.select(sa.func.count()).select_from(table)) == len(expected)
        # --- the records outlived every broker --------------------------------------------------------------------
        assert topic_ids(system.bootstrap) == ids_at_start, "a topic was recreated: the brokers lost data"
        assert refused == [] and http.failures == []
        duplicates = sum(system.metric(s, "jobbridge_events_duplicate_total") for s in CONSUMERS)
        report("s7", writes=total, acked=len(expected), lost=sum(lost.values()), applied_twice=applied_twice,
               redelivered_and_skipped=int(duplicates), broker_killed=victim, its_connections=victim_connections,
               recover_one_broker_s=recover_one_s, outage_s=size.outage_s, recover_all_restarted_s=recover_all_s,
               elapsed_s=time.monotonic() - started)
    except Exception:
        print(system.log_tail("matching-consumer", "placement-consumer", "intake-relay", "broker", chars=12000))
        raise
