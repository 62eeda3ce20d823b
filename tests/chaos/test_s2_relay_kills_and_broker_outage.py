"""Scenario 2: writes through intake's API while its outbox relay is SIGKILLed again and again, and the broker is
stopped for a while and restarted empty on the same port (the local broker keeps nothing: a broker that lost
all its data). Every write that answered 2xx reaches matching's and placement's read models; no request that
was refused appears there; writes during the outage still answer 201.

To prove that the outboxes refill a broker that forgot, matching's consumer is killed just before the outage:
what the relay sent to the old broker in that gap was never consumed, and only the replay of the retained
outbox rows can bring it. Last, `jobbridge replay` sends everything again and the read models do not change.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from chaoskit import (
    CONSUMED,
    Deadline,
    Http,
    NationalIds,
    Supervised,
    System,
    dead_letters,
    event_ids_on,
    report,
    rng,
    sizes,
    wait_caught_up,
    wait_for,
)
from support import employer_body, token, vacancy_body, worker_body

pytestmark = pytest.mark.timeout(sizes().timeout_s)

SERVICES = ("intake", "matching", "placement")


def snapshot(system: System) -> dict:
    """Everything the consumers keep, without the timestamps of when they kept it."""
    out = {}
    for service, names in (("matching", ("m_workers", "m_vacancies", "m_referrals")),
                           ("placement", ("workers", "vacancies", "employers"))):
        for name in names:
            table = system.table(service, name)
            columns = [c for c in table.c if c.name != "updated_at"]
            out[f"{service}.{name}"] = sorted(map(tuple, system.rows(service, sa.select(*columns))), key=str)
        out[f"{service}.inbox"] = system.inbox_count(service)
    changes = system.table("matching", "m_changes")
    out["matching.m_changes"] = system.scalar("matching", sa.select(sa.func.count()).select_from(changes))
    return out


def test_every_committed_write_arrives_despite_relay_kills_and_a_broker_that_lost_its_data(make_system):
    size = sizes()
    r = rng("s2")
    started = time.monotonic()
    system: System = make_system("s2")
    try:
        system.start_broker()
        system.create_topics()
        system.migrate(*SERVICES)
        system.start_web("intake")
        relay = Supervised(lambda: system.start_relay("intake"))
        consumers = {s: Supervised(lambda s=s: system.start_consumer(s)) for s in SERVICES}
        roles = [relay, *consumers.values()]
        for role in roles:
            role.ensure()
        http = Http(token("admin"))
        base = system.url("intake")
        national_ids = NationalIds()

        employers = []
        for _ in range(max(3, size.api_writes // 50)):
            response = http.call("POST", f"{base}/employers", employer_body())
            assert response is not None and response.status_code == 201, response and response.text
            employers.append(response.json()["employer_id"])

        # --- the plan: mostly good writes, some refused on purpose ---------------------------------------
        kinds = r.choices(["worker", "vacancy", "patch", "bad_id", "dup_id", "bad_vacancy"],
                          weights=[62, 20, 8, 4, 3, 3], k=size.api_writes - len(employers))
        acked: dict[str, set[str]] = {"worker": set(), "vacancy": set()}
        national_of: dict[str, str] = {}
        patched: Counter = Counter()
        refused: Counter = Counter()
        wrong: list[str] = []
        during_outage: Counter = Counter()
        lock = threading.Lock()
        outage = threading.Event()
        position = iter(range(len(kinds)))
        done_count = [0]
        t0 = time.monotonic()
        pace = size.api_duration_s / len(kinds)

        def write(kind: str) -> None:
            if kind == "worker":
                nid = national_ids.next()
                response = http.call("POST", f"{base}/workers", worker_body(national_id=nid, skills=[r.choice("电焊 缝纫 叉车 厨师".split())]))
                if response is not None and response.status_code == 201:
                    worker_id = response.json()["worker_id"]
                    with lock:
                        acked["worker"].add(worker_id)
                        national_of[worker_id] = nid
            elif kind == "vacancy":
                response = http.call("POST", f"{base}/vacancies", vacancy_body(r.choice(employers)))
                if response is not None and response.status_code == 201:
                    with lock:
                        acked["vacancy"].add(response.json()["vacancy_id"])
            elif kind == "patch":
                with lock:
                    known = list(acked["worker"])
                if not known:
                    return write("worker")
                worker_id = r.choice(known)
                response = http.call("PATCH", f"{base}/workers/{worker_id}", {"skills": ["电焊", r.choice("叉车 电工 保洁".split())]})
                if response is not None and response.status_code == 200:
                    with lock:
                        patched[worker_id] += 1
            else:
                if kind == "bad_id":
                    nid = national_ids.next()
                    body = worker_body(national_id=nid[:-1] + ("0" if nid[-1] != "0" else "1"))
                    response = http.call("POST", f"{base}/workers", body)
                elif kind == "dup_id":
                    with lock:
                        taken = list(national_of.values())
                    body = worker_body(national_id=r.choice(taken) if taken else "410923197203010000")
                    response = http.call("POST", f"{base}/workers", body)
                else:
                    response = http.call("POST", f"{base}/vacancies", vacancy_body(r.choice(employers), wage_min=9000, wage_max=100))
                if response is not None:
                    with lock:
                        if 400 <= response.status_code < 500:
                            refused[response.status_code] += 1
                        else:
                            wrong.append(f"{kind} answered {response.status_code}: {response.text[:200]}")
            if outage.is_set() and response is not None:
                with lock:
                    during_outage[response.status_code] += 1

        def writer() -> None:
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                time.sleep(max(0.0, t0 + i * pace - time.monotonic()))
                write(kinds[i])
                with lock:
                    done_count[0] += 1

        # --- the faults, placed by progress so that they land mid-stream whatever the machine's speed -----------
        kill_points = sorted(r.choice([r.uniform(0.03, 0.22), r.uniform(0.6, 0.95)]) for _ in range(size.relay_kills))
        outbox = system.table("intake", "outbox")

        def sent_ids() -> set[str]:
            return {row[0] for row in system.rows("intake", sa.select(outbox.c.event_id).where(outbox.c.sent_at.is_not(None)))}

        def tick() -> None:
            for role in roles:
                role.ensure()

        threads = [threading.Thread(target=writer, name=f"s2-writer-{i}", daemon=True) for i in range(4)]
        for thread in threads:
            thread.start()
        progress = lambda: done_count[0] / len(kinds)  # noqa: E731
        deadline = Deadline(size.api_duration_s * 4 + size.settle_s)
        phase = "before"
        gap_before: set[str] = set()
        matching_before: set[str] = set()
        outage_started = outage_ended = 0.0
        sent_when_matching_died = 0
        while any(t.is_alive() for t in threads) or phase != "after":
            assert not deadline.passed(), f"scenario 2 stuck in phase {phase} at {progress():.0%}"
            tick()
            if kill_points and progress() >= kill_points[0] and phase in ("before", "after") and relay.proc:
                kill_points.pop(0)
                system.kill(relay.proc)
                relay.kills += 1
                relay.proc = None
                relay.paused = True
                threading.Timer(r.uniform(0.0, 1.5), lambda: setattr(relay, "paused", False)).start()
            if phase == "before" and progress() >= 0.3:
                relay.paused = False
                relay.ensure()
                system.kill(consumers["matching"].proc)
                consumers["matching"].proc = None
                consumers["matching"].paused = True
                sent_when_matching_died = len(sent_ids())
                phase = "gap"
            elif phase == "gap" and len(sent_ids()) >= sent_when_matching_died + 5:
                gap_before = sent_ids()
                matching_before = system.inbox_ids("matching")
                outage.set()
                system.stack.stop_broker()
                outage_started = time.monotonic()
                phase = "outage"
            elif phase == "outage" and time.monotonic() - outage_started >= size.outage_s:
                system.restart_broker_empty()
                outage.clear()
                outage_ended = time.monotonic()
                consumers["matching"].paused = False
                phase = "after"
            time.sleep(0.05)
        for thread in threads:
            thread.join(timeout=60)
        writes_done = time.monotonic()
        relay.paused = False
        tick()

        # --- everything acknowledged arrives, nothing refused does ----------------------------------------------
        m_workers, m_vacancies = system.table("matching", "m_workers"), system.table("matching", "m_vacancies")
        p_workers, p_vacancies = system.table("placement", "workers"), system.table("placement", "vacancies")
        p_employers = system.table("placement", "employers")

        def ids(service, table, column) -> set[str]:
            return {row[0] for row in system.rows(service, sa.select(table.c[column]))}

        def arrived():
            tick()
            return (ids("matching", m_workers, "worker_id") >= acked["worker"]
                    and ids("matching", m_vacancies, "vacancy_id") >= acked["vacancy"]
                    and ids("placement", p_workers, "worker_id") >= acked["worker"]
                    and ids("placement", p_vacancies, "vacancy_id") >= acked["vacancy"]
                    and ids("placement", p_employers, "employer_id") >= set(employers))

        wait_for(arrived, timeout=size.settle_s, what="every acknowledged write in the read models",
                 on_timeout=lambda: system.log_tail("intake-relay", "matching-consumer", chars=2000))
        recovered = time.monotonic() - max(outage_ended, writes_done)
        wait_for(lambda: (tick(), system.unsent("intake") == 0)[1], timeout=size.settle_s, what="intake's outbox drained")
        wait_caught_up(system, "matching", "placement", timeout=size.settle_s)

        intake_versions = dict(system.rows("intake", sa.select(system.table("intake", "workers").c.id,
                                                               system.table("intake", "workers").c.version)))
        matching_versions = dict(system.rows("matching", sa.select(m_workers.c.worker_id, m_workers.c.version)))
        placement_versions = dict(system.rows("placement", sa.select(p_workers.c.worker_id, p_workers.c.version)))
        extra = (len(set(matching_versions) - acked["worker"]) + len(ids("matching", m_vacancies, "vacancy_id") - acked["vacancy"])
                 + len(set(placement_versions) - acked["worker"]))
        lost = sum(1 for w in acked["worker"] if matching_versions.get(w) != intake_versions[w])
        lost += sum(1 for w in acked["worker"] if placement_versions.get(w) != intake_versions[w])
        assert set(intake_versions) == acked["worker"], "intake holds workers that were not acknowledged, or lost some"

        # --- the refill: what the old broker had and matching never read came back from the outbox ------------
        matching_topics = set(CONSUMED["matching"])
        outbox_topic = dict(system.rows("intake", sa.select(outbox.c.event_id, outbox.c.topic)))
        missed = {e for e in gap_before - matching_before if outbox_topic[e] in matching_topics}
        matching_inbox = system.inbox_ids("matching")
        on_new_broker = set().union(*(event_ids_on(system.bootstrap, t) for t in set(outbox_topic.values())))
        refilled = len(gap_before & on_new_broker)
        epoch_back = "jobbridge.epoch.intake" in system_topics(system)

        # --- `jobbridge replay` changes nothing --------------------------------------------------------------------
        before = snapshot(system)
        skipped_before = system.metric("matching", "jobbridge_events_duplicate_total")
        out = system.cli("replay", "intake", service="intake").stdout
        replayed = int(out.split()[0])
        replayed_for_matching = sum(1 for t in outbox_topic.values() if t in matching_topics)
        wait_for(lambda: (tick(), system.unsent("intake") == 0)[1], timeout=size.settle_s, what="replay sent")
        wait_for(lambda: system.metric("matching", "jobbridge_events_duplicate_total") - skipped_before
                 >= replayed_for_matching, timeout=size.settle_s, what="matching saw the whole replay")
        wait_caught_up(system, "matching", "placement", timeout=size.settle_s)
        after = snapshot(system)
        replay_matching = int(system.cli("replay", "matching", service="matching").stdout.split()[0])
        changed = [k for k in before if before[k] != after[k]]

        dlq = sum(len(dead_letters(system, s)) for s in SERVICES)
        report("s2 relay kills + broker outage", sent=sum(len(v) for v in acked.values()) + len(employers)
               + sum(patched.values()), applied=len(acked["worker"] & set(matching_versions))
               + len(acked["vacancy"] & ids("matching", m_vacancies, "vacancy_id")), duplicates=extra, lost=lost,
               dlq=dlq, refused=sum(refused.values()), written_in_outage=during_outage[201],
               relay_kills=relay.kills, missed_by_matching=len(missed), refilled=refilled,
               replayed=replayed, replay_changed=len(changed), recover_s=recovered,
               elapsed_s=time.monotonic() - started)
        assert not wrong, wrong[:5]
        assert not http.failures, http.failures[:5]
        assert lost == 0 and extra == 0, f"lost {lost}, unexpected {extra}"
        assert during_outage and max(during_outage) < 500, during_outage
        assert during_outage[201] > 0, "no write was made while the broker was down"
        assert missed, "matching missed nothing before the outage: the refill was not exercised"
        assert missed <= matching_inbox, f"{len(missed - matching_inbox)} events the old broker had never reached matching"
        assert refilled == len(gap_before), (
            f"the new broker lacks events the outbox had sent to the old one: "
            f"{sorted((outbox_topic[e], e) for e in gap_before - on_new_broker)[:10]}\n"
            + system.log_tail("intake-relay", chars=6000))
        assert epoch_back, "the relay did not recreate its epoch topic"
        assert replayed >= len(outbox_topic) and replay_matching >= 0
        assert not changed, f"the replay changed {changed}"
        assert dlq == 0
    finally:
        system.stop()
    assert not system.alive_pids()


def system_topics(system: System) -> set[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=system.bootstrap, group_id=None)
    try:
        return set(consumer.topics())
    finally:
        consumer.close()

