"""kill -9 of the server in the middle of a stream, restart: nothing lost, nothing doubled.

A server of its own (own service id, so its own command topic) runs a Germany filter while a
producer writes events at a steady pace. When the query has processed part of them and committed
offsets on every partition (so that the restart resumes rather than starts over) the server
is killed with SIGKILL (no commit, no transaction end, no leaving the group); the producer goes
on; the server is started again. It must rebuild the stream and the query from its command
topic, resume from the committed offsets and, under exactly_once_v2, abort what the killed
server left uncommitted: the sink (read_committed) then holds every German event exactly once.
Under at_least_once every German event must be there (duplicates are allowed, losses are not).

Each run has its own streams and topics (source and sink), so what is checked is what that run
wrote: a run reading another run's sink would pass even if its own restart lost everything.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports, port_is_free, process_cmdline
from tests.integration.ksql_helpers import (
    ksql,
    produce,
    producer_for,
    query_metric,
    read_topic,
    unique,
    wait_until,
)

EVENTS = 24_000
RATE = 6_000  # events/s: the kill lands while records are still arriving
PARTITIONS = 3


def _event(i: int) -> tuple[bytes, bytes]:
    country = "de" if i % 3 == 0 else "us"
    event_id = f"{i}" if i % 2 else f"ev{i:x}"
    return event_id.encode(), json.dumps(
        {"id": event_id, "group": {"country": country, "city": "x"}}
    ).encode()


def _paced_producer(bootstrap: str, topic: str) -> threading.Thread:
    def run() -> None:
        producer = producer_for(bootstrap)  # one client: few new connections, few ephemeral ports
        start = time.monotonic()
        batch = RATE // 10
        for first in range(0, EVENTS, batch):
            produce(bootstrap, topic, [_event(i) for i in range(first, min(first + batch, EVENTS))], producer)
            ahead = start + (first + batch) / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    thread = threading.Thread(target=run, name="paced-producer")
    thread.start()
    return thread


@pytest.mark.parametrize("guarantee", ["exactly_once_v2", "at_least_once"])
def test_kill_9_mid_stream_then_restart_loses_nothing(
    bootstrap_servers: str, tmp_path: Path, guarantee: str
) -> None:
    (port,) = find_free_ports(1)
    service = f"recovery_{guarantee[:5]}_{uuid.uuid4().hex[:6]}_"
    server = KsqlServer(
        KsqlServerConfig(
            state_dir=tmp_path / "ksql",
            port=port,
            bootstrap_servers=bootstrap_servers,
            service_id=service,
            properties={"ksql.streams.processing.guarantee": guarantee},
        )
    )
    server.start(timeout_s=120)
    producer: threading.Thread | None = None
    try:
        url = server.config.url
        source, sink = unique("EVENTS"), unique("GERMANY")
        source_topic, sink_topic = f"{service}events", f"{service}germany"
        ksql(
            url,
            f"CREATE STREAM {source} (id STRING, `group` STRUCT<country STRING, city STRING>) "
            f"WITH (KAFKA_TOPIC='{source_topic}', VALUE_FORMAT='JSON', PARTITIONS={PARTITIONS});",
        )
        # At least once commits every 2 s by default, later than the kill: the restart would then
        # start from the beginning, not resume. A short interval makes it resume.
        properties = {"ksql.streams.auto.offset.reset": "earliest"}
        if guarantee == "at_least_once":
            properties["ksql.streams.commit.interval.ms"] = "250"
        (created,) = ksql(
            url,
            f"CREATE STREAM {sink} WITH (KAFKA_TOPIC='{sink_topic}') AS "
            f"SELECT * FROM {source} WHERE `group`->country = 'de';",
            properties,
        )
        query_id = created["commandStatus"]["queryId"]
        group = f"_confluent-ksql-{service}query_{query_id}"  # ksqlDB's name of the query's group

        producer = _paced_producer(bootstrap_servers, source_topic)
        admin = AdminClient({"bootstrap.servers": bootstrap_servers})
        wait_until(
            lambda: (
                (query_metric(url, "ksql_query_messages_consumed_total", query_id) or 0) >= EVENTS // 4
                and _partitions_committed(admin, group, source_topic) == PARTITIONS
            ),
            what="a quarter of the events processed and offsets committed on every partition",
        )
        pid = server.running_pid()
        assert pid is not None
        server.kill()
        assert process_cmdline(pid) is None
        assert producer.is_alive(), "the kill must land while events still arrive"

        # The port was picked from the ephemeral range: a client connection may hold it a moment.
        wait_until(lambda: port_is_free(port), timeout_s=30, what=f"port {port} to be free again")
        server.start(timeout_s=120)
        (queries,) = ksql(url, "SHOW QUERIES;")
        assert [q["id"] for q in queries["queries"]] == [query_id]  # rebuilt from the command topic
        producer.join(120)
        assert not producer.is_alive()

        expected = collections.Counter(
            json.loads(value)["id"] for _, value in map(_event, range(EVENTS)) if b'"de"' in value
        )
        assert set(expected.values()) == {1}  # every German event has its own id
        records = read_topic(
            bootstrap_servers, sink_topic, sum(expected.values()), timeout_s=120, quiet_s=3.0
        )
        got = collections.Counter(json.loads(value or b"{}")["ID"] for _, value in records)
        if guarantee == "exactly_once_v2":
            assert got == expected, _difference(got, expected)
        else:
            missing = expected - got  # ids that never arrived
            unexpected = set(got) - set(expected)
            assert not missing and not unexpected, _difference(got, expected)
    finally:
        if producer is not None:
            producer.join(120)
        server.stop(timeout_s=30)


def _partitions_committed(admin: AdminClient, group: str, topic: str) -> int:
    """How many partitions of ``topic`` the consumer group has committed an offset for."""
    wanted = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])
    offsets = admin.list_consumer_group_offsets([wanted])[group].result()
    return sum(1 for tp in offsets.topic_partitions if tp.offset >= 0)


def _difference(got: collections.Counter[str], expected: collections.Counter[str]) -> str:
    missing = expected - got
    extra = got - expected
    return f"{sum(missing.values())} missing (e.g. {list(missing)[:5]}), {sum(extra.values())} extra (e.g. {list(extra)[:5]})"
