"""Records at Kafka's size limit: what validation lets through the broker takes, and an oversize
record quarantined for its size reaches the DLQ (truncated) instead of failing the replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay.dump.generator import generate_dump
from replay.limits import KAFKA_MAX_MESSAGE_BYTES, MAX_RECORD_BYTES
from replay.produce import ProduceOptions, produce
from replay.produce.pacing import Pacing
from replay.produce.records import HEADER_TRUNCATED
from replay.settings import KafkaSettings
from replay.validate import load_quarantine, validate_dump
from tests.conftest import consume_committed

pytestmark = pytest.mark.integration

# An Airflow run id is about this long; the headers carry it on every record.
AIRFLOW_RUN_ID = "manual__2026-12-02T04:50:12.123456+00:00"


def _pad_to(event: dict[str, object], size: int) -> bytes:
    """The event's JSON padded (in its description) to exactly ``size`` bytes."""
    event = {**event, "description": ""}
    base = len(json.dumps(event, separators=(",", ":")).encode())
    event["description"] = "x" * (size - base)
    raw = json.dumps(event, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


def test_the_largest_valid_record_is_replayed_and_a_larger_one_goes_to_the_dlq(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "dump.jsonl"
    generate_dump(dump, events=4, seed=3, progress=False)
    lines = dump.read_bytes().splitlines()
    events = [json.loads(line) for line in lines]
    lines[1] = _pad_to(events[1], MAX_RECORD_BYTES)  # the limit itself: valid
    lines[2] = _pad_to(events[2], KAFKA_MAX_MESSAGE_BYTES - 300)  # below the broker's, above ours
    dump.write_bytes(b"\n".join(lines) + b"\n")
    result = validate_dump(dump, tmp_path / "run", max_invalid_pct=50.0, progress=False)
    assert (result.valid, result.quarantined) == (3, 1)

    summary = produce(
        ProduceOptions(
            path=dump,
            topic=topic_name,
            pacing=Pacing.unthrottled(),
            run_id=AIRFLOW_RUN_ID,
            quarantine=load_quarantine(tmp_path / "run"),
            validated=True,
            dlq=True,
            progress="none",
            summary_path=tmp_path / "summary.json",
            kafka=KafkaSettings(bootstrap_servers=bootstrap_servers),
        )
    )

    assert summary["status"] == "completed"
    data = consume_committed(bootstrap_servers, topic_name)
    assert sorted(len(r.value or b"") for r in data)[-1] == MAX_RECORD_BYTES
    (dead,) = consume_committed(bootstrap_servers, f"{topic_name}.dlq")
    assert dead.headers[HEADER_TRUNCATED] == str(KAFKA_MAX_MESSAGE_BYTES - 300)
    assert lines[2].startswith(dead.value or b"-")
