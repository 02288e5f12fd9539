"""Running QTT cases end to end on a real Kafka broker (``ksqldb-lite conformance --bootstrap-servers``).

The case logic is the runner's (:func:`ksqldb_lite.conformance.runner.run_variant`); this module
only provides the :class:`~ksqldb_lite.conformance.runner.Backend` that puts a variant's topics
on a broker and runs its queries with :class:`~ksqldb_lite.kafka.KafkaTopicDriver`:

* **Isolation.** Each variant gets its own ``ksql.service.id`` (``qtt_<random>_``), so its
  consumer groups, transactional ids and internal topics are its own. The topics a case names
  keep their names (statements and ``post`` checks depend on them), so they must not exist when
  the variant starts: one that does fails the variant rather than being reused or deleted.
  When the variant ends, every topic it created is deleted, so the next case (which often
  uses the same names, e.g. ``test_topic``) starts clean. Cases therefore run one at a time.
* **Inputs** are produced with their keys, values, timestamps and headers through the driver's
  producer (murmur2 partitioning, like the Java producer). librdkafka reads a timestamp of 0 as
  "now", so a record the QTT file leaves at the default timestamp 0 gets the wall-clock time.
  Consecutive inputs to one topic go in one batch, and each batch is processed completely
  (see waiting) before the next is written, as TopologyTestDriver processes each record before
  the next: the order across topics is kept, e.g. for two queries writing one sink.
* **Waiting** is by condition, with a deadline: the variant has settled when, twice in a row
  with the same end offsets, every running persistent query's consumer group has committed
  the end offset of every partition it reads. At least once, a query commits only what its
  produced records' acknowledgements cover, so its outputs are then in its sink topic.
* **Outputs** are read back from the start of each partition with ``read_committed``, one
  sequence per partition; the runner compares them (order is only defined within a partition).

Consumer groups are not deleted (a query's static member stays in its group until the session
times out); their names are unique per variant, so they only cost the broker a little metadata.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from ksqldb_lite.conformance.runner import CaseFailure, CaseTopics
from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import DriverError
from ksqldb_lite.execution.driver import ConsumedRecord, ProducedRecord, QuerySpec, TopicDescription
from ksqldb_lite.kafka import KafkaClientSettings, KafkaTopicDriver
from ksqldb_lite.kafka.runner import record_headers

log = logging.getLogger(__name__)

# How long a variant may take to process its inputs (and to read its outputs back).
DEFAULT_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
# Reading a partition that ends in transaction markers (which are never delivered) stops after
# this long without a record.
READ_IDLE_S = 1.0


def _error_text(error: KafkaException) -> str:
    first = error.args[0] if error.args else None
    return first.str() if isinstance(first, KafkaError) else str(error)


class CaseDriver(KafkaTopicDriver):
    """A :class:`KafkaTopicDriver` that refuses topics it did not create itself and remembers
    the topics it created and the persistent queries it runs."""

    def __init__(self, settings: KafkaClientSettings, instance_id: str) -> None:
        super().__init__(settings, instance_id)
        self.created: list[str] = []
        self.queries: dict[str, QuerySpec] = {}

    def create_topic(
        self, name: str, partitions: int, replicas: int, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        """Create a topic of this variant; one that exists but is not the variant's is refused."""
        if name not in self.created and self.admin.describe(name, with_config=False) is not None:
            raise DriverError(
                f"Topic {name} already exists on the broker; a conformance case needs its topics "
                "to be its own (delete the topic or run against another broker)"
            )
        description = super().create_topic(name, partitions, replicas, config)
        if name not in self.created:
            self.created.append(name)
        return description

    def _create_internal_topic(
        self, name: str, partitions: int, replicas: int, config: dict[str, str]
    ) -> object:
        if name not in self.created:
            self.created.append(name)
        return super()._create_internal_topic(name, partitions, replicas, config)

    def start_query(self, spec: QuerySpec) -> None:
        """Start a query; persistent ones are watched by :meth:`KafkaCaseTopics.settle`."""
        if not spec.transient:
            self.queries[spec.query_id] = spec
        super().start_query(spec)

    def stop_query(self, query_id: str) -> None:
        """Stop a query and stop watching it."""
        self.queries.pop(query_id, None)
        super().stop_query(query_id)


class KafkaCaseTopics:
    """One variant's topics on a broker; see the module docstring."""

    def __init__(self, bootstrap_servers: str, timeout_s: float) -> None:
        self.service_id = f"qtt_{uuid.uuid4().hex[:10]}_"
        settings = KafkaClientSettings(bootstrap_servers, client_id=f"ksqldb-lite-{self.service_id}")
        self.settings = settings
        self.timeout_s = timeout_s
        self._driver = CaseDriver(settings, instance_id="qtt")
        self._offset_readers: dict[str, Consumer] = {}
        self._reader = Consumer(
            settings.consumer_config(
                "qtt-reader",
                {
                    "group.id": f"{self.service_id}reader",
                    "isolation.level": "read_committed",
                    "auto.offset.reset": "earliest",
                },
            )
        )

    @property
    def driver(self) -> CaseDriver:
        """The Kafka driver the engine runs on."""
        return self._driver

    @property
    def properties(self) -> Mapping[str, Any]:
        """This variant's own service id."""
        return {"ksql.service.id": self.service_id}

    def produce(self, topic: str, records: Sequence[ProducedRecord]) -> None:
        """Write the records and wait for their acknowledgements."""
        self._driver.produce(topic, records)

    # -- waiting -----------------------------------------------------------------------------
    def settle(self, engine: KsqlEngine) -> None:
        """Wait until every running persistent query has committed the end of its sources."""
        deadline = time.monotonic() + self.timeout_s
        partitions: dict[str, int] = {}
        previous: dict[tuple[str, int], int] | None = None
        while True:
            specs = list(self._driver.queries.values())
            if any(self._failed(spec.query_id) for spec in specs):
                return  # the runner reports the failed query
            ends: dict[tuple[str, int], int] = {}
            behind: list[str] = []
            for spec in specs:
                for topic in spec.source_topics:
                    if topic not in partitions:
                        partitions[topic] = self._driver.admin.partitions(topic)
                keys = [(topic, p) for topic in spec.source_topics for p in range(partitions[topic])]
                committed = self._committed(spec.consumer_group_id, keys)
                if isinstance(committed, str):
                    behind.append(f"{spec.query_id}: {committed}")
                    continue
                for topic, partition in keys:
                    low, high = self._watermarks(topic, partition)
                    ends[(topic, partition)] = high
                    position = max(committed.get((topic, partition), -1), low)
                    if position < high:
                        behind.append(f"{spec.query_id} at {topic}/{partition}@{position} of {high}")
            if not behind and ends == previous:
                return
            previous = None if behind else ends
            if time.monotonic() > deadline:
                raise CaseFailure(
                    f"queries did not process their inputs within {self.timeout_s:.0f} s: "
                    + "; ".join(behind[:4])
                )
            time.sleep(POLL_INTERVAL_S)

    def _failed(self, query_id: str) -> bool:
        counters = self._driver.query_counters(query_id)
        return counters is not None and counters.state == "ERROR"

    def _committed(self, group: str, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int] | str:
        """The committed offsets of a query's group, or why they cannot be read yet.

        Read with a consumer of that group that never subscribes (so it never joins the group
        nor disturbs the query): ``AdminClient.list_consumer_group_offsets`` of confluent-kafka
        2.16 crashes the process (SIGSEGV) when asked while a freshly started broker is still
        loading its group coordinator, where this call raises a retriable error instead.
        """
        reader = self._offset_readers.get(group)
        if reader is None:
            reader = Consumer(self.settings.consumer_config("qtt-offsets", {"group.id": group}))
            self._offset_readers[group] = reader
        try:
            result = reader.committed([TopicPartition(t, p) for t, p in keys], timeout=REQUEST_TIMEOUT_S)
        except KafkaException as error:
            first = error.args[0] if error.args else None
            if isinstance(first, KafkaError) and first.retriable():
                return f"offsets of group {group} not readable yet ({first.str()})"
            raise CaseFailure(f"cannot read the offsets of group {group}: {_error_text(error)}") from None
        return {(tp.topic, tp.partition): tp.offset for tp in result}

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            low, high = self._reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=REQUEST_TIMEOUT_S, cached=False
            )
        except KafkaException as error:
            raise CaseFailure(
                f"cannot read the offsets of {topic}/{partition}: {_error_text(error)}"
            ) from None
        return int(low), int(high)

    # -- reading -----------------------------------------------------------------------------
    def records(self, topic: str) -> list[list[ConsumedRecord]]:
        """Every committed record of ``topic``, one list per partition in offset order."""
        count = self._driver.admin.partitions(topic)
        runs: list[list[ConsumedRecord]] = [[] for _ in range(count)]
        remaining: dict[int, int] = {}
        for partition in range(count):
            low, high = self._watermarks(topic, partition)
            if high > low:
                remaining[partition] = high
        if not remaining:
            return runs
        self._reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in remaining])
        deadline = time.monotonic() + self.timeout_s
        last_record = time.monotonic()
        try:
            while remaining and time.monotonic() - last_record < READ_IDLE_S:
                if time.monotonic() > deadline:
                    raise CaseFailure(f"reading topic {topic} timed out ({sorted(remaining)} unfinished)")
                message = self._reader.poll(0.1)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    raise CaseFailure(f"reading topic {topic} failed: {error.str()}")
                partition, offset = message.partition() or 0, message.offset() or 0
                last_record = time.monotonic()
                _, timestamp = message.timestamp()
                runs[partition].append(
                    ConsumedRecord(
                        topic,
                        partition,
                        offset,
                        timestamp,
                        message.key(),
                        message.value(),
                        record_headers(message.headers() or []),
                    )
                )
                if offset + 1 >= remaining.get(partition, 0):
                    remaining.pop(partition, None)
        finally:
            self._reader.unassign()
        return runs

    def topic_names(self) -> list[str]:
        """The topics this variant created that still exist (other topics on the broker are
        not the case's business)."""
        mine = set(self._driver.created)
        prefix = f"_confluent-ksql-{self.service_id}"
        return [t.name for t in self._driver.list_topics() if t.name in mine or t.name.startswith(prefix)]

    # -- cleaning up -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every query, close the clients and delete every topic this variant created."""
        self._driver.close()
        self._reader.close()
        for reader in self._offset_readers.values():
            reader.close()
        self._delete_topics()

    def _delete_topics(self) -> None:
        admin = self._driver.admin.client
        prefix = f"_confluent-ksql-{self.service_id}"
        try:
            existing = set(admin.list_topics(timeout=REQUEST_TIMEOUT_S).topics)
        except KafkaException as error:
            raise CaseFailure(f"cannot list topics to clean up: {_error_text(error)}") from None
        names = sorted(n for n in existing if n in self._driver.created or n.startswith(prefix))
        if not names:
            return
        for name, future in admin.delete_topics(names, request_timeout=REQUEST_TIMEOUT_S).items():
            try:
                future.result(timeout=REQUEST_TIMEOUT_S)
            except KafkaException as error:
                first = error.args[0] if error.args else None
                if not (isinstance(first, KafkaError) and first.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                    raise CaseFailure(f"cannot delete topic {name}: {_error_text(error)}") from None
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                left = set(names) & set(admin.list_topics(timeout=REQUEST_TIMEOUT_S).topics)
            except KafkaException as error:
                raise CaseFailure(f"cannot list topics to clean up: {_error_text(error)}") from None
            if not left:
                return
            if time.monotonic() > deadline:
                raise CaseFailure(f"topics {sorted(left)} were deleted but still show in the metadata")
            time.sleep(POLL_INTERVAL_S)


class KafkaBackend:
    """Runs each variant on the broker at ``bootstrap_servers``, one at a time."""

    def __init__(self, bootstrap_servers: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s

    @contextmanager
    def open_case(self, topics: Sequence[str]) -> Iterator[CaseTopics]:
        """Fresh topics for one variant; everything it created is deleted when it ends."""
        case = KafkaCaseTopics(self.bootstrap_servers, self.timeout_s)
        failed = False
        try:
            taken = [name for name in topics if case.driver.describe_topic(name) is not None]
            if taken:
                raise CaseFailure(
                    f"topics {taken} already exist on {self.bootstrap_servers}; the case needs them "
                    "fresh (delete them or use another broker)"
                )
            yield case
        except BaseException:
            failed = True
            raise
        finally:
            try:
                case.close()
            except CaseFailure as cleanup:
                if not failed:
                    raise
                log.warning("cleaning up after a failed case: %s", cleanup)
