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
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from ksqldb_lite.errors import DriverError
from ksqldb_lite.kafka.config import KafkaClientSettings

log = logging.getLogger(__name__)

RESTORE_TIMEOUT_S = 120.0


class ChangelogStore:
    """The :class:`~ksqldb_lite.driver.KeyValueStore` of the Kafka driver."""

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

    def __len__(self) -> int:
        return len(self._data)

    def restore(self) -> None:
        """Create the changelog if needed and rebuild the dict from it."""
        # Replicas -1: the broker's default.replication.factor, as Kafka Streams does.
        self._create_topic(self.topic, 1, -1, {"cleanup.policy": "compact"})
        config = self._settings.consumer_config(
            "changelog-restore",
            {"group.id": f"ksqldb-lite-restore-{uuid.uuid4().hex}", "isolation.level": "read_committed"},
        )
        consumer = Consumer(config)
        data: dict[bytes, bytes] = {}
        try:
            partition = TopicPartition(self.topic, 0, OFFSET_BEGINNING)
            low, high = consumer.get_watermark_offsets(partition, timeout=30)
            if high > low:
                consumer.assign([partition])
                self._read_to_end(consumer, partition, low, high, data)
        except KafkaException as error:
            raise DriverError(f"Restoring state store {self.topic} failed: {error}") from error
        finally:
            consumer.close()
        self._data = data
        log.info("restored %d keys of %s", len(data), self.topic)

    def _read_to_end(
        self, consumer: Consumer, partition: TopicPartition, low: int, high: int, data: dict[bytes, bytes]
    ) -> None:
        """Apply every committed record up to ``high``.

        Transaction markers and aborted records take offsets the consumer never returns, so
        the end is also reached when nothing more arrives twice in a row.
        """
        deadline = time.monotonic() + RESTORE_TIMEOUT_S
        position = low
        idle = 0
        while position < high and idle < 2:
            if time.monotonic() > deadline:
                raise DriverError(f"Restoring state store {self.topic} timed out at offset {position}")
            messages = consumer.consume(1000, timeout=0.5)
            idle = 0 if messages else idle + 1
            for message in messages:
                if message.error() is not None:
                    continue
                position = max(position, (message.offset() or 0) + 1)
                key, value = message.key(), message.value()
                if key is None:
                    continue
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            (current,) = consumer.position([partition])
            position = max(position, current.offset)
