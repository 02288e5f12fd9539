"""The Kafka topic driver on the real broker, with hand-written processors (no engine).

Proves the runtime contract the engine builds on: a persistent query is a consumer group that
resumes from committed offsets, exactly-once output under transactions, bad records go to the
processing log without stopping the query, push queries read without a group, state stores
survive a restart, and the command log round-trips through its topic.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewPartitions

from ksqldb_lite.engine.commandlog import Command
from ksqldb_lite.execution.driver import (
    ConsumedRecord,
    ProcessorContext,
    ProducedRecord,
    QuerySpec,
    RecordProcessor,
)
from ksqldb_lite.kafka import KafkaClientSettings, KafkaCommandLog, KafkaTopicDriver
from ksqldb_lite.kafka.admin import TopicAdmin
from tests.integration.ksql_helpers import produce, read_topic, wait_until


class GermanyFilter:
    """Keeps records whose JSON ``country`` is ``de``; reports records that are not JSON."""

    def __init__(self, context: ProcessorContext) -> None:
        self.context = context

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        try:
            value = json.loads(record.value or b"null")
        except ValueError:
            self.context.report_error(json.dumps({"bad": (record.value or b"").decode("latin-1")}).encode())
            return []
        if isinstance(value, dict) and value.get("country") == "de":
            return [ProducedRecord(record.key, record.value, record.timestamp, record.headers)]
        return []


class Counter:
    """Counts records per key in a state store and emits the running count."""

    def __init__(self, context: ProcessorContext) -> None:
        self.store = context.store("counts")

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        key = record.key or b""
        count = int(self.store.get(key) or b"0") + 1
        self.store.put(key, str(count).encode())
        return [ProducedRecord(key, str(count).encode(), record.timestamp)]


@pytest.fixture
def driver(bootstrap_servers: str) -> Iterator[KafkaTopicDriver]:
    settings = KafkaClientSettings(bootstrap_servers, client_id="driver-test")
    instance = KafkaTopicDriver(settings, instance_id=f"test-{uuid.uuid4().hex[:6]}")
    try:
        yield instance
    finally:
        instance.close()


def _spec(
    query_id: str,
    source: str,
    sink: str | None,
    factory: Callable[[ProcessorContext], RecordProcessor],
    **kwargs: Any,
) -> QuerySpec:
    return QuerySpec(
        query_id=query_id,
        consumer_group_id=f"_confluent-ksql-test_query_{query_id}",
        source_topics=(source,),
        sink_topic=sink,
        processor_factory=factory,
        **kwargs,
    )


def _events(start: int, count: int) -> list[tuple[bytes, bytes]]:
    return [
        (f"k{i}".encode(), json.dumps({"id": str(i), "country": "de" if i % 3 == 0 else "us"}).encode())
        for i in range(start, start + count)
    ]


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once_v2"])
def test_persistent_query_filters_and_resumes_from_committed_offsets(
    driver: KafkaTopicDriver, bootstrap_servers: str, topic_name: str, guarantee: str
) -> None:
    source, sink = f"{topic_name}-src", f"{topic_name}-sink"
    driver.create_topic(source, 3, 1)
    driver.create_topic(sink, 3, 1)
    produce(bootstrap_servers, source, _events(0, 300))
    spec = _spec(
        f"CSAS_{guarantee.upper()}_1",
        source,
        sink,
        GermanyFilter,
        auto_offset_reset="earliest",
        processing_guarantee=guarantee,
    )
    driver.start_query(spec)
    wait_until(
        lambda: (driver.query_counters(spec.query_id) or _NONE).messages_produced >= 100, what="first 100"
    )
    driver.stop_query(spec.query_id)
    counters = driver.query_counters(spec.query_id)
    assert counters is not None
    assert counters.messages_consumed == 300
    assert counters.messages_produced == 100

    # Stopped: new records wait in the topic; started again, the group resumes where it was.
    produce(bootstrap_servers, source, _events(300, 300))
    driver.start_query(spec)
    wait_until(
        lambda: (driver.query_counters(spec.query_id) or _NONE).messages_consumed >= 300, what="resume"
    )
    records = read_topic(bootstrap_servers, sink, 200)
    expected = {key: value for key, value in _events(0, 600) if json.loads(value)["country"] == "de"}
    assert sorted(records) == sorted(expected.items())  # every record once: nothing lost, nothing twice
    counters = driver.query_counters(spec.query_id)
    assert counters is not None and counters.messages_consumed == 300  # only the new ones
    wait_until(lambda: (driver.query_counters(spec.query_id) or _NONE).consumer_lag == 0, what="lag 0")


class _NoCounters:
    messages_produced = messages_consumed = -1
    consumer_lag = None


_NONE: Any = _NoCounters()


def test_bad_record_goes_to_the_processing_log_and_the_query_keeps_running(
    driver: KafkaTopicDriver, bootstrap_servers: str, topic_name: str
) -> None:
    source, sink, plog = f"{topic_name}-src", f"{topic_name}-sink", f"{topic_name}-log"
    for name in (source, sink, plog):
        driver.create_topic(name, 1, 1)
    spec = _spec(
        "CSAS_PLOG_1", source, sink, GermanyFilter, auto_offset_reset="earliest", processing_log_topic=plog
    )
    driver.start_query(spec)
    produce(bootstrap_servers, source, [(b"a", b"{not json"), *_events(0, 3)])
    logged = read_topic(bootstrap_servers, plog, 1)
    assert [json.loads(value or b"") for _, value in logged] == [{"bad": "{not json"}]
    assert read_topic(bootstrap_servers, sink, 1) == [(b"k0", _events(0, 1)[0][1])]
    counters = driver.query_counters(spec.query_id)
    assert counters is not None
    assert counters.processing_errors == 1
    assert counters.state == "RUNNING"


def test_push_query_reads_from_latest_without_a_group(
    driver: KafkaTopicDriver, bootstrap_servers: str, topic_name: str
) -> None:
    driver.create_topic(topic_name, 2, 1)
    produce(bootstrap_servers, topic_name, _events(0, 10))  # before the query: not seen
    rows: list[bytes] = []

    class Collect:
        def __init__(self, context: ProcessorContext) -> None:
            pass

        def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
            rows.append(record.value or b"")
            return []

    spec = _spec("transient_T_1", topic_name, None, Collect, transient=True)
    driver.start_query(spec)
    time.sleep(1.0)  # assignment at the end offsets happens on the query's thread
    produce(bootstrap_servers, topic_name, _events(10, 5))
    wait_until(lambda: len(rows) == 5, what="5 push rows")
    driver.stop_query(spec.query_id)
    assert sorted(json.loads(row)["id"] for row in rows) == ["10", "11", "12", "13", "14"]
    admin = TopicAdmin(driver.settings)
    groups = admin.client.list_consumer_groups().result().valid
    assert spec.consumer_group_id not in {group.group_id for group in groups}


def test_state_store_is_restored_from_its_changelog(
    driver: KafkaTopicDriver, bootstrap_servers: str, topic_name: str
) -> None:
    source, sink = f"{topic_name}-src", f"{topic_name}-sink"
    driver.create_topic(source, 1, 1)
    driver.create_topic(sink, 1, 1)
    spec = _spec(
        "CTAS_COUNTS_1",
        source,
        sink,
        Counter,
        auto_offset_reset="earliest",
        processing_guarantee="exactly_once_v2",
    )
    produce(bootstrap_servers, source, [(b"x", b"1"), (b"y", b"1"), (b"x", b"1")])
    driver.start_query(spec)
    wait_until(
        lambda: (driver.query_counters(spec.query_id) or _NONE).messages_produced == 3, what="3 counts"
    )
    driver.stop_query(spec.query_id)

    driver.start_query(spec)  # a new runner: its store starts empty and is restored
    produce(bootstrap_servers, source, [(b"x", b"1")])
    records = read_topic(bootstrap_servers, sink, 4)
    assert records == [(b"x", b"1"), (b"y", b"1"), (b"x", b"2"), (b"x", b"3")]


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once_v2"])
def test_changelog_gets_the_last_value_of_each_key_per_batch(
    driver: KafkaTopicDriver, bootstrap_servers: str, topic_name: str, guarantee: str
) -> None:
    """A backlog of 300 updates of three keys: the outputs are one per record, the changelog
    holds far fewer records (coalesced per batch), and a restarted query resumes from it."""
    source, sink = f"{topic_name}-src", f"{topic_name}-sink"
    driver.create_topic(source, 1, 1)
    driver.create_topic(sink, 1, 1)
    spec = _spec(
        f"CTAS_BATCHED_{uuid.uuid4().hex[:6]}",
        source,
        sink,
        Counter,
        auto_offset_reset="earliest",
        processing_guarantee=guarantee,
    )
    produce(bootstrap_servers, source, [(b"abc"[i % 3 : i % 3 + 1], b"1") for i in range(300)])
    driver.start_query(spec)
    assert len(read_topic(bootstrap_servers, sink, 300)) == 300
    driver.stop_query(spec.query_id)
    changelog = read_topic(bootstrap_servers, f"{spec.consumer_group_id}-counts-changelog", 3)
    assert len(changelog) < 100, "one changelog record per key and batch, not per update"
    assert dict(changelog) == {b"a": b"100", b"b": b"100", b"c": b"100"}

    driver.start_query(spec)  # a new runner: restored from the coalesced changelog
    produce(bootstrap_servers, source, [(b"a", b"1")])
    assert read_topic(bootstrap_servers, sink, 301)[-1] == (b"a", b"101")


def test_command_log_round_trip(bootstrap_servers: str) -> None:
    settings = KafkaClientSettings(bootstrap_servers)
    admin = TopicAdmin(settings)
    log = KafkaCommandLog(settings, admin, f"_confluent-ksql-t{uuid.uuid4().hex[:8]}_command_topic")
    log.ensure_topic()
    assert list(log.read_all()) == []
    first = Command(
        "CREATE STREAM S (ID STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');", {}, "stream/`S`/create"
    )
    second = Command("DROP STREAM S;", {"ksql.streams.auto.offset.reset": "earliest"}, "stream/`S`/drop")
    assert log.append(first) == 0
    assert log.append(second) == 1
    log.close()
    again = KafkaCommandLog(settings, admin, log.topic)
    again.ensure_topic()  # existing, 1 partition: accepted
    assert list(again.read_all()) == [(0, first), (1, second)]
    description = admin.describe(log.topic)
    assert description is not None
    assert description.partitions == 1
    assert description.config.get("retention.ms") == "-1"


def test_partitions_added_to_a_source_are_picked_up(
    driver: KafkaTopicDriver, bootstrap_servers: str, topic_name: str
) -> None:
    source, sink = f"{topic_name}-src", f"{topic_name}-sink"
    driver.create_topic(source, 1, 1)
    driver.create_topic(sink, 1, 1)
    spec = _spec(
        "CSAS_GROW_1",
        source,
        sink,
        GermanyFilter,
        auto_offset_reset="earliest",
        client_properties={"consumer.topic.metadata.refresh.interval.ms": "1000"},
    )
    driver.start_query(spec)
    produce(bootstrap_servers, source, _events(0, 3))
    wait_until(lambda: (driver.query_counters(spec.query_id) or _NONE).messages_consumed == 3, what="first 3")
    admin = TopicAdmin(driver.settings)
    admin.client.create_partitions([NewPartitions(source, 2)])[source].result(30)
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for key, value in _events(3, 3):
        producer.produce(source, value, key, partition=1)
    assert producer.flush(30) == 0
    wait_until(
        lambda: (driver.query_counters(spec.query_id) or _NONE).messages_consumed == 6, what="partition 1"
    )
    assert sorted(read_topic(bootstrap_servers, sink, 2)) == [
        (b"k0", _events(0, 1)[0][1]),
        (b"k3", _events(3, 1)[0][1]),
    ]


def test_a_second_instance_takes_over_partitions_without_loss_or_duplicates(
    bootstrap_servers: str, topic_name: str
) -> None:
    """Two servers run the same query (same group): partitions are shared, then handed back
    when one stops; processed offsets are committed on revocation, so nothing is read twice."""
    source, sink = f"{topic_name}-src", f"{topic_name}-sink"
    settings = KafkaClientSettings(bootstrap_servers, client_id="rebalance-test")
    first = KafkaTopicDriver(settings, instance_id="first")
    second = KafkaTopicDriver(settings, instance_id="second")
    try:
        first.create_topic(source, 4, 1)
        first.create_topic(sink, 4, 1)
        spec = _spec("CSAS_SHARED_1", source, sink, GermanyFilter, auto_offset_reset="earliest")
        first.start_query(spec)
        produce(bootstrap_servers, source, _events(0, 600))
        wait_until(
            lambda: (first.query_counters(spec.query_id) or _NONE).messages_consumed == 600, what="first 600"
        )
        second.start_query(spec)
        admin = TopicAdmin(settings)

        def members() -> int:
            groups = admin.client.describe_consumer_groups([spec.consumer_group_id])
            description = groups[spec.consumer_group_id].result(10)
            return sum(1 for m in description.members if m.assignment.topic_partitions)

        wait_until(lambda: members() == 2, what="both instances holding partitions")
        produce(bootstrap_servers, source, _events(600, 600))

        def consumed() -> int:
            return sum((d.query_counters(spec.query_id) or _NONE).messages_consumed for d in (first, second))

        wait_until(lambda: consumed() == 1200, what="1,200 consumed by the two")
        assert (second.query_counters(spec.query_id) or _NONE).messages_consumed > 0  # it did take a share
        first.stop_query(spec.query_id)  # hands its partitions to the second
        produce(bootstrap_servers, source, _events(1200, 300))
        wait_until(lambda: consumed() == 1500, what="the rest by the second")
        records = read_topic(bootstrap_servers, sink, 500)
        expected = [(k, v) for k, v in _events(0, 1500) if json.loads(v)["country"] == "de"]
        assert sorted(records) == sorted(expected)
    finally:
        first.close()
        second.close()
