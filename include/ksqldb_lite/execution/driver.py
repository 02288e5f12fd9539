"""The topic driver: the only way the engine touches topics.

The engine never talks to Kafka itself. It asks a :class:`TopicDriver` to administer topics,
to produce records (``INSERT … VALUES``) and to run queries. A query is handed over as a
:class:`QuerySpec`: which topics to read, where to write, and a *processor* that maps one input
record (raw bytes, as consumed) to zero or more output records (raw bytes, ready to produce).
Everything KSQL-specific (deserialization, expressions, serialization, the processing-log
entry) lives inside the processor the engine builds; the driver only moves bytes, counts, and
keeps offsets.

Two implementations:

* :class:`ksqldb_lite.execution.memory_driver.InMemoryTopicDriver` — topics are lists in memory; a
  produced record is handed synchronously to every running query that reads its topic (like
  Kafka Streams' TopologyTestDriver). Used by the conformance runner and unit tests.
* ``ksqldb_lite.kafka`` (separate work) — a consumer group per query
  (:attr:`QuerySpec.consumer_group_id`), a producer to the sink, optional transactions when
  :attr:`QuerySpec.processing_guarantee` is ``exactly_once_v2``.

Threading and tasks: the engine calls the driver from one thread at a time (it serializes
statements); the driver may run queries on its own threads. It calls a query's
``processor_factory`` ONCE and feeds that one processor the records of all the query's
partitions, from one thread at a time: there is no repartition step, so a stateful processor
(GROUP BY) must see every record of every group. Processors share nothing with each other;
their state lives in :class:`ProcessorContext` stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

Headers = tuple[tuple[str, bytes | None], ...]
ProcessingGuarantee = Literal["at_least_once", "exactly_once_v2"]
OffsetReset = Literal["earliest", "latest"]


# The records are NamedTuples (immutable, as frozen dataclasses would be) because one or two
# are built per record a query reads: a frozen dataclass's __init__ costs twice as much.
class ConsumedRecord(NamedTuple):
    """One record as read from a topic: raw key and value bytes plus its coordinates."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class ProducedRecord(NamedTuple):
    """One record to write: raw bytes; ``partition`` None lets the driver partition by key.

    The driver partitions like Kafka's default partitioner: murmur2 of the key bytes modulo the
    topic's partition count; a null key goes to any partition. ``topic`` None means the query's
    sink topic (:attr:`QuerySpec.sink_topic`).
    """

    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers = ()
    partition: int | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class TopicDescription:
    """What the driver knows about a topic."""

    name: str
    partitions: int
    replicas: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class QueryCounters:
    """Per-query counters the driver keeps (exported by the REST layer on ``/metrics``)."""

    messages_consumed: int = 0
    messages_produced: int = 0
    processing_errors: int = 0
    # Sum over partitions of (end offset - committed position); None when unknown.
    consumer_lag: int | None = None
    # RUNNING, or ERROR when the processor raised (a bug) or the driver failed for good.
    state: str = "RUNNING"
    last_error: str | None = None


class KeyValueStore(Protocol):
    """A state store of a stateful query (tier 2: tables, aggregations).

    Keys and values are bytes (serialized by the engine). The in-memory driver keeps a dict;
    the Kafka driver backs it with a compacted changelog topic named
    ``<consumer group id>-<store name>-changelog`` and restores it before the query starts.
    """

    def get(self, key: bytes) -> bytes | None:
        """The stored value, or None."""
        ...

    def put(self, key: bytes, value: bytes | None) -> None:
        """Store (or delete, when value is None) a value."""
        ...

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every entry (pull queries scan the ``materialized`` store of a table's query)."""
        ...


class ProcessorContext(Protocol):
    """What a processor may ask of the driver while it runs."""

    @property
    def query_id(self) -> str:
        """The id of the query the processor belongs to."""
        ...

    def report_error(self, entry: bytes | None) -> None:
        """Count one processing error; write ``entry`` (a serialized processing-log record,
        already JSON) to :attr:`QuerySpec.processing_log_topic` when both are set.

        Called instead of raising when a record cannot be processed (e.g. it fails to
        deserialize): the record is skipped, the query keeps running.
        """
        ...

    def store(self, name: str) -> KeyValueStore:
        """The state store ``name`` of this query (created on first use)."""
        ...


class RecordProcessor(Protocol):
    """Maps one consumed record to the records to produce (usually zero or one).

    A processor may also have an attribute ``process_raw``: None, or a function
    ``(key, value, timestamp, partition, offset) -> Sequence[ProducedRecord] | None`` that
    returns what :meth:`process` would return for that record when it can tell from the raw
    bytes alone and nothing is to be reported (a filter rejecting a valid record: ``()``; an
    aggregation's table update), else None. A driver may call it first and skip building a
    :class:`ConsumedRecord` for the records it decides; on None it must call :meth:`process`
    for the same record next (the record's headers are then what it may need).
    """

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        """Process one record. Must not raise for bad data (use ``report_error``)."""
        ...


ProcessorFactory = Callable[[ProcessorContext], RecordProcessor]
# ``RecordProcessor.process_raw``: (key, value, timestamp, partition, offset) → outputs or None
RawProcess = Callable[[bytes | None, bytes | None, int, int, int], Sequence[ProducedRecord] | None]


@dataclass(frozen=True)
class QuerySpec:
    """Everything a driver needs to run one query.

    Persistent queries (``CSAS_…``, ``INSERTQUERY_…``) write to :attr:`sink_topic` and commit
    their consumer offsets; transient push queries (``transient_…``) have no sink topic, do
    not commit, and their processor hands rows to the push-query handle itself (returning no
    records).
    """

    query_id: str
    # ksqlDB names the group ``_confluent-ksql-<service id>query_<query id>``
    # (transient: ``_confluent-ksql-<service id>transient_<query id>_<millis>``).
    consumer_group_id: str
    source_topics: tuple[str, ...]
    sink_topic: str | None
    processor_factory: ProcessorFactory
    processing_guarantee: ProcessingGuarantee = "at_least_once"
    auto_offset_reset: OffsetReset = "latest"
    processing_log_topic: str | None = None
    transient: bool = False
    # Extra consumer/producer settings (``ksql.streams.*`` properties with the prefix removed).
    client_properties: Mapping[str, str] = field(default_factory=dict)


class TopicDriver(Protocol):
    """Topic administration, producing, and running queries. See the module docstring."""

    # -- topic administration -------------------------------------------------------------
    def describe_topic(self, name: str) -> TopicDescription | None:
        """The topic, or None when it does not exist."""
        ...

    def create_topic(
        self, name: str, partitions: int, replicas: int, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        """Create a topic; no-op returning the existing one if it already exists.

        Raises :class:`ksqldb_lite.errors.DriverError` when the broker refuses.
        """
        ...

    def delete_topic(self, name: str) -> None:
        """Delete a topic (no-op when it does not exist)."""
        ...

    def list_topics(self) -> list[TopicDescription]:
        """All topics, sorted by name (internal ``__*`` topics included)."""
        ...

    # -- data --------------------------------------------------------------------------------
    def produce(self, topic: str, records: Sequence[ProducedRecord]) -> None:
        """Write records and wait until they are acknowledged (``INSERT … VALUES``)."""
        ...

    # -- queries -----------------------------------------------------------------------------
    def start_query(self, spec: QuerySpec) -> None:
        """Start running a query (returns once it is scheduled, not when it has caught up)."""
        ...

    def stop_query(self, query_id: str) -> None:
        """Stop a query and release its resources (no-op when it is not running).

        May be called from inside that query's own processor (a push query reaching its
        LIMIT): then it must not wait for the query's thread to end.
        """
        ...

    def query_counters(self, query_id: str) -> QueryCounters | None:
        """Counters of a running (or stopped, not yet forgotten) query."""
        ...

    def query_store(self, query_id: str, name: str) -> KeyValueStore | None:
        """Read access to a running query's state store (merged over its tasks), for pull
        queries; None when the query or the store does not exist."""
        ...

    def close(self) -> None:
        """Stop every query and release every client."""
        ...
