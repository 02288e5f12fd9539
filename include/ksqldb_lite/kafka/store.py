"""A query's state store: a dict in memory, made durable by a compacted changelog topic.

Like Kafka Streams, the changes go to ``<consumer group id>-<store name>-changelog`` (through
the query's producer, so under ``exactly_once_v2`` they are part of the same transaction as the
output and the offsets), and a session restores the dict by reading the changelog to its end
(``read_committed``) before it processes anything.

Writes are coalesced: :meth:`ChangelogStore.put` changes the dict at once (pull queries and
the processor read it) and remembers the key; :meth:`ChangelogStore.flush`, which the runner
calls after every batch of records — before any commit can happen — sends the last value of
each key changed since. A compacted changelog is read back as the last value per key, so the
restored state is the same as with one changelog record per put, while an aggregation
catching up writes a few records per batch instead of one per input record (the count of
``de`` goes out once per batch, not once per German event). Offsets are never committed past
a record whose changes are unflushed: at least once, they are committed after the batch's
changes are acknowledged; exactly once, in the transaction that holds them.

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
        # changed since the last flush: key → its latest value (None: deleted)
        self._pending: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        """The stored value, or None."""
        return self._data.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        """Store (None: delete) a value; the changelog gets it at the next :meth:`flush`."""
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        self._pending[key] = value

    def flush(self) -> int:
        """Send the latest value of every key changed since the last flush to the changelog;
        return how many records that was."""
        pending = self._pending
        if not pending:
            return 0
        self._pending = {}
        send, topic = self._send, self.topic
        for key, value in pending.items():
            send(topic, key, value)
        return len(pending)

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
        self._pending = {}  # what a failed session did not flush is gone with it, as its records
        log.info("restored %d keys of %s", len(data), self.topic)
