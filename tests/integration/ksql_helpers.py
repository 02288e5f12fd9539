"""Helpers for the ksql integration tests: talk to the server over HTTP, move records by hand.

Only plain clients are used (``requests``, confluent-kafka): the tests see the server exactly as
a ksqlDB user would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import requests
from confluent_kafka import Consumer, Producer
from prometheus_client.parser import text_string_to_metric_families

Record = tuple[bytes | None, bytes | None]


def ksql(url: str, text: str, properties: dict[str, Any] | None = None, expect: int = 200) -> Any:
    """POST /ksql; assert the status; return the JSON body."""
    response = requests.post(
        f"{url}/ksql",
        json={"ksql": text, "streamsProperties": properties or {}},
        headers={"Accept": "application/vnd.ksql.v1+json"},
        timeout=60,
    )
    assert response.status_code == expect, response.text
    return response.json()


def unique(prefix: str) -> str:
    """A stream or topic name no other test uses (upper case, valid unquoted)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}".upper()


def producer_for(bootstrap: str) -> Producer:
    """A producer partitioning like Java clients (murmur2)."""
    return Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    producer: Producer | None = None,
) -> int:
    """Write records (key, value) and wait for every acknowledgement; return how many.
    Pass ``producer`` to reuse one (fewer new connections)."""
    producer = producer or producer_for(bootstrap)
    count = 0
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    assert producer.flush(60) == 0
    return count


def read_topic(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_s: float = 90.0,
    quiet_s: float = 1.0,
    isolation: str = "read_committed",
) -> list[Record]:
    """Every record of a topic once ``expected`` have arrived and ``quiet_s`` passed with no
    more (so that extra records, e.g. duplicates, would be seen too)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "isolation.level": isolation,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    quiet_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=0.2)
            records.extend((m.key(), m.value()) for m in batch if m.error() is None)
            if batch:
                quiet_until = None
            if len(records) >= expected:
                quiet_until = quiet_until or time.monotonic() + quiet_s
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return records


def metric_samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's /metrics as {(name, sorted labels): value}."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def query_metric(url: str, name: str, query_id: str) -> float | None:
    """One per-query metric (None when absent)."""
    for (sample, labels), value in metric_samples(url).items():
        if sample == name and dict(labels).get("query_id") == query_id:
            return value
    return None


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)
