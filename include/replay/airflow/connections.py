"""Airflow connections → the library's client settings.

``kafka_default`` is the Kafka provider's connection type: its ``extra`` is a librdkafka
config dict (``bootstrap.servers`` required, ``security.protocol``, ``sasl.*``, ``ssl.*``).
``ksqldb_default`` is an HTTP connection (host, port, schema http/https, optional login and
password for basic auth, ``extra.timeout_s``). Both are read through Airflow hooks inside a
task, so they come from wherever Airflow keeps connections (``AIRFLOW_CONN_*``, the metadata DB,
a secrets backend). Passwords become ``SecretStr`` at once and are never logged or returned:
the functions that describe a connection (:func:`describe_kafka`, :func:`describe_ksql`) list
hosts and flags only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from replay.errors import ConfigError
from replay.settings import KafkaSettings, KsqlSettings

# librdkafka keys of the connection's extra and the KafkaSettings field each one sets.
KAFKA_EXTRA_FIELDS: dict[str, str] = {
    "bootstrap.servers": "bootstrap_servers",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_username",
    "sasl.password": "sasl_password",
    "client.id": "client_id",
    "ssl.ca.location": "ssl_ca_location",
    "ssl.certificate.location": "ssl_certificate_location",
    "ssl.key.location": "ssl_key_location",
    "ssl.key.password": "ssl_key_password",
    "ssl.endpoint.identification.algorithm": "ssl_endpoint_identification_algorithm",
}
# Keys the Airflow Kafka provider's own operators use that the replay has no use for.
KAFKA_EXTRA_IGNORED = frozenset({"group.id", "auto.offset.reset", "enable.auto.commit"})
SECRET_FIELDS = frozenset({"sasl_password", "ssl_key_password"})


def kafka_settings_from_extra(extra: Mapping[str, Any], conn_id: str = "kafka_default") -> KafkaSettings:
    """KafkaSettings from a Kafka connection's extra; unknown keys are an error, not ignored."""
    unknown = sorted(set(extra) - set(KAFKA_EXTRA_FIELDS) - KAFKA_EXTRA_IGNORED)
    if unknown:
        raise ConfigError(
            f"connection {conn_id!r} sets {', '.join(unknown)}, which the replay does not pass on",
            hint=f"use only {', '.join(sorted(KAFKA_EXTRA_FIELDS))} in its extra",
        )
    if not extra.get("bootstrap.servers"):
        raise ConfigError(
            f"connection {conn_id!r} has no bootstrap.servers in its extra",
            hint='set extra to e.g. {"bootstrap.servers": "127.0.0.1:9092"}',
        )
    values: dict[str, Any] = {}
    for key, value in extra.items():
        field = KAFKA_EXTRA_FIELDS.get(key)
        if field is None or value is None:
            continue
        values[field] = SecretStr(str(value)) if field in SECRET_FIELDS else str(value)
    return KafkaSettings(**values)


def ksql_settings_from_connection(
    *,
    conn_type: str | None,
    host: str | None,
    port: int | None,
    schema: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    conn_id: str = "ksqldb_default",
) -> KsqlSettings:
    """KsqlSettings from an HTTP connection's fields."""
    if not host:
        raise ConfigError(
            f"connection {conn_id!r} has no host",
            hint="set it, e.g. AIRFLOW_CONN_KSQLDB_DEFAULT='http://127.0.0.1:8088'",
        )
    scheme = (schema or "").lower()
    if scheme not in ("http", "https"):
        scheme = "https" if (conn_type or "").lower() == "https" else "http"
    if "://" in host:  # a host entered as a URL in the UI form
        scheme, host = host.split("://", 1)
    url = f"{scheme}://{host.rstrip('/')}" + (f":{port}" if port else "")
    values: dict[str, Any] = {"url": url}
    if login:
        values["username"] = login
        values["password"] = SecretStr(password or "")
    if extra.get("timeout_s") is not None:
        values["timeout_s"] = float(extra["timeout_s"])
    return KsqlSettings(**values)


def kafka_settings(conn_id: str) -> KafkaSettings:
    """The ``conn_id`` Kafka connection, read through the Kafka provider's hook."""
    from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

    hook = KafkaBaseHook(kafka_config_id=conn_id)  # type: ignore[no-untyped-call]
    connection = hook.get_connection(conn_id)
    return kafka_settings_from_extra(connection.extra_dejson, conn_id)


def ksql_settings(conn_id: str) -> KsqlSettings:
    """The ``conn_id`` HTTP connection to the ksqlDB server, read through Airflow's base hook."""
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(conn_id)
    return ksql_settings_from_connection(
        conn_type=connection.conn_type,
        host=connection.host,
        port=connection.port,
        schema=connection.schema,
        login=connection.login,
        password=connection.password,
        extra=connection.extra_dejson,
        conn_id=conn_id,
    )


def describe_kafka(settings: KafkaSettings) -> dict[str, Any]:
    """What a log line or an XCom may say about the Kafka connection (no credentials)."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "sasl_mechanism": settings.sasl_mechanism,
        "authenticated": settings.sasl_username is not None,
    }


def describe_ksql(settings: KsqlSettings) -> dict[str, Any]:
    """What a log line or an XCom may say about the ksqlDB connection (no credentials)."""
    return {"url": settings.url, "authenticated": settings.username is not None}
