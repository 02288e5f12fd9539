"""The command log on a Kafka topic, like ksqlDB's command topic.

Topic ``_confluent-ksql-<service id>_command_topic``: one partition (the order of commands is
the order of the log), kept forever (``retention.ms=-1``), key = the command id, value = the
command as JSON. A record's offset is the command's sequence number. At start the engine reads
the topic to its end and replays it; every successful state-changing statement is appended and
acknowledged (``acks=all``, idempotent producer) before the engine answers the request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import (
    KafkaError,
    KafkaException,
    Message,
    Producer,
)

from ksqldb_lite.engine.commandlog import Command
from ksqldb_lite.errors import DriverError
from ksqldb_lite.kafka.admin import TopicAdmin
from ksqldb_lite.kafka.config import KafkaClientSettings
from ksqldb_lite.kafka.reading import read_partition

log = logging.getLogger(__name__)

APPEND_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 120.0


def command_topic_name(service_id: str) -> str:
    """ksqlDB's name for the command topic of a service id."""
    return f"_confluent-ksql-{service_id}_command_topic"


class KafkaCommandLog:
    """A :class:`~ksqldb_lite.engine.commandlog.CommandLog` on a single-partition Kafka topic."""

    def __init__(
        self, settings: KafkaClientSettings, admin: TopicAdmin, topic: str, replicas: int = 1
    ) -> None:
        self.topic = topic
        self._settings = settings
        self._admin = admin
        self._replicas = replicas
        self._producer: Producer | None = None

    def ensure_topic(self) -> None:
        """Create the command topic if it does not exist; refuse one with several partitions."""
        description = self._admin.describe(self.topic, with_config=False)
        if description is None:
            self._admin.create(
                self.topic, 1, self._replicas, {"retention.ms": "-1", "cleanup.policy": "delete"}
            )
        elif description.partitions != 1:
            raise DriverError(
                f"The command topic {self.topic} has {description.partitions} partitions; it must have "
                "exactly 1 (delete it or choose another ksql.service.id)"
            )

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self._settings.producer_config("command-log", {"linger.ms": 0}))
        return self._producer

    def append(self, command: Command) -> int:
        """Append one command and wait for its acknowledgement; return its offset."""
        outcome: list[Message | KafkaError] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            outcome.append(error if error is not None else message)

        producer = self._get_producer()
        try:
            producer.produce(
                self.topic,
                command.to_json(),
                command.command_id.encode("utf-8"),
                partition=0,
                on_delivery=delivered,
            )
        except (BufferError, KafkaException) as error:
            raise DriverError(f"Could not write to the command topic {self.topic}: {error}") from error
        producer.flush(APPEND_TIMEOUT_S)
        if not outcome:
            raise DriverError(
                f"Writing to the command topic {self.topic} timed out after {APPEND_TIMEOUT_S:.0f} s"
            )
        result = outcome[0]
        if isinstance(result, KafkaError):
            raise DriverError(f"Could not write to the command topic {self.topic}: {result.str()}")
        offset = result.offset()
        if offset is None:
            raise DriverError(f"The command topic {self.topic} did not return an offset")
        return offset

    def read_all(self) -> Iterable[tuple[int, Command]]:
        """Every command, oldest first (read up to the end offset seen when called)."""
        commands: list[tuple[int, Command]] = []

        def collect(message: Message) -> None:
            value = message.value()
            if value is not None:  # ksqlDB writes no tombstones; tolerate one
                commands.append((message.offset() or 0, Command.from_json(value)))

        read_partition(self._settings, self.topic, collect, READ_TIMEOUT_S, f"the command topic {self.topic}")
        log.info("read %d commands from %s", len(commands), self.topic)
        return commands

    def close(self) -> None:
        """Flush and release the producer."""
        if self._producer is not None:
            self._producer.flush(APPEND_TIMEOUT_S)
            self._producer = None
