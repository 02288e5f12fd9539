"""Keys, values and headers of replayed records; the checkpoint value; error classification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from replay.paths import shared_dir
from replay.produce.checkpoint import Checkpoint, Totals, checkpoint_key, transactional_id
from replay.produce.errors import (
    BrokerStorageError,
    BrokerUnreachableError,
    CheckpointError,
    KafkaAuthorizationError,
    MessageTooLargeError,
    ProduceError,
    ProducerFencedError,
    classify,
    is_permanent,
)
from replay.produce.records import (
    decode_headers,
    event_key,
    invalid_reason,
    parse_event,
    scan_key,
    source_position,
    study_value,
)
from tests.conftest import write_meetup_dump


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ({"id": "235150101"}, b"235150101"),
        ({"id": "xxlwkmywpbzb"}, b"xxlwkmywpbzb"),
        ({"id": 235150101}, b"235150101"),
        ({"id": "München-1"}, "München-1".encode()),
        ({"id": ""}, None),
        ({"id": None}, None),
        ({"id": True}, None),
        ({"id": 1.5}, None),
        ({"name": "no id"}, None),
    ],
)
def test_event_key(event: dict[str, object], key: bytes | None) -> None:
    assert event_key(event) == key


def test_parse_event_only_accepts_objects() -> None:
    assert parse_event(b'{"id": "1"}') == {"id": "1"}
    assert parse_event(b"[1, 2]") is None
    assert parse_event(b"{broken") is None
    assert parse_event(b"") is None


def test_invalid_reason_says_why() -> None:
    assert invalid_reason(b"   ") == "empty line"
    assert invalid_reason(b"{oops") == "not a JSON object"
    assert invalid_reason(b'"text"') == "not a JSON object"
    assert invalid_reason(b'{"name": "x"}') == "no string id"


def test_study_value_is_the_studys_serialization() -> None:
    raw = '{"name":"Café \\/ Bar","id":"7","group":{"z":1,"a":[1,2]}}'.encode()
    expected = json.dumps(json.loads(raw), indent=4, sort_keys=True).encode()
    assert study_value(raw) == expected
    assert b'\n    "group": {' in study_value(raw)
    assert b"\\u00e9" in study_value(raw)  # the study's json.dumps escaped non-ASCII


def test_source_position_and_header_decoding() -> None:
    assert source_position(4, 5, 1234) == b"4:5:1234"
    assert decode_headers([("replay-seq", b"7"), ("x", None)]) == {"replay-seq": "7", "x": ""}
    assert decode_headers(None) == {}


def _checkpoint(**changes: object) -> Checkpoint:
    base = Checkpoint(
        run_id="r1",
        topic="events",
        next_index=120,
        next_seq=117,
        start_index=0,
        end_index=None,
        done=False,
        totals=Totals(records=117, quarantined=2, blank=1, bytes=4096),
        topic_id="abc",
        source={"name": "dump.jsonl", "size": 99},
        value_format="raw",
        attempt=2,
        updated_at=1.5,
    )
    return Checkpoint(**{**base.__dict__, **changes})


def test_checkpoint_round_trips() -> None:
    checkpoint = _checkpoint()
    assert Checkpoint.decode(checkpoint.encode()) == checkpoint
    assert json.loads(checkpoint.encode())["version"] == 1


@pytest.mark.parametrize(
    "value",
    [b"not json", b"{}", b'{"version": 1}', json.dumps({"version": 99}).encode()],
)
def test_a_broken_or_foreign_checkpoint_is_a_clear_error(value: bytes) -> None:
    with pytest.raises(CheckpointError) as caught:
        Checkpoint.decode(value)
    assert caught.value.hint


def test_totals_add_up() -> None:
    assert Totals(records=2, bytes=10).plus(Totals(records=3, dlq=1, bytes=5)) == Totals(
        records=5, dlq=1, bytes=15
    )


def test_names_derive_from_run_and_topic() -> None:
    assert checkpoint_key("manual__2024-05-01T10:00:00+00:00", "meetup_events") == (
        b"meetup_events/manual__2024-05-01T10:00:00+00:00"
    )
    assert transactional_id("r1", "t") == "replay-produce/t/r1"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaAuthorizationError),
        (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KafkaAuthorizationError),
        (KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaAuthorizationError),
        (KafkaError.SASL_AUTHENTICATION_FAILED, KafkaAuthorizationError),
        (KafkaError.MSG_SIZE_TOO_LARGE, MessageTooLargeError),
        (KafkaError.KAFKA_STORAGE_ERROR, BrokerStorageError),
        (KafkaError._FENCED, ProducerFencedError),
        (KafkaError.PRODUCER_FENCED, ProducerFencedError),
        (KafkaError._TRANSPORT, BrokerUnreachableError),
        (KafkaError._MSG_TIMED_OUT, BrokerUnreachableError),
        (KafkaError._ALL_BROKERS_DOWN, BrokerUnreachableError),
        (KafkaError.INVALID_RECORD, ProduceError),
    ],
)
def test_classify_maps_librdkafka_errors_to_typed_errors(code: int, expected: type[ProduceError]) -> None:
    error = classify(
        KafkaError(code, "boom"), doing="producing", bootstrap="127.0.0.1:1", topic="t", txn_id="x"
    )
    assert type(error) is expected
    assert "producing" in error.message and "boom" in error.message
    assert error.hint


def test_permanent_errors_are_not_retried() -> None:
    assert is_permanent(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert is_permanent(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert is_permanent(KafkaError(KafkaError._FENCED))
    assert is_permanent(KafkaError(KafkaError._MSG_TIMED_OUT, fatal=True))
    assert not is_permanent(KafkaError(KafkaError._MSG_TIMED_OUT))
    assert not is_permanent(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
    assert not is_permanent(KafkaError(KafkaError.KAFKA_STORAGE_ERROR))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"name":"x","id":"235150101","group":{"id":123}}', b"235150101"),
        (b'{"id": "xxlwkmywpbzb", "time": 1}', b"xxlwkmywpbzb"),
        ('{"name":"München","id":"abc"}'.encode(), b"abc"),
        # undecidable by a scan: the caller parses
        (b'{"id":"a","group":{"id":"b"}}', None),  # two string-valued "id" keys
        (b'{"id":"a\\u0041"}', None),  # an escape in the value
        (b'{"id":""}', None),
        (b'{"id":123}', None),  # not a string: parse
        (b'{"name":"no id"}', None),
        (b'{"description":"say \\"id\\":\\"x\\"","id":"7"}', b"7"),  # quoted text is escaped
    ],
)
def test_scan_key(raw: bytes, key: bytes | None) -> None:
    assert scan_key(raw) == key


def test_scan_key_agrees_with_parsing_whenever_it_decides(tmp_path: Path) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 2_000, seed=3)
    decided = 0
    for raw in dump.read_bytes().splitlines():
        scanned = scan_key(raw)
        if scanned is not None:
            decided += 1
            event = parse_event(raw)
            assert event is not None and scanned == event_key(event)
    assert decided == 2_000


@pytest.mark.shared
def test_scan_key_agrees_with_parsing_on_the_real_samples() -> None:
    decided = 0
    lines = (shared_dir() / "meetup-samples" / "events.jsonl").read_bytes().splitlines()
    for raw in lines:
        scanned = scan_key(raw)
        if scanned is not None:
            decided += 1
            event = parse_event(raw)
            assert event is not None and scanned == event_key(event)
    assert decided >= 0.99 * len(lines)
