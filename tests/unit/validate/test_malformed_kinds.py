"""Each malformed kind of the issue (and each suite rule) quarantines its record with the right
reason; valid records around them stay valid. One validation run (several GX chunks) serves all
cases; each case is its own test."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from replay.dump.malformed import REQUIRED_FIELDS
from replay.errors import DumpValidationError
from replay.limits import MAX_RECORD_BYTES
from replay.validate import validate_dump

from .conftest import Outputs, as_bytes, read_outputs, write_lines

Event = dict[str, Any]


def change(**fields: Any) -> Callable[[Event], bytes]:
    def make(event: Event) -> bytes:
        changed = copy.deepcopy(event)
        for key, value in fields.items():
            path = key.split("__")
            target = changed
            for part in path[:-1]:
                target = target[part]
            if value is DELETE:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        return as_bytes(changed)

    return make


DELETE = object()


def raw(transform: Callable[[bytes], bytes]) -> Callable[[Event], bytes]:
    return lambda event: transform(as_bytes(event))


# name -> (make the record from a valid event, expected check, substring of its reason)
CASES: dict[str, tuple[Callable[[Event], bytes], str, str]] = {
    # the named kinds
    "truncated_line": (raw(lambda b: b[: len(b) // 2]), "record.json", "truncated JSON"),
    "invalid_utf8": (
        raw(lambda b: b.replace(b'"name":"', b'"name":"\xff', 1)),
        "record.utf8",
        "invalid UTF-8 at byte",
    ),
    "not_an_object_array": (
        raw(lambda b: b"[" + b + b"]"),
        "record.object",
        "not a JSON object: the record is a JSON array",
    ),
    "not_an_object_string": (raw(lambda b: b'"keep-alive"'), "record.object", "JSON string"),
    "not_an_object_number": (raw(lambda b: b"42"), "record.object", "JSON integer"),
    "not_an_object_null": (raw(lambda b: b"null"), "record.object", "JSON null"),
    "wrong_type_mtime_string": (
        change(mtime="1425793345907"),
        "mtime.type",
        "wrong type for mtime: JSON string, expected integer",
    ),
    "wrong_type_rsvp_float": (
        change(rsvp_limit=10.5),
        "rsvp_limit.type",
        "wrong type for rsvp_limit: JSON number",
    ),
    "wrong_type_group_string": (
        change(group="Hiking Group"),
        "group.type",
        "wrong type for group: JSON string, expected object",
    ),
    "wrong_type_name_number": (change(name=12345), "name.type", "wrong type for name: JSON integer"),
    "wrong_type_payment_number": (
        change(payment_required=0),
        "payment_required.type",
        "wrong type for payment_required",
    ),
    "wrong_type_venue_array": (
        change(venue=["Central Park"]),
        "venue.type",
        "wrong type for venue: JSON array",
    ),
    "wrong_type_count_boolean": (
        change(yes_rsvp_count=True),
        "yes_rsvp_count.type",
        "JSON boolean, expected integer",
    ),
    "wrong_type_nested_lat": (
        change(group__group_lat="48.1"),
        "group.group_lat.type",
        "wrong type for group.group_lat",
    ),
    "wrong_type_null": (change(status=None), "status.type", "wrong type for status: JSON null"),
    "id_not_string": (change(id=220650001), "id.type", "wrong type for id: JSON integer, expected string"),
    "duplicate_id_mtime": (
        lambda event: as_bytes(event),
        "record.duplicate",
        "duplicate (id, mtime) of record 0",
    ),
    "out_of_range_mtime_seconds": (
        change(mtime=1425793345),
        "mtime.range",
        "mtime is not epoch milliseconds",
    ),
    "out_of_range_time_micros": (
        change(time=1425938400000000),
        "time.range",
        "time is not epoch milliseconds",
    ),
    "out_of_range_group_lat": (change(group__group_lat=123.45), "group.group_lat.range", "outside -90..90"),
    "out_of_range_venue_lon": (change(venue__lon=-200.5), "venue.lon.range", "outside -180..180"),
    "out_of_range_utc_offset": (change(utc_offset=54_000_000), "utc_offset.range", "UTC-12:00..UTC+14:00"),
    "utc_offset_not_quarter_hour": (
        change(utc_offset=3_600_000 + 600_000),
        "utc_offset.quarter_hour",
        "multiple of 15 minutes",
    ),
    "negative_rsvp_count": (change(yes_rsvp_count=-1), "yes_rsvp_count.range", "yes_rsvp_count is negative"),
    "negative_duration": (change(duration=-60_000), "duration.range", "duration is negative"),
    "oversized": (
        change(description="<p>" + "x" * 1_048_600 + "</p>"),
        "record.size",
        f"over the {MAX_RECORD_BYTES} bytes that fit in a Kafka message with the replay's headers",
    ),
    "empty_line": (raw(lambda b: b""), "record.empty", "empty line"),
    "blank_line": (raw(lambda b: b"  \t"), "record.empty", "blank line"),
    # the other rules of the suite
    "bad_id_form": (change(id="ABC-123"), "id.form", "neither a numeric string nor 11-13 lowercase letters"),
    "status_spelling": (change(status="cancelled"), "status.values", "status is not one of"),
    "visibility_value": (change(visibility="secret"), "visibility.values", "visibility is not"),
    "venue_with_members": (
        change(venue_visibility="members"),
        "venue.absent_when_members",
        "venue is present although",
    ),
    "fee_missing": (change(payment_required="1"), "fee.present_when_paid", "fee is missing although"),
    "fee_unexpected": (
        change(fee={"amount": 10, "description": "per person", "currency": "USD"}),
        "fee.absent_when_free",
        "fee is present although",
    ),
    "utc_offset_without_time": (
        change(time=DELETE),
        "utc_offset.absent_without_time",
        "utc_offset is present although",
    ),
    "time_without_utc_offset": (
        change(utc_offset=DELETE),
        "utc_offset.present_with_time",
        "utc_offset is absent although",
    ),
    "country_upper_case": (change(group__country="DE"), "group.country.iso", "lowercase ISO-3166 alpha-2"),
    "country_unknown": (change(group__country="xx"), "group.country.iso", "got 'xx'"),
    "event_url_form": (change(event_url="https://example.com/e/1"), "event_url.form", "event_url is not"),
    "join_mode_value": (change(group__join_mode="invite"), "group.join_mode.values", "join_mode is not"),
    "payment_required_value": (change(payment_required="yes"), "payment_required.values", "not the string"),
    "currency_form": (
        change(payment_required="1", fee={"amount": 5, "description": "pp", "currency": "usd"}),
        "fee.currency.form",
        "ISO-4217",
    ),
}
for _field in REQUIRED_FIELDS:
    CASES[f"missing_{_field}"] = (
        change(**{_field: DELETE}),
        f"{_field}.type",
        f"missing required field {_field}",
    )
for _nested in ("group__country", "group__urlname", "group__id", "venue__city", "venue__name"):
    _dotted = _nested.replace("__", ".")
    CASES[f"missing_{_dotted}"] = (
        change(**{_nested: DELETE}),
        f"{_dotted}.type",
        f"missing required field {_dotted}",
    )


@pytest.fixture(scope="module")
def run(base_events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> tuple[Outputs, dict[str, int]]:
    """Valid records with every case mixed in (never at index 0), validated in 300-record chunks."""
    base = base_events[0]
    lines = [as_bytes(base)]
    where: dict[str, int] = {}
    valid = iter(base_events[1:])
    for name, (make, _check, _reason) in CASES.items():
        for _ in range(3):
            lines.append(as_bytes(next(valid)))
        where[name] = len(lines)
        lines.append(make(base))
    lines.extend(as_bytes(e) for e in valid)
    folder = tmp_path_factory.mktemp("kinds")
    dump = write_lines(folder / "dump.jsonl", lines)
    with pytest.raises(DumpValidationError) as caught:
        validate_dump(dump, folder / "out", chunk_size=300, progress=False, data_docs=False, parallel=False)
    assert caught.value.result is not None
    return read_outputs(folder / "out"), where


@pytest.mark.parametrize("name", list(CASES))
def test_case_is_quarantined_with_its_reason(run: tuple[Outputs, dict[str, int]], name: str) -> None:
    outputs, where = run
    _make, check, reason = CASES[name]
    entry = outputs.quarantine.get(where[name])
    assert entry is not None, f"{name} was not quarantined"
    assert check in entry["checks"], entry["reasons"]
    assert any(reason in text for text in entry["reasons"]), entry["reasons"]
    assert len(entry["checks"]) == len(entry["reasons"])


def test_nothing_else_is_quarantined(run: tuple[Outputs, dict[str, int]]) -> None:
    outputs, where = run
    assert set(outputs.quarantine) == set(where.values())
    summary = outputs.summary
    assert summary["read"] == summary["valid"] + summary["quarantined"] == len(outputs.verdicts)
    assert summary["quarantined"] == len(CASES)
    invalid = {int(v["index"]) for v in outputs.verdicts if v["verdict"] == "invalid"}
    assert invalid == set(where.values())


def test_a_record_lists_every_reason_in_suite_order(tmp_path: Path, base_events: list[Event]) -> None:
    base = copy.deepcopy(base_events[0])
    del base["name"]
    base["mtime"] = 12
    base["group"]["country"] = "DE"
    dump = write_lines(tmp_path / "d.jsonl", [as_bytes(base_events[1]), as_bytes(base)])
    with pytest.raises(DumpValidationError):
        validate_dump(dump, tmp_path / "out", progress=False, data_docs=False, parallel=False)
    entry = read_outputs(tmp_path / "out").quarantine[1]
    assert entry["checks"] == ["name.type", "mtime.range", "group.country.iso"]


def test_record_size_limit_is_configurable(tmp_path: Path, base_events: list[Event]) -> None:
    lines = [as_bytes(e) for e in base_events[:50]]
    limit = sorted(len(line) for line in lines)[-3]  # the two largest records are over it
    dump = write_lines(tmp_path / "d.jsonl", lines)
    result = validate_dump(
        dump,
        tmp_path / "out",
        max_record_bytes=limit,
        max_invalid_pct=10,
        progress=False,
        data_docs=False,
        parallel=False,
    )
    quarantine = read_outputs(tmp_path / "out").quarantine
    assert result.quarantined == len(quarantine) == sum(len(line) > limit for line in lines) >= 2
    assert all(
        e["checks"] == ["record.size"]
        and f"over the {limit} bytes that fit in a Kafka message" in e["reasons"][0]
        for e in quarantine.values()
    )
