"""Reading one partition from its start to its end (command topic, state-store changelogs)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from ksqldb_lite.errors import DriverError
from ksqldb_lite.kafka.config import KafkaClientSettings


def read_partition(
    settings: KafkaClientSettings,
    topic: str,
    handle: Callable[[Message], None],
    timeout_s: float,
    what: str,
) -> int:
    """Hand every committed record of ``topic`` partition 0, oldest first, to ``handle``;
    return how many there were.

    Reads up to the end offset seen at the start. Transaction markers and aborted records take
    offsets the consumer never returns, so the end is also reached when nothing more arrives
    twice in a row. Raises DriverError (naming ``what``) when Kafka fails or time runs out.
    """
    consumer = Consumer(
        settings.consumer_config(
            "reader",
            {"group.id": f"ksqldb-lite-reader-{uuid.uuid4().hex}", "isolation.level": "read_committed"},
        )
    )
    count = 0
    try:
        partition = TopicPartition(topic, 0, OFFSET_BEGINNING)
        low, high = consumer.get_watermark_offsets(partition, timeout=30)
        if high <= low:
            return 0
        consumer.assign([partition])
        deadline = time.monotonic() + timeout_s
        position, idle = low, 0
        while position < high and idle < 2:
            if time.monotonic() > deadline:
                raise DriverError(f"Reading {what} timed out at offset {position} of {high}")
            first = consumer.poll(0.5)
            if first is None:
                idle += 1
                continue
            idle = 0
            for message in [first, *consumer.consume(1000, timeout=0)]:
                error = message.error()
                if error is not None:
                    raise DriverError(f"Reading {what} failed: {error.str()}")
                position = max(position, (message.offset() or 0) + 1)
                handle(message)
                count += 1
    except KafkaException as error:
        raise DriverError(f"Reading {what} failed: {error}") from error
    finally:
        consumer.close()
    return count
