"""Airflow connections map onto the library's settings; their secrets never leave SecretStr."""

from __future__ import annotations

import json

import pytest

from replay.airflow.connections import (
    describe_kafka,
    describe_ksql,
    kafka_settings,
    kafka_settings_from_extra,
    ksql_settings,
    ksql_settings_from_connection,
)
from replay.errors import ConfigError


def test_a_kafka_extra_with_sasl_and_ssl_maps_onto_kafka_settings() -> None:
    settings = kafka_settings_from_extra(
        {
            "bootstrap.servers": "b1:9093,b2:9093",
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "replay",
            "sasl.password": "s3cret-sasl",
            "ssl.ca.location": "/etc/ssl/ca.pem",
            "group.id": "ignored-by-the-replay",
        }
    )
    config = settings.client_config()
    assert config["bootstrap.servers"] == "b1:9093,b2:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "s3cret-sasl"
    assert config["ssl.ca.location"] == "/etc/ssl/ca.pem"
    assert "s3cret-sasl" not in repr(settings) and "s3cret-sasl" not in json.dumps(describe_kafka(settings))


def test_a_kafka_extra_without_bootstrap_or_with_unknown_keys_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"no bootstrap\.servers"):
        kafka_settings_from_extra({"security.protocol": "PLAINTEXT"})
    with pytest.raises(ConfigError, match="acks") as caught:
        kafka_settings_from_extra({"bootstrap.servers": "b:9092", "acks": "1"})
    assert "bootstrap.servers" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"conn_type": "http", "host": "127.0.0.1", "port": 8088, "schema": ""}, "http://127.0.0.1:8088"),
        (
            {"conn_type": "http", "host": "ksql.example", "port": 443, "schema": "https"},
            "https://ksql.example:443",
        ),
        (
            {"conn_type": "https", "host": "ksql.example", "port": None, "schema": None},
            "https://ksql.example",
        ),
        (
            {"conn_type": "http", "host": "https://ksql.example/", "port": None, "schema": None},
            "https://ksql.example",
        ),
    ],
)
def test_a_ksqldb_http_connection_maps_onto_its_url(fields: dict[str, object], url: str) -> None:
    settings = ksql_settings_from_connection(login=None, password=None, extra={}, **fields)  # type: ignore[arg-type]
    assert settings.url == url and settings.username is None


def test_ksqldb_basic_auth_and_timeout() -> None:
    settings = ksql_settings_from_connection(
        conn_type="http", host="h", port=1, schema=None, login="u", password="pw-ksql", extra={"timeout_s": 5}
    )
    assert settings.username == "u" and settings.password is not None
    assert settings.password.get_secret_value() == "pw-ksql" and settings.timeout_s == 5
    assert "pw-ksql" not in repr(settings) and "pw-ksql" not in json.dumps(describe_ksql(settings))
    with pytest.raises(ConfigError, match="has no host"):
        ksql_settings_from_connection(
            conn_type="http", host=None, port=None, schema=None, login=None, password=None, extra={}
        )


def test_connections_from_the_environment_are_read_through_airflow_hooks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = {"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:1", "sasl.password": "pw-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_TEST", json.dumps(kafka))
    monkeypatch.setenv("AIRFLOW_CONN_KSQLDB_TEST", "http://user:pw-2@127.0.0.1:8088")
    k = kafka_settings("kafka_test")
    assert k.bootstrap_servers == "127.0.0.1:1" and k.sasl_password is not None
    assert k.sasl_password.get_secret_value() == "pw-1"
    q = ksql_settings("ksqldb_test")
    assert q.url == "http://127.0.0.1:8088" and q.username == "user"
    assert q.password is not None and q.password.get_secret_value() == "pw-2"
