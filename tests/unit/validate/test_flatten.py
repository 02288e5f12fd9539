"""Prechecks and the flattener (pure logic, no great-expectations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replay.validate.columns import ChunkBuilder, ColumnPlan, DuplicateTracker
from replay.validate.prechecks import precheck
from replay.validate.suite import load_suite_spec


@pytest.mark.parametrize(
    ("raw", "check", "reason"),
    [
        (b"", "record.empty", "empty line"),
        (b" \t ", "record.empty", "blank line"),
        (b'{"id":"1","name":"x', "record.json", "truncated JSON"),
        (b'{"id":"1"} trailing', "record.json", "not valid JSON"),
        (b'{"id":"1","name":"\xc3\x28"}', "record.utf8", "invalid UTF-8 at byte 18"),
        (b"[1, 2]", "record.object", "JSON array"),
        (b"true", "record.object", "JSON boolean"),
    ],
)
def test_prechecks(raw: bytes, check: str, reason: str) -> None:
    parsed, failures = precheck(raw, 1_000)
    assert parsed is None
    assert failures[0].check == check and reason in failures[0].reason


def test_precheck_adds_the_size_limit_to_unparseable_records() -> None:
    parsed, failures = precheck(b'{"a":"' + b"x" * 100, 50)
    assert parsed is None and [f.check for f in failures] == ["record.json", "record.size"]
    assert "106 bytes, over the 50 bytes that fit in a Kafka message" in failures[1].reason


def test_precheck_passes_objects_through() -> None:
    assert precheck(b'{"id": "1"}', 1_000) == ({"id": "1"}, [])


@pytest.fixture(scope="module")
def plan() -> ColumnPlan:
    return ColumnPlan.from_suite(load_suite_spec())


def frame_of(plan: ColumnPlan, *records: dict[str, object]) -> pd.DataFrame:
    builder = ChunkBuilder(plan)
    for index, record in enumerate(records):
        builder.add(index, 100, record)
    return builder.frame(DuplicateTracker())


def test_types_values_absent_and_not_applicable(plan: ColumnPlan) -> None:
    frame = frame_of(
        plan,
        {
            "id": "123",
            "mtime": 1_425_686_400_000,
            "group": {"country": "de", "group_lat": 48},
            "utc_offset": 3_600_000,
        },
        {"id": 123, "mtime": "soon", "group": "Munich hikers", "venue": {"lat": True}},
    )
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["typeof:id"] == "string" and first["id"] == "123"
    assert first["typeof:name"] == "absent"
    assert first["typeof:group.group_lat"] == "integer" and first["group.group_lat"] == 48.0
    assert first["typeof:venue"] == "absent" and pd.isna(
        first["typeof:venue.lat"]
    )  # parent absent: not applicable
    assert first["utc_offset_mod_15min"] == 0
    assert second["typeof:id"] == "integer" and second["id"] is None  # wrong type: no value for value checks
    assert second["typeof:mtime"] == "string" and np.isnan(second["mtime"])
    assert second["typeof:group"] == "string" and pd.isna(second["typeof:group.country"])
    assert second["typeof:venue.lat"] == "boolean" and np.isnan(second["venue.lat"])
    assert frame["record_index"].tolist() == [0, 1] and frame["record_bytes"].tolist() == [100, 100]


def test_description_text_never_enters_the_frame(plan: ColumnPlan) -> None:
    frame = frame_of(plan, {"id": "1", "description": "<p>" + "x" * 5_000 + "</p>"})
    assert "description" not in frame.columns and frame.iloc[0]["typeof:description"] == "string"


def test_duplicates_are_found_within_and_across_chunks() -> None:
    tracker = DuplicateTracker()
    first = tracker.check(np.array([0, 1, 2, 3], dtype=np.int64), np.array([5, 7, 5, 9], dtype=np.int64))
    assert first.tolist() == [-1, -1, 0, -1]
    second = tracker.check(np.array([4, 5, 6], dtype=np.int64), np.array([9, 11, 11], dtype=np.int64))
    assert second.tolist() == [3, -1, 5]
    assert len(tracker) == 4  # 5, 7, 9, 11


def test_duplicate_column_uses_id_and_mtime(plan: ColumnPlan) -> None:
    frame = frame_of(
        plan,
        {"id": "a", "mtime": 1},
        {"id": "a", "mtime": 2},  # an edit
        {"id": "a", "mtime": 1},  # a duplicate of record 0
        {"id": 5, "mtime": 1},  # wrong id type: not paired
    )
    assert frame["duplicate_of"].tolist() == [pd.NA, pd.NA, 0, pd.NA]
