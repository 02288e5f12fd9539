"""Helpers for the migrations' data tests: a server with the project's files applied, topics read
to their end, and the independent counts computed from the dump with plain ``json``.

Nothing here imports the server's package: the server is a process, the files go through the
migrations runner over REST, and every expected value comes from the dump (and, for the hourly
windows, from the record timestamps the replay gave the source topic).
"""

from __future__ import annotations

import collections
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from replay.migrate import Target, apply, load_config
from replay.migrate.client import KsqlClient
from replay.pipeline import drain
from replay.settings import KsqlSettings
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports

REPO = Path(__file__).resolve().parents[2]
PROJECT_CONFIG = REPO / "ksql" / "ksql-migrations.properties"
SOURCE_TOPIC = "meetup_events"  # fixed by V000001
HOUR_MS = 3_600_000
MUNICH = ("München", "Munich", "Munchen")
DATA_SINKS = (
    "MEETUP_EVENTS_GERMANY",
    "MEETUP_EVENTS_MUNICH",
    "EVENTS_PER_COUNTRY",
    "GERMAN_EVENTS_HOURLY",
    "EVENTS_PER_CATEGORY",
)


@dataclass(frozen=True)
class TopicRecord:
    key: bytes | None
    value: bytes | None
    timestamp: int


def start_server(state_dir: Path, bootstrap: str, name: str) -> KsqlServer:
    """A server of its own (service id, consumer groups, changelogs) whose sink topics carry a
    prefix of their own (``ksql.output.topic.name.prefix``), so servers never share a sink."""
    (port,) = find_free_ports(1)
    tag = f"{name}_{uuid.uuid4().hex[:6]}_"
    server = KsqlServer(
        KsqlServerConfig(
            state_dir=state_dir,
            port=port,
            bootstrap_servers=bootstrap,
            service_id=tag,
            properties={"ksql.output.topic.name.prefix": tag},
        )
    )
    server.start(timeout_s=120)
    return server


def prefix(server: KsqlServer) -> str:
    return server.config.properties["ksql.output.topic.name.prefix"]


def apply_project(url: str) -> float:
    """``replay migrate apply --all`` of the project's own ksql/ folder; seconds it took."""
    began = time.monotonic()
    result = apply(load_config(PROJECT_CONFIG, ksql=KsqlSettings(url=url)), Target())
    assert [v.state for v in result.versions] == ["MIGRATED"] * 6, result
    return time.monotonic() - began


def wait_drained(
    url: str, service_id: str, bootstrap: str, timeout_s: float = 240.0
) -> list[drain.QueryProgress]:
    """Until every persistent query has committed the end of its sources (as `replay run` waits)."""
    with KsqlClient(url) as client:
        queries = drain.persistent_queries(client, service_id)
    sinks = sorted(sink for q in queries for sink in q.sinks)
    assert sinks == sorted([*DATA_SINKS, "MIGRATION_SCHEMA_VERSIONS"]), sinks
    config: dict[str, Any] = {"bootstrap.servers": bootstrap}
    reader = drain.LagReader(AdminClient(config), config)
    try:
        assert drain.wait_drained(queries, reader, timeout_s=timeout_s, interval_s=0.5), [
            (q.id, q.lag) for q in queries
        ]
    finally:
        reader.close()
    return queries


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[TopicRecord]:
    """Every committed record of a topic, read to the end offsets it has now."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-read-all-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        assert metadata.error is None, metadata.error
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        records: list[TopicRecord] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.2):
                if message.error() is None:
                    records.append(TopicRecord(message.key(), message.value(), message.timestamp()[1]))
            positions = consumer.position([TopicPartition(topic, p) for p in ends])
            if all(tp.offset >= ends[tp.partition] for tp in positions if ends[tp.partition] > 0):
                return records
        raise AssertionError(f"could not read {topic} to its end within {timeout_s:.0f} s")
    finally:
        consumer.close()


def without_nulls(value: Any) -> Any:
    """A sink value as the event it came from: ksqlDB writes every declared field, absent
    ones as null; the event simply omits them."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a DOUBLE column writes the dump's 11 as 11.0: the same value
    return value


def canonical(event: dict[str, Any]) -> str:
    """One text per value, so that events compare as values (11 == 11.0, key order aside)."""
    return json.dumps(_numbers(event), sort_keys=True, ensure_ascii=False)


@dataclass
class Expected:
    """What the migrations must produce from the replayed dump, computed independently."""

    germany: collections.Counter[str]  # canonical JSON of each selected event
    munich: collections.Counter[str]
    per_country: collections.Counter[str]
    per_category: collections.Counter[str]
    german_hourly: collections.Counter[int]  # window start (epoch ms) -> German records

    @classmethod
    def of(cls, dump: Path, source: list[TopicRecord]) -> Expected:
        events = [json.loads(line) for line in dump.read_bytes().splitlines() if line.strip()]
        germany = [e for e in events if e["group"].get("country") == "de"]
        hourly: collections.Counter[int] = collections.Counter()
        for record in source:  # the replay's record timestamps: ROWTIME of the Germany stream
            event = json.loads(record.value or b"{}")
            if event.get("group", {}).get("country") == "de":
                hourly[record.timestamp - record.timestamp % HOUR_MS] += 1
        return cls(
            germany=collections.Counter(canonical(e) for e in germany),
            munich=collections.Counter(canonical(e) for e in events if e["group"].get("city") in MUNICH),
            per_country=collections.Counter(e["group"]["country"] for e in events),
            per_category=collections.Counter(
                e["group"]["category"]["shortname"] for e in events if "category" in e["group"]
            ),
            german_hourly=hourly,
        )


def sink_events(bootstrap: str, topic: str) -> collections.Counter[str]:
    return collections.Counter(
        canonical(without_nulls(json.loads(r.value or b"null"))) for r in read_all(bootstrap, topic)
    )


def table_topic(bootstrap: str, topic: str, windowed: bool = False) -> dict[Any, int]:
    """A table's final value per key from its sink topic (the last update of each key wins; a
    windowed key is the key bytes followed by the 8-byte window start)."""
    final: dict[Any, int] = {}
    for record in read_all(bootstrap, topic):
        assert record.key is not None
        key: Any = (
            (record.key[:-8].decode(), int.from_bytes(record.key[-8:], "big"))
            if windowed
            else record.key.decode()
        )
        if record.value is None:
            final.pop(key, None)
        else:
            final[key] = json.loads(record.value)["EVENTS"]
    return final


def pull(url: str, sql: str) -> tuple[str, list[list[Any]]]:
    """A pull query on /query (HTTP/1.1): the header's schema and the rows."""
    response = requests.post(f"{url}/query", json={"ksql": sql, "streamsProperties": {}}, timeout=60)
    assert response.status_code == 200, response.text
    header, *rows = response.json()
    return header["header"]["schema"], [item["row"]["columns"] for item in rows]


def event_diff(got: collections.Counter[str], want: collections.Counter[str]) -> str:
    """Which events differ, by id, and in which fields (for assertion messages)."""
    extra, missing = got - want, want - got
    by_id = {json.loads(e)["id"]: json.loads(e) for e in missing}
    lines = []
    for text in list(extra)[:5]:
        event = json.loads(text)
        other = by_id.pop(event.get("id"), None)
        if other is None:
            lines.append(f"unexpected {event.get('id')}")
            continue
        fields = sorted(k for k in set(event) | set(other) if event.get(k) != other.get(k))
        lines.append(
            f"{event['id']}: "
            + "; ".join(f"{k}: sink {event.get(k)!r} != dump {other.get(k)!r}" for k in fields)
        )
    lines += [f"missing {i}" for i in list(by_id)[:5]]
    return f"{sum(extra.values())} extra, {sum(missing.values())} missing: " + " | ".join(lines)
