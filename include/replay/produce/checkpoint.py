"""The source-position checkpoint, committed in the same Kafka transaction as the data.

Why a compacted checkpoint topic (and not consumer-group offsets via
``send_offsets_to_transaction``): both are atomic with the data, because the checkpoint record
and the data records are in one transaction, so a read_committed reader sees both or neither.
But group offsets expire (``offsets.retention.minutes``, 7 days by default) while the data
they describe may be kept longer, and a resumed run with an expired checkpoint would start
from the beginning and duplicate everything; they also have to be attached to a real topic
partition, which would show a nonsense "lag" in every Kafka tool. A compacted topic keeps the
latest checkpoint per key for as long as the topic exists, holds a self-describing JSON value
(counts, the dump it belongs to, the data topic's id), and anyone can read it with
``kafka-console-consumer``.

Reading it back is the subtle part. The producer first calls ``init_transactions()``, which
fences any zombie with the same transactional id and completes (commits or aborts) its open
transaction, markers included. Then we take the partition's *high watermark* and read with
``isolation.level=read_committed`` until the position passes it. Reading only to the end a
read_committed consumer sees (the last stable offset) would be wrong: another run's open
transaction can hold the LSO back, hiding *our* newer committed checkpoint behind it, and a
resume from the older checkpoint would duplicate records. Waiting for the position to pass the
high watermark is bounded by other producers' transaction timeouts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from replay.produce.errors import CheckpointError

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
# The checkpoint topic has one partition: checkpoints are tiny, one per commit and run.
CHECKPOINT_PARTITION = 0


def checkpoint_key(run_id: str, topic: str) -> bytes:
    """The compaction key of a run's checkpoint for one data topic (topic names hold no '/')."""
    return f"{topic}/{run_id}".encode()


def transactional_id(run_id: str, topic: str) -> str:
    """The producer's transactional id: a restart of the same run fences the old process."""
    return f"replay-produce/{topic}/{run_id}"


@dataclass(frozen=True)
class Totals:
    """Committed counts of a run, cumulative over all of its attempts."""

    records: int = 0  # data records committed to the topic
    dlq: int = 0  # records committed to the DLQ topic
    quarantined: int = 0  # records skipped because validation quarantined them (DLQ'd or not)
    invalid: int = 0  # records that are not a JSON object with an id (skipped, or DLQ'd)
    blank: int = 0  # empty lines
    bytes: int = 0  # key + value bytes of the committed data records

    def plus(self, other: Totals) -> Totals:
        """Field-wise sum."""
        return Totals(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class Checkpoint:
    """Where a run stands: everything before ``next_index`` of the dump is committed."""

    run_id: str
    topic: str
    next_index: int
    next_seq: int
    start_index: int
    end_index: int | None
    done: bool
    totals: Totals
    topic_id: str | None
    source: dict[str, Any]
    value_format: str
    attempt: int
    updated_at: float = field(default_factory=time.time)

    def encode(self) -> bytes:
        """The JSON value written to the checkpoint topic."""
        payload = asdict(self)
        payload["version"] = CHECKPOINT_VERSION
        return orjson.dumps(payload)

    @classmethod
    def decode(cls, value: bytes) -> Checkpoint:
        """Parse a checkpoint value; a foreign or broken value raises :class:`CheckpointError`."""
        try:
            payload = orjson.loads(value)
            version = payload.pop("version")
            if version != CHECKPOINT_VERSION:
                raise CheckpointError(
                    f"checkpoint version {version} is not supported (this replay writes {CHECKPOINT_VERSION})",
                    hint="resume with the replay version that started the run, or use a new --run-id",
                )
            payload["totals"] = Totals(**payload["totals"])
            return cls(**payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(
                f"the checkpoint is unreadable ({error!r}): {value[:200]!r}",
                hint="use a new --run-id, or --reset to start the topic over",
            ) from error


def read_checkpoint(
    client_config: dict[str, Any],
    admin: AdminClient,
    checkpoint_topic: str,
    key: bytes,
    *,
    timeout_s: float,
) -> Checkpoint | None:
    """The latest committed checkpoint for ``key``, None if there is none (or a tombstone).

    Call only after ``init_transactions()`` of the run's producer (see the module docstring).
    """
    tp = TopicPartition(checkpoint_topic, CHECKPOINT_PARTITION)
    deadline = time.monotonic() + timeout_s
    try:
        latest_spec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        offsets = admin.list_offsets(
            {tp: latest_spec},
            isolation_level=IsolationLevel.READ_UNCOMMITTED,
            request_timeout=timeout_s,
        )
        high_watermark = offsets[tp].result().offset
    except KafkaException as error:
        raise CheckpointError(
            f"cannot read the end offset of checkpoint topic {checkpoint_topic!r}: {error}",
            hint="check that the broker is up and the checkpoint topic exists",
        ) from error
    if high_watermark <= 0:
        return None
    consumer = Consumer(
        {
            **client_config,
            "group.id": "replay-checkpoint-reader",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 100,
        }
    )
    latest: bytes | None = None
    try:
        consumer.assign([TopicPartition(checkpoint_topic, CHECKPOINT_PARTITION, OFFSET_BEGINNING)])
        while True:
            for message in consumer.consume(num_messages=1000, timeout=0.05):
                failure = message.error()
                if failure is not None:
                    if failure.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise CheckpointError(
                        f"reading checkpoint topic {checkpoint_topic!r} failed: {failure.str()}",
                        hint="check the broker and the client's READ permission on the checkpoint topic",
                    )
                if message.key() == key:
                    latest = message.value()
            position = consumer.position([tp])[0].offset
            if position >= high_watermark:
                break
            if time.monotonic() > deadline:
                raise CheckpointError(
                    f"reading checkpoint topic {checkpoint_topic!r} stalled at offset {position} of "
                    f"{high_watermark} for {timeout_s:.0f} s (another producer holds a transaction open)",
                    hint="retry in a minute: the broker aborts transactions that outlive their timeout",
                )
    finally:
        consumer.close()
    if latest is None:
        return None
    return Checkpoint.decode(latest)
