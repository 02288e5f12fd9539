"""The Kafka driver's write path when the producer's metadata is stale: a topic deleted and
created again under the same name (DROP ... DELETE TOPIC, then CREATE) is refused by librdkafka
as unknown until its metadata is refreshed. Seen once in CI: destroy-metadata, then apply's
first INSERT into MIGRATION_EVENTS failed with "Local: Unknown topic". The producer stands in
for librdkafka here (the race itself depends on when librdkafka refreshes its metadata)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from ksqldb_lite.errors import DriverError
from ksqldb_lite.execution.driver import ProducedRecord
from ksqldb_lite.kafka import driver as driver_module
from ksqldb_lite.kafka.driver import KafkaTopicDriver


class StaleProducer:
    """Refuses the topic as unknown until ``list_topics(topic)`` has been called ``stale_for`` times."""

    def __init__(self, stale_for: int, code: int = KafkaError._UNKNOWN_TOPIC) -> None:
        self.stale_for, self.code = stale_for, code
        self.refreshes: list[str] = []
        self.produced: list[tuple[str, bytes | None]] = []

    def produce(self, topic: str, value: bytes | None, key: bytes | None, **_: Any) -> None:
        if len(self.refreshes) < self.stale_for:
            raise KafkaException(KafkaError(self.code, "Unable to produce message: Local: Unknown topic"))
        self.produced.append((topic, value))

    def list_topics(self, topic: str, timeout: float) -> None:
        self.refreshes.append(topic)

    def flush(self, timeout: float) -> int:
        return 0


def _driver(producer: StaleProducer, exists: bool) -> KafkaTopicDriver:
    driver = KafkaTopicDriver.__new__(KafkaTopicDriver)  # no clients: only the write path runs
    driver._producer = producer  # type: ignore[assignment]
    driver.describe_topic = lambda name: object() if exists else None  # type: ignore[assignment,method-assign,return-value]
    return driver


RECORD = ProducedRecord(key=b"k", value=b"v", timestamp=1)


def test_a_recreated_topic_is_written_after_a_metadata_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    producer = StaleProducer(stale_for=2)
    _driver(producer, exists=True).produce("MIGRATION_EVENTS", [RECORD])
    assert producer.refreshes == ["MIGRATION_EVENTS", "MIGRATION_EVENTS"]
    assert producer.produced == [("MIGRATION_EVENTS", b"v")]


def test_a_topic_the_broker_does_not_have_fails_at_once() -> None:
    producer = StaleProducer(stale_for=1)
    with pytest.raises(DriverError, match=r"Could not write to topic gone: .*Unknown topic"):
        _driver(producer, exists=False).produce("gone", [RECORD])
    assert producer.refreshes == [] and producer.produced == []


def test_other_errors_are_not_retried() -> None:
    producer = StaleProducer(stale_for=1, code=KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(DriverError, match="Could not write to topic t"):
        _driver(producer, exists=True).produce("t", [RECORD])
    assert producer.refreshes == []


def test_a_topic_that_stays_stale_fails_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 1000, 3))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(time, "sleep", lambda _: None)
    producer = StaleProducer(stale_for=10_000)
    with pytest.raises(DriverError, match="Unknown topic"):
        _driver(producer, exists=True).produce("t", [RECORD])
    assert 1 <= len(producer.refreshes) <= driver_module.RECREATED_TOPIC_WAIT_S / 3 + 1
