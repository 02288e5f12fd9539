"""Before the first record: reach Kafka, prepare the topics, configure the producer, find the
checkpoint to continue from."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from replay.limits import KAFKA_MAX_MESSAGE_BYTES
from replay.produce.checkpoint import Checkpoint, Totals, read_checkpoint
from replay.produce.delivery import Deliveries, rdkafka_log
from replay.produce.errors import BrokerUnreachableError, CheckpointError
from replay.produce.options import ProduceOptions
from replay.produce.topics import TopicAdmin, TopicState, checkpoint_topic_spec, data_topic_spec

log = logging.getLogger("replay.produce.producer")

BROKER_DEFAULT_MAX_MESSAGE_BYTES = KAFKA_MAX_MESSAGE_BYTES
# Exactly-once settings the user cannot override through producer_config.
_PINNED = ("transactional.id", "enable.idempotence", "acks", "isolation.level")


def client_config(options: ProduceOptions) -> dict[str, Any]:
    """Connection settings of every client of the replay (the password unwrapped only here)."""
    return {**options.kafka.client_config(), "logger": rdkafka_log}


def connect(options: ProduceOptions, on_error: Callable[[KafkaError], None]) -> AdminClient:
    """An admin client of a broker that answers, or :class:`BrokerUnreachableError`."""
    config: dict[str, Any] = {**client_config(options), "error_cb": on_error}
    admin = AdminClient(config)
    timeout = min(options.settings.broker_timeout_s, 15.0)
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise BrokerUnreachableError(
            f"cannot reach Kafka at {options.kafka.bootstrap_servers} within {timeout:.0f} s: "
            f"{error.args[0].str()}",
            hint="start the broker (`replay stack up`) or set REPLAY_KAFKA_BOOTSTRAP_SERVERS to a reachable one",
        ) from error
    return admin


def prepare_topics(options: ProduceOptions, admin: AdminClient) -> dict[str, TopicState]:
    """The data topic, the DLQ (with ``dlq``) and the checkpoint topic, created when absent."""
    s = options.settings
    topics = TopicAdmin(
        admin, bootstrap=options.kafka.bootstrap_servers, timeout_s=min(s.broker_timeout_s, 15) * 2
    )
    out = {
        options.topic: topics.ensure(
            data_topic_spec(options.topic, s.partitions, s.replication_factor, s.retention_ms),
            reset=options.reset,
        )
    }
    if options.dlq:
        dlq = data_topic_spec(options.dlq_topic, 1, s.replication_factor, s.retention_ms)
        out[options.dlq_topic] = topics.ensure(dlq, reset=options.reset)
    out[s.checkpoint_topic] = topics.ensure(checkpoint_topic_spec(s.checkpoint_topic, s.replication_factor))
    return out


def max_message_bytes(topic: TopicState | None) -> int:
    """The largest record batch a topic accepts."""
    return (topic.max_message_bytes if topic else None) or BROKER_DEFAULT_MAX_MESSAGE_BYTES


# librdkafka's queue for --max (the queue of paced replays is ProduceSettings.queue_max_mb).
UNTHROTTLED_QUEUE_MB = 32


def producer_config(
    options: ProduceOptions, *, txn_id: str, max_batch_bytes: int, deliveries: Deliveries, stats_cb: Any
) -> dict[str, Any]:
    """The transactional producer's librdkafka settings."""
    s = options.settings
    message_timeout_ms = int(s.broker_timeout_s * 1000)
    config: dict[str, Any] = {
        **client_config(options),
        "linger.ms": s.linger_ms,
        # librdkafka does not split a batch the broker refuses as too large (Java does): keep
        # batches within the max.message.bytes of the topics written to.
        "batch.size": min(s.batch_size, max_batch_bytes),
        "message.max.bytes": max(1_000_000, max_batch_bytes + 10_000),
        "compression.type": s.compression_type,
        # Java's default partitioner: the same key lands where Kafka Streams/ksqlDB expect it.
        "partitioner": "murmur2_random",
        # Paced: room to keep sending on schedule through a broker pause (commits wait for the
        # backlog to clear, so their flush stays short). Unthrottled there is no schedule to
        # keep, and a deep queue would only add queueing time to every record and to each
        # commit's flush.
        "queue.buffering.max.kbytes": min(s.queue_max_mb, UNTHROTTLED_QUEUE_MB) * 1024
        if options.pacing.mode == "max"
        else s.queue_max_mb * 1024,
        "queue.buffering.max.messages": 1_000_000,
        "message.timeout.ms": message_timeout_ms,
        "transaction.timeout.ms": max(60_000, message_timeout_ms + 10_000),
        "statistics.interval.ms": s.stats_interval_ms,
        **{k: v for k, v in options.producer_config.items() if k not in _PINNED},
    }
    config.update(
        {
            "transactional.id": txn_id,
            "enable.idempotence": True,
            "acks": "all",
            "error_cb": deliveries.on_client_error,
        }
    )
    if s.stats_interval_ms:
        config["stats_cb"] = stats_cb
    return config


def starting_checkpoint(
    options: ProduceOptions, admin: AdminClient, data_topic: TopicState, key: bytes
) -> Checkpoint:
    """The checkpoint to continue from, or a fresh one (first attempt, or ``reset``).

    Call after ``init_transactions()`` (see :mod:`replay.produce.checkpoint`).
    """
    source = {"name": options.path.name, "size": options.path.stat().st_size}
    previous = None
    if not options.reset:
        previous = read_checkpoint(
            client_config(options),
            admin,
            options.settings.checkpoint_topic,
            key,
            timeout_s=max(options.settings.broker_timeout_s, 70.0),
        )
    if previous is None:
        return Checkpoint(
            run_id=options.run_id,
            topic=options.topic,
            next_index=options.skip,
            next_seq=0,
            start_index=options.skip,
            end_index=options.end_index,
            done=False,
            totals=Totals(),
            topic_id=data_topic.topic_id,
            source=source,
            value_format=options.value_format,
            attempt=1,
        )
    _check_resumable(options, previous, source, data_topic)
    log.info(
        "resuming run %s on %s at record index %d (seq %d, %d records committed before)",
        options.run_id,
        options.topic,
        previous.next_index,
        previous.next_seq,
        previous.totals.records,
    )
    return Checkpoint(**{**previous.__dict__, "attempt": previous.attempt + 1})


def _check_resumable(
    options: ProduceOptions, previous: Checkpoint, source: dict[str, Any], data_topic: TopicState
) -> None:
    again = f"run {options.run_id!r} on {options.topic!r}"
    if previous.topic_id != data_topic.topic_id:
        raise CheckpointError(
            f"{again} committed into an earlier topic of that name (id {previous.topic_id}, now "
            f"{data_topic.topic_id}); its records are gone",
            hint="start a new --run-id, or pass --reset to replay this run from the start",
        )
    if previous.source != source:
        raise CheckpointError(
            f"{again} was started on a different dump ({previous.source['name']}, "
            f"{previous.source['size']} bytes; now {source['name']}, {source['size']} bytes)",
            hint="resume with the dump the run started on, or use a new --run-id",
        )
    if previous.value_format != options.value_format:
        raise CheckpointError(
            f"{again} was started with --value-format {previous.value_format}",
            hint=f"resume with --value-format {previous.value_format}, or use a new --run-id",
        )
    if (previous.start_index, previous.end_index) != (options.skip, options.end_index):
        log.warning(
            "run %s was started with --skip %d and end index %s; continuing with those, not with "
            "--skip %d / end index %s",
            options.run_id,
            previous.start_index,
            previous.end_index,
            options.skip,
            options.end_index,
        )
