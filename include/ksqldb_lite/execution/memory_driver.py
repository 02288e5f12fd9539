"""An in-memory :class:`~ksqldb_lite.execution.driver.TopicDriver` (like Kafka Streams' TopologyTestDriver).

Topics are lists of records per partition. Producing a record hands it, synchronously and in
order, to every running query that reads its topic; what those queries produce is handed on in
turn, until nothing is left to process. So after ``produce`` returns, every query has seen
every record. Like a broker, the driver remembers each persistent query's consumer-group
positions and state stores when it stops, so a query restarted with the same group resumes
where it stopped. Used by the conformance runner, unit tests and the engine micro-benchmark.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ksqldb_lite.errors import DriverError
from ksqldb_lite.execution.driver import (
    ConsumedRecord,
    KeyValueStore,
    ProducedRecord,
    QueryCounters,
    QuerySpec,
    RawProcess,
    RecordProcessor,
    TopicDescription,
)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` as an unsigned 32-bit int (the default partitioner's)."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    end = length & ~3
    for i in range(0, end, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra == 3:
        h ^= data[end + 2] << 16
    if extra >= 2:
        h ^= data[end + 1] << 8
    if extra >= 1:
        h ^= data[end]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def default_partition(key: bytes | None, partitions: int, counter: int) -> int:
    """Kafka's default partitioner: murmur2 of the key; round robin for a null key."""
    if key is None:
        return counter % partitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class _Topic:
    name: str
    replicas: int
    config: dict[str, str]
    partitions: list[list[ConsumedRecord]]
    null_key_counter: int = 0
    # every record in the order it was written, across partitions
    arrival: list[ConsumedRecord] = field(default_factory=list)

    def describe(self) -> TopicDescription:
        return TopicDescription(self.name, len(self.partitions), self.replicas, dict(self.config))


class DictStore:
    """A state store kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        return list(self.data.items())


@dataclass
class _Query:
    spec: QuerySpec
    driver: InMemoryTopicDriver
    counters: QueryCounters = field(default_factory=QueryCounters)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    stores: dict[str, DictStore] = field(default_factory=dict)
    processor: RecordProcessor | None = None
    stopped: bool = False

    # ProcessorContext
    @property
    def query_id(self) -> str:
        return self.spec.query_id

    def report_error(self, entry: bytes | None) -> None:
        self.counters.processing_errors += 1
        topic = self.spec.processing_log_topic
        if entry is not None and topic is not None:
            self.driver.append(topic, [ProducedRecord(None, entry, 0)], create=True)

    def store(self, name: str) -> KeyValueStore:
        return self.stores.setdefault(name, DictStore())


class InMemoryTopicDriver:
    """Topics and queries in memory; see the module docstring."""

    def __init__(self, *, default_replicas: int = 1) -> None:
        self._topics: dict[str, _Topic] = {}
        self._queries: dict[str, _Query] = {}
        self._stopped: dict[str, QueryCounters] = {}
        # what a broker keeps for a consumer group: committed positions and changelog-backed
        # state, so a restarted query resumes where it stopped
        self._groups: dict[str, tuple[dict[tuple[str, int], int], dict[str, DictStore]]] = {}
        self._pumping = False
        self.default_replicas = default_replicas

    # -- topic administration -------------------------------------------------------------
    def describe_topic(self, name: str) -> TopicDescription | None:
        """The topic, or None."""
        topic = self._topics.get(name)
        return topic.describe() if topic else None

    def create_topic(
        self, name: str, partitions: int, replicas: int, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        """Create a topic (no-op when it exists)."""
        if partitions < 1:
            raise DriverError(f"Invalid partition count {partitions} for topic {name}")
        topic = self._topics.get(name)
        if topic is None:
            topic = _Topic(name, replicas, dict(config or {}), [[] for _ in range(partitions)])
            self._topics[name] = topic
        return topic.describe()

    def delete_topic(self, name: str) -> None:
        """Forget a topic and its records."""
        self._topics.pop(name, None)

    def list_topics(self) -> list[TopicDescription]:
        """All topics by name."""
        return [self._topics[name].describe() for name in sorted(self._topics)]

    # -- data --------------------------------------------------------------------------------
    def produce(self, topic: str, records: Sequence[ProducedRecord]) -> None:
        """Append records to an existing topic, then let every query catch up."""
        self.append(topic, records, create=False)
        self._pump()

    def append(self, topic: str, records: Sequence[ProducedRecord], *, create: bool) -> None:
        """Append records without running queries (``create``: make a 1-partition topic)."""
        target = self._topics.get(topic)
        if target is None:
            if not create:
                raise DriverError(f"Topic {topic} does not exist")
            self.create_topic(topic, 1, self.default_replicas)
            target = self._topics[topic]
        count = len(target.partitions)
        for record in records:
            partition = record.partition
            if partition is None:
                partition = default_partition(record.key, count, target.null_key_counter)
                target.null_key_counter += 1
            elif not 0 <= partition < count:
                raise DriverError(f"Partition {partition} of topic {topic} does not exist")
            log = target.partitions[partition]
            consumed = ConsumedRecord(
                topic, partition, len(log), record.timestamp, record.key, record.value, record.headers
            )
            log.append(consumed)
            target.arrival.append(consumed)

    def records(self, topic: str) -> list[ConsumedRecord]:
        """Every record of a topic in the order it was written (across partitions)."""
        target = self._topics.get(topic)
        return list(target.arrival) if target is not None else []

    # -- queries -----------------------------------------------------------------------------
    def start_query(self, spec: QuerySpec) -> None:
        """Start a query at the end (``latest``) or start (``earliest``) of its topics."""
        if spec.query_id in self._queries:
            raise DriverError(f"Query {spec.query_id} is already running")
        query = _Query(spec, self)
        committed, stores = self._groups.get(spec.consumer_group_id, ({}, {}))
        query.stores = stores
        for name in spec.source_topics:
            topic = self._topics.get(name)
            if topic is None:
                raise DriverError(f"Source topic {name} of query {spec.query_id} does not exist")
            for partition, log in enumerate(topic.partitions):
                start = len(log) if spec.auto_offset_reset == "latest" else 0
                query.positions[(name, partition)] = committed.get((name, partition), start)
        query.processor = spec.processor_factory(query)
        self._queries[spec.query_id] = query
        self._stopped.pop(spec.query_id, None)
        self._pump()

    def stop_query(self, query_id: str) -> None:
        """Stop a query; its counters stay readable."""
        query = self._queries.pop(query_id, None)
        if query is not None:
            query.stopped = True
            self._stopped[query_id] = query.counters
            if not query.spec.transient:
                self._groups[query.spec.consumer_group_id] = (dict(query.positions), query.stores)

    def query_counters(self, query_id: str) -> QueryCounters | None:
        """Counters of a running or stopped query."""
        query = self._queries.get(query_id)
        if query is not None:
            lag = 0
            for (name, partition), position in query.positions.items():
                topic = self._topics.get(name)
                if topic is not None:
                    lag += len(topic.partitions[partition]) - position
            query.counters.consumer_lag = lag
            return query.counters
        return self._stopped.get(query_id)

    def query_store(self, query_id: str, name: str) -> KeyValueStore | None:
        """A running query's state store."""
        query = self._queries.get(query_id)
        if query is None:
            return None
        return query.stores.get(name)

    def close(self) -> None:
        """Stop every query."""
        for query_id in list(self._queries):
            self.stop_query(query_id)

    def _pump(self) -> None:
        """Run every query until it has consumed everything (re-entrant calls return at once)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            progress = True
            while progress:
                progress = False
                for query in list(self._queries.values()):
                    if query.counters.state == "RUNNING" and self._run(query):
                        progress = True
        finally:
            self._pumping = False

    def _run(self, query: _Query) -> bool:
        processed = False
        processor = query.processor
        assert processor is not None
        # as the Kafka runner does: ask the processor first whether the raw bytes decide a record
        process_raw: RawProcess | None = getattr(processor, "process_raw", None)
        spec = query.spec
        for (name, partition), position in list(query.positions.items()):
            topic = self._topics.get(name)
            if topic is None:
                continue
            log = topic.partitions[partition]
            while position < len(log) and not query.stopped:
                record = log[position]
                position += 1
                query.positions[(name, partition)] = position
                query.counters.messages_consumed += 1
                processed = True
                try:
                    outputs = (
                        process_raw(
                            record.key, record.value, record.timestamp, record.partition, record.offset
                        )
                        if process_raw is not None
                        else None
                    )
                    if outputs is None:
                        outputs = processor.process(record)
                except Exception as error:  # noqa: BLE001 - a processor bug fails only its query
                    query.counters.state = "ERROR"
                    query.counters.last_error = "".join(
                        traceback.format_exception(type(error), error, error.__traceback__)
                    )
                    return processed
                for output in outputs:
                    target = output.topic or spec.sink_topic
                    if target is None:
                        continue
                    self.append(target, [output], create=False)
                    query.counters.messages_produced += 1
        return processed
