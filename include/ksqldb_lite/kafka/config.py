"""How the Kafka driver builds its librdkafka clients from ksqlDB-style properties.

ksqlDB reads the connection settings (``bootstrap.servers``, ``security.protocol``, ``sasl.*``,
``ssl.*``) at the top level of ``ksql-server.properties`` and applies them to every client; query
clients additionally take ``ksql.streams.producer.*`` / ``ksql.streams.consumer.*``. The engine
hands the ``ksql.streams.*`` part of a query's properties (prefix removed) to the driver in
:attr:`ksqldb_lite.execution.driver.QuerySpec.client_properties`; this module turns both into librdkafka
configuration dicts.

librdkafka refuses properties it does not know, and a few Java client names differ from it, so
Java-only names are translated or dropped here rather than failing a query at start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Settings that apply to every client (the connection and its security).
_CONNECTION_PREFIXES = ("security.protocol", "sasl.", "ssl.", "client.dns.lookup")

# Java client names whose librdkafka spelling differs.
_RENAMED = {"fetch.max.wait.ms": "fetch.wait.max.ms"}
# Java client settings librdkafka has no equivalent for (serializers are the engine's job).
_JAVA_ONLY = frozenset(
    {
        "key.serializer",
        "value.serializer",
        "key.deserializer",
        "value.deserializer",
        "max.poll.records",
        "default.api.timeout.ms",
        "interceptor.classes",
        "metric.reporters",
        "buffer.memory",
        "max.block.ms",
        "delivery.timeout.ms.config",
    }
)

# Defaults of the Kafka Streams settings the driver honours (ksqlDB's own defaults).
DEFAULT_COMMIT_INTERVAL_MS_AT_LEAST_ONCE = 2000
DEFAULT_COMMIT_INTERVAL_MS_EXACTLY_ONCE = 100
# Our own defaults for query clients (see producer_config / consumer_config).
DEFAULT_PRODUCER_LINGER_MS = 1
DEFAULT_FETCH_PARTITION_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_FETCH_QUEUE_BACKOFF_MS = 10


def _translate(props: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in props.items():
        if key in _JAVA_ONLY:
            continue
        result[_RENAMED.get(key, key)] = value
    return result


@dataclass(frozen=True)
class KafkaClientSettings:
    """Connection settings shared by every client the driver creates.

    ``connection`` holds ``security.protocol``, ``sasl.*``, ``ssl.*`` (secrets included: this
    object is never logged); ``producer``/``consumer``/``admin`` are server-wide overrides
    (``ksql.streams.producer.*`` …) applied before a query's own.
    """

    bootstrap_servers: str
    client_id: str = "ksqldb-lite"
    connection: Mapping[str, str] = field(default_factory=dict)
    producer: Mapping[str, str] = field(default_factory=dict)
    consumer: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_properties(
        cls, properties: Mapping[str, Any], client_id: str = "ksqldb-lite"
    ) -> KafkaClientSettings:
        """Read ``bootstrap.servers`` and the connection/security settings from server properties.

        ``ksql.streams.producer.*`` and ``ksql.streams.consumer.*`` become server-wide client
        overrides; ``ksql.streams.bootstrap.servers`` wins over ``bootstrap.servers`` as in ksqlDB.
        """
        bootstrap = properties.get("ksql.streams.bootstrap.servers") or properties.get("bootstrap.servers")
        if not bootstrap:
            bootstrap = "localhost:9092"
        connection: dict[str, str] = {}
        producer: dict[str, str] = {}
        consumer: dict[str, str] = {}
        for key, value in properties.items():
            if key.startswith(_CONNECTION_PREFIXES):
                connection[key] = str(value)
            elif key.startswith("ksql.streams.producer."):
                producer[key.removeprefix("ksql.streams.producer.")] = str(value)
            elif key.startswith("ksql.streams.consumer."):
                consumer[key.removeprefix("ksql.streams.consumer.")] = str(value)
        return cls(str(bootstrap), client_id, connection, producer, consumer)

    def base(self, suffix: str) -> dict[str, Any]:
        """Settings common to every client, with a client id naming its role.

        Nagle's algorithm is off (``TCP_NODELAY``), as the Java clients under ksqlDB always
        have it: librdkafka leaves it on by default, and a small request held back behind an
        unacknowledged one (delayed ACK) adds tens of milliseconds to a record's latency.
        """
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": f"{self.client_id}-{suffix}" if suffix else self.client_id,
            "logger": logging.getLogger("ksqldb_lite.kafka.rdkafka"),
            "socket.nagle.disable": True,
        }
        config.update(self.connection)
        return config

    def admin_config(self) -> dict[str, Any]:
        """An AdminClient's settings."""
        return self.base("admin")

    def producer_config(self, suffix: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """An idempotent producer partitioning like Java's default partitioner (murmur2).

        ``linger.ms`` is 1 ms, not Kafka Streams' 100 ms (nor librdkafka's 5 ms): a query hop
        should not add more than a millisecond of waiting by default. Records still batch
        under load (while requests are in flight); ``ksql.streams.producer.linger.ms`` raises it.
        """
        config = self.base(suffix)
        config.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": DEFAULT_PRODUCER_LINGER_MS,
                "partitioner": "murmur2_random",
            }
        )
        config.update(_translate(self.producer))
        config.update(_translate(overrides or {}))
        return config

    def consumer_config(self, suffix: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A consumer that never commits on its own (the driver commits after produce acks).

        It fetches up to 4 MiB per partition per request (Java's ``max.partition.fetch.bytes``
        is 1 MiB): a query catching up on a backlog of 2.4 KB events then needs a quarter of
        the fetch round trips; an idle one is unaffected (fetches return as soon as data is there).

        When its local queue is full (``queued.max.messages.kbytes``, 64 MiB) librdkafka waits
        ``fetch.queue.backoff.ms`` before fetching again: 1 s by default, long enough for a
        query catching up to empty the queue and sit idle for half of every second. 10 ms here,
        so the queue is topped up as it drains, as a Java consumer's fetcher does.
        """
        config = self.base(suffix)
        config.update(
            {
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": False,
                "fetch.message.max.bytes": DEFAULT_FETCH_PARTITION_MAX_BYTES,
                "fetch.queue.backoff.ms": DEFAULT_FETCH_QUEUE_BACKOFF_MS,
            }
        )
        config.update(_translate(self.consumer))
        config.update(_translate(overrides or {}))
        return config


@dataclass(frozen=True)
class QueryClientProperties:
    """A query's ``ksql.streams.*`` properties, split into the clients they configure."""

    producer: dict[str, Any]
    consumer: dict[str, Any]
    commit_interval_ms: int | None

    @classmethod
    def parse(cls, client_properties: Mapping[str, Any]) -> QueryClientProperties:
        """``producer.X`` / ``consumer.X`` go to that client; ``commit.interval.ms`` to the loop;
        other Kafka Streams settings (``num.stream.threads``, ``cache.max.bytes.buffering``,
        ``state.dir``, ...) have no meaning here and are ignored."""
        producer: dict[str, Any] = {}
        consumer: dict[str, Any] = {}
        commit_interval: int | None = None
        for key, value in client_properties.items():
            if key.startswith("producer."):
                producer[key.removeprefix("producer.")] = value
            elif key.startswith("consumer."):
                consumer[key.removeprefix("consumer.")] = value
            elif key == "commit.interval.ms":
                commit_interval = int(value)
        return cls(producer, consumer, commit_interval)
