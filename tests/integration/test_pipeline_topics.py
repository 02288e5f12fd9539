"""The topics step on the real broker: created before anything reads them, reset once per run."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer

from replay.pipeline.context import RunContext
from replay.pipeline.steps import prepare_topics
from replay.settings import KafkaSettings
from tests.conftest import consume_committed

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(bootstrap_servers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunContext:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    return RunContext(run_id="topics-run", kafka=KafkaSettings(bootstrap_servers=bootstrap_servers))


def _put(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        producer.produce(topic, value=str(i).encode())
    assert producer.flush(30) == 0


def test_the_topic_and_its_dlq_exist_with_the_asked_partitions(
    ctx: RunContext, bootstrap_servers: str, topic_name: str
) -> None:
    result = prepare_topics(ctx, topic_name, partitions=3, dlq=True)
    assert result[topic_name] == {"partitions": 3, "created": True}
    assert result[f"{topic_name}.dlq"]["created"] is True
    again = prepare_topics(ctx, topic_name, partitions=3, dlq=True)
    assert again[topic_name]["created"] is False  # the second call finds it


def test_reset_empties_the_topic_once_per_run_and_a_retry_keeps_what_was_written(
    ctx: RunContext, bootstrap_servers: str, topic_name: str
) -> None:
    prepare_topics(ctx, topic_name, dlq=False)
    _put(bootstrap_servers, topic_name, 5)  # an earlier run's data

    prepare_topics(ctx, topic_name, dlq=False, reset=True)
    assert consume_committed(bootstrap_servers, topic_name) == []
    _put(bootstrap_servers, topic_name, 3)  # this run's first attempt

    prepare_topics(ctx, topic_name, dlq=False, reset=True)  # a retry of the same run
    assert len(consume_committed(bootstrap_servers, topic_name)) == 3

    other = RunContext(run_id="another-run", kafka=ctx.kafka)
    prepare_topics(other, topic_name, dlq=False, reset=True)  # a new run resets again
    assert consume_committed(bootstrap_servers, topic_name) == []
