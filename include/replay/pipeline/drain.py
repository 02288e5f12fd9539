"""Wait until every persistent query has consumed its sources to the end, and record how it went.

The queries and their topics come from ksqlDB's REST API (``SHOW QUERIES``; ``DESCRIBE`` of each
source gives its topic and the queries that read it); the progress comes from Kafka: a query's
consumer group is ``_confluent-ksql-<service id>query_<query id>`` (ksqlDB's naming, which the
project's server keeps), its lag is the source partitions' end offsets minus the group's
committed offsets, read with confluent-kafka's AdminClient. Nothing here is specific to the
project's server, so it measures Confluent's ksqlDB the same way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from replay.errors import DrainTimeoutError, StackError
from replay.migrate.client import KsqlClient

log = logging.getLogger(__name__)


@dataclass
class QueryProgress:
    """One persistent query, its topics and its lag over time."""

    id: str
    sinks: list[str]
    sink_topics: list[str]
    source_topics: list[str]
    consumer_group: str
    state: str | None = None
    lag_series: list[tuple[int, int]] = field(default_factory=list)  # (epoch ms, lag)
    drained_at_ms: int | None = None
    first_committed: int | None = None
    last_committed: int = 0

    def record(self, at_ms: int, lag: int, committed: int) -> None:
        self.lag_series.append((at_ms, lag))
        if lag == 0 and self.drained_at_ms is None:
            self.drained_at_ms = at_ms
        elif lag > 0:
            self.drained_at_ms = None  # fell behind again: drained is when it last reached 0
        if self.first_committed is None:
            self.first_committed = committed
        self.last_committed = committed

    @property
    def lag(self) -> int:
        return self.lag_series[-1][1] if self.lag_series else -1


def persistent_queries(client: KsqlClient, service_id: str) -> list[QueryProgress]:
    """The server's persistent queries with their sink and source topics."""
    entities = client.execute("SHOW QUERIES; SHOW STREAMS; SHOW TABLES;")
    queries = {
        str(q["id"]): QueryProgress(
            id=str(q["id"]),
            sinks=list(q.get("sinks") or []),
            sink_topics=list(q.get("sinkKafkaTopics") or []),
            source_topics=[],
            consumer_group=f"_confluent-ksql-{service_id}query_{q['id']}",
            state=q.get("state"),
        )
        for q in entities[0].get("queries", [])
        if q.get("queryType", "PERSISTENT") == "PERSISTENT"
    }
    sources = [str(s["name"]) for s in [*entities[1].get("streams", []), *entities[2].get("tables", [])]]
    if queries and sources:
        descriptions = client.execute(" ".join(f"DESCRIBE `{name}`;" for name in sources))
        for entity in descriptions:
            description = entity.get("sourceDescription") or {}
            for reader in description.get("readQueries") or []:
                query = queries.get(str(reader.get("id")))
                topic = description.get("topic")
                if query is not None and topic and topic not in query.source_topics:
                    query.source_topics.append(str(topic))
    return sorted(queries.values(), key=lambda q: q.id)


# Up to this many offsets between a group's commit and the end are read to see whether they
# hold records at all: a transactional producer's commit markers (and aborted records) take
# offsets that no consumer ever receives, so a query that has read everything can stay a few
# offsets short of the end (depending on whether it commits its position or its last record's).
_CHECK_REMAINDER = 64


class LagReader:
    """End offsets of topics and committed offsets of groups, through one AdminClient; a small
    remainder is read with a read_committed consumer to count only records a query can get."""

    def __init__(self, admin: AdminClient, kafka_config: dict[str, Any], timeout_s: float = 10.0) -> None:
        self.admin = admin
        self.timeout_s = timeout_s
        self._consumer = Consumer(
            {
                **kafka_config,
                "group.id": f"replay-drain-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
            }
        )

    def close(self) -> None:
        self._consumer.close()

    def records_between(self, topic: str, partition: int, start: int, end: int) -> int:
        """How many records a read_committed consumer gets from ``start`` until the end."""
        self._consumer.assign([TopicPartition(topic, partition, start)])
        count = 0
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                message = self._consumer.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return count
                    raise KafkaException(error)
                count += 1
                if (message.offset() or 0) >= end - 1:
                    return count
            return max(count, end - start)  # could not read it in time: count every offset
        finally:
            self._consumer.unassign()

    def _partitions(self, topics: list[str]) -> list[TopicPartition]:
        metadata = self.admin.list_topics(timeout=self.timeout_s)
        found: list[TopicPartition] = []
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                log.warning("source topic %s does not exist (any more); its lag counts as 0", topic)
                continue
            found.extend(TopicPartition(topic, p) for p in sorted(info.partitions))
        return found

    def _offsets(self, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        futures = self.admin.list_offsets({tp: spec for tp in partitions}, request_timeout=self.timeout_s)
        return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}

    def sample(self, queries: list[QueryProgress]) -> dict[str, tuple[int, int]]:
        """Per query id: (lag, committed records summed over its source partitions)."""
        partitions = self._partitions(sorted({t for q in queries for t in q.source_topics}))
        ends = self._offsets(partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        starts = self._offsets(partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        out: dict[str, tuple[int, int]] = {}
        for query in queries:
            mine = [tp for tp in partitions if tp.topic in query.source_topics]
            if not mine:
                out[query.id] = (0, 0)
                continue
            request = [
                ConsumerGroupTopicPartitions(
                    query.consumer_group, [TopicPartition(tp.topic, tp.partition) for tp in mine]
                )
            ]
            result = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in result[query.consumer_group].result().topic_partitions or []
            }
            lag = total = 0
            for tp in mine:
                key = (tp.topic, tp.partition)
                position = committed.get(key, -1)
                position = position if position >= 0 else starts[key]
                gap = max(0, ends[key] - position)
                if 0 < gap <= _CHECK_REMAINDER:
                    gap = self.records_between(tp.topic, tp.partition, position, ends[key])
                lag += gap
                total += position
            out[query.id] = (lag, total)
        return out


def wait_drained(
    queries: list[QueryProgress],
    reader: LagReader,
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    report: Callable[[str], None] = log.info,
) -> bool:
    """Sample lags until every query is at 0 in the same sample; False when the time ran out."""
    deadline = time.monotonic() + timeout_s
    next_report = time.monotonic() + 5.0
    while True:
        try:
            lags = reader.sample(queries)
        except KafkaException as error:
            raise StackError(
                f"could not read offsets from Kafka: {error.args[0].str()}",
                hint="check the broker (kafka_default connection / REPLAY_KAFKA_BOOTSTRAP_SERVERS)",
            ) from error
        at_ms = int(time.time() * 1000)
        for query in queries:
            lag, committed = lags[query.id]
            query.record(at_ms, lag, committed)
        behind = [q for q in queries if q.lag > 0]
        if not behind:
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        if now >= next_report:
            report(
                f"drain: {len(behind)} of {len(queries)} queries behind, lag {sum(q.lag for q in behind):,} records"
            )
            next_report = now + 5.0
        time.sleep(min(interval_s, max(0.0, deadline - now)))


def timeout_error(queries: list[QueryProgress], timeout_s: float) -> DrainTimeoutError:
    """The error naming every query still behind and its lag."""
    behind = ", ".join(
        f"{q.id} (lag {q.lag:,} on {', '.join(q.source_topics)})" for q in queries if q.lag > 0
    )
    return DrainTimeoutError(
        f"persistent queries still behind after {timeout_s:.0f} s: {behind}",
        hint="check those queries (SHOW QUERIES; the server's log), or allow more time (--drain-timeout)",
    )


def query_json(query: QueryProgress, replay_end_ms: int | None, started_ms: int) -> dict[str, Any]:
    """One query's record in ``drain.json``."""
    drained = query.drained_at_ms
    consumed = query.last_committed - (query.first_committed or 0)
    span_s = ((drained or started_ms) - started_ms) / 1000
    return {
        "id": query.id,
        "state": query.state,
        "sinks": query.sinks,
        "sink_topics": query.sink_topics,
        "source_topics": query.source_topics,
        "consumer_group": query.consumer_group,
        "drained_at_ms": drained,
        "drain_s": round((drained - replay_end_ms) / 1000, 3) if drained and replay_end_ms else None,
        "records_consumed_while_waiting": consumed,
        "records_per_s": round(consumed / span_s, 1) if span_s > 0 and consumed > 0 else None,
        "lag_series": [list(point) for point in query.lag_series],
    }
