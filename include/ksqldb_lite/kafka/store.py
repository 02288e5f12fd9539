"""A query's state store: a dict in memory, made durable by a compacted changelog topic.

Like Kafka Streams, every write goes to ``<consumer group id>-<store name>-changelog`` (through
the query's producer, so under ``exactly_once_v2`` it is part of the same transaction as the
output and the offsets), and a session restores the dict by reading the changelog to its end
(``read_committed``) before it processes anything.

Limit: the store is not partitioned by source partition; a stateful query keeps all its keys in
one store, which is right for one server per service id (see docs/ksqldb-lite-server.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from confluent_kafka import Message

from ksqldb_lite.kafka.config import KafkaClientSettings
from ksqldb_lite.kafka.reading import read_partition

log = logging.getLogger(__name__)

RESTORE_TIMEOUT_S = 120.0


class ChangelogStore:
    """The :class:`~ksqldb_lite.execution.driver.KeyValueStore` of the Kafka driver."""

    def __init__(
        self,
        topic: str,
        settings: KafkaClientSettings,
        send: Callable[[str, bytes, bytes | None], None],
        create_topic: Callable[[str, int, int, dict[str, str]], object],
    ) -> None:
        self.topic = topic
        self._settings = settings
        self._send = send
        self._create_topic = create_topic
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        """The stored value, or None."""
        return self._data.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        """Store (None: delete) a value and append the change to the changelog."""
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        self._send(self.topic, key, value)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """A snapshot of every entry (safe while the query's thread writes: the copy is made
        in one step under the GIL)."""
        return list(self._data.items())

    def __len__(self) -> int:
        return len(self._data)

    def restore(self) -> None:
        """Create the changelog if needed and rebuild the dict from it."""
        # Replicas -1: the broker's default.replication.factor, as Kafka Streams does.
        self._create_topic(self.topic, 1, -1, {"cleanup.policy": "compact"})
        data: dict[bytes, bytes] = {}

        def apply(message: Message) -> None:
            key, value = message.key(), message.value()
            if key is None:
                return
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

        read_partition(self._settings, self.topic, apply, RESTORE_TIMEOUT_S, f"state store {self.topic}")
        self._data = data
        log.info("restored %d keys of %s", len(data), self.topic)
