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
from typing import Any

import orjson
import pytest

from ksqldb_lite.bench import GERMANY, MEETUP_DDL, make_event
from ksqldb_lite.conformance.runner import read_baseline, run_paths
from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.execution.driver import ConsumedRecord, ProducedRecord
from ksqldb_lite.execution.memory_driver import InMemoryTopicDriver
from ksqldb_lite.execution.streams import StreamProcessor, stream_processor_factory
from ksqldb_lite.planning.expressions import EVALUATION_ERRORS
from ksqldb_lite.serde import formats as serde
from ksqldb_lite.serde import jsonscan
from replay.paths import shared_dir


class _Context:
    query_id = "test"

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def report_error(self, entry: bytes | None) -> None:
        assert entry is not None
        message = orjson.loads(entry)["MESSAGE"]
        self.errors.append(message)

    def store(self, name: str) -> Any:
        raise NotImplementedError


def _processor(ddl: str, statement: str) -> tuple[StreamProcessor, _Context]:
    """A processor of the statement's query, from an engine of its own (a plan's expression
    errors go to the context of the processor built from it)."""
    driver = InMemoryTopicDriver()
    driver.create_topic("meetup_events", 1, 1)
    engine = KsqlEngine(driver)
    engine.start()
    engine.execute(ddl + statement)
    query = next(q for q in engine._executor.queries.values() if "plan" in q.extra)
    context = _Context()
    processor = stream_processor_factory(query.extra["plan"], query.extra["sink"])(context)
    assert isinstance(processor, StreamProcessor)
    return processor, context


def _processors(ddl: str, statement: str) -> tuple[StreamProcessor, _Context, StreamProcessor, _Context]:
    """(processor with the scan, its context, full-path processor, its context)."""
    fast, fast_context = _processor(ddl, statement)
    full, full_context = _processor(ddl, statement)
    full.c.prefilter = None
    full.c.scan = None
    return fast, fast_context, full, full_context


class _Comparer:
    """Feeds the same records to both processors; counts what the scan decided."""

    def __init__(
        self, fast: StreamProcessor, fast_context: _Context, full: StreamProcessor, full_context: _Context
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
        drops = self.fast.drops
        assert drops is not None
        if use_drops and drops(key, value, record.timestamp, 0, self.offset):
            got: list[ProducedRecord] = []
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


def _damage_bytes(rng: random.Random, data: bytes) -> bytes:
    """A byte-level accident: flip, insert, delete, or a hostile sequence."""
    position = rng.randrange(len(data))
    choice = rng.randrange(9)
    if choice == 0:
        return data[:position] + bytes([rng.randrange(256)]) + data[position + 1 :]
    if choice == 1:
        return data[:position] + data[position + 1 :]
    if choice == 2:
        return (
            data[:position]
            + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\x01", b"\t"])
            + data[position:]
        )
    if choice == 3:
        return (
            data[:position]
            + rng.choice([b'"', b"\\", b"\\u", b"\\ud800", b"}", b"]", b",", b":"])
            + data[position:]
        )
    if choice == 4:
        return data.replace(b'"utc_offset":', b'"utc_offset":1e400,"x":', 1)
    if choice == 5:
        return data + rng.choice([b" ", b"x", b"{}", b"\n"])
    if choice == 6:
        return b"\xef\xbb\xbf" + data
    if choice == 7:
        return data[:position]
    return data.replace(b"de", b"d\\u0065", 1)


def _damage_json(rng: random.Random, event: dict[str, Any]) -> Any:
    """A JSON-level accident: wrong types, key casing, duplicates, extra keys, odd numbers."""
    group = event.get("group")
    choice = rng.randrange(20)
    if choice == 0:
        event["time"] = "not a number"
    elif choice == 1 and isinstance(group, dict):
        group["Country"] = group.pop("country")
    elif choice == 2:
        event["group"] = "not an object"
    elif choice == 3:
        event["venue"] = {"lat": "1.5", "lon": True}
    elif choice == 4 and isinstance(group, dict):
        group["id"] = str(group["id"])
    elif choice == 5:
        event.pop("group", None)
    elif choice == 6:
        event["GROUP"] = event.pop("group", None)
    elif choice == 7:
        event["UTC_OFFSET"] = rng.choice([3_600_000, "x", None, 1.5])
    elif choice == 8:
        event[rng.choice(["extra", "how_to_find_us", "ÿ", "Utc_Offset", "NAME"])] = rng.choice(
            [1, "x", {"a": [1]}]
        )
    elif choice == 9:
        event["rsvp_limit"] = rng.choice([2**31, -(2**31) - 1, 2**63, 10**30, 1.0, True, "12"])
    elif choice == 10:
        event["utc_offset"] = rng.choice([2**63, -(2**63), 2**64, 1e300, -0.0])
    elif choice == 11:
        event["name"] = rng.choice([{"a": 1}, [1, "x"], 12, 1.5, True, None])
    elif choice == 12 and isinstance(group, dict):
        group["category"] = rng.choice([None, [], {"id": "34"}, {"id": 34.5}, {"ID": 34}])
    elif choice == 13:
        event["venue"] = rng.choice([None, {"lat": 10**400 if False else 1e308, "lon": -1e-320}, {"lat": 12}])
    elif choice == 14:
        return rng.choice([None, [event], "text", 12])
    elif choice == 15 and isinstance(group, dict):
        group["country"] = rng.choice(["de", "DE", None, 49, ["de"], {"code": "de"}])
    elif choice == 16:
        event["fee"] = rng.choice([{"amount": "1.25"}, {"amount": 1}, {"amount": None}, "free"])
    elif choice == 17:
        event["id"] = rng.choice([123, "2abc", None])
    elif choice == 18 and isinstance(group, dict):
        group.setdefault("group_photo", {})["photo_id"] = rng.choice([2**63, "5", -1])
    return event


def _duplicate_key(data: bytes) -> bytes:
    """The same key twice (the last one wins for both readers)."""
    return data.replace(b'"group":{', b'"group":{"country":"zz","country":"de",', 1).replace(
        b'"status":', b'"status":7,"status":', 1
    )


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
                json.dumps(_damage_json(rng, event), ensure_ascii=False).encode(), use_drops=index % 2 == 0
            )
        elif roll < 0.45:
            compare.same(_damage_bytes(rng, orjson.dumps(event)), use_drops=index % 2 == 0)
        elif roll < 0.5:
            compare.same(_duplicate_key(orjson.dumps(event)))
        else:
            compare.same(orjson.dumps(event), use_drops=index % 2 == 0)
    compare.same(None)  # a tombstone
    assert compare.full_context.errors, "the damaged records must produce processing-log entries"
    assert compare.rejected > 150, "the scan must decide most valid records (else this test proves nothing)"


EDGE_DDL = """
CREATE STREAM S (
  I INT, B BIGINT, D DOUBLE, T BOOLEAN, S STRING, `lower` STRING,
  ST STRUCT<X INT, `y` STRING, Z STRUCT<W DOUBLE>>,
  A ARRAY<INT>, M MAP<STRING, DOUBLE>, AS2 ARRAY<STRUCT<Q STRING>>
) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);
"""
EDGE_INPUTS: list[bytes] = [
    b'{"i": 1, "s": "x"}',
    b'{"I": 1, "i": "junk"}',
    b'{"i": "junk", "I": 1}',
    b'{"I": "junk", "i": 1}',
    b'{"iI": 1}',
    b'{"I": 7, "i": 1}',
    b'{"i": 7, "I": 1}',
    b'{"st": {"X": 9, "x": 1}}',
    b'{"st": {"x": 9, "X": 1}}',
    b'{"lower": "a", "LOWER": 5}',
    b'{"Lower": {"a": 1}}',
    b'{"s": "\\ud83d\\ude00 \\u00e9"}',
    b'{"s": "\\ud800"}',
    b'{"s": "\\udc00x"}',
    b'{"s": "a\xffb"}',
    b'{"s": "\xc0\x80"}',
    b'{"s": "\xed\xa0\x80"}',
    b'{"s": "\xf4\x90\x80\x80"}',
    b'{"s": "a\x01b"}',
    b'{"s": "a\x7fb"}',
    b'{"x": "a\xffb"}',
    b'{"x": 1e400}',
    b'{"s": 1e400}',
    b'{"d": 1e400}',
    b'{"d": 1e-400}',
    b'{"d": -0}',
    b'{"d": -0.0}',
    b'{"d": 123456789012345678901234567890}',
    b'{"d": 1.7976931348623157e308}',
    b'{"d": 2.2250738585072011e-308}',
    b'{"b": 9223372036854775807}',
    b'{"b": 9223372036854775808}',
    b'{"b": -9223372036854775809}',
    b'{"b": 18446744073709551616}',
    b'{"i": 2147483648}',
    b'{"i": 4294967303}',
    b'{"i": -4294967289}',
    b'{"b": 18446744073709551621}',
    b'{"b": 36893488147419103237}',
    b'{"i": 1.0}',
    b'{"i": 1e2}',
    b'{"i": -0}',
    b'{"i": true}',
    b'{"t": 1}',
    b'{"t": "true"}',
    b'{"t": false}',
    b'{"st": {"x": 1, "y": "a", "z": {"w": 1}}}',
    b'{"st": {"x": 1, "Y": "a"}}',
    b'{"st": {"X": "1"}}',
    b'{"st": {"z": null}}',
    b'{"st": {"z": []}}',
    b'{"st": "text"}',
    b'{"st": null}',
    b'{"a": [1, null, 2]}',
    b'{"a": [1, "2"]}',
    b'{"a": {"0": 1}}',
    b'{"m": {"k": 1, "k": "x"}}',
    b'{"m": {"k": "x", "k": 1}}',
    b'{"m": {"k": null}}',
    b'{"as2": [{"q": "a"}, {"Q": 1}, null]}',
    b'{"as2": [{"q": "a", "extra": 1}]}',
    b'{"s": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"s": "x"} ',
    b'{"s": "x"} x',
    b'{"s": "x"}{}',
    b'\xef\xbb\xbf{"s": "x"}',
    b' {"s": "x"}',
    b'{"s": NaN}',
    b'{"s": 01}',
    b'{"\\u0069": 5}',
    b'{"\xc3\xa9": 5}',
    b'{"\xff": 5}',
    b'{"s": "x",}',
    b"{'s': 1}",
    b"null",
    b"[]",
    b'"text"',
    b"",
    b"   ",
]


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
    rng = random.Random(5)
    literals = [b"0.1", b"0.10000000000000001", b"1e-1", b"-0", b"1e308", b"1.7976931348623157e308"]
    for _ in range(600):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 25)))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 25)))
        exponent = rng.randrange(-330, 320)
        literals.append(
            f"{digits.lstrip('0') or '0'}{'.' + fraction if fraction else ''}e{exponent}".encode()
        )
    for literal in literals:
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
    assert fast.drops is None  # drivers are not asked to call it in vain


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
    """An oracle around the scan while ksqlDB's own test files run (through ``drops``, as the
    Kafka runner calls it, and through ``process``): each record it drops must deserialize
    with the full reader, and the full WHERE must reject it without an error."""
    original_scan, original_drops = StreamProcessor._scan, StreamProcessor._drops
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

    def checked_drops(
        self: StreamProcessor,
        key: bytes | None,
        value: bytes | None,
        timestamp: int,
        partition: int,
        offset: int,
    ) -> bool:
        result = original_drops(self, key, value, timestamp, partition, offset)
        if result:
            dropped.append(value)
            why = _verify_drop(self, self.c.key_deserializer(key), value, (timestamp, partition, offset))
            if why is not None:
                violations.append((value, why))
        return result

    monkeypatch.setattr(StreamProcessor, "_scan", checked_scan)
    monkeypatch.setattr(StreamProcessor, "_drops", checked_drops)
    for tier in (1, 2):
        folder = shared_dir() / "ksql-conformance" / f"tier{tier}"
        summary = run_paths([folder])
        assert summary.passed >= read_baseline(tier).passed
    assert not violations
    assert len(dropped) >= 50, "the suites must exercise the scan"
