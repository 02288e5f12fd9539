"""The Kafka :class:`~ksqldb_lite.execution.driver.TopicDriver`: topics on a real cluster, queries as groups.

* Topic administration through :class:`~ksqldb_lite.kafka.admin.TopicAdmin`.
* ``produce`` (``INSERT … VALUES``, ``/inserts-stream``) and processing-log entries through one
  shared idempotent producer; ``produce`` waits for the acknowledgements.
* Each query runs in a :class:`~ksqldb_lite.kafka.runner.QueryRunner` (its own thread, consumer
  and producer). Stopping a query commits what it processed; its consumer group keeps its
  offsets, so a query started again with the same group resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ksqldb_lite.errors import DriverError
from ksqldb_lite.execution.driver import (
    KeyValueStore,
    ProducedRecord,
    QueryCounters,
    QuerySpec,
    TopicDescription,
)
from ksqldb_lite.kafka.admin import TopicAdmin
from ksqldb_lite.kafka.config import KafkaClientSettings
from ksqldb_lite.kafka.runner import QueryRunner, client_headers

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0
PRODUCE_TIMEOUT_S = 30.0
# How long a write waits for the producer to see a topic that was deleted and created again
# under the same name (DROP ... DELETE TOPIC, then CREATE): its cached metadata still says "no
# such topic" until a refresh, which librdkafka does on its own only every few minutes.
RECREATED_TOPIC_WAIT_S = 10.0
_UNKNOWN_TOPIC_CODES = frozenset({KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART})


class KafkaTopicDriver:
    """Topics and queries on a Kafka cluster; see the module docstring.

    ``instance_id`` names this server among the servers of a service id (e.g. its listener
    ``127.0.0.1_8088``); it must stay the same across restarts: the queries' static group
    membership and transactional ids are derived from it.
    """

    def __init__(self, settings: KafkaClientSettings, instance_id: str) -> None:
        self.settings = settings
        self.instance_id = instance_id
        self.admin = TopicAdmin(settings)
        self._producer = Producer(settings.producer_config("producer"))
        self._runners: dict[str, QueryRunner] = {}
        self._stopped: dict[str, QueryCounters] = {}
        self._lock = threading.Lock()

    # -- topic administration -------------------------------------------------------------
    def describe_topic(self, name: str) -> TopicDescription | None:
        """The topic, or None when it does not exist."""
        return self.admin.describe(name)

    def create_topic(
        self, name: str, partitions: int, replicas: int, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        """Create a topic (an existing one is returned unchanged)."""
        return self.admin.create(name, partitions, replicas, config)

    def delete_topic(self, name: str) -> None:
        """Delete a topic (no-op when it does not exist)."""
        self.admin.delete(name)

    def list_topics(self) -> list[TopicDescription]:
        """Every topic, sorted by name."""
        return self.admin.list()

    def cluster_id(self) -> str | None:
        """The Kafka cluster id, or None when the cluster does not answer."""
        return self.admin.cluster_id()

    # -- data --------------------------------------------------------------------------------
    def produce(self, topic: str, records: Sequence[ProducedRecord]) -> None:
        """Write records and wait for every acknowledgement; raise DriverError on any failure."""
        errors: list[str] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(error.str())

        for record in records:
            self._produce_one(topic, record, delivered)
        remaining = self._producer.flush(PRODUCE_TIMEOUT_S)
        if remaining:
            raise DriverError(f"Writing to topic {topic} timed out ({remaining} records unacknowledged)")
        if errors:
            raise DriverError(f"Could not write to topic {topic}: {errors[0]}")

    def _produce_one(
        self, topic: str, record: ProducedRecord, delivered: Callable[[KafkaError | None, Message], None]
    ) -> None:
        """Queue one record; when the producer's metadata says its topic does not exist but the
        broker has it (created again after a delete), refresh that topic's metadata and retry."""
        name = record.topic or topic
        deadline = time.monotonic() + RECREATED_TOPIC_WAIT_S
        while True:
            try:
                self._producer.produce(
                    name,
                    record.value,
                    record.key,
                    partition=-1 if record.partition is None else record.partition,
                    on_delivery=delivered,
                    timestamp=record.timestamp,
                    headers=client_headers(record.headers),
                )
                return
            except BufferError as error:
                raise DriverError(f"Could not write to topic {topic}: {error}") from error
            except KafkaException as error:
                if not self._stale_unknown_topic(error, name, deadline):
                    raise DriverError(f"Could not write to topic {topic}: {error}") from error
                log.info("producer metadata for %s is stale (topic created again): refreshing", name)
                self._refresh_metadata(name)

    def _stale_unknown_topic(self, error: KafkaException, name: str, deadline: float) -> bool:
        """True when the producer refused ``name`` as unknown while the broker lists it."""
        code = error.args[0].code() if error.args and isinstance(error.args[0], KafkaError) else None
        return (
            code in _UNKNOWN_TOPIC_CODES
            and time.monotonic() < deadline
            and self.describe_topic(name) is not None
        )

    def _refresh_metadata(self, name: str) -> None:
        try:
            self._producer.list_topics(name, timeout=2.0)
        except KafkaException as error:
            log.warning("metadata refresh for %s failed: %s", name, error)
        time.sleep(0.1)

    def _report_entry(self, topic: str, entry: bytes) -> None:
        """Write one processing-log entry (fire and forget: a lost entry must not stop a query)."""

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                log.warning("processing-log entry to %s was not written: %s", topic, error.str())

        try:
            self._producer.produce(topic, entry, None, on_delivery=delivered)
        except BufferError:
            log.warning("processing-log entry to %s dropped: the producer queue is full", topic)
        self._producer.poll(0)

    # -- queries -----------------------------------------------------------------------------
    def start_query(self, spec: QuerySpec) -> None:
        """Start a query on its own thread (returns before it has caught up)."""
        with self._lock:
            existing = self._runners.get(spec.query_id)
            if existing is not None and existing.alive:
                raise DriverError(f"Query {spec.query_id} is already running")
            runner = QueryRunner(
                spec,
                self.settings,
                self.instance_id,
                self._report_entry,
                self._create_internal_topic,
                self.admin.partitions,
            )
            self._runners[spec.query_id] = runner
            self._stopped.pop(spec.query_id, None)
        runner.start()

    def _create_internal_topic(
        self, name: str, partitions: int, replicas: int, config: dict[str, str]
    ) -> object:
        return self.admin.create(name, partitions, replicas, config)

    def stop_query(self, query_id: str) -> None:
        """Stop a query: it commits what it processed and closes its clients.

        Called from the query's own thread (a push query reaching its LIMIT) it only asks the
        loop to stop and returns at once.
        """
        with self._lock:
            runner = self._runners.pop(query_id, None)
            if runner is None:
                return
            self._stopped[query_id] = runner.counters
        runner.request_stop()
        if not runner.join(STOP_TIMEOUT_S):
            log.warning("query %s is still stopping after %.0f s", query_id, STOP_TIMEOUT_S)

    def query_counters(self, query_id: str) -> QueryCounters | None:
        """Counters of a running or stopped query."""
        with self._lock:
            runner = self._runners.get(query_id)
            if runner is not None:
                return runner.counters
            return self._stopped.get(query_id)

    def query_store(self, query_id: str, name: str) -> KeyValueStore | None:
        """A running query's state store (the whole store: one task per query), for pull queries."""
        with self._lock:
            runner = self._runners.get(query_id)
        return runner.existing_store(name) if runner is not None else None

    def running_queries(self) -> list[str]:
        """Ids of the queries whose thread runs."""
        with self._lock:
            return [query_id for query_id, runner in self._runners.items() if runner.alive]

    def close(self) -> None:
        """Stop every query (all at once, then wait), flush and release the clients."""
        with self._lock:
            runners = list(self._runners.items())
            self._runners.clear()
            for query_id, runner in runners:
                self._stopped[query_id] = runner.counters
        for _, runner in runners:
            runner.request_stop()
        for query_id, runner in runners:
            if not runner.join(STOP_TIMEOUT_S):
                log.warning("query %s did not stop within %.0f s", query_id, STOP_TIMEOUT_S)
        self._producer.flush(10)
