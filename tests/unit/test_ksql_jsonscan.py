"""The typed JSON scan drops only records the full path would drop silently.

The oracle everywhere is the engine's full path: ``serde``'s reader (orjson + coercion) then the
WHERE clause over the complete row, with the prefilter and the scan switched off. A processor
with the scan must give the same outputs and the same processing-log entries for every input —
valid, damaged at the byte level, damaged at the JSON level — and the scan must actually drop
most valid non-matching records (else these tests would pass vacuously).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from ksqldb_lite.bench import GERMANY, MEETUP_DDL, make_event
from ksqldb_lite.conformance.runner import read_baseline, run_paths
from ksqldb_lite.execution.driver import ConsumedRecord, ProducedRecord
from ksqldb_lite.execution.streams import StreamProcessor, stream_processor_factory
from ksqldb_lite.planning.expressions import EVALUATION_ERRORS
from ksqldb_lite.serde import formats as serde
from ksqldb_lite.serde import jsonscan
from replay.paths import shared_dir
from tests.unit.jsonfuzz import (
    EDGE_DDL,
    EDGE_INPUTS,
    Context,
    damage_bytes,
    damage_json,
    double_literals,
    duplicate_key,
    planned,
)


def _processor(ddl: str, statement: str) -> tuple[StreamProcessor, Context]:
    """A processor of the statement's query, from an engine of its own (a plan's expression
    errors go to the context of the processor built from it)."""
    plan, sink = planned(ddl, statement)
    context = Context()
    processor = stream_processor_factory(plan, sink)(context)
    assert isinstance(processor, StreamProcessor)
    return processor, context


def _processors(ddl: str, statement: str) -> tuple[StreamProcessor, Context, StreamProcessor, Context]:
    """(processor with the scan, its context, full-path processor, its context)."""
    fast, fast_context = _processor(ddl, statement)
    full, full_context = _processor(ddl, statement)
    full.c.prefilter = None
    full.c.scan = None
    return fast, fast_context, full, full_context


class _Comparer:
    """Feeds the same records to both processors; counts what the scan decided."""

    def __init__(
        self, fast: StreamProcessor, fast_context: Context, full: StreamProcessor, full_context: Context
    ):
        self.fast, self.fast_context, self.full, self.full_context = fast, fast_context, full, full_context
        self.rejected = 0
        self.offset = 0
        assert fast.c.scan is not None
        original = fast.c.scan.check

        def counting(*args: Any) -> int:
            result = original(*args)
            self.rejected += result == jsonscan.REJECTED
            return result

        fast.c.scan.check = counting  # type: ignore[method-assign,assignment]

    def same(self, value: bytes | None, key: bytes | None = None, use_drops: bool = False) -> None:
        self.offset += 1
        record = ConsumedRecord("t", 0, self.offset, 1_600_000_000_000 + self.offset, key, value)
        errors_before = len(self.full_context.errors)
        expected = list(self.full.process(record))
        process_raw = self.fast.process_raw
        assert process_raw is not None
        decided = process_raw(key, value, record.timestamp, 0, self.offset) if use_drops else None
        if decided is not None:
            got: list[ProducedRecord] = list(decided)
        else:
            got = list(self.fast.process(record))
        assert got == expected, value
        assert self.fast_context.errors == self.full_context.errors, value
        assert len(self.full_context.errors) >= errors_before


MEETUP_WHERES = [
    "`group`->country = 'de'",
    "`group`->country = 'de' OR `group`->category->id > 40",
    "venue->lat > 10 AND time IS NOT NULL",
    "`group`->country IN ('de', 'us') AND NOT (id LIKE '2%')",
    "utc_offset = 3600000 AND ROWOFFSET > 3",
    "CAST(`group`->id AS STRING) = '17'",
    "LEN(name) > 40 OR fee->amount < 1.5",
]


@pytest.mark.parametrize("where", MEETUP_WHERES)
def test_scan_gives_the_same_outputs_and_errors_as_the_full_path(where: str) -> None:
    compare = _Comparer(*_processors(MEETUP_DDL, GERMANY.replace("`group`->country = 'de'", where)))
    rng = random.Random(where)
    for index in range(700):
        event = make_event(rng, index)
        if rng.random() < 0.15 and isinstance(event.get("group"), dict):
            event["group"]["country"] = "de"
        roll = rng.random()
        if roll < 0.25:
            compare.same(
                json.dumps(damage_json(rng, event), ensure_ascii=False).encode(), use_drops=index % 2 == 0
            )
        elif roll < 0.45:
            compare.same(damage_bytes(rng, orjson.dumps(event)), use_drops=index % 2 == 0)
        elif roll < 0.5:
            compare.same(duplicate_key(orjson.dumps(event)))
        else:
            compare.same(orjson.dumps(event), use_drops=index % 2 == 0)
    compare.same(None)  # a tombstone
    assert compare.full_context.errors, "the damaged records must produce processing-log entries"
    assert compare.rejected > 150, "the scan must decide most valid records (else this test proves nothing)"


@pytest.mark.parametrize(
    ("where", "least_rejected"),
    [
        ("I = 7", 10),
        ("S = 'zzz' OR `lower` = 'zzz'", 10),
        ("ST->X = 9 OR ST->Z->W > 1e300", 10),
        ("D < -1 OR T = true", 10),
        ("D < -1 OR T", 2),  # OR on a null BOOLEAN is an error: the full path reports it
        ("B = 5 AND ROWPARTITION = 0", 10),
        ("B = 5 OR I = 7", 10),
        ("CAST(S AS INT) = 3", 2),  # a failing CAST is reported by the full path
    ],
)
def test_scan_agrees_with_the_full_path_on_edge_inputs(where: str, least_rejected: int) -> None:
    compare = _Comparer(*_processors(EDGE_DDL, f"CREATE STREAM OUT AS SELECT * FROM S WHERE {where};"))
    for data in EDGE_INPUTS:
        compare.same(data)
        compare.same(data, use_drops=True)
    assert compare.rejected >= least_rejected


def test_doubles_read_by_the_scan_equal_the_full_readers() -> None:
    """The WHERE reads a DOUBLE the scan parsed itself: it must be the very same float."""
    compare = _Comparer(
        *_processors(EDGE_DDL, "CREATE STREAM OUT AS SELECT * FROM S WHERE D = 0.1 OR D > 1e308;")
    )
    for literal in double_literals(random.Random(5), 600):
        compare.same(b'{"d": ' + literal + b"}")
        compare.same(b'{"d": ' + literal + b"}", use_drops=True)


def test_harmless_unknown_keys_are_learned_and_case_variants_never_are() -> None:
    fast, _, _, _ = _processors(EDGE_DDL, "CREATE STREAM OUT AS SELECT * FROM S WHERE I = 7;")
    scan = fast.c.scan
    assert scan is not None
    unknown = b'{"i": 1, "extra": {"deep": [1, 2]}, "st": {"x": 1, "more": true}}'
    assert scan.check(unknown, [], 0, 0, 0) == jsonscan.UNSCANNED
    fast.process(ConsumedRecord("s", 0, 0, 0, None, unknown))  # the full path reads it and learns
    assert scan.check(unknown, [], 0, 0, 0) == jsonscan.REJECTED
    assert scan.check(b'{"i": 1, "extra": "\xff"}', [], 0, 0, 0) == jsonscan.UNSCANNED  # still validated
    # `lower` is case-sensitive and there is no field LOWER: harmless, learned
    fast.process(ConsumedRecord("s", 0, 0, 0, None, b'{"i": 1, "LOWER": "x"}'))
    assert scan.check(b'{"i": 1, "LOWER": "x"}', [], 0, 0, 0) == jsonscan.REJECTED
    # "St" and "sT" upper-case to the field ST: the reader may take them, never learned
    for variant in (b'{"i": 1, "St": {"x": 1}}', b'{"i": 1, "ST": null, "sT": {"x": 1}}'):
        for _ in range(3):
            fast.process(ConsumedRecord("s", 0, 0, 0, None, variant))
            assert scan.check(variant, [], 0, 0, 0) == jsonscan.UNSCANNED
    assert scan.check(b'{"i": 7}', [], 0, 0, 0) == jsonscan.UNSURE


def test_upper_case_spellings_are_declared_once_seen() -> None:
    """Producers write ``i``, ksqlDB's own sinks ``I``: the scan starts with the lower-case
    spelling and declares the exact one after the full path has read a record with it."""
    fast, _, _, _ = _processors(EDGE_DDL, "CREATE STREAM OUT AS SELECT * FROM S WHERE I = 7 OR ST->X = 7;")
    scan = fast.c.scan
    assert scan is not None
    sink_style = b'{"I": 1, "S": "x", "ST": {"X": 1, "y": "z"}}'
    assert scan.check(sink_style, [], 0, 0, 0) == jsonscan.UNSCANNED
    assert not fast.process(ConsumedRecord("s", 0, 0, 0, None, sink_style))
    assert scan.check(sink_style, [], 0, 0, 0) == jsonscan.REJECTED
    assert scan.check(b'{"I": 7}', [], 0, 0, 0) == jsonscan.UNSURE
    assert scan.check(b'{"ST": {"X": 7}}', [], 0, 0, 0) == jsonscan.UNSURE
    assert scan.check(b'{"I": 1, "i": 7}', [], 0, 0, 0) == jsonscan.REJECTED  # the exact name wins
    assert scan.check(b'{"i": 1, "I": 7}', [], 0, 0, 0) == jsonscan.UNSURE


def test_a_query_whose_records_mostly_fail_the_scan_stops_scanning() -> None:
    fast, _, _, _ = _processors(EDGE_DDL, "CREATE STREAM OUT AS SELECT * FROM S WHERE I = 7;")
    scan = fast.c.scan
    assert scan is not None
    for offset in range(jsonscan.WINDOW):
        fast.process(ConsumedRecord("s", 0, offset, 0, None, b'{"i": "12"}'))
    assert not scan.enabled
    assert fast.process(ConsumedRecord("s", 0, 0, 0, None, b'{"i": "7"}'))  # still right without it


@pytest.mark.parametrize(
    ("ddl", "where"),
    [
        (EDGE_DDL, "RANDOM() < 0.5"),
        (EDGE_DDL, "ST IS NULL"),
        (EDGE_DDL, "A[1] = 3"),
        (EDGE_DDL, "M['k'] = 1.0"),
        (
            "CREATE STREAM S (P DECIMAL(4, 2), Q STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
            "Q = 'x'",
        ),
        (
            "CREATE STREAM S (`A` STRING, `a` STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
            "`A` = 'x'",
        ),
        (
            "CREATE STREAM S (AB STRING, `Ab` STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
            "AB = 'x'",
        ),
    ],
)
def test_no_scan_where_it_could_not_decide_exactly(ddl: str, where: str) -> None:
    fast, _, _, _ = _processors(ddl, f"CREATE STREAM OUT AS SELECT * FROM S WHERE {where};")
    assert fast.c.scan is None
    assert fast.process_raw is None  # drivers are not asked to call it in vain


def test_prefilter_reports_a_where_error_once_and_keeps_random_fair() -> None:
    """Shortcuts evaluate the WHERE a second time for records they keep: an error is reported
    by the full path only, and RANDOM() is never evaluated twice."""
    fast, fast_context, full, full_context = _processors(
        MEETUP_DDL, GERMANY.replace("`group`->country = 'de'", "CAST(name AS INT) IS NULL")
    )
    record = ConsumedRecord("meetup_events", 0, 0, 0, None, b'{"name": "abc"}')
    assert len(fast.process(record)) == len(full.process(record)) == 1
    assert len(fast_context.errors) == len(full_context.errors) == 1
    fast, _, _, _ = _processors(MEETUP_DDL, GERMANY.replace("`group`->country = 'de'", "RANDOM() < 0.5"))
    kept = sum(len(fast.process(ConsumedRecord("meetup_events", 0, i, 0, None, b"{}"))) for i in range(4000))
    assert 1700 < kept < 2300


def _verify_drop(
    processor: StreamProcessor, key: list[Any], value: bytes | None, coordinates: tuple[int, int, int]
) -> str | None:
    """Why dropping this record silently would be wrong for the full path, or None."""
    c = processor.c
    try:
        values = c.value_deserializer(value)
    except serde.SerdeError as error:
        return f"the full reader fails: {error}"
    if values is None or c.where is None:
        return "not a row with a WHERE clause"
    reported: list[str] = []
    saved, c.errors.report = c.errors.report, reported.append
    try:
        keep = c.where([*key, *values, *coordinates])
    except EVALUATION_ERRORS as error:
        keep, reported = None, [*reported, str(error)]
    finally:
        c.errors.report = saved
    return f"the full WHERE gives {keep!r}, errors {reported}" if keep or reported else None


@pytest.mark.shared
def test_every_record_the_scan_drops_over_the_conformance_suites_is_valid_and_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An oracle around the scan while ksqlDB's own test files run (through ``process_raw``, as
    the drivers call it, and through ``process``): each record it drops must deserialize
    with the full reader, and the full WHERE must reject it without an error."""
    original_scan, original_raw = StreamProcessor._scan, StreamProcessor._process_raw
    dropped: list[bytes | None] = []
    violations: list[tuple[bytes | None, str]] = []

    def checked_scan(self: StreamProcessor, record: ConsumedRecord, key: list[Any]) -> int:
        result = original_scan(self, record, key)
        if result == jsonscan.REJECTED:
            dropped.append(record.value)
            why = _verify_drop(self, key, record.value, (record.timestamp, record.partition, record.offset))
            if why is not None:
                violations.append((record.value, why))
        return result

    def checked_raw(
        self: StreamProcessor,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        partition: int,
        offset: int,
    ) -> Sequence[ProducedRecord] | None:
        result = original_raw(self, key, value, timestamp, partition, offset)
        if result is not None:
            dropped.append(value)
            why = _verify_drop(self, self.c.key_deserializer(key), value, (timestamp, partition, offset))
            if why is not None:
                violations.append((value, why))
        return result

    monkeypatch.setattr(StreamProcessor, "_scan", checked_scan)
    monkeypatch.setattr(StreamProcessor, "_process_raw", checked_raw)
    for tier in (1, 2):
        folder = shared_dir() / "ksql-conformance" / f"tier{tier}"
        summary = run_paths([folder])
        assert summary.passed >= read_baseline(tier).passed
    assert not violations
    assert len(dropped) >= 50, "the suites must exercise the scan"
