"""Configuration: read once from the environment, typed, validated, with defaults that make `make run` work.

Every knob of the system lives here, so that a deployment is described by its environment alone.
A bad value fails at start with one line that names the variable and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("intake", "matching", "placement", "support")
DEFAULT_PORTS = {"intake": 8001, "matching": 8002, "placement": 8003, "support": 8004, "console": 8000}
# The web console for people: HTTP only (no consumer), its own database of accounts; not one of SERVICES.
CONSOLE = "console"
ENVIRONMENTS = ("development", "test", "production")

# The development secret is only ever accepted outside production mode; `make run` and the tests use it.
DEV_SECRET = "jobbridge-development-secret-not-for-production"  # noqa: S105
# A Fernet key (32 url-safe base64 bytes) for the same purpose: encrypting personal data at rest in dev and tests.
DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS1qb2JicmlkZ2UtMDAwMDA="


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message is one line naming the variable."""


def _get(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
    raw = _get(env, name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0, maximum: float = 1e9) -> float:
    raw = _get(env, name, None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name, None)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _get(env, name, default) or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = 6
    replication_factor: int = 1
    # The local broker needs these three; an Apache Kafka cluster is happy with them too (see deploy/).
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    fetch_max_wait_ms: int = 50
    max_poll_records: int = 500
    max_poll_interval_ms: int = 300_000
    request_timeout_ms: int = 15_000
    retries: int = 5
    retry_backoff_ms: int = 200
    max_message_bytes: int = 1_000_000
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def client_options(self) -> dict:
        """Options every kafka-python client of ours takes."""
        options: dict = {
            "bootstrap_servers": self.servers,
            "request_timeout_ms": self.request_timeout_ms,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options


@dataclass(frozen=True)
class Settings:
    service: str
    environment: str
    data_dir: Path
    database_url: str
    host: str
    port: int
    secret: str
    jwt_issuer: str
    jwt_audience: str
    jwt_leeway_s: int
    pii_key: str
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    consumer_retries: int = 3
    consumer_retry_backoff_ms: int = 200
    relay_poll_ms: int = 50
    relay_batch: int = 500
    outbox_retention_hours: int = 72
    max_body_bytes: int = 1024 * 1024
    max_page_size: int = 200
    log_level: str = "INFO"
    rate_limit_writes: str = "600/minute"
    rate_limit_imports: str = "20/minute"
    # `database://`: counters in the service's own database, shared by all its gunicorn workers (shared.ratelimit);
    # `redis://…`, `memcached://…`, `mongodb://…` as the `limits` library knows them; `memory://` per process.
    rate_limit_storage: str = "database://"
    # Rules of the programme, not constants of the code.
    age_4050_female: int = 40
    age_4050_male: int = 50
    referral_cap_multiple: float = 3.0
    referral_stale_days: int = 14
    retrain_after_outcomes: int = 200
    boost_4050: float = 0.05
    # "category=boost,..." overriding the defaults of the matching policy (services/matching/domain/ranker.py).
    boost_hardship: str | None = None
    boost_cap: float = 0.10
    crowding_penalty: float = 0.10
    synonyms_path: str | None = None
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def default_database_url(service: str, data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"


def load_settings(service: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of one service from the environment; raise ConfigError on any bad value."""
    env = os.environ if env is None else env
    if service not in SERVICES and service not in ("tool", CONSOLE):
        raise ConfigError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    environment = _choice(env, "JOBBRIDGE_ENV", "development", ENVIRONMENTS)
    data_dir = Path(_get(env, "JOBBRIDGE_DATA_DIR", "data") or "data")
    upper = service.upper()
    database_url = _get(env, f"{upper}_DATABASE_URL", None) or _get(env, "DATABASE_URL", None)
    if database_url is None:
        database_url = default_database_url(service, data_dir)
    if not database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        raise ConfigError(f"DATABASE_URL={database_url.split(':')[0]}:... is not a SQLite or PostgreSQL URL")
    if database_url.startswith("postgres:"):
        database_url = "postgresql:" + database_url[len("postgres:") :]
    if database_url.startswith("postgresql:"):
        database_url = "postgresql+psycopg:" + database_url[len("postgresql:") :]

    secret = _get(env, "JOBBRIDGE_SECRET", None)
    pii_key = _get(env, "JOBBRIDGE_PII_KEY", None)
    if environment == "production":
        if not secret:
            raise ConfigError("JOBBRIDGE_SECRET is required when JOBBRIDGE_ENV=production")
        if secret == DEV_SECRET or len(secret) < 32:
            raise ConfigError("JOBBRIDGE_SECRET must be at least 32 characters and not the development secret")
        if not pii_key:
            raise ConfigError("JOBBRIDGE_PII_KEY is required when JOBBRIDGE_ENV=production")
        if DEV_PII_KEY in pii_key_list(pii_key):
            raise ConfigError("JOBBRIDGE_PII_KEY must not be the development key in production")
    secret = secret or DEV_SECRET
    pii_key = pii_key or DEV_PII_KEY
    for key in pii_key_list(pii_key):
        _check_fernet_key(key)

    kafka = KafkaSettings(
        bootstrap_servers=_get(env, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092") or "127.0.0.1:9092",
        partitions=_int(env, "KAFKA_TOPIC_PARTITIONS", 6, minimum=1, maximum=1000),
        replication_factor=_int(env, "KAFKA_REPLICATION_FACTOR", 1, minimum=1, maximum=10),
        session_timeout_ms=_int(env, "KAFKA_SESSION_TIMEOUT_MS", 6000, minimum=1000),
        heartbeat_interval_ms=_int(env, "KAFKA_HEARTBEAT_INTERVAL_MS", 1000, minimum=100),
        fetch_max_wait_ms=_int(env, "KAFKA_FETCH_MAX_WAIT_MS", 50, minimum=0),
        max_poll_records=_int(env, "KAFKA_MAX_POLL_RECORDS", 500, minimum=1),
        max_poll_interval_ms=_int(env, "KAFKA_MAX_POLL_INTERVAL_MS", 300_000, minimum=1000),
        request_timeout_ms=_int(env, "KAFKA_REQUEST_TIMEOUT_MS", 15_000, minimum=1000),
        security_protocol=_choice(
            env, "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        ),
        sasl_mechanism=_get(env, "KAFKA_SASL_MECHANISM", None),
        sasl_username=_get(env, "KAFKA_SASL_USERNAME", None),
        sasl_password=_get(env, "KAFKA_SASL_PASSWORD", None),
    )
    if kafka.heartbeat_interval_ms >= kafka.session_timeout_ms:
        raise ConfigError("KAFKA_HEARTBEAT_INTERVAL_MS must be below KAFKA_SESSION_TIMEOUT_MS")

    port_default = DEFAULT_PORTS.get(service, 0)
    return Settings(
        service=service,
        environment=environment,
        data_dir=data_dir,
        database_url=database_url,
        host=_get(env, "JOBBRIDGE_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int(env, f"{upper}_PORT", port_default, minimum=0, maximum=65535),
        secret=secret,
        jwt_issuer=_get(env, "JOBBRIDGE_JWT_ISSUER", "jobbridge") or "jobbridge",
        jwt_audience=_get(env, "JOBBRIDGE_JWT_AUDIENCE", "jobbridge") or "jobbridge",
        jwt_leeway_s=_int(env, "JOBBRIDGE_JWT_LEEWAY_S", 30, minimum=0, maximum=300),
        pii_key=pii_key,
        kafka=kafka,
        consumer_retries=_int(env, "JOBBRIDGE_CONSUMER_RETRIES", 3, minimum=0, maximum=100),
        consumer_retry_backoff_ms=_int(env, "JOBBRIDGE_CONSUMER_RETRY_BACKOFF_MS", 200, minimum=0),
        relay_poll_ms=_int(env, "JOBBRIDGE_RELAY_POLL_MS", 50, minimum=1, maximum=60_000),
        relay_batch=_int(env, "JOBBRIDGE_RELAY_BATCH", 500, minimum=1, maximum=100_000),
        outbox_retention_hours=_int(env, "JOBBRIDGE_OUTBOX_RETENTION_HOURS", 72, minimum=0),
        max_body_bytes=_int(env, "JOBBRIDGE_MAX_BODY_BYTES", 1024 * 1024, minimum=1024),
        max_page_size=_int(env, "JOBBRIDGE_MAX_PAGE_SIZE", 200, minimum=1, maximum=10_000),
        log_level=_choice(env, "JOBBRIDGE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        rate_limit_writes=_rate_limit(env, "JOBBRIDGE_RATE_LIMIT_WRITES", "600/minute"),
        rate_limit_imports=_rate_limit(env, "JOBBRIDGE_RATE_LIMIT_IMPORTS", "20/minute"),
        rate_limit_storage=_limit_storage(env),
        age_4050_female=_int(env, "JOBBRIDGE_4050_FEMALE_AGE", 40, minimum=16, maximum=100),
        age_4050_male=_int(env, "JOBBRIDGE_4050_MALE_AGE", 50, minimum=16, maximum=100),
        referral_cap_multiple=_float(env, "JOBBRIDGE_REFERRAL_CAP_MULTIPLE", 3.0, minimum=1.0, maximum=100.0),
        referral_stale_days=_int(env, "JOBBRIDGE_REFERRAL_STALE_DAYS", 14, minimum=1, maximum=365),
        retrain_after_outcomes=_int(env, "JOBBRIDGE_RETRAIN_AFTER_OUTCOMES", 200, minimum=1),
        boost_4050=_float(env, "JOBBRIDGE_BOOST_4050", 0.05, minimum=0.0, maximum=1.0),
        boost_hardship=_hardship_boosts(env),
        boost_cap=_float(env, "JOBBRIDGE_BOOST_CAP", 0.10, minimum=0.0, maximum=1.0),
        crowding_penalty=_float(env, "JOBBRIDGE_CROWDING_PENALTY", 0.10, minimum=0.0, maximum=1.0),
        synonyms_path=_get(env, "JOBBRIDGE_SYNONYMS_PATH", None),
        gunicorn_workers=_int(env, "JOBBRIDGE_GUNICORN_WORKERS", 2, minimum=1, maximum=64),
        gunicorn_threads=_int(env, "JOBBRIDGE_GUNICORN_THREADS", 4, minimum=1, maximum=64),
    )


def _hardship_boosts(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "JOBBRIDGE_BOOST_HARDSHIP", None)
    if raw is None:
        return None
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"JOBBRIDGE_BOOST_HARDSHIP part {part!r} is not category=number")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"JOBBRIDGE_BOOST_HARDSHIP value {value!r} is not a number") from None
        if not 0 <= number <= 1:
            raise ConfigError(f"JOBBRIDGE_BOOST_HARDSHIP value {number} is outside 0..1")
    return raw


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    from limits import parse_many

    value = _get(env, name, default) or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a rate limit such as 600/minute") from None
    return value


_LIMIT_STORAGE_SCHEMES = ("database", "database+sqlite", "database+postgresql", "database+postgresql+psycopg",
                          "memory", "redis", "rediss", "redis+unix", "redis+cluster", "redis+sentinel",
                          "memcached", "mongodb", "mongodb+srv")


def _limit_storage(env: Mapping[str, str]) -> str:
    # The default keeps the counters in the service's own database, so all gunicorn workers of a service share
    # them with nothing more to install; `memory://` would count per worker process.
    value = _get(env, "JOBBRIDGE_RATE_LIMIT_STORAGE", "database://") or "database://"
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in _LIMIT_STORAGE_SCHEMES:
        # Only the scheme is named: the rest of the URL may hold a password.
        found = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ConfigError(f"JOBBRIDGE_RATE_LIMIT_STORAGE has {found}; expected one of "
                          f"{', '.join(s + '://' for s in _LIMIT_STORAGE_SCHEMES)}")
    return value


def pii_key_list(value: str) -> list[str]:
    """JOBBRIDGE_PII_KEY: one Fernet key, or several separated by commas during a rotation (the first is
    current: it encrypts; the others only decrypt). See `jobbridge rotate-keys`."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise ConfigError("JOBBRIDGE_PII_KEY holds no key")
    return keys


def _check_fernet_key(key: str) -> None:
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError):
        raise ConfigError("JOBBRIDGE_PII_KEY is not url-safe base64") from None
    if len(raw) != 32:
        raise ConfigError("JOBBRIDGE_PII_KEY must decode to 32 bytes (a Fernet key)")
