"""Configuration comes from the environment only, and a bad value stops the start with one clear line."""

import pytest

from shared.config import DEV_PII_KEY, DEV_SECRET, ConfigError, load_settings


def test_defaults_make_a_local_run_work():
    s = load_settings("intake", {})
    assert s.port == 8001
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka.session_timeout_ms == 6000 and s.kafka.fetch_max_wait_ms == 50
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("intake.db")
    assert s.secret == DEV_SECRET


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOBBRIDGE_ENV": "staging"}, "JOBBRIDGE_ENV='staging' is not one of"),
        ({"KAFKA_TOPIC_PARTITIONS": "six"}, "KAFKA_TOPIC_PARTITIONS='six' is not a whole number"),
        ({"KAFKA_TOPIC_PARTITIONS": "0"}, "KAFKA_TOPIC_PARTITIONS=0 is outside"),
        ({"DATABASE_URL": "mysql://x"}, "is not a SQLite or PostgreSQL URL"),
        ({"JOBBRIDGE_PII_KEY": "short"}, "JOBBRIDGE_PII_KEY"),
        ({"KAFKA_HEARTBEAT_INTERVAL_MS": "7000"}, "must be below"),
        ({"JOBBRIDGE_BOOST_HARDSHIP": "laid_off=lots"}, "is not a number"),
    ],
)
def test_a_bad_value_names_the_variable_in_one_line(env, message):
    with pytest.raises(ConfigError) as info:
        load_settings("intake", env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_production_refuses_to_start_without_its_own_secret_and_key():
    with pytest.raises(ConfigError, match="JOBBRIDGE_SECRET is required"):
        load_settings("intake", {"JOBBRIDGE_ENV": "production"})
    with pytest.raises(ConfigError, match="not the development secret"):
        load_settings("intake", {"JOBBRIDGE_ENV": "production", "JOBBRIDGE_SECRET": DEV_SECRET})
    with pytest.raises(ConfigError, match="JOBBRIDGE_PII_KEY is required"):
        load_settings("intake", {"JOBBRIDGE_ENV": "production", "JOBBRIDGE_SECRET": "x" * 40})
    with pytest.raises(ConfigError, match="development key"):
        load_settings("intake", {"JOBBRIDGE_ENV": "production", "JOBBRIDGE_SECRET": "x" * 40,
                                 "JOBBRIDGE_PII_KEY": DEV_PII_KEY})


def test_each_service_may_have_its_own_database_url():
    env = {"DATABASE_URL": "postgresql://db/shared", "MATCHING_DATABASE_URL": "postgres://db/matching"}
    assert load_settings("intake", env).database_url == "postgresql+psycopg://db/shared"
    assert load_settings("matching", env).database_url == "postgresql+psycopg://db/matching"
