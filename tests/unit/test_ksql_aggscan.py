"""An aggregation's typed scan gives exactly the table updates and errors of the full path.

The oracle is the engine's full path: ``serde``'s reader (orjson + coercion into the complete
row), then the WHERE clause, the GROUP BY expressions and the aggregates' arguments over that
row. Two processors of the same query get the same records, one with the scan and one without;
their outputs (key and value bytes, timestamps), their processing-log entries and their state
stores must be equal after every record (given to ``process_raw`` first, as the drivers do, or
to ``process`` alone) — valid, damaged at the byte level, damaged at the JSON
level — and the scan must decide most valid records (else these tests would pass vacuously).
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from ksqldb_lite.bench import MEETUP_DDL, make_event
from ksqldb_lite.conformance.runner import read_baseline, run_paths
from ksqldb_lite.execution import aggregate_scan
from ksqldb_lite.execution.aggregate_scan import SKIPPED, AggregateScan
from ksqldb_lite.execution.driver import ConsumedRecord
from ksqldb_lite.execution.tables import AggregateProcessor, aggregate_processor_factory
from ksqldb_lite.planning.aggregation import AggregatePlan
from ksqldb_lite.planning.expressions import EVALUATION_ERRORS, Compiler, ErrorSink
from ksqldb_lite.serde import formats as serde
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


def _processor(ddl: str, statement: str) -> tuple[AggregateProcessor, Context]:
    """An aggregation's processor from an engine of its own (a plan's expression errors go to
    the context of the processor built from it), with its stores in dicts."""
    plan, sink = planned(ddl, statement)
    context = Context()
    processor = aggregate_processor_factory(plan, sink)(context)
    assert isinstance(processor, AggregateProcessor)
    return processor, context


class _Comparer:
    """Feeds the same records to a processor with the scan and to one without; counts what
    the scan decided."""

    def __init__(self, ddl: str, statement: str) -> None:
        self.fast, self.fast_context = _processor(ddl, statement)
        self.full, self.full_context = _processor(ddl, statement)
        assert self.fast.c.scan is not None, "the query must have a scan"
        self.full.c.scan = None
        self.decided = 0
        self.offset = 0
        scan = self.fast.c.scan
        original = scan.read

        def counting(*args: Any) -> Any:
            result = original(*args)
            self.decided += type(result) is tuple or result is SKIPPED
            return result

        scan.read = counting  # type: ignore[method-assign,assignment]

    def same(self, value: bytes | None, key: bytes | None = None, timestamp: int | None = None) -> None:
        self.offset += 1
        at = 1_600_000_000_000 + self.offset * 60_000 if timestamp is None else timestamp
        record = ConsumedRecord("meetup_events", 0, self.offset, at, key, value)
        expected = list(self.full.process(record))
        # every other record through process_raw first, as the drivers call it
        process_raw = self.fast.process_raw
        assert process_raw is not None
        decided = process_raw(key, value, at, 0, self.offset) if self.offset % 2 else None
        got = list(self.fast.process(record) if decided is None else decided)
        assert got == expected, value
        assert self.fast_context.errors == self.full_context.errors, value
        for name, store in self.full_context.stores.items():
            assert self.fast_context.stores[name].data == store.data, (name, value)


MEETUP_AGGREGATIONS = [
    "SELECT `group`->country AS C, COUNT(*) AS N FROM MEETUP_EVENTS GROUP BY `group`->country",
    "SELECT `group`->category->shortname AS C, COUNT(*) AS N FROM MEETUP_EVENTS GROUP BY `group`->category->shortname",
    "SELECT `group`->country AS C, SUM(yes_rsvp_count) AS Y, MAX(fee->amount) AS F, MIN(utc_offset) AS U, "
    "AVG(venue->lat) AS L FROM MEETUP_EVENTS WHERE venue->lat > 10 OR time IS NULL GROUP BY `group`->country",
    "SELECT UCASE(`group`->city) AS C, COLLECT_LIST(id) AS IDS, LATEST_BY_OFFSET(name) AS LAST "
    "FROM MEETUP_EVENTS GROUP BY UCASE(`group`->city)",
    "SELECT `group`->country AS C, `group`->category->id AS K, COUNT(`group`->id) AS N FROM MEETUP_EVENTS "
    "GROUP BY `group`->country, `group`->category->id",
    "SELECT CAST(`group`->id AS STRING) AS G, EARLIEST_BY_OFFSET(mtime) AS M FROM MEETUP_EVENTS "
    "GROUP BY CAST(`group`->id AS STRING) HAVING COUNT(*) > 1",
    "SELECT `group`->country AS C, COUNT(*) AS N FROM MEETUP_EVENTS "
    "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY `group`->country",
    "SELECT `group`->country AS C, SUM(rsvp_limit) AS N, WINDOWSTART AS WS FROM MEETUP_EVENTS "
    "WINDOW HOPPING (SIZE 10 MINUTES, ADVANCE BY 5 MINUTES) WHERE ROWOFFSET > 3 GROUP BY `group`->country",
]


def _table(select: str) -> str:
    key_format = " WITH (KEY_FORMAT='JSON')" if "GROUP BY `group`->country, " in select else ""
    return f"CREATE TABLE T{key_format} AS {select};"


@pytest.mark.parametrize("select", MEETUP_AGGREGATIONS)
def test_scan_gives_the_same_updates_stores_and_errors_as_the_full_path(select: str) -> None:
    compare = _Comparer(MEETUP_DDL, _table(select))
    rng = random.Random(select)
    for index in range(700):
        event = make_event(rng, index, unicode=index % 3 == 0)
        roll = rng.random()
        if roll < 0.25:
            compare.same(json.dumps(damage_json(rng, event), ensure_ascii=False).encode())
        elif roll < 0.45:
            compare.same(damage_bytes(rng, orjson.dumps(event)))
        elif roll < 0.5:
            compare.same(duplicate_key(orjson.dumps(event)))
        else:
            compare.same(orjson.dumps(event))
    compare.same(None)  # a tombstone
    assert compare.full_context.errors, "the damaged records must produce processing-log entries"
    assert compare.decided > 300, "the scan must decide most valid records (else this test proves nothing)"


EDGE_AGGREGATIONS = [
    ("I", "COUNT(*)"),
    ("B", "SUM(I)"),
    ("D", "SUM(D)"),
    ("T", "COUNT(S)"),
    ("S", "MAX(B)"),
    ("`lower`", "MIN(D)"),
    ("ST->X", "COLLECT_LIST(ST->`y`)"),
    ("ST->Z->W", "AVG(ST->Z->W)"),
    ("CAST(S AS INT)", "COUNT(*)"),  # a failing CAST is reported by the full path
    ("LEN(S)", "SUM(CAST(S AS BIGINT))"),
]


@pytest.mark.parametrize(("group", "aggregate"), EDGE_AGGREGATIONS)
def test_scan_agrees_with_the_full_path_on_edge_inputs(group: str, aggregate: str) -> None:
    compare = _Comparer(
        EDGE_DDL,
        f"CREATE TABLE T WITH (KEY_FORMAT='JSON') AS SELECT {group} AS G, {aggregate} AS V FROM S GROUP BY {group};",
    )
    for data in EDGE_INPUTS:
        compare.same(data)
    assert compare.decided >= 10


def test_doubles_and_big_integers_read_by_the_scan_equal_the_full_readers() -> None:
    """A GROUP BY key and a SUM read numbers the scan parsed itself: they must be the very same
    values (a JSON integer in a DOUBLE column becomes a float; -0 stays 0.0)."""
    compare = _Comparer(
        EDGE_DDL,
        "CREATE TABLE T WITH (KEY_FORMAT='JSON') AS SELECT D AS G, SUM(D) AS V, COUNT(B) AS C FROM S GROUP BY D;",
    )
    for literal in double_literals(random.Random(7), 600):
        compare.same(b'{"d": ' + literal + b"}")
        compare.same(b'{"d": ' + literal + b', "b": ' + literal + b"}")
    for number in (b"5", b"-0", b"9007199254740993", b"18446744073709551616", b"-9223372036854775808"):
        compare.same(b'{"d": ' + number + b', "b": ' + number + b"}")
    assert compare.decided > 450


def test_keyed_sources_and_record_columns_are_read_like_the_full_path() -> None:
    """Key columns come from the key deserializer (a bad key is logged, by both paths); ROWTIME,
    ROWPARTITION and ROWOFFSET from the record."""
    ddl = "CREATE STREAM S (K STRING KEY, I INT) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', KEY_FORMAT='JSON', PARTITIONS=1);"
    compare = _Comparer(
        ddl,
        "CREATE TABLE T AS SELECT K AS G, SUM(I) AS V, MAX(ROWTIME) AS R, MIN(ROWOFFSET) AS O "
        "FROM S WHERE ROWPARTITION = 0 GROUP BY K;",
    )
    for key in (b'"a"', b'"b"', b"not json", None, b'"a"', b"12"):
        compare.same(b'{"i": 3}', key=key)
        compare.same(b'{"i": "3"}', key=key)
    assert compare.fast_context.errors
    assert compare.decided >= 4


def test_late_records_and_windows_are_the_full_paths() -> None:
    compare = _Comparer(
        EDGE_DDL,
        "CREATE TABLE T AS SELECT S AS G, COUNT(*) AS V FROM S "
        "WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 1 MINUTE) GROUP BY S;",
    )
    for timestamp in (0, 600_000, 59_000, 700_000, 500_000, 1_000, 2_000_000, 1_940_001):
        compare.same(b'{"s": "x"}', timestamp=timestamp)
        compare.same(b'{"s": "x", "i": "1"}', timestamp=timestamp)  # the full path (learns nothing)
    assert compare.decided >= 8


def test_records_whose_spelling_the_scan_learns_are_scanned_next_time() -> None:
    compare = _Comparer(EDGE_DDL, "CREATE TABLE T AS SELECT S AS G, COUNT(*) AS V FROM S GROUP BY S;")
    sink_style = b'{"S": "x", "extra": [1, {"deep": true}]}'
    compare.same(sink_style)
    assert compare.decided == 0  # unknown spellings: the full path, which the scan learns from
    compare.same(sink_style)
    assert compare.decided == 1
    compare.same(b'{"S": "x", "extra": "\xff"}')  # still validated
    assert compare.fast_context.errors


@pytest.mark.parametrize(
    ("ddl", "select"),
    [
        (EDGE_DDL, "SELECT I AS G, COUNT(*) AS V FROM S WHERE RANDOM() < 0.5 GROUP BY I"),
        (EDGE_DDL, "SELECT I AS G, COLLECT_LIST(ST) AS V FROM S GROUP BY I"),
        (EDGE_DDL, "SELECT A[1] AS G, COUNT(*) AS V FROM S GROUP BY A[1]"),
        (EDGE_DDL, "SELECT I AS G, SUM(M['k']) AS V FROM S GROUP BY I"),
        (
            "CREATE STREAM S (P DECIMAL(4, 2), Q STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
            "SELECT Q AS G, SUM(P) AS V FROM S GROUP BY Q",
        ),
        (
            "CREATE TABLE S (K STRING PRIMARY KEY, Q STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON', PARTITIONS=1);",
            "SELECT Q AS G, COUNT(*) AS V FROM S GROUP BY Q",
        ),
        (
            "CREATE STREAM S (Q STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='DELIMITED', PARTITIONS=1);",
            "SELECT Q AS G, COUNT(*) AS V FROM S GROUP BY Q",
        ),
    ],
)
def test_no_scan_where_it_could_not_decide_exactly(ddl: str, select: str) -> None:
    try:
        processor, _ = _processor(ddl, f"CREATE TABLE T AS {select};")
    except Exception as error:  # noqa: BLE001 - a format the engine refuses has no processor at all
        assert "not supported" in str(error)
        return
    assert processor.c.scan is None
    assert processor.process_raw is None  # drivers are not asked to call it in vain


def test_a_restored_store_is_read_again_not_the_processors_cache() -> None:
    """A Kafka session that fails is aborted and its stores restored from the changelogs; the
    processor must then fold into the restored state, not into what it had cached."""
    processor, context = _processor(
        EDGE_DDL, "CREATE TABLE T AS SELECT S AS G, COUNT(*) AS V FROM S GROUP BY S;"
    )
    record = ConsumedRecord("s", 0, 0, 0, None, b'{"s": "x"}')
    processor.process(record)
    store = context.stores["aggregate"]
    before = dict(store.data)
    processor.process(record)
    store.data = {key: bytes(value) for key, value in before.items()}  # a restore: equal, new bytes
    (update,) = processor.process(record)
    assert update.value == b'{"V":2}'


def _oracle(plan: AggregatePlan, scan: AggregateScan, violations: list[str]) -> None:
    """Wrap the scan's ``read``: check every decision against the full path's reading."""
    reader = serde.value_deserializer(plan.source.value_format, plan.source.schema.value)
    reported: list[str] = []
    compiler = Compiler(plan.scope, ErrorSink(report=reported.append))
    where = compiler.compile(plan.where) if plan.where is not None else None
    groups = [compiler.compile(e) for e in plan.group_by]
    arguments = [compiler.compile(a.argument) if a.argument is not None else None for a in plan.aggregates]
    original = scan.read

    def checked(value: bytes, key: list[Any], timestamp: int, partition: int, offset: int) -> Any:
        result = original(value, key, timestamp, partition, offset)
        if type(result) is not tuple and result is not SKIPPED:
            return result
        reported.clear()
        try:
            values = reader(value)
            assert values is not None
            row = [*key, *values, timestamp, partition, offset]
            expected: Any
            if where is not None and not where(row):
                expected = SKIPPED
            else:
                group = [f(row) for f in groups]
                expected = (
                    SKIPPED if None in group else (group, [1 if f is None else f(row) for f in arguments])
                )
        except (serde.SerdeError, *EVALUATION_ERRORS) as error:
            violations.append(f"{value!r}: the full path fails: {error}")
            return result
        if reported or repr(expected) != repr(result):
            violations.append(f"{value!r}: scan {result!r}, full path {expected!r}, errors {reported}")
        return result

    scan.read = checked  # type: ignore[method-assign]


@pytest.mark.shared
def test_every_decision_of_the_scan_over_the_conformance_suites_is_the_full_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An oracle around the scan while ksqlDB's own test files run: for each record the scan
    decides, the full reader must read it without an error and the full row must give the same
    WHERE verdict, group and arguments (compared by repr, so 1 and 1.0 differ)."""
    violations: list[str] = []
    decided: list[int] = []
    original_build = aggregate_scan.build

    def build(plan: AggregatePlan) -> AggregateScan | None:
        scan = original_build(plan)
        if scan is not None:
            _oracle(plan, scan, violations)
            inner = scan.read

            def counted(*args: Any) -> Any:
                result = inner(*args)
                if type(result) is tuple or result is SKIPPED:
                    decided.append(1)
                return result

            scan.read = counted  # type: ignore[method-assign,assignment]
        return scan

    monkeypatch.setattr(aggregate_scan, "build", build)
    for tier in (1, 2):
        folder = shared_dir() / "ksql-conformance" / f"tier{tier}"
        summary = run_paths([folder])
        assert summary.passed >= read_baseline(tier).passed
    assert not violations, violations[:5]
    assert len(decided) >= 50, "the suites must exercise the scan"
