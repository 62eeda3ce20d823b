"""The broker's own floors and the event pipeline: raw produce→consume latency, raw consume rate, and the
matching consumer's rate on the same topic."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.bus.kafka import make_admin, make_producer
from shared.config import KafkaSettings
from shared.events import decode, encode, make_event

PROBE_TOPIC = "jobbridge.bench.probe"


class BrokerProbe:
    """One record produced (the product's producer settings) and read back by a bare consumer
    (fetch_max_wait_ms=10): the least an event can take from one process to another through this broker."""

    def __init__(self, kafka: KafkaSettings):
        admin = make_admin(kafka, client_id="bench-admin")
        try:
            admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        self.producer = make_producer(kafka, client_id="bench-probe")
        self.consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10,
                                      client_id="bench-probe-consumer", **kafka.client_options())
        self.tp = TopicPartition(PROBE_TOPIC, 0)
        self.consumer.assign([self.tp])
        self.consumer.seek_to_end(self.tp)
        self.consumer.position(self.tp)
        self.seq = 0

    def once(self, timeout_s: float = 5.0) -> float:
        """Milliseconds from send to the consumer holding the record."""
        self.seq += 1
        value = str(self.seq).encode()
        t0 = time.perf_counter()
        self.producer.send(PROBE_TOPIC, value=value, partition=0).get(timeout=timeout_s)
        deadline = t0 + timeout_s
        while time.perf_counter() < deadline:
            for records in self.consumer.poll(timeout_ms=50).values():
                if any(r.value == value for r in records):
                    return (time.perf_counter() - t0) * 1000.0
        raise TimeoutError(f"probe record {self.seq} not consumed within {timeout_s}s")

    def close(self) -> None:
        self.producer.close(timeout=2)
        self.consumer.close()


def produce_worker_events(kafka: KafkaSettings, payloads: Iterable[dict], *,
                          progress: Callable[[int], None] | None = None) -> int:
    """WorkerRegistered events as intake's relay sends them (key, headers, the product's producer)."""
    producer = make_producer(kafka, client_id="bench-producer")
    n = 0
    try:
        for p in payloads:
            env = make_event("WorkerRegistered", p, producer="intake")
            producer.send(env.topic, key=env.aggregate_id.encode(), value=encode(env), headers=env.headers())
            n += 1
            if progress and n % 1000 == 0:
                progress(1000)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=5)
    return n


def raw_consume(kafka: KafkaSettings, topic: str, n: int, *, timeout_s: float) -> dict:
    """Read n records of a topic from the beginning with a bare consumer (no group, no decoding), with the
    product's fetch settings; the rate is taken from the first poll (partitions assigned) to the last record."""
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                             fetch_max_wait_ms=kafka.fetch_max_wait_ms, max_poll_records=kafka.max_poll_records,
                             client_id="bench-raw-consumer", **kafka.client_options())
    try:
        deadline = time.perf_counter() + timeout_s
        partitions = None
        while partitions is None and time.perf_counter() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got = 0
        t_start = time.perf_counter()
        t_last = t_start
        while got < n and time.perf_counter() < deadline:
            k = sum(len(r) for r in consumer.poll(timeout_ms=200).values())
            if k:
                got += k
                t_last = time.perf_counter()
    finally:
        consumer.close()
    if got < n or t_last == t_start:
        raise TimeoutError(f"raw consumer read {got} of {n} records in {timeout_s}s")
    return {"records": got, "seconds": round(t_last - t_start, 4), "per_s": round(got / (t_last - t_start), 1)}


def decode_rate(payloads: Iterable[dict]) -> dict:
    """Events per second that `shared.events.decode` alone turns from bytes into validated envelopes: the step
    every consumer of ours takes before it stores anything."""
    raw = [encode(make_event("WorkerRegistered", p, producer="intake")) for p in payloads]
    t0 = time.perf_counter()
    for value in raw:
        decode(value)
    seconds = time.perf_counter() - t0
    return {"events": len(raw), "seconds": round(seconds, 3), "per_s": round(len(raw) / seconds, 1)}


def inbox_count(db_path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_applied(db_path: Path, n: int, *, timeout_s: float, every_s: float = 0.02,
                 alive: Callable[[], bool] = lambda: True) -> dict:
    """Watch a consumer's inbox fill up to n rows; the rate is taken from the first rows seen to the n-th."""
    deadline = time.perf_counter() + timeout_s
    started = time.perf_counter()
    t_first, c_first = None, 0
    count = 0
    while time.perf_counter() < deadline:
        count = inbox_count(db_path)
        now = time.perf_counter()
        if count and t_first is None:
            t_first, c_first = now, count
        if count >= n:
            span = now - t_first if t_first is not None else 0.0
            return {"events": count, "seconds": round(span, 3), "since_start_s": round(now - started, 3),
                    "per_s": round((count - c_first) / span, 1) if span > 0 else None}
        if not alive():
            raise RuntimeError("the consumer process exited")
        time.sleep(every_s)
    raise TimeoutError(f"the consumer applied {count} of {n} events in {timeout_s}s")
