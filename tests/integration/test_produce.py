"""`replay produce` against the real broker: pacing, content, headers, topics, quarantine, errors."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from replay.produce import ProduceOptions, produce
from replay.produce.errors import BrokerUnreachableError, MessageTooLargeError
from replay.produce.pacing import Pacing
from replay.produce.summary import schema
from replay.settings import KafkaSettings, ProduceSettings
from replay.stack.process import find_free_ports
from tests.conftest import consume_committed, write_meetup_dump


def _options(
    bootstrap: str, tmp_path: Path, dump: Path, topic: str, pacing: Pacing, **changes: Any
) -> ProduceOptions:
    settings = changes.pop("settings", ProduceSettings())
    return ProduceOptions(
        path=dump,
        topic=topic,
        pacing=pacing,
        summary_path=tmp_path / f"summary-{topic}.json",
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        settings=settings,
        progress="log",
        **changes,
    )


def _create_topic(
    bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None
) -> AdminClient:
    """Create a topic as a user would before the replay; returns the admin client."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result()
    return admin


def _validate(summary: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema()).validate(summary)


def test_20000_events_at_5000_per_s_arrive_complete_in_order_and_on_rate(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    events = write_meetup_dump(dump, 20_000, seed=11)
    lines = dump.read_bytes().splitlines()
    options = _options(
        bootstrap_servers,
        tmp_path,
        dump,
        topic_name,
        Pacing.at_rate(5_000),
        run_id="rate-5000",
        settings=ProduceSettings(partitions=3),
        validated=True,  # as after `replay validate`: keys come from the byte scan
    )
    summary = produce(options)
    _validate(summary)
    assert json.loads(options.summary_file().read_text()) == summary

    records = consume_committed(bootstrap_servers, topic_name)
    assert len(records) == 20_000
    seqs = sorted(int(r.headers["replay-seq"]) for r in records)
    assert seqs == list(range(20_000))
    for record in records:
        index, line, offset = (int(x) for x in record.headers["replay-source"].split(":"))
        seq = int(record.headers["replay-seq"])
        assert index == seq and line == index + 1  # no blank lines: seq follows the dump
        assert record.value == lines[index]  # the original bytes, not re-serialized
        assert record.key == str(events[index]["id"]).encode()
        assert record.headers["replay-run-id"] == "rate-5000"
        assert offset == sum(len(x) + 1 for x in lines[:index]) if index < 3 else True
    # in order per key: within each key, offsets grow with the dump position (ids recur: edits)
    by_key: dict[bytes | None, list[tuple[int, int, int]]] = defaultdict(list)
    for record in records:
        by_key[record.key].append((int(record.headers["replay-seq"]), record.partition, record.offset))
    repeated = [v for v in by_key.values() if len(v) > 1]
    assert len(repeated) > 500  # the dump does re-send ids, so the check means something
    for items in by_key.values():
        items.sort()
        assert len({p for _, p, _ in items}) == 1  # one key, one partition
        offsets = [o for _, _, o in items]
        assert offsets == sorted(offsets)

    # achieved rate within ±1 % of the target, by the summary and by the records' own timestamps
    assert summary["counts"]["committed"] == summary["counts"]["sent"] == 20_000
    assert abs(summary["rate"]["achieved_per_s"] - 5_000) <= 50
    stamps = sorted(r.timestamp_ms for r in records)
    by_broker = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1000)
    assert abs(by_broker - 5_000) <= 50, by_broker
    intended = sorted(int(r.headers["replay-intended-us"]) for r in records)
    assert intended[-1] - intended[0] == pytest.approx(19_999 / 5_000 * 1e6, abs=2)
    delay = summary["publishDelayLatency"]
    assert delay["count"] == 20_000 and delay["p50"] is not None
    # one record in delivery_report_every (16 by default) reports its delivery: 0, 16, 32, ...
    every = summary["publishLatency"]["sample_every"]
    assert every == ProduceSettings().delivery_report_every == 16
    assert summary["publishLatency"]["count"] == 20_000 // every
    assert summary["counts"]["acked"] == 20_000 and summary["counts"]["failed"] == 0
    assert summary["rdkafka"]["samples"], "librdkafka statistics were sampled"


def test_speedup_reproduces_the_original_spacing(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    gaps = [20, 150, 60, 300, 90, 10, 240, 5_000, 40, 120, 200, 70, 30, 180, 100, 260, 50, 80, 140, 220]
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, len(gaps) + 1, gaps_ms=gaps, repeat_every=0)
    summary = produce(
        _options(
            bootstrap_servers,
            tmp_path,
            dump,
            topic_name,
            Pacing.sped_up(2.0, max_gap_s=0.4),
            settings=ProduceSettings(commit_interval_ms=500),  # commits must find gaps to fit into
        )
    )
    _validate(summary)
    records = sorted(
        consume_committed(bootstrap_servers, topic_name), key=lambda r: int(r.headers["replay-seq"])
    )
    assert len(records) == len(gaps) + 1
    expected_ms = [min(gap / 2.0, 400.0) for gap in gaps]
    # the broker-side record timestamps (CreateTime, set when the record was handed to the client)
    actual_ms = [b.timestamp_ms - a.timestamp_ms for a, b in itertools.pairwise(records)]
    for expected, actual in zip(expected_ms, actual_ms, strict=True):
        assert abs(actual - expected) <= 10, (expected_ms, actual_ms)
    # and the intended times follow the spacing exactly
    intended = [int(r.headers["replay-intended-us"]) for r in records]
    planned = [(b - a) / 1000 for a, b in itertools.pairwise(intended)]
    assert planned == pytest.approx(expected_ms, abs=0.01)


def test_quarantined_invalid_and_blank_records_are_skipped_or_sent_to_the_dlq(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 30, repeat_every=0)
    lines = dump.read_bytes().splitlines()
    lines[5] = b"{not json"  # invalid (validation would quarantine it; here nobody did)
    lines[9] = b""  # blank
    lines[14] = b'{"name": "no id"}'  # invalid
    lines[2] = json.dumps({"id": "q2", "venue": {"country": "US"}}).encode()  # quarantined, small
    lines[20] = json.dumps({"id": "big", "description": "x" * 5_000}).encode()  # quarantined: too large
    dump.write_bytes(b"\n".join(lines) + b"\n")
    dlq_topic = f"{topic_name}.dlq"  # a DLQ that takes at most 3,000 bytes per record batch
    _create_topic(bootstrap_servers, dlq_topic, config={"max.message.bytes": "3000"})
    quarantine = {2: ["venue.country: not lowercase"], 20: ["record.size: too large", "status unknown"]}
    summary = produce(
        _options(
            bootstrap_servers,
            tmp_path,
            dump,
            topic_name,
            Pacing.unthrottled(),
            quarantine=quarantine,
            dlq=True,
        )
    )
    _validate(summary)
    counts = summary["counts"]
    assert (
        counts["committed"],
        counts["quarantined"],
        counts["invalid"],
        counts["blank"],
        counts["dlq"],
    ) == (
        25,
        2,
        2,
        1,
        4,
    )
    assert counts["read"] == 30
    data = consume_committed(bootstrap_servers, topic_name)
    sent = sorted(int(r.headers["replay-source"].split(":")[0]) for r in data)
    assert sent == [i for i in range(30) if i not in (2, 5, 9, 14, 20)]
    assert sorted(int(r.headers["replay-seq"]) for r in data) == list(range(25))  # contiguous
    dlq = consume_committed(bootstrap_servers, f"{topic_name}.dlq")
    reasons = {int(r.headers["replay-source"].split(":")[0]): r.headers["replay-reason"] for r in dlq}
    assert reasons == {
        2: "venue.country: not lowercase",
        5: "not a JSON object",
        14: "no string id",
        20: "record.size: too large; status unknown",
    }
    by_index = {int(r.headers["replay-source"].split(":")[0]): r for r in dlq}
    assert by_index[5].value == b"{not json"
    assert by_index[2].value == lines[2] and "replay-truncated-from" not in by_index[2].headers
    # the big one does not fit the DLQ: its head is kept and its size said, the replay goes on
    big = by_index[20]
    assert big.headers["replay-truncated-from"] == str(len(lines[20]))
    assert big.value is not None and lines[20].startswith(big.value) and 0 < len(big.value) < 3_000


def test_study_format_skip_and_limit(bootstrap_servers: str, tmp_path: Path, topic_name: str) -> None:
    dump = tmp_path / "events.jsonl"
    events = write_meetup_dump(dump, 50, repeat_every=0)
    summary = produce(
        _options(
            bootstrap_servers,
            tmp_path,
            dump,
            topic_name,
            Pacing.at_rate(2_000),
            value_format="study",
            skip=10,
            limit=15,
        )
    )
    assert summary["counts"]["committed"] == 15
    records = consume_committed(bootstrap_servers, topic_name)
    by_index = {int(r.headers["replay-source"].split(":")[0]): r for r in records}
    assert sorted(by_index) == list(range(10, 25))
    for index, record in by_index.items():
        assert record.value == json.dumps(events[index], indent=4, sort_keys=True).encode()


def test_topics_are_created_as_asked_and_differences_are_warned(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 20, repeat_every=0)
    # an existing topic like the study's: 60 s retention, 2 partitions
    admin = _create_topic(bootstrap_servers, topic_name, 2, {"retention.ms": "60000"})
    settings = ProduceSettings(partitions=3, retention_ms=-1)

    def replay(**changes: Any) -> dict[str, Any]:
        options = _options(bootstrap_servers, tmp_path, dump, topic_name, Pacing.unthrottled(), **changes)
        return produce(options)

    first = replay(settings=settings, run_id="t1")
    warnings = first["topic"]["warnings"]
    assert not first["topic"]["created"]
    assert any("2 partitions, not the 3 requested" in w for w in warnings)
    assert any("retention.ms=60000, not -1" in w and "before the run's report" in w for w in warnings)
    # --reset recreates it with the requested settings and replays the run from the start
    again = replay(settings=settings, run_id="t1", reset=True)
    assert again["topic"]["created"] and again["topic"]["reset"] and not again["topic"]["warnings"]
    assert again["topic"]["partitions"] == 3
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    config = admin.describe_configs([resource])[resource].result()
    assert config["retention.ms"].value == "-1"
    assert config["cleanup.policy"].value == "delete"
    assert len(consume_committed(bootstrap_servers, topic_name)) == 20


def test_a_completed_run_is_not_sent_again(bootstrap_servers: str, tmp_path: Path, topic_name: str) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 100)
    options = _options(bootstrap_servers, tmp_path, dump, topic_name, Pacing.unthrottled(), run_id="once")
    assert produce(options)["counts"]["committed"] == 100
    second = produce(options)
    _validate(second)
    assert second["already_complete"] and second["status"] == "completed"
    assert second["counts"]["sent"] == 0
    assert second["run_totals"]["records"] == 100
    assert len(consume_committed(bootstrap_servers, topic_name)) == 100


def test_an_unreachable_broker_fails_fast_with_a_summary(tmp_path: Path, topic_name: str) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 10)
    (nobody,) = find_free_ports(1)
    options = _options(
        f"127.0.0.1:{nobody}",
        tmp_path,
        dump,
        topic_name,
        Pacing.unthrottled(),
        settings=ProduceSettings(broker_timeout_s=3),
    )
    with pytest.raises(BrokerUnreachableError) as caught:
        produce(options)
    error = caught.value
    assert f"127.0.0.1:{nobody}" in error.message and error.hint and "replay stack up" in error.hint
    assert error.summary is not None
    _validate(error.summary)
    assert error.summary["status"] == "failed"
    assert error.summary["error"]["kind"] == "broker_unreachable"
    assert error.summary["counts"]["committed"] == 0
    assert json.loads(options.summary_file().read_text())["status"] == "failed"


def test_a_record_too_large_for_the_topic_stops_the_replay_with_its_position(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 400, repeat_every=0)
    lines = dump.read_bytes().splitlines()
    for i in range(len(lines)):  # small records everywhere but one
        event = json.loads(lines[i])
        event["description"] = "short"
        lines[i] = json.dumps(event).encode()
    big = json.loads(lines[300])
    big["description"] = "x" * 5_000
    lines[300] = json.dumps(big).encode()
    dump.write_bytes(b"\n".join(lines) + b"\n")
    _create_topic(bootstrap_servers, topic_name, config={"max.message.bytes": "3000"})
    options = _options(
        bootstrap_servers,
        tmp_path,
        dump,
        topic_name,
        Pacing.at_rate(2_000),
        settings=ProduceSettings(commit_interval_ms=50),
    )
    with pytest.raises(MessageTooLargeError) as caught:
        produce(options)
    assert "line 301 (index 300" in caught.value.message and "max.message.bytes" in caught.value.message
    summary = caught.value.summary
    assert summary is not None
    _validate(summary)
    assert summary["error"]["kind"] == "message_too_large"
    # everything before the big record was delivered, exactly once, and a resume starts at it
    committed = consume_committed(bootstrap_servers, topic_name)
    assert sorted(int(r.headers["replay-seq"]) for r in committed) == list(range(300))
    assert summary["counts"]["committed"] == 300
    assert summary["checkpoint"]["next_index"] == 300


def test_a_delivery_failure_of_an_unreported_record_is_named_after_the_resend(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    """Only one record in delivery_report_every reports its delivery; the others are proven by
    the commit. When the broker starts refusing records that carry no report, the commit fails,
    the transaction is aborted and its stretch resent with a report for every record: the error
    is then named and classified, and what was committed before stays exactly once."""
    dump = tmp_path / "events.jsonl"
    # 15 s of replay at 2,000/s: ample room for the watcher below, even on a loaded machine
    # (the replay ends at the first refused batch, so a passing run takes a second or two).
    write_meetup_dump(dump, 30_000, repeat_every=0)
    admin = _create_topic(bootstrap_servers, topic_name)
    options = _options(
        bootstrap_servers,
        tmp_path,
        dump,
        topic_name,
        Pacing.at_rate(2_000),
        # only record 0 reports: every later failure reaches us through the commit
        settings=ProduceSettings(commit_interval_ms=200, delivery_report_every=1_000_000),
    )
    shrunk = threading.Event()

    def shrink_the_topic_limit() -> None:
        # once data has been written, make the topic refuse every further batch (records are
        # about 1-2 KB); the replay read the old limit at start, so its own check lets them through
        consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": f"watch-{topic_name}"})
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=5)
                if high > 1_000:
                    break
                time.sleep(0.05)
        finally:
            consumer.close()
        limit = ConfigEntry("max.message.bytes", "200", incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[limit])
        admin.incremental_alter_configs([resource])[resource].result()
        shrunk.set()

    watcher = threading.Thread(target=shrink_the_topic_limit, daemon=True)
    watcher.start()
    with pytest.raises(MessageTooLargeError) as caught:
        produce(options)
    watcher.join(30)
    assert shrunk.is_set()
    summary = caught.value.summary
    assert summary is not None
    _validate(summary)
    assert summary["error"]["kind"] == "message_too_large"
    assert summary["counts"]["transactions_aborted"] >= 1
    # the resend reported every record: the failures are counted and name a data record
    assert summary["counts"]["failed"] >= 1
    too_large = [f for f in summary["failures"] if f["name"] == "MSG_SIZE_TOO_LARGE"]
    assert too_large and too_large[0]["first_record"].startswith("event id ")
    # committed before the limit changed: exactly once, contiguous, and counted as acked
    committed = consume_committed(bootstrap_servers, topic_name)
    assert 0 < len(committed) == summary["counts"]["committed"] < 30_000
    assert sorted(int(r.headers["replay-seq"]) for r in committed) == list(range(len(committed)))
    assert summary["checkpoint"]["next_index"] == len(committed)
    assert summary["counts"]["acked"] >= len(committed)
