"""Server configuration, client settings and Accept negotiation: pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request

from ksqldb_lite.kafka.config import KafkaClientSettings, QueryClientProperties
from ksqldb_lite.rest.config import ConfigError, ServerConfig, parse_properties
from ksqldb_lite.rest.http import DELIMITED, JSON, KSQL_V1_JSON, NotAcceptable, negotiate


def test_java_properties_syntax() -> None:
    text = (
        "# comment\n"
        "! another\n"
        "listeners=http://127.0.0.1:9000\n"
        "bootstrap.servers : broker:9092\n"
        "ksql.service.id my_service_\n"
        "long.value = one, \\\n"
        "    two\n"
        "escaped=tab\\there\n"
        "empty=\n"
    )
    assert parse_properties(text) == {
        "listeners": "http://127.0.0.1:9000",
        "bootstrap.servers": "broker:9092",
        "ksql.service.id": "my_service_",
        "long.value": "one, two",
        "escaped": "tab\there",
        "empty": "",
    }


def test_load_layers_defaults_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "ksql-server.properties"
    path.write_text("listeners=http://127.0.0.1:9000\nksql.service.id=from_file_\n")
    config = ServerConfig.load(path, {"ksql.service.id": "override_"})
    assert (config.host, config.port) == ("127.0.0.1", 9000)
    assert config.service_id == "override_"
    assert config.instance_id == "127.0.0.1_9000"
    assert config.processing_log_topic == "override_ksql_processing_log"
    assert config.properties["bootstrap.servers"] == "127.0.0.1:9092"
    assert config.auth is None


def test_defaults_listen_on_loopback() -> None:
    config = ServerConfig.load()
    assert (config.host, config.port) == ("127.0.0.1", 8088)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listeners": "https://127.0.0.1:8088"}, "only http:// listeners are supported"),
        ({"listeners": "http://127.0.0.1"}, "expected http://HOST:PORT"),
        ({"authentication.method": "BASIC"}, "needs ksqldb.lite.authentication.users.file"),
        ({"authentication.method": "JWT"}, "expected NONE or BASIC"),
    ],
)
def test_bad_settings_say_which_and_why(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig.load(None, overrides)


def test_basic_auth_from_properties(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("fred: letmein,admin\n")
    config = ServerConfig.load(
        None,
        {
            "authentication.method": "BASIC",
            "ksqldb.lite.authentication.users.file": str(users),
            "authentication.roles": "admin",
            "authentication.skip.paths": "/chc/live, /chc/ready",
        },
    )
    assert config.auth is not None
    assert config.auth.skip_paths == ("/chc/live", "/chc/ready")
    assert config.auth.check(None) == 401


def test_client_settings_from_server_properties() -> None:
    settings = KafkaClientSettings.from_properties(
        {
            "bootstrap.servers": "a:1",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "ksql.streams.producer.linger.ms": "20",
            "ksql.streams.consumer.fetch.max.wait.ms": "50",
            "ksql.service.id": "x_",
        }
    )
    assert settings.bootstrap_servers == "a:1"
    producer = settings.producer_config("p")
    assert producer["linger.ms"] == "20"
    assert producer["security.protocol"] == "SASL_PLAINTEXT"
    assert producer["partitioner"] == "murmur2_random"  # Java's default partitioner
    consumer = settings.consumer_config("c", {"max.poll.records": 10})
    assert consumer["fetch.wait.max.ms"] == "50"  # the Java name translated
    assert "max.poll.records" not in consumer  # Java-only, dropped
    assert consumer["enable.auto.commit"] is False


def test_query_clients_default_to_low_latency_and_large_fetches_yet_can_be_overridden() -> None:
    defaults = KafkaClientSettings.from_properties({"bootstrap.servers": "a:1"})
    producer, consumer = defaults.producer_config("p"), defaults.consumer_config("c")
    # TCP_NODELAY like the Java clients, on every client (librdkafka's default keeps Nagle on)
    assert producer["socket.nagle.disable"] is True and consumer["socket.nagle.disable"] is True
    assert defaults.admin_config()["socket.nagle.disable"] is True
    assert producer["linger.ms"] == 1
    assert consumer["fetch.message.max.bytes"] == 4 * 1024 * 1024
    assert consumer["fetch.queue.backoff.ms"] == 10  # librdkafka: 1 s idle after a full queue
    tuned = KafkaClientSettings.from_properties(
        {
            "bootstrap.servers": "a:1",
            "ksql.streams.producer.linger.ms": "100",
            "ksql.streams.consumer.fetch.message.max.bytes": "1048576",
            "ksql.streams.producer.socket.nagle.disable": "false",
        }
    )
    assert tuned.producer_config("p")["linger.ms"] == "100"
    assert tuned.producer_config("p")["socket.nagle.disable"] == "false"
    assert tuned.consumer_config("c")["fetch.message.max.bytes"] == "1048576"


def test_query_client_properties() -> None:
    parsed = QueryClientProperties.parse(
        {
            "producer.acks": "1",
            "consumer.session.timeout.ms": "7000",
            "commit.interval.ms": "500",
            "num.stream.threads": 4,
        }
    )
    assert parsed.producer == {"acks": "1"}
    assert parsed.consumer == {"session.timeout.ms": "7000"}
    assert parsed.commit_interval_ms == 500


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, None),
        ("*/*", DELIMITED),
        ("application/json", JSON),
        ("application/json;q=0.5, application/vnd.ksql.v1+json", KSQL_V1_JSON),
        ("text/html, application/*", DELIMITED),
    ],
)
def test_negotiation(accept: str | None, expected: str | None) -> None:
    assert negotiate(_request(accept), (DELIMITED, JSON, KSQL_V1_JSON)) == expected


def test_negotiation_refuses() -> None:
    with pytest.raises(NotAcceptable):
        negotiate(_request("text/html"), (DELIMITED, JSON))
