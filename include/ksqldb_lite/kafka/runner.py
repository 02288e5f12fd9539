"""One query on Kafka: a consumer, the engine's processor, a producer, on a thread of its own.

A persistent query subscribes its consumer group (``QuerySpec.consumer_group_id``) to the source
topics, so it scales across partitions and resumes from committed offsets. Its loop:

* waits for the first record (``poll``), then takes whatever else is already fetched
  (``consume(n, timeout=0)``) — no batch ever waits to fill up, so latency stays low;
* hands each record to the processor (a processor that can decide a record from its raw bytes
  — ``process_raw``: a filter's rejected records, an aggregation's updates — is asked that
  first, so those records cost no ``ConsumedRecord``); after the batch it produces what the
  processor returned, in order, and the state stores send their changes to their changelogs,
  the last value of each key changed in the batch;
* commits. ``at_least_once``: offsets are committed only for records whose outputs are all
  acknowledged — at the commit interval (``commit.interval.ms``, ksqlDB's 2,000 ms) at a moment
  when nothing is in flight (asynchronously, so the loop does not stall), else after a flush
  once three intervals have passed; synchronously when idle, on revocation and at the end.
  ``exactly_once_v2``: the records and the offsets go in one transaction
  (``send_offsets_to_transaction`` with the group metadata, consumer ``read_committed``),
  committed at the commit interval (100 ms) or as soon as the query has caught up.

A failure of Kafka (a broker gone, a fenced producer, a transaction that must abort) ends the
*session*: clients are closed, an open transaction aborted, and after a back-off a new session
resumes from the committed offsets (an exactly-once session re-reads its state stores too). A
processor that raises is a bug: the query stops in state ERROR with the traceback. Records that
cannot be processed are the processor's business: it calls :meth:`QueryRunner.report_error`,
which counts them and writes the entry to the processing-log topic; the query goes on.

The consumer uses static membership (``group.instance.id``) and the producer a stable
``transactional.id``, both derived from the server's instance id: a server restarted after
``kill -9`` takes its partitions back at once and fences (aborts) the transaction its previous
incarnation left open, instead of waiting for session or transaction time-outs.

Transient push queries assign the partitions directly (no group, no commits, no producer).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from ksqldb_lite.errors import DriverError
from ksqldb_lite.execution.driver import (
    ConsumedRecord,
    Headers,
    KeyValueStore,
    ProducedRecord,
    QueryCounters,
    QuerySpec,
    RawProcess,
)
from ksqldb_lite.kafka.config import (
    DEFAULT_COMMIT_INTERVAL_MS_AT_LEAST_ONCE,
    DEFAULT_COMMIT_INTERVAL_MS_EXACTLY_ONCE,
    KafkaClientSettings,
    QueryClientProperties,
)
from ksqldb_lite.kafka.store import ChangelogStore

log = logging.getLogger(__name__)

MAX_BATCH = 1000
# Longest wait in poll: bounds how fast a stop request is noticed.
POLL_TIMEOUT_S = 0.2
TRANSIENT_POLL_TIMEOUT_S = 0.1
FLUSH_TIMEOUT_S = 60.0
TRANSACTION_TIMEOUT_S = 60.0
LAG_INTERVAL_S = 1.0
# At least once: how many commit intervals a commit may wait for a moment with nothing in flight.
OVERDUE_INTERVALS = 3
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0

# Commit failures that only mean "the group is rebalancing": the records will be re-read.
_REBALANCE_CODES = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._NO_OFFSET,
    }
)
# Consume errors that are not fatal: a source topic that does not exist (yet), a partition EOF.
_IGNORED_CONSUME_CODES = frozenset(
    {KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}
)


class SessionFailure(Exception):
    """Kafka failed under the query; a new session will resume from the committed offsets."""


class ProcessorFailure(Exception):
    """The engine's processor raised: a bug, the query stops in state ERROR."""


class QueryRunner:
    """Runs one :class:`QuerySpec` on its own thread; also its :class:`ProcessorContext`."""

    def __init__(
        self,
        spec: QuerySpec,
        settings: KafkaClientSettings,
        instance_id: str,
        report_entry: Callable[[str, bytes], None],
        create_topic: Callable[[str, int, int, dict[str, str]], object],
        partitions_of: Callable[[str], int],
    ) -> None:
        self.spec = spec
        self.counters = QueryCounters()
        self._settings = settings
        self._instance_id = instance_id
        self._report_entry = report_entry
        self._create_topic = create_topic
        self._partitions_of = partitions_of
        self._client_props = QueryClientProperties.parse(spec.client_properties)
        self._eos = spec.processing_guarantee == "exactly_once_v2" and not spec.transient
        default_interval = (
            DEFAULT_COMMIT_INTERVAL_MS_EXACTLY_ONCE if self._eos else DEFAULT_COMMIT_INTERVAL_MS_AT_LEAST_ONCE
        )
        self._commit_interval_s = (self._client_props.commit_interval_ms or default_interval) / 1000.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ksql-{spec.query_id}", daemon=True)
        self._stores: dict[str, ChangelogStore] = {}
        # Per-session state, touched only by the query's thread.
        self._producer: Producer | None = None
        # next offset per partition: processed in this session / last committed (or sent to be)
        self._positions: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._in_transaction = False
        self._last_commit = time.monotonic()
        self._delivery_error: KafkaError | None = None
        self._session_ready = False
        # Last: the factory may already ask for its state stores.
        self._processor = spec.processor_factory(self)

    # -- ProcessorContext ------------------------------------------------------------------
    @property
    def query_id(self) -> str:
        """The id of the query."""
        return self.spec.query_id

    def report_error(self, entry: bytes | None) -> None:
        """Count a record that could not be processed; log it to the processing-log topic."""
        self.counters.processing_errors += 1
        topic = self.spec.processing_log_topic
        if entry is not None and topic is not None:
            self._report_entry(topic, entry)

    def store(self, name: str) -> KeyValueStore:
        """The query's state store ``name``, backed by a compacted changelog topic."""
        store = self._stores.get(name)
        if store is None:
            topic = f"{self.spec.consumer_group_id}-{name}-changelog"
            store = ChangelogStore(topic, self._settings, self._send_changelog, self._create_topic)
            if self._session_ready:  # else the session restores it when it starts
                store.restore()
            self._stores[name] = store
        return store

    def existing_store(self, name: str) -> ChangelogStore | None:
        """The store ``name`` if the processor has created it (pull queries read it)."""
        return self._stores.get(name)

    def _send_changelog(self, topic: str, key: bytes, value: bytes | None) -> None:
        producer = self._producer
        if producer is None:
            raise DriverError(f"Query {self.query_id} wrote to a state store outside of processing")
        self._produce(producer, topic, key, value, -1, 0, None, self._on_changelog_delivery)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the query's thread."""
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to stop after the current batch (it commits what it processed)."""
        self._stop.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread to end. True when it ended, or when called on the thread itself
        (which ends as soon as it returns to its loop)."""
        if threading.current_thread() is self._thread:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the query's thread runs."""
        return self._thread.is_alive()

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = INITIAL_BACKOFF_S
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._run_session()
                return
            except ProcessorFailure as failure:
                cause = failure.__cause__ or failure
                self.counters.state = "ERROR"
                self.counters.last_error = "".join(traceback.format_exception(cause))
                log.error(
                    "query %s stopped: its processor failed:\n%s", self.query_id, self.counters.last_error
                )
                return
            except (KafkaException, SessionFailure, DriverError) as error:
                self.counters.state = "ERROR"
                self.counters.last_error = str(error)
                if time.monotonic() - started > 60:
                    backoff = INITIAL_BACKOFF_S
                log.warning("query %s: %s; retrying in %.1f s", self.query_id, error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _run_session(self) -> None:
        consumer = Consumer(self._consumer_config())
        producer = None if self.spec.transient else Producer(self._producer_config())
        self._producer = producer
        self._positions.clear()
        self._committed.clear()
        self._assigned.clear()
        self._in_transaction = False
        self._delivery_error = None
        clean = False
        try:
            if producer is not None and self._eos:
                producer.init_transactions(TRANSACTION_TIMEOUT_S)
            for store in self._stores.values():
                store.restore()
            self._session_ready = True
            if self.spec.transient:
                self._assign_all(consumer)
            else:
                consumer.subscribe(
                    list(self.spec.source_topics),
                    on_assign=self._on_assign,
                    on_revoke=self._on_revoke,
                    on_lost=self._on_lost,
                )
            self.counters.state = "RUNNING"
            self._loop(consumer, producer)
            if producer is not None:
                self._commit(consumer, producer)
            clean = True
        finally:
            self._close_session(consumer, producer, clean)

    def _close_session(self, consumer: Consumer, producer: Producer | None, clean: bool) -> None:
        self._session_ready = False
        if producer is not None and self._in_transaction and not clean:
            try:
                producer.abort_transaction(TRANSACTION_TIMEOUT_S)
            except KafkaException as error:
                log.warning("query %s: aborting the open transaction failed: %s", self.query_id, error)
        self._in_transaction = False
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as error:
            log.warning("query %s: closing the consumer failed: %s", self.query_id, error)
        if producer is not None and not self._eos:
            producer.flush(FLUSH_TIMEOUT_S if clean else 1.0)
        self._producer = None

    def _consumer_config(self) -> dict[str, Any]:
        spec = self.spec
        overrides: dict[str, Any] = {
            "on_commit": self._on_commit,
            "group.id": spec.consumer_group_id,
            "auto.offset.reset": spec.auto_offset_reset,
            "isolation.level": "read_committed" if self._eos else "read_uncommitted",
        }
        if not spec.transient:
            overrides["group.instance.id"] = self._instance_id
            overrides["session.timeout.ms"] = 10000
            # Notice partitions added to a source topic within 30 s (librdkafka: 5 minutes).
            overrides["topic.metadata.refresh.interval.ms"] = 30000
        overrides.update(self._client_props.consumer)
        return self._settings.consumer_config(f"{spec.query_id}-consumer", overrides)

    def _producer_config(self) -> dict[str, Any]:
        overrides: dict[str, Any] = {}
        if self._eos:
            overrides["transactional.id"] = f"{self.spec.consumer_group_id}-{self._instance_id}"
            overrides["transaction.timeout.ms"] = 30000
        overrides.update(self._client_props.producer)
        return self._settings.producer_config(f"{self.spec.query_id}-producer", overrides)

    def _assign_all(self, consumer: Consumer) -> None:
        offset = OFFSET_END if self.spec.auto_offset_reset == "latest" else OFFSET_BEGINNING
        assignment: list[TopicPartition] = []
        for topic in self.spec.source_topics:
            assignment.extend(TopicPartition(topic, p, offset) for p in range(self._partitions_of(topic)))
        consumer.assign(assignment)
        self._assigned.update((tp.topic, tp.partition) for tp in assignment)

    # -- the loop --------------------------------------------------------------------------
    def _loop(self, consumer: Consumer, producer: Producer | None) -> None:
        process = self._processor.process
        # Optional: the processor decides a record from its raw bytes (see RecordProcessor).
        process_raw: RawProcess | None = getattr(self._processor, "process_raw", None)
        positions = self._positions
        assigned = self._assigned
        sink = self.spec.sink_topic
        counters = self.counters
        stores = self._stores.values()
        transient = self.spec.transient
        max_wait = TRANSIENT_POLL_TIMEOUT_S if transient else POLL_TIMEOUT_S
        next_lag = 0.0
        while not self._stop.is_set():
            first = consumer.poll(self._poll_timeout(max_wait))
            now = time.monotonic()
            if now >= next_lag:
                self._update_lag(consumer)
                next_lag = now + LAG_INTERVAL_S
            if first is None:
                if producer is not None:
                    self._commit(consumer, producer)
                continue
            batch = [first, *consumer.consume(MAX_BATCH - 1, timeout=0)]
            if producer is not None and self._eos and not self._in_transaction:
                producer.begin_transaction()
                self._in_transaction = True
            consumed = 0
            outputs: list[ProducedRecord] = []
            for message in batch:
                if message.error() is not None:
                    self._consume_error(message)
                    continue
                coordinates = (message.topic() or "", message.partition() or 0)
                if coordinates not in assigned:
                    continue  # fetched before a revocation that has happened since
                offset = message.offset() or 0
                value = message.value()
                if process_raw is not None:
                    kind, timestamp = message.timestamp()
                    try:
                        decided = process_raw(
                            message.key(),
                            value,
                            timestamp if kind != TIMESTAMP_NOT_AVAILABLE else 0,
                            coordinates[1],
                            offset,
                        )
                    except (KafkaException, DriverError, SessionFailure):
                        raise  # the driver's own failure under the processor: retry the session
                    except Exception as error:  # a processor bug stops only its query (re-raised typed)
                        raise ProcessorFailure(f"processing {coordinates}@{offset} failed") from error
                    if decided is not None:
                        outputs.extend(decided)
                        consumed += 1
                        positions[coordinates] = offset + 1
                        continue
                outputs.extend(self._process(process, message, value, coordinates, offset))
                consumed += 1
                positions[coordinates] = offset + 1
                if transient and self._stop.is_set():
                    break  # a push query reached its LIMIT
            counters.messages_consumed += consumed
            if producer is not None:
                # After the batch, in one go: librdkafka then sends them in a few large
                # requests, where records produced between the processing of others would
                # go out a few at a time (one request per linger.ms) at a large cost in CPU.
                for output in outputs:
                    self._produce(
                        producer,
                        output.topic or sink or "",
                        output.key,
                        output.value,
                        -1 if output.partition is None else output.partition,
                        output.timestamp,
                        client_headers(output.headers),
                    )
            # The batch's state changes, last value per key, before any commit can include
            # the batch's offsets (see ChangelogStore).
            for store in stores:
                store.flush()
            if producer is not None:
                producer.poll(0)
                due = time.monotonic() - self._last_commit >= self._commit_interval_s
                # Exactly once: records are invisible until their transaction commits, so a
                # query that has caught up commits now rather than at the interval.
                if self._eos:
                    if due or len(batch) < MAX_BATCH:
                        self._commit_transaction(consumer, producer)
                elif due:
                    self._commit_in_passing(consumer, producer)

    def _process(
        self,
        process: Callable[[ConsumedRecord], Sequence[ProducedRecord]],
        message: Message,
        value: bytes | None,
        coordinates: tuple[str, int],
        offset: int,
    ) -> Sequence[ProducedRecord]:
        kind, timestamp = message.timestamp()
        headers = message.headers()
        record = ConsumedRecord(
            coordinates[0],
            coordinates[1],
            offset,
            timestamp if kind != TIMESTAMP_NOT_AVAILABLE else 0,
            message.key(),
            value,
            record_headers(headers) if headers else (),
        )
        try:
            return process(record)
        except (KafkaException, DriverError, SessionFailure):
            raise  # the driver's own failure under the processor (a state store): retry the session
        except Exception as error:  # a processor bug stops only its query (re-raised typed)
            raise ProcessorFailure(f"processing {record.topic}/{record.partition}@{offset} failed") from error

    def _poll_timeout(self, max_wait: float) -> float:
        if not self._in_transaction and not self._uncommitted():
            return max_wait
        until_commit = self._commit_interval_s - (time.monotonic() - self._last_commit)
        return max(0.0, min(max_wait, until_commit))

    def _consume_error(self, message: Message) -> None:
        error = message.error()
        assert error is not None
        if error.fatal():
            raise SessionFailure(f"the consumer failed: {error.str()}")
        if error.code() not in _IGNORED_CONSUME_CODES:
            log.warning("query %s: consume error: %s", self.query_id, error.str())

    def _produce(
        self,
        producer: Producer,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        timestamp: int,
        headers: ClientHeaders | None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    key,
                    partition=partition,
                    on_delivery=on_delivery or self._on_delivery,
                    timestamp=timestamp,
                    headers=headers,
                )
                return
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            if self._delivery_error is None:
                self._delivery_error = error
        else:
            self.counters.messages_produced += 1

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        # An asynchronous commit that fails only means more records are re-read after a crash.
        if error is not None and error.code() != KafkaError._NO_OFFSET:
            log.info("query %s: an offset commit failed: %s", self.query_id, error.str())

    def _on_changelog_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None and self._delivery_error is None:
            self._delivery_error = error

    # -- commits ---------------------------------------------------------------------------
    def _uncommitted(self) -> list[tuple[str, int]]:
        """Partitions whose processed position is ahead of the committed one."""
        committed = self._committed
        return [key for key, offset in self._positions.items() if committed.get(key) != offset]

    def _commit(self, consumer: Consumer, producer: Producer) -> None:
        if self._eos:
            self._commit_transaction(consumer, producer)
        else:
            self._commit_offsets(consumer, producer, self._uncommitted())

    def _offsets(self, keys: list[tuple[str, int]]) -> list[TopicPartition]:
        return [
            TopicPartition(topic, partition, self._positions[(topic, partition)]) for topic, partition in keys
        ]

    def _commit_in_passing(self, consumer: Consumer, producer: Producer) -> None:
        """At least once, while records keep coming: commit without stalling the loop.

        Commit (asynchronously) only at a moment when nothing is in flight, i.e. every record
        produced so far is acknowledged; otherwise try again after the next batch. Only when
        that moment has not come for several intervals does the loop wait (flush) for it.
        """
        keys = self._uncommitted()
        if not keys:
            return
        producer.poll(0)
        overdue = time.monotonic() - self._last_commit >= OVERDUE_INTERVALS * self._commit_interval_s
        if len(producer) and not overdue:
            return
        if len(producer):
            self._commit_offsets(consumer, producer, keys)
            return
        if self._delivery_error is not None:
            raise SessionFailure(f"producing failed: {self._delivery_error.str()}")
        consumer.commit(offsets=self._offsets(keys), asynchronous=True)
        self._mark_committed(keys)

    def _commit_offsets(self, consumer: Consumer, producer: Producer, keys: list[tuple[str, int]]) -> None:
        """At least once, synchronously: every produced record acknowledged (flush), then the
        offsets committed and confirmed (when idle, before a revocation, at the end)."""
        if not keys:
            return
        remaining = producer.flush(FLUSH_TIMEOUT_S)
        if remaining:
            raise SessionFailure(f"{remaining} records were not acknowledged within {FLUSH_TIMEOUT_S:.0f} s")
        if self._delivery_error is not None:
            raise SessionFailure(f"producing failed: {self._delivery_error.str()}")
        try:
            results = consumer.commit(offsets=self._offsets(keys), asynchronous=False)
        except KafkaException as error:
            kafka_error = error.args[0] if error.args else None
            if isinstance(kafka_error, KafkaError) and kafka_error.code() in _REBALANCE_CODES:
                log.info("query %s: commit skipped during a rebalance: %s", self.query_id, kafka_error.str())
                return
            raise
        failed = [tp for tp in results or [] if tp.error is not None]
        if failed:
            log.warning("query %s: commit failed for %s", self.query_id, failed)
            return
        self._mark_committed(keys)

    def _mark_committed(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            self._committed[key] = self._positions[key]
        self._last_commit = time.monotonic()

    def _commit_transaction(self, consumer: Consumer, producer: Producer) -> None:
        """Exactly once: the offsets join the transaction, which then commits."""
        if not self._in_transaction:
            return
        keys = self._uncommitted()
        offsets = self._offsets(keys)
        if offsets:
            producer.send_offsets_to_transaction(
                offsets, consumer.consumer_group_metadata(), TRANSACTION_TIMEOUT_S
            )
        producer.commit_transaction(TRANSACTION_TIMEOUT_S)
        self._in_transaction = False
        self._mark_committed(keys)

    # -- rebalances (called by librdkafka inside poll/consume, on the query's thread) --------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info("query %s: assigned %s", self.query_id, _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        producer = self._producer
        if producer is not None:
            if self._eos:
                self._commit_transaction(consumer, producer)
            else:
                # Every revoked partition, committed synchronously, even if an asynchronous
                # commit of the same offset is still in flight: the next owner starts there.
                self._commit_offsets(consumer, producer, [key for key in revoked if key in self._positions])
        for key in revoked:
            self._assigned.discard(key)
            self._positions.pop(key, None)
            self._committed.pop(key, None)
        log.info("query %s: revoked %s", self.query_id, _names(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
            self._positions.pop((tp.topic, tp.partition), None)
            self._committed.pop((tp.topic, tp.partition), None)
        if self._in_transaction:
            # Records of lost partitions are in the open transaction: it must not commit.
            raise SessionFailure(f"partitions {_names(partitions)} were lost during a transaction")
        log.warning("query %s: lost %s", self.query_id, _names(partitions))

    def _update_lag(self, consumer: Consumer) -> None:
        assignment = consumer.assignment()
        if not assignment:
            return
        lag: int | None = None
        try:
            for tp in consumer.position(assignment):
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0 and tp.offset >= 0:  # both known (-1001: not yet)
                    lag = (lag or 0) + max(0, high - tp.offset)
        except KafkaException as error:
            log.debug("query %s: lag unavailable: %s", self.query_id, error)
            return
        self.counters.consumer_lag = lag


ClientHeaders = list[tuple[str, str | bytes | None]]


def client_headers(headers: Headers) -> ClientHeaders | None:
    """Record headers as confluent-kafka takes them (None for none)."""
    return [(name, value) for name, value in headers] if headers else None


def record_headers(headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]]) -> Headers:
    """A consumed message's headers as :data:`~ksqldb_lite.execution.driver.Headers` (str values encoded)."""
    items = headers.items() if isinstance(headers, dict) else headers
    return tuple((name, value.encode("utf-8") if isinstance(value, str) else value) for name, value in items)


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in partitions) or "(none)"
