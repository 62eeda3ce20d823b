"""kafka-python clients configured the one way this system uses them."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared.config import KafkaSettings
from shared.events import ALL_TOPICS

log = logging.getLogger(__name__)


# Topics are created only by `ensure_topics`, never as a side effect of a client's metadata request: after a
# broker lost its data, a consumer would otherwise recreate its topics with the broker's default partition count
# (measured on the local broker: 4 instead of 6), and a relay whose producer survived the restart would write
# into them without ever finding its epoch topic gone, so without replaying its outbox.

def make_producer(settings: KafkaSettings, *, client_id: str) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas: acknowledged means stored."""
    return KafkaProducer(
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        retries=settings.retries,
        retry_backoff_ms=settings.retry_backoff_ms,
        max_in_flight_requests_per_connection=5,
        linger_ms=2,
        # Fail fast instead of blocking a minute when the broker is gone; the relay retries.
        max_block_ms=5000,
        max_request_size=settings.max_message_bytes,
        allow_auto_create_topics=False,
        **settings.client_options(),
    )


def make_consumer(settings: KafkaSettings, *, group_id: str, client_id: str, topics: list[str] | None = None) -> KafkaConsumer:
    consumer = KafkaConsumer(
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_poll_records=settings.max_poll_records,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        allow_auto_create_topics=False,
        **settings.client_options(),
    )
    if topics:
        consumer.subscribe(topics)
    return consumer


def make_admin(settings: KafkaSettings, *, client_id: str = "jobbridge-admin") -> KafkaAdminClient:
    return KafkaAdminClient(client_id=client_id, **settings.client_options())


def ensure_topics(settings: KafkaSettings, topics: list[str] | tuple[str, ...] = ALL_TOPICS, *, attempts: int = 30) -> list[str]:
    """Create the topics that do not exist yet; safe to call from every process at every start.

    Returns the topics this call created (an empty list when all were there).
    """
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            admin = make_admin(settings)
        except KafkaError as exc:
            last = exc
            time.sleep(min(0.2 * (attempt + 1), 2.0))
            continue
        try:
            existing = set(admin.list_topics())
            missing = [t for t in topics if t not in existing]
            created = []
            for topic in missing:
                try:
                    admin.create_topics([NewTopic(topic, settings.partitions, settings.replication_factor)])
                    created.append(topic)
                except TopicAlreadyExistsError:
                    pass  # another process won the race: fine
            if created:
                log.info("created topics", extra={"topics": created})
            return created
        except KafkaError as exc:
            last = exc
            time.sleep(min(0.2 * (attempt + 1), 2.0))
        finally:
            admin.close()
    raise RuntimeError(f"could not reach the Kafka broker at {settings.bootstrap_servers}: {last}")


def broker_reachable(settings: KafkaSettings, timeout_s: float = 2.0) -> bool:
    """Whether a broker answers a metadata request now."""
    import socket

    for server in settings.servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def broker_address_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether a broker's address accepts a TCP connection now (a refused one answers at once)."""
    import socket

    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False
