"""The Germany filter on the ksqlDB-compatible server, on the real broker.

Two figures (issue 6; goals ≥ 50,000 records/s on one core and p99 ≤ 50 ms):

* **throughput** — a Meetup-shaped dump the size of the study's (142,502 events, ~2.4 KB each;
  ``--quick``: 20,000) is written to ``meetup_events`` first; then the study's stream and the
  Germany CSAS start with ``auto.offset.reset=earliest`` on a server process pinned to one CPU.
  Records/s = events / time from the first to the last record consumed (from the server's
  ``/metrics``); also events per CPU-second of the server process. The sink count is checked
  against an independent filter of the same bytes.
* **end-to-end latency** at 1,000 events/s — events paced on a schedule (start + i/rate; a
  record's timestamp is its *intended* send time, so a stalled producer cannot hide latency),
  latency = time a consumer of the sink receives it − that timestamp, in an HdrHistogram (µs;
  the timestamps have ms resolution). Germany is 10 % of these events so that the percentiles
  rest on thousands of samples; the filter's cost per event does not depend on the share.

A second latency run uses ``exactly_once_v2`` (sink read ``read_committed``); the latency runs do
not pin the server. The benchmark's own producer and consumers disable Nagle's algorithm
(``socket.nagle.disable``), as the Java clients under ksqlDB always do: librdkafka's default
leaves it on, which alone put tens of milliseconds into the source topic's p99. The broker and the server are processes started here; the server is the real
``ksqldb-lite serve``. The machine is shared: figures carry the CPU count and load average at
the start, and the latency runs also measure the source topic alone and the server's own hop.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
import requests
from confluent_kafka import Consumer, Producer
from hdrh.histogram import HdrHistogram
from prometheus_client.parser import text_string_to_metric_families

from replay.bench import BenchContext
from replay.bench.broker import shared_broker
from replay.bench.meetup_shape import MeetupShapedEvents, ShapeOptions, is_german
from replay.errors import ReplayError
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports

FULL_DUMP_EVENTS = 142_502
QUICK_DUMP_EVENTS = 20_000
LATENCY_RATE = 1_000
LATENCY_SECONDS = 60
QUICK_LATENCY_SECONDS = 15
PERCENTILES = (50.0, 90.0, 99.0, 99.9)

STREAM = """CREATE STREAM {name} (
  utc_offset BIGINT,
  venue STRUCT<zip STRING, country STRING, city STRING, address_1 STRING, address_2 STRING, name STRING,
               phone STRING, lon DOUBLE, state STRING, lat DOUBLE>,
  rsvp_limit INT, venue_visibility STRING, visibility STRING,
  fee STRUCT<amount DOUBLE, currency STRING, description STRING>,
  maybe_rsvp_count INT, description STRING, mtime BIGINT, event_url STRING, yes_rsvp_count INT,
  duration BIGINT, payment_required STRING, name STRING, id STRING, `time` BIGINT,
  `group` STRUCT<join_mode STRING, country STRING, city STRING, name STRING, group_lon DOUBLE, id BIGINT,
                 state STRING, urlname STRING, category STRUCT<name STRING, id INT, shortname STRING>,
                 group_photo STRUCT<highres_link STRING, photo_link STRING, photo_id BIGINT, thumb_link STRING>,
                 group_lat DOUBLE>,
  status STRING
) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS={partitions});"""
GERMANY = "CREATE STREAM {name}_GERMANY AS SELECT * FROM {name} WHERE `group`->country = 'de';"


class BenchError(ReplayError):
    """The benchmark could not run as designed."""


@contextmanager
def _server(ctx: BenchContext, bootstrap: str, cpu: int | None, guarantee: str) -> Iterator[KsqlServer]:
    """A ksql server process; with ``cpu``, every thread of it runs on that CPU (the affinity
    is set here around the start and inherited by the child and all its threads)."""
    (port,) = find_free_ports(1)
    config = KsqlServerConfig(
        state_dir=ctx.work_dir / f"ksql-{uuid.uuid4().hex[:6]}",
        port=port,
        bootstrap_servers=bootstrap,
        service_id=f"bench_{uuid.uuid4().hex[:6]}_",
        properties={"ksql.streams.processing.guarantee": guarantee},
    )
    server = KsqlServer(config)
    ours = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        server.start(timeout_s=120)
    finally:
        os.sched_setaffinity(0, ours)
    try:
        yield server
    finally:
        server.stop(timeout_s=30)


def _ksql(url: str, text: str, properties: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = requests.post(
        f"{url}/ksql", json={"ksql": text, "streamsProperties": properties or {}}, timeout=120
    )
    if response.status_code != 200:
        raise BenchError(f"the ksql server refused a statement: {response.text}", hint="see the server log")
    body: list[dict[str, Any]] = response.json()
    return body


def _consumed(url: str, query_id: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "ksql_query_messages_consumed_total"
                and sample.labels.get("query_id") == query_id
            ):
                return float(sample.value)
    return 0.0


def _producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 1,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "none",
            "socket.nagle.disable": True,  # TCP_NODELAY, as Java clients (see the module doc)
            "queue.buffering.max.kbytes": 262144,
        }
    )


def _send(producer: Producer, topic: str, value: bytes, key: bytes | None, timestamp: int = 0) -> None:
    while True:
        try:
            producer.produce(topic, value, key, timestamp=timestamp)
            return
        except BufferError:
            producer.poll(0.05)


def _count_topic(bootstrap: str, topic: str, expected: int, timeout_s: float) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-count-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    count, quiet, deadline = 0, 0, time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and (count < expected or quiet < 4):
            batch = [m for m in consumer.consume(1000, timeout=0.5) if m.error() is None]
            count += len(batch)
            quiet = 0 if batch else quiet + 1
    finally:
        consumer.close()
    return count


def _time_query(url: str, statement: str, events: int) -> tuple[float, float, str]:
    """Start a CSAS at ``earliest``; seconds to its first record and from first to last."""
    created = time.monotonic()
    (entity,) = _ksql(url, statement, {"ksql.streams.auto.offset.reset": "earliest"})
    query_id = str(entity["commandStatus"]["queryId"])
    first: float | None = None
    while True:
        consumed = _consumed(url, query_id)
        now = time.monotonic()
        if first is None and consumed > 0:
            first = now
        if first is not None and consumed >= events:
            return first - created, now - first, query_id
        if now - created > 900:
            raise BenchError(
                f"query {query_id} consumed only {consumed:.0f} of {events} events in 15 minutes"
            )
        time.sleep(0.1)


def throughput(ctx: BenchContext, bootstrap: str, cpu: int) -> dict[str, Any]:
    """Events/s of the Germany filter over a pre-loaded dump, server pinned to ``cpu``; and of
    the cheapest query over the same bytes (VALUE_FORMAT KAFKA, no JSON parsing): the ceiling
    of the server's runtime (consumer, driver loop, metrics) without the KSQL work."""
    events = QUICK_DUMP_EVENTS if ctx.quick else FULL_DUMP_EVENTS
    name = f"MEETUP_EVENTS_{uuid.uuid4().hex[:6].upper()}"
    topic = name.lower()
    with _server(ctx, bootstrap, cpu, "at_least_once") as server:
        url = server.config.url
        _ksql(url, STREAM.format(name=name, topic=topic, partitions=3))
        producer = _producer(bootstrap)
        german, size = 0, 0
        loaded = time.monotonic()
        for line in MeetupShapedEvents(ShapeOptions()).lines(events):
            german += is_german(line)
            size += len(line)
            _send(producer, topic, line, None)
        producer.flush(120)
        load_s = time.monotonic() - loaded

        pid = server.running_pid()
        assert pid is not None
        process = psutil.Process(pid)
        cpu_before = sum(process.cpu_times()[:2])
        to_first, busy_s, _ = _time_query(url, GERMANY.format(name=name), events)
        cpu_s = sum(process.cpu_times()[:2]) - cpu_before
        sink = _count_topic(bootstrap, f"{name}_GERMANY", german, timeout_s=60)

        raw = f"{name}_RAW"
        _ksql(url, f"CREATE STREAM {raw} (V STRING) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='KAFKA');")
        cpu_before = sum(process.cpu_times()[:2])
        _, ceiling_s, _ = _time_query(
            url, f"CREATE STREAM {raw}_NONE AS SELECT * FROM {raw} WHERE V IS NULL;", events
        )
        ceiling_cpu_s = sum(process.cpu_times()[:2]) - cpu_before
    return {
        "events": events,
        "bytes": size,
        "mean_event_bytes": round(size / events),
        "german_events": german,
        "sink_records": sink,
        "sink_matches_independent_filter": sink == german,
        "producer_load_s": round(load_s, 2),
        "time_to_first_record_s": round(to_first, 2),
        "records_per_s_one_core": round(events / busy_s),
        "mb_per_s": round(size / busy_s / 1e6, 1),
        "server_cpu_s": round(cpu_s, 2),
        "records_per_cpu_s": round(events / cpu_s),
        "runtime_ceiling_records_per_s": round(events / ceiling_s),
        "runtime_ceiling_records_per_cpu_s": round(events / ceiling_cpu_s),
        "note": "wall time from the first to the last record consumed (metrics polled every 0.1 s), "
        "server pinned to one CPU; the broker and this process share the other; the ceiling is the "
        "same server and bytes with a KAFKA-format query that parses nothing",
    }


class _LatencyReader:
    """Consumes the source and the sink topics, recording now − record timestamp per topic.

    The source topic's figures are the broker-and-client baseline measured in the same session.
    ``hop`` is, per event, when the reader got its sink record minus when it got the same
    event from the source topic: what the server adds, without the producer's leg.
    """

    def __init__(self, bootstrap: str, topics: dict[str, str], isolation: str) -> None:
        self.histograms = {label: HdrHistogram(1, 60_000_000, 3) for label in (*topics.values(), "hop")}
        self._seen_at: dict[bytes, int] = {}
        self._labels = topics
        self.counts = dict.fromkeys(topics.values(), 0)
        self.warmed_up = threading.Event()
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-latency-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": isolation,
                "fetch.wait.max.ms": 100,
                "socket.nagle.disable": True,
            }
        )
        self._consumer.subscribe(list(topics))
        self._thread = threading.Thread(target=self._run, name="latency-reader")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                first = self._consumer.poll(0.05)  # returns at the first record: no batching delay
                if first is None:
                    continue
                for message in [first, *self._consumer.consume(500, timeout=0)]:
                    now_us = time.time_ns() // 1000
                    if message.error() is not None:
                        continue
                    value = message.value() or b""
                    if b'"warmup"' in value:
                        if self._labels[message.topic() or ""] == "sink":
                            self.warmed_up.set()
                        continue
                    label = self._labels[message.topic() or ""]
                    _, timestamp_ms = message.timestamp()
                    self.histograms[label].record_value(max(1, now_us - timestamp_ms * 1000))
                    self.counts[label] += 1
                    event_id = _event_id(value, b'"id":"' if label == "source" else b'"ID":"')
                    if label == "source":
                        self._seen_at[event_id] = now_us
                    elif event_id in self._seen_at:
                        self.histograms["hop"].record_value(max(1, now_us - self._seen_at.pop(event_id)))
        finally:
            self._consumer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _event_id(value: bytes, marker: bytes) -> bytes:
    """The event id string of a serialized event (the last ``"id":"…"``: group and category
    ids are numbers)."""
    start = value.rfind(marker) + len(marker)
    return value[start : value.find(b'"', start)]


def latency(ctx: BenchContext, bootstrap: str, guarantee: str) -> dict[str, Any]:
    """End-to-end latency source→sink at 1,000 events/s (Germany 10 % of them); the server is
    not pinned here (1,000 events/s take a few % of a core; on a shared machine a pinned
    process waits for its one CPU)."""
    seconds = QUICK_LATENCY_SECONDS if ctx.quick else LATENCY_SECONDS
    total = LATENCY_RATE * seconds
    lines = list(MeetupShapedEvents(ShapeOptions(germany_share=0.10, seed=7)).lines(total))
    german = sum(map(is_german, lines))
    name = f"LATENCY_{uuid.uuid4().hex[:6].upper()}"
    topic = name.lower()
    with _server(ctx, bootstrap, None, guarantee) as server:
        url = server.config.url
        _ksql(url, STREAM.format(name=name, topic=topic, partitions=1))
        _ksql(url, GERMANY.format(name=name), {"ksql.streams.auto.offset.reset": "earliest"})
        isolation = "read_committed" if guarantee == "exactly_once_v2" else "read_uncommitted"
        reader = _LatencyReader(bootstrap, {topic: "source", f"{name}_GERMANY": "sink"}, isolation)
        try:
            producer = _producer(bootstrap)
            warmup = json.dumps({"id": "warmup", "group": {"country": "de"}}).encode()
            deadline = time.monotonic() + 120  # until the query and the reader both run
            while not reader.warmed_up.is_set() and time.monotonic() < deadline:
                _send(producer, topic, warmup, None)
                producer.flush(10)
                reader.warmed_up.wait(0.5)
            if not reader.warmed_up.is_set():
                raise BenchError("the warm-up record never reached the sink", hint="see the server log")
            late = HdrHistogram(1, 60_000_000, 3)
            start_ms = time.time() * 1000 + 200
            for index, line in enumerate(lines):
                intended = start_ms + index * 1000 / LATENCY_RATE
                wait = intended / 1000 - time.time()
                if wait > 0:
                    time.sleep(wait)
                late.record_value(max(1, int((time.time() * 1000 - intended) * 1000)))
                _send(producer, topic, line, None, timestamp=int(intended))
                producer.poll(0)
            producer.flush(30)
            deadline = time.monotonic() + 30
            while reader.counts["sink"] < german and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            reader.close()
    return {
        "processing_guarantee": guarantee,
        "rate_events_per_s": LATENCY_RATE,
        "seconds": seconds,
        "events": total,
        "german_events": german,
        "samples": reader.counts["sink"],
        "endToEndLatency": _percentiles_ms(reader.histograms["sink"]),
        "sourceTopicLatency": _percentiles_ms(reader.histograms["source"]),
        "ksqlHopLatency": _percentiles_ms(reader.histograms["hop"]),
        "publishDelayLatency": _percentiles_ms(late),
        "note": "ms; record timestamp = intended send time; endToEndLatency is source→sink through "
        "the server, sourceTopicLatency the same producer and consumer on the source topic "
        "(broker and clients only, same session), ksqlHopLatency per event the sink receipt minus "
        "the source receipt (what the server adds); the server's producer uses linger.ms 1; every "
        "client here and in the server has TCP_NODELAY (socket.nagle.disable), as Java clients do",
    }


def _percentiles_ms(histogram: HdrHistogram) -> dict[str, float]:
    figures = {f"p{p:g}": round(histogram.get_value_at_percentile(p) / 1000, 2) for p in PERCENTILES}
    figures["max"] = round(histogram.get_max_value() / 1000, 2)
    figures["mean"] = round(histogram.get_mean_value() / 1000, 2)
    return figures


def run(ctx: BenchContext) -> dict[str, Any]:
    """Throughput and latency of the Germany filter (see the module docstring)."""
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1]
    load = os.getloadavg()
    broker = shared_broker(ctx)
    bootstrap = broker.config.bootstrap_servers
    return {
        "machine": {"cpus": len(cpus), "server_cpu": server_cpu, "loadavg_1m_at_start": round(load[0], 2)},
        "dump": "Meetup-shaped events generated from shared/meetup-samples/schema.md (replay.bench.meetup_shape)",
        "throughput": throughput(ctx, bootstrap, server_cpu),
        "latency_at_least_once": latency(ctx, bootstrap, "at_least_once"),
        "latency_exactly_once_v2": latency(ctx, bootstrap, "exactly_once_v2"),
        "goals": {"records_per_s_one_core": 50_000, "p99_ms": 50},
    }
