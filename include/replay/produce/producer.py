"""The replay engine: read the dump, pace, produce in transactions with a checkpoint.

Exactly once, in short (details in :mod:`replay.produce.checkpoint`):

- one transactional producer per (run id, topic); ``init_transactions()`` fences a previous
  process of the same run (a SIGKILLed one, or a zombie) and resolves its open transaction;
- every transaction holds the data records of a stretch of the dump *and* a checkpoint record
  saying where that stretch ends; commit makes both visible, abort neither;
- a restart reads the checkpoint and continues at its ``next_index`` with its ``next_seq``;
- when a transaction has to be aborted (a delivery failed, the broker restarted), the replay
  rewinds to the last checkpoint and sends that stretch again; only permanent errors (too
  large, not authorized, fenced) or a broker that stays away longer than ``broker_timeout_s``
  stop it, with a typed error and a summary of what was committed.

The hot loop keeps per-record work small: one ``orjson.loads`` (for the key and the timestamp),
a few integer operations, one ``produce()``; polls, clock-driven commits and progress updates
are batched.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from replay.dump.reader import SourceRecord, read_dump
from replay.errors import InputError
from replay.produce.checkpoint import Checkpoint, Totals, checkpoint_key, read_checkpoint, transactional_id
from replay.produce.errors import (
    BrokerStorageError,
    BrokerUnreachableError,
    CheckpointError,
    MessageTooLargeError,
    ProduceError,
    ProduceInterrupted,
    classify,
    is_permanent,
)
from replay.produce.metrics import LatencyRecorder, RdkafkaStats, Windows
from replay.produce.options import ProduceOptions
from replay.produce.records import (
    HEADER_INTENDED,
    HEADER_REASON,
    HEADER_RUN_ID,
    HEADER_SEQ,
    HEADER_SOURCE,
    HEADER_TRUNCATED,
    invalid_reason,
    scan_key,
    source_position,
    study_value,
)
from replay.produce.topics import TopicAdmin, TopicState, checkpoint_topic_spec, data_topic_spec
from replay.progress import ProgressReporter

log = logging.getLogger(__name__)


class _RepeatFilter(logging.Filter):
    """librdkafka logs every failed reconnect while a broker is down: keep one line per kind
    (facility) per 10 s."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[object, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) < 10.0:
            return False
        self._last[kind] = now
        return True


rdkafka_log = logging.getLogger("replay.produce.rdkafka")
rdkafka_log.addFilter(_RepeatFilter())

_NS = 1_000_000_000
# Between two producer.poll(0) calls while sending (delivery reports wait for a poll, and
# publishLatency is measured when a report is served, so this bounds the measuring error).
_POLL_INTERVAL_NS = 1_000_000
_CHORES_INTERVAL_NS = 100_000_000  # progress and stop-request checks
# Our headers (about 90 bytes) plus record-batch framing (61 bytes) plus record framing.
_HEADER_ALLOWANCE = 200
_BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
_MAX_REASON_BYTES = 4096
# Exactly-once settings the user cannot override through producer_config.
_PINNED = ("transactional.id", "enable.idempotence", "acks", "isolation.level")


class _Rewind(Exception):
    """The open transaction was aborted: continue from the last checkpoint."""


class _Stop(Exception):
    """A stop was requested (signal)."""


@dataclass
class _Txn:
    """What the open transaction holds (reset after each commit or abort)."""

    next_index: int
    seq: int
    records: int = 0
    bytes: int = 0
    dlq: int = 0
    quarantined: int = 0
    invalid: int = 0
    blank: int = 0

    def empty(self) -> bool:
        return not (self.records or self.dlq or self.quarantined or self.invalid or self.blank)

    def totals(self) -> Totals:
        return Totals(self.records, self.dlq, self.quarantined, self.invalid, self.blank, self.bytes)

    def clear(self) -> None:
        self.records = self.bytes = self.dlq = self.quarantined = self.invalid = self.blank = 0


@dataclass
class Failure:
    """Delivery failures of one kind."""

    code: int
    name: str
    reason: str
    count: int = 0
    first_record: str | None = None
    first_size: int | None = None


@dataclass
class AttemptCounters:
    """Raw counters of this invocation (including records sent again after an abort)."""

    sent: int = 0
    sent_bytes: int = 0
    acked: int = 0
    failed: int = 0
    resent: int = 0
    commits: int = 0
    aborts: int = 0
    first_send_ns: int | None = None
    last_send_ns: int | None = None
    failures: dict[int, Failure] = field(default_factory=dict)


class Replayer:
    """One run of :func:`replay.produce.produce`; use :meth:`run` once."""

    def __init__(self, options: ProduceOptions, *, stop: threading.Event | None = None) -> None:
        self.options = options
        self.settings = options.settings
        self.stop = stop or threading.Event()
        self.topic = options.topic
        self.bootstrap = options.kafka.bootstrap_servers
        self.txn_id = transactional_id(options.run_id, options.topic)
        self.ckpt_key = checkpoint_key(options.run_id, options.topic)
        self.counters = AttemptCounters()
        self.publish = LatencyRecorder()
        self.delay = LatencyRecorder() if options.pacing.mode != "max" else None
        self.commit_latency = LatencyRecorder()
        self.stats = RdkafkaStats(options.topic)
        self.start_ns = time.perf_counter_ns()
        self.sent_windows = Windows(self.start_ns)
        self.acked_windows = Windows(self.start_ns)
        self.target_windows = Windows(self.start_ns)
        self.topics: dict[str, TopicState] = {}
        self.initial: Checkpoint | None = None  # the checkpoint the attempt started from
        self.ckpt: Checkpoint | None = None  # the last committed checkpoint
        self.already_done = False
        self.schedule = options.pacing.schedule(self.start_ns)
        self._schedule_state = self.schedule.snapshot()
        self.producer: Producer | None = None
        self.admin: AdminClient | None = None
        self._last_progress = time.monotonic()
        self._storage_error_seen: str | None = None
        self._permanent: KafkaError | None = None
        self.end_ns: int | None = None
        self.progress: ProgressReporter | None = None
        self.start_wall_us = time.time_ns() // 1000
        self._commit_interval_ns = self.settings.commit_interval_ms * 1_000_000
        self._commit_due = 0
        # A paced replay may put a due commit off by this much, waiting for a gap it fits into.
        self._commit_grace_ns = min(self._commit_interval_ns // 2, 250_000_000)
        self._commit_forced = 0
        self._commit_estimate_ns = 5_000_000  # moving average of commit durations
        self._open_txn: _Txn | None = None
        self._invalid_logged = 0
        self._txn_open = False
        self._client_error_logged: dict[int, float] = {}
        self._max_record_bytes = _BROKER_DEFAULT_MAX_MESSAGE_BYTES
        self._max_dlq_bytes = _BROKER_DEFAULT_MAX_MESSAGE_BYTES

    # -- set-up --------------------------------------------------------------------------------

    def _client_config(self) -> dict[str, Any]:
        return {**self.options.kafka.client_config(), "logger": rdkafka_log}

    def _connect(self) -> None:
        """Admin client, reachability check, topics."""
        config = self._client_config()
        config["error_cb"] = self._on_client_error
        self.admin = AdminClient(config)
        timeout = min(self.settings.broker_timeout_s, 15.0)
        try:
            self.admin.list_topics(timeout=timeout)
        except KafkaException as error:
            raise BrokerUnreachableError(
                f"cannot reach Kafka at {self.bootstrap} within {timeout:.0f} s: {error.args[0].str()}",
                hint="start the broker (`replay stack up`) or set REPLAY_KAFKA_BOOTSTRAP_SERVERS to a reachable one",
            ) from error
        admin = TopicAdmin(self.admin, bootstrap=self.bootstrap, timeout_s=timeout * 2)
        s, o = self.settings, self.options
        spec = data_topic_spec(o.topic, s.partitions, s.replication_factor, s.retention_ms)
        self.topics[o.topic] = admin.ensure(spec, reset=o.reset)
        self._max_record_bytes = self.topics[o.topic].max_message_bytes or _BROKER_DEFAULT_MAX_MESSAGE_BYTES
        if o.dlq:
            dlq = data_topic_spec(o.dlq_topic, 1, s.replication_factor, s.retention_ms)
            self.topics[o.dlq_topic] = admin.ensure(dlq, reset=o.reset)
            self._max_dlq_bytes = (
                self.topics[o.dlq_topic].max_message_bytes or _BROKER_DEFAULT_MAX_MESSAGE_BYTES
            )
        ck_spec = checkpoint_topic_spec(s.checkpoint_topic, s.replication_factor)
        self.topics[s.checkpoint_topic] = admin.ensure(ck_spec)

    def _producer_config(self) -> dict[str, Any]:
        s = self.settings
        message_timeout_ms = int(s.broker_timeout_s * 1000)
        config: dict[str, Any] = {
            **self._client_config(),
            "linger.ms": s.linger_ms,
            # librdkafka does not split a batch the broker refuses as too large (Java does):
            # keep batches within the topic's max.message.bytes.
            "batch.size": min(s.batch_size, self._max_record_bytes, self._max_dlq_bytes),
            "message.max.bytes": max(1_000_000, self._max_record_bytes + 10_000),
            "compression.type": s.compression_type,
            # Java's default partitioner: the same key lands where Kafka Streams/ksqlDB expect it.
            "partitioner": "murmur2_random",
            # A small queue keeps each commit's flush short (the pacing loop waits for it).
            "queue.buffering.max.kbytes": 32 * 1024,
            "queue.buffering.max.messages": 100_000,
            "message.timeout.ms": message_timeout_ms,
            "transaction.timeout.ms": max(60_000, message_timeout_ms + 10_000),
            "statistics.interval.ms": s.stats_interval_ms,
            **{k: v for k, v in self.options.producer_config.items() if k not in _PINNED},
        }
        config.update(
            {
                "transactional.id": self.txn_id,
                "enable.idempotence": True,
                "acks": "all",
                "on_delivery": self._on_delivery,
                "error_cb": self._on_client_error,
            }
        )
        if s.stats_interval_ms:
            config["stats_cb"] = self.stats.on_stats
        return config

    def _init_producer(self) -> None:
        self.producer = Producer(self._producer_config())
        try:
            self.producer.init_transactions(self.settings.broker_timeout_s)
        except KafkaException as error:
            raise self._classify(error.args[0], "initialising transactions") from error

    def _load_checkpoint(self) -> Checkpoint:
        """The checkpoint to continue from, or a fresh one (first attempt, or --reset)."""
        o = self.options
        data_topic = self.topics[o.topic]
        source = {"name": o.path.name, "size": o.path.stat().st_size}
        previous = None
        if not o.reset:
            assert self.admin is not None
            previous = read_checkpoint(
                self._client_config(),
                self.admin,
                self.settings.checkpoint_topic,
                self.ckpt_key,
                timeout_s=max(self.settings.broker_timeout_s, 70.0),
            )
        if previous is None:
            return Checkpoint(
                run_id=o.run_id,
                topic=o.topic,
                next_index=o.skip,
                next_seq=0,
                start_index=o.skip,
                end_index=o.end_index,
                done=False,
                totals=Totals(),
                topic_id=data_topic.topic_id,
                source=source,
                value_format=o.value_format,
                attempt=1,
            )
        self._check_resumable(previous, source, data_topic)
        log.info(
            "resuming run %s on %s at record index %d (seq %d, %d records committed before)",
            o.run_id,
            o.topic,
            previous.next_index,
            previous.next_seq,
            previous.totals.records,
        )
        return Checkpoint(**{**previous.__dict__, "attempt": previous.attempt + 1})

    def _check_resumable(self, previous: Checkpoint, source: dict[str, Any], data_topic: TopicState) -> None:
        o = self.options
        again = f"run {o.run_id!r} on {o.topic!r}"
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
        if previous.value_format != o.value_format:
            raise CheckpointError(
                f"{again} was started with --value-format {previous.value_format}",
                hint=f"resume with --value-format {previous.value_format}, or use a new --run-id",
            )
        if (previous.start_index, previous.end_index) != (o.skip, o.end_index):
            log.warning(
                "run %s was started with --skip %d and end index %s; continuing with those, not with "
                "--skip %d / end index %s",
                o.run_id,
                previous.start_index,
                previous.end_index,
                o.skip,
                o.end_index,
            )

    # -- callbacks (served by poll/flush/commit on this thread) -------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """Default delivery report: data records."""
        c = self.counters
        if err is None:
            c.acked += 1
            value = int((msg.latency() or 0.0) * 1_000_000)
            shift = value.bit_length() - 11
            if shift > 0:
                value = (value >> shift) << shift
            counts = self.publish.counts
            counts[value] = counts.get(value, 0) + 1
            acked = self.acked_windows
            window = (time.perf_counter_ns() - acked.t0_ns) // _NS
            if 0 <= window < len(acked.counts):
                acked.counts[window] += 1
            else:
                acked.add(acked.t0_ns + window * _NS)
            return
        self._on_failure(err, msg)

    def _on_side_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of DLQ and checkpoint records."""
        if err is not None:
            self._on_failure(err, msg)

    def _on_failure(self, err: KafkaError, msg: Message) -> None:
        c = self.counters
        c.failed += 1
        failure = c.failures.get(err.code())
        if failure is None:
            # Delivery reports carry no headers; the key (the event id) names a data record.
            topic = msg.topic()
            key = msg.key()
            if topic == self.topic and key:
                what = f"event id {key.decode(errors='replace')}"
            else:
                what = (
                    "checkpoint record" if topic == self.settings.checkpoint_topic else f"record for {topic}"
                )
            failure = Failure(
                code=err.code(),
                name=err.name(),
                reason=err.str(),
                first_record=what,
                first_size=len(msg.value() or b""),
            )
            c.failures[err.code()] = failure
            if err.code() != KafkaError._PURGE_QUEUE:  # purged by our own abort: expected
                log.warning(
                    "delivery to %s failed: %s (%s); first: %s, %d bytes",
                    topic,
                    err.str(),
                    err.name(),
                    what,
                    failure.first_size,
                )
        failure.count += 1
        if err.code() == KafkaError.KAFKA_STORAGE_ERROR:
            self._storage_error_seen = err.str()
        if is_permanent(err) and self._permanent is None:
            self._permanent = err

    def _on_client_error(self, err: KafkaError) -> None:
        """Client-level errors (broker down, authentication); fatal ones stop the replay."""
        text = f"{err.name()}: {err.str()}"
        if err.code() == KafkaError.KAFKA_STORAGE_ERROR or "KAFKA_STORAGE_ERROR" in text:
            self._storage_error_seen = text
        if err.fatal() and self._permanent is None:
            self._permanent = err
        # A broker that is down makes librdkafka report every reconnect: one line per kind per 10 s.
        now = time.monotonic()
        if err.fatal() or now - self._client_error_logged.get(err.code(), -1e9) >= 10.0:
            self._client_error_logged[err.code()] = now
            log.log(logging.ERROR if err.fatal() else logging.WARNING, "kafka client: %s", text)

    # -- errors --------------------------------------------------------------------------------

    def _classify(self, error: KafkaError, doing: str) -> ProduceError:
        if self._storage_error_seen and not is_permanent(error):
            return BrokerStorageError(
                f"the broker could not store records while {doing} ({self._storage_error_seen})",
                hint="free disk space on the broker (or repair its log directory, see the broker log), "
                "then resume with the same --run-id",
            )
        typed = classify(error, doing=doing, bootstrap=self.bootstrap, topic=self.topic, txn_id=self.txn_id)
        if isinstance(typed, BrokerUnreachableError) and self.counters.commits:
            # It answered before: it went away during the replay (a crash, a full disk, a restart
            # longer than the broker timeout).
            silent = time.monotonic() - self._last_progress
            typed.message = (
                f"Kafka at {self.bootstrap} stopped answering during the replay (no commit for "
                f"{silent:.0f} s; last error while {doing}: {error.str()})"
            )
        return typed

    def _give_up_if_stalled(self, cause: KafkaError, doing: str) -> None:
        """Raise once no commit has succeeded for longer than the broker timeout."""
        stalled = time.monotonic() - self._last_progress
        if stalled > self.settings.broker_timeout_s:
            raise self._classify(cause, doing)

    def _txn_error(self, error: KafkaException, txn: _Txn, doing: str) -> NoReturn:
        """A transactional call failed: abort and rewind if that can cure it, else raise.

        ``_STATE`` from ``produce()`` means the transaction already failed (a delivery error the
        reports have not told us about yet): aborting serves those reports, and
        :meth:`_abort` then decides between resending and stopping.
        """
        kafka_error: KafkaError = error.args[0]
        if kafka_error.fatal():
            raise self._classify(kafka_error, doing) from error
        if kafka_error.txn_requires_abort() or kafka_error.code() == KafkaError._STATE:
            self._abort(txn, kafka_error, doing)
        raise self._classify(kafka_error, doing) from error

    def _too_large(self, record: SourceRecord, key: bytes, size: int, txn: _Txn) -> NoReturn:
        """A record the topic cannot take: commit everything before it, then stop."""
        self._commit(txn)
        raise MessageTooLargeError(
            f"the record at line {record.line} (index {record.index}, event id "
            f"{key.decode(errors='replace')}) is {size:,} bytes with headers; topic {self.topic!r} accepts "
            f"at most {self._max_record_bytes:,} (max.message.bytes); everything before it was delivered",
            hint="raise max.message.bytes on the topic, or quarantine the record so it is not replayed, then "
            "resume with the same --run-id",
        )

    def _abort(self, txn: _Txn, cause: KafkaError, doing: str) -> NoReturn:
        """Abort the open transaction and rewind to the last checkpoint (raises :class:`_Rewind`)."""
        assert self.producer is not None and self.ckpt is not None
        log.warning(
            "aborting the transaction after %s failed (%s); %d records will be sent again",
            doing,
            cause.str(),
            txn.records,
        )
        deadline = time.monotonic() + self.settings.broker_timeout_s
        while True:
            try:
                self.producer.abort_transaction(max(deadline - time.monotonic(), 1.0))
                break
            except KafkaException as error:
                err: KafkaError = error.args[0]
                if err.fatal() or not err.retriable() or time.monotonic() > deadline:
                    raise self._classify(err, "aborting a transaction") from error
        self._txn_open = False
        self.counters.aborts += 1
        self.counters.resent += txn.records
        if self._permanent is not None:
            raise self._classify(self._permanent, "delivering records")
        self._give_up_if_stalled(cause, doing)
        self.schedule.restore(self._schedule_state)
        raise _Rewind

    # -- transactions --------------------------------------------------------------------------

    def _begin(self, txn: _Txn) -> None:
        assert self.producer is not None
        txn.clear()
        try:
            self.producer.begin_transaction()
            self._txn_open = True
        except KafkaException as error:
            raise self._classify(error.args[0], "beginning a transaction") from error

    def _commit(self, txn: _Txn, *, done: bool = False) -> None:
        """Write the checkpoint and commit; on an abortable failure abort and rewind."""
        assert self.producer is not None and self.ckpt is not None
        producer = self.producer
        ckpt = Checkpoint(
            **{
                **self.ckpt.__dict__,
                "next_index": txn.next_index,
                "next_seq": txn.seq,
                "done": done,
                "totals": self.ckpt.totals.plus(txn.totals()),
                "updated_at": time.time(),
            }
        )
        self._produce_side(
            self.settings.checkpoint_topic, ckpt.encode(), self.ckpt_key, None, txn, partition=0
        )
        deadline = time.monotonic() + self.settings.broker_timeout_s
        started = time.perf_counter_ns()
        while True:
            try:
                producer.commit_transaction(max(deadline - time.monotonic(), 1.0))
                took = time.perf_counter_ns() - started
                self.commit_latency.record(took // 1000)
                self._commit_estimate_ns = (4 * self._commit_estimate_ns + took) // 5
                break
            except KafkaException as error:
                err: KafkaError = error.args[0]
                if err.txn_requires_abort():
                    self._abort(txn, err, "committing a transaction")
                if err.fatal() or not err.retriable() or time.monotonic() > deadline:
                    raise self._classify(err, "committing a transaction") from error
                log.warning("commit not confirmed yet (%s); retrying", err.str())
        self._txn_open = False
        self.ckpt = ckpt
        self.counters.commits += 1
        self._last_progress = time.monotonic()
        self._schedule_state = self.schedule.snapshot()
        # Fold the counted latencies into the histograms only when there are many distinct
        # values (draining takes ~1 µs per value and would stretch the commit's stall).
        for recorder in (self.publish, self.delay):
            if recorder is not None and len(recorder.counts) > 20_000:
                recorder.drain()
        txn.clear()

    def _produce_side(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None,
        txn: _Txn,
        *,
        partition: int = -1,
    ) -> None:
        """Produce a DLQ or checkpoint record (not on the hot path)."""
        assert self.producer is not None
        while True:
            try:
                self.producer.produce(
                    topic,
                    value,
                    key,
                    partition=partition,
                    headers=headers,
                    on_delivery=self._on_side_delivery,
                )
                return
            except BufferError:
                self._wait_for_queue(txn)
            except KafkaException as error:
                self._txn_error(error, txn, f"producing to {topic}")

    def _wait_for_queue(self, txn: _Txn) -> None:
        """The local queue is full: serve delivery reports, and give up if nothing moves."""
        assert self.producer is not None
        self.producer.poll(0.05)
        if time.monotonic() - self._last_progress > self.settings.broker_timeout_s + 5:
            cause = KafkaError(KafkaError._MSG_TIMED_OUT, "the producer queue stayed full")
            self._give_up_if_stalled(cause, "waiting for the broker to take records")

    # -- the loop ------------------------------------------------------------------------------

    def _skip(self, record: SourceRecord, reasons: list[str], txn: _Txn, *, invalid: bool) -> None:
        """A quarantined or unkeyable record: count it, and send it to the DLQ when asked."""
        if invalid:
            txn.invalid += 1
            self._invalid_logged += 1
            if self._invalid_logged <= 10:
                log.warning(
                    "record at line %d is not replayable (%s); it is %s",
                    record.line,
                    "; ".join(reasons),
                    "sent to the DLQ" if self.options.dlq else "skipped and counted as invalid",
                )
        else:
            txn.quarantined += 1
        if self.options.dlq:
            reason = "; ".join(reasons).encode()[:_MAX_REASON_BYTES]
            headers: list[tuple[str, str | bytes | None]] = [
                (HEADER_RUN_ID, self.options.run_id.encode()),
                (HEADER_SOURCE, source_position(record.index, record.line, record.offset)),
                (HEADER_REASON, reason),
            ]
            value = record.raw
            # A record can be quarantined for being too large: the DLQ cannot take it whole either.
            # Keep its head and say how long it was, rather than fail the replay over it.
            room = self._max_dlq_bytes - _HEADER_ALLOWANCE - len(reason)
            if len(value) > room:
                headers.append((HEADER_TRUNCATED, b"%d" % len(value)))
                value = value[: max(room, 0)]
            self._produce_side(self.options.dlq_topic, value, None, headers, txn)
            txn.dlq += 1

    def _wait(self, due: int, txn: _Txn) -> int:
        """Sleep until ``due`` (monotonic ns), serving callbacks and due commits; returns now."""
        assert self.producer is not None
        poll = self.producer.poll
        clock = time.perf_counter_ns
        while True:
            now = clock()
            remaining = due - now
            if remaining <= 0:
                return now
            if now >= self._commit_due:
                if txn.empty():
                    self._schedule_next_commit(now)
                    continue
                # Commit in a gap the commit fits into, so that no record waits for it; if the
                # gaps stay short, commit anyway once the grace period is over.
                if remaining > 2 * self._commit_estimate_ns or now >= self._commit_forced:
                    self._commit(txn)
                    self._begin(txn)
                    self._schedule_next_commit(clock())
                    continue
            if self.stop.is_set():
                raise _Stop
            if remaining > 2_000_000:
                step = remaining - 1_000_000
                if self._commit_due > now:
                    step = min(step, self._commit_due - now)
                poll(min(step, 200_000_000) / _NS)
            else:
                # poll() waits in whole milliseconds; serve what is there, then sleep precisely.
                poll(0)
                time.sleep(max(due - clock(), 0) / _NS)

    def _records(self, start: int) -> Iterator[SourceRecord]:
        return read_dump(self.options.path, skip=start)

    def _stream(self) -> None:
        """Send records from the last checkpoint to the end; raises _Rewind after an abort."""
        assert self.producer is not None and self.ckpt is not None
        o = self.options
        producer = self.producer
        produce = producer.produce
        poll = producer.poll
        clock = time.perf_counter_ns
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        topic = self.topic
        quarantine = o.quarantine
        end = self.ckpt.end_index if self.ckpt.end_index is not None else sys.maxsize
        study = o.value_format == "study"
        # A validated dump lets the key come from a byte scan instead of a parse (records.scan_key);
        # the timestamp of --speedup and the study format still need the parsed event.
        scan = o.validated and not study and o.pacing.mode != "speedup"
        no_event: dict[str, Any] = {}
        schedule = self.schedule
        paced = schedule.paced
        next_due = schedule.next_ns
        delay_counts = self.delay.counts if self.delay is not None else {}
        run_header: tuple[str, str | bytes | None] = (HEADER_RUN_ID, o.run_id.encode())
        wall_offset_us = self.start_wall_us - self.start_ns // 1000
        sent_windows = self.sent_windows
        sent_counts = sent_windows.counts
        target_windows = self.target_windows
        target_counts = target_windows.counts
        t0 = self.start_ns
        counters = self.counters
        progress_update = self._progress_update
        txn = self._open_txn = _Txn(self.ckpt.next_index, self.ckpt.next_seq)
        self._begin(txn)
        self._commit_due = clock() + self._commit_interval_ns
        self._commit_forced = self._commit_due + self._commit_grace_ns
        next_poll = next_chores = 0
        fresh = counters.first_send_ns is None
        now = 0
        # Key + value must leave room for the headers and the batch framing.
        max_record_bytes = self._max_record_bytes - _HEADER_ALLOWANCE
        for record in self._records(self.ckpt.next_index):
            index = record.index
            if index >= end:
                break
            raw = record.raw
            reasons = quarantine.get(index)
            key: Any = None
            event: Any = no_event
            if reasons is None:
                if scan:
                    key = scan_key(raw)
                if key is None:
                    try:
                        event = loads(raw)
                    except decode_error:
                        event = None
                    if type(event) is dict:
                        key = event.get("id")
                        if type(key) is str and key:
                            key = key.encode()
                        elif type(key) is int:
                            key = str(key).encode()
                        else:
                            key = None
            if key is None:
                if reasons is None and not raw.strip():
                    txn.blank += 1
                else:
                    self._skip(record, list(reasons or [invalid_reason(raw)]), txn, invalid=reasons is None)
                txn.next_index = index + 1
                continue
            value = study_value(raw) if study else raw
            if fresh:
                # The schedule starts with the first record sent, not when the replay was set up.
                t0 = counters.first_send_ns = clock()
                self._rebase(t0)
                fresh = False
            due = next_due(event)
            now = clock()
            if paced:
                if now < due:
                    now = self._wait(due, txn)
                window = (due - t0) // _NS
                if window < len(target_counts):
                    target_counts[window] += 1
                else:
                    target_windows.add(due)
                delay = (now - due) // 1000
                shift = delay.bit_length() - 11
                if shift > 0:
                    delay = (delay >> shift) << shift
                delay_counts[delay] = delay_counts.get(delay, 0) + 1
                intended = due
            else:
                intended = now
            headers: list[tuple[str, str | bytes | None]] = [
                run_header,
                (HEADER_SEQ, b"%d" % txn.seq),
                (HEADER_SOURCE, b"%d:%d:%d" % (index, record.line, record.offset)),
                (HEADER_INTENDED, b"%d" % (intended // 1000 + wall_offset_us)),
            ]
            size = len(value) + len(key)
            if size > max_record_bytes:
                self._too_large(record, key, size + _HEADER_ALLOWANCE, txn)
            while True:
                try:
                    produce(topic, value, key, headers=headers)
                    break
                except BufferError:
                    self._wait_for_queue(txn)
                except KafkaException as error:
                    if error.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                        self._too_large(record, key, size + _HEADER_ALLOWANCE, txn)
                    self._txn_error(error, txn, f"producing record {index} (line {record.line})")
            txn.records += 1
            txn.bytes += size
            txn.seq += 1
            txn.next_index = index + 1
            counters.sent += 1
            counters.sent_bytes += size
            window = (now - t0) // _NS
            if window < len(sent_counts):
                sent_counts[window] += 1
            else:
                sent_windows.add(now)
            if now >= next_poll:
                counters.last_send_ns = now
                # Serve delivery reports often: publishLatency is taken when a report is served.
                poll(0)
                next_poll = now + _POLL_INTERVAL_NS
                if now >= self._commit_forced or (now >= self._commit_due and not paced):
                    self._commit(txn)
                    self._begin(txn)
                    self._schedule_next_commit(clock())
                if now >= next_chores:
                    next_chores = now + _CHORES_INTERVAL_NS
                    progress_update(txn)
                    if self.stop.is_set():
                        raise _Stop
        if now:
            counters.last_send_ns = now
        self._commit(txn, done=True)
        progress_update(txn)

    def _schedule_next_commit(self, now: int) -> None:
        """Commits keep to a fixed grid (see :meth:`_rebase`); a late one does not shift it."""
        due = self._commit_due + self._commit_interval_ns
        self._commit_due = due if due > now else now + self._commit_interval_ns
        self._commit_forced = self._commit_due + self._commit_grace_ns

    def _rebase(self, start_ns: int) -> None:
        """Start the schedule, the per-second windows and the commit grid at ``start_ns``.

        A commit stalls sending for a few milliseconds (it waits for the last acks); the records
        due meanwhile go out late (their delay is recorded) and the loop catches up. Commits sit
        half an interval off the window grid so the catch-up lands in the same 1-s window as the
        stall instead of shifting records across a window boundary.
        """
        self._commit_due = start_ns + self._commit_interval_ns // 2
        self._commit_forced = self._commit_due + self._commit_grace_ns
        self.start_ns = self.schedule.start_ns = start_ns
        self.start_wall_us = time.time_ns() // 1000 - (time.perf_counter_ns() - start_ns) // 1000
        for windows in (self.sent_windows, self.acked_windows, self.target_windows):
            windows.t0_ns = start_ns

    def _make_progress(self) -> ProgressReporter | None:
        if self.options.progress == "none" or self.initial is None:
            return None
        start = self.initial.next_index
        end = self.initial.end_index
        if end is None:
            lines = count_lines(self.options.path)
            end = None if lines is None else max(lines, start)
        return ProgressReporter(
            f"produce {self.topic}",
            total=None if end is None else end - start,
            unit="events",
            target_rate=self.options.pacing.target_rate,
            interval_s=self.settings.progress_interval_s,
            tty={"auto": None, "bar": True, "log": False}[self.options.progress],
        )

    def _progress_update(self, txn: _Txn) -> None:
        if self.progress is None or self.initial is None:
            return
        self.progress.update(txn.next_index - self.initial.next_index, nbytes=self.counters.sent_bytes)

    # -- driver --------------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, resume or start, replay to the end; raises a :class:`ProduceError` on failure."""
        if not self.options.path.is_file():
            raise InputError(
                f"dump not found: {self.options.path}",
                hint="check the path, or create one with `replay dump generate`",
            )
        self._connect()
        self._init_producer()
        self.ckpt = self._load_checkpoint()
        self.initial = self.ckpt
        if self.ckpt.done:
            self.already_done = True
            log.info("run %s on %s is already complete; nothing to send", self.options.run_id, self.topic)
            return
        self._rebase(time.perf_counter_ns())
        self._last_progress = time.monotonic()
        self.progress = self._make_progress()
        # A full garbage collection of everything imported so far takes tens of milliseconds:
        # park those objects so that a collection during the replay does not stall the pacing.
        gc.freeze()
        try:
            while True:
                try:
                    self._stream()
                    break
                except _Rewind:
                    continue
                except _Stop:
                    self._stop_cleanly()
                    raise ProduceInterrupted(
                        "the replay was stopped by a signal after committing what it had sent",
                        hint=f"resume with the same --run-id {self.options.run_id} to continue where it stopped",
                    ) from None
        finally:
            gc.unfreeze()
        assert self.producer is not None
        self.producer.flush(10)
        self.end_ns = time.perf_counter_ns()

    def _stop_cleanly(self) -> None:
        """On a stop request: commit what is open (so the checkpoint is current)."""
        assert self.producer is not None
        self.end_ns = time.perf_counter_ns()
        # The open transaction holds whole records only; commit it like any other.
        if self._open_txn is not None and not self._open_txn.empty():
            try:
                self._commit(self._open_txn)
            except (_Rewind, ProduceError) as error:
                log.warning("could not commit the last transaction while stopping: %s", error)

    def close(self) -> None:
        """Release the clients. An open transaction is aborted when the broker still answers
        (otherwise the next attempt, or the broker's transaction timeout, aborts it)."""
        producer, self.producer, self.admin = self.producer, None, None
        if producer is None:
            return
        try:
            # Undelivered records of a failed run must not linger in the queue.
            producer.purge()
            if self._txn_open:
                producer.abort_transaction(5.0)
            producer.flush(1)
            if not self._txn_open:
                # Stops librdkafka's threads now (nothing is left to abort or flush, so this
                # cannot wait on a broker that is gone).
                producer.close()
        except KafkaException as error:
            log.debug("closing the producer: %s", error)


def count_lines(path: Path) -> int | None:
    """Records in a plain JSON Lines file (fast newline count); None for gzip or JSON arrays."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
        if head[:2] == b"\x1f\x8b" or head.lstrip()[:1] == b"[":
            return None
        lines = head.count(b"\n")
        last = head[-1:]
        while chunk := handle.read(1 << 24):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (1 if last not in (b"", b"\n") else 0)
