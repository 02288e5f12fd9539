"""Run ksqlDB query-validation test (QTT) files against the engine over the in-memory driver.

The QTT format (``ksqldb-functional-tests/.../test/model``): a case has ``statements`` and
``inputs``/``outputs`` records, or an ``expectedException``; ``format`` and ``config`` lists
expand a case into variants (a case passes only when every variant passes). Inputs are
serialized with the formats of the source that reads their topic, outputs deserialized with
the formats of the sink that writes theirs, and compared like ksqlDB's
ExpectedRecordComparator: same count and order per topic; objects by field (name as written,
then upper case) with the same number of fields; integers exactly, doubles within 1e-6;
timestamps only when the expected record gives one.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from ksqldb_lite import nodes as n
from ksqldb_lite import types as t
from ksqldb_lite.driver import ConsumedRecord, ProducedRecord
from ksqldb_lite.engine import KsqlEngine
from ksqldb_lite.errors import KsqlError, KsqlStatementError
from ksqldb_lite.memory_driver import InMemoryTopicDriver
from ksqldb_lite.parser import parse, split_statements
from ksqldb_lite.schema import Column, DataSource

# ksqlDB's TestExecutor base config (the parts that matter here)
BASE_PROPERTIES = {
    "ksql.service.id": "some.ksql.service.id",
    "ksql.streams.auto.offset.reset": "earliest",
}


@dataclass
class CaseResult:
    """The outcome of one test case (all its variants)."""

    file: str
    name: str
    passed: bool
    reason: str = ""


@dataclass
class Summary:
    """Totals of a run."""

    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """Cases that passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        """Cases that failed."""
        return sum(1 for r in self.results if not r.passed)


class CaseFailure(Exception):
    """A case did not behave as expected (the message is the reason)."""


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Every .json file under the given files and directories, sorted."""
    for path in paths:
        if path.is_dir():
            yield from sorted(path.glob("*.json"))
        else:
            yield path


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The test cases of one QTT file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data.get("tests", []))


def variants(case: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, case) per format/config variant."""
    out: list[tuple[str, dict[str, Any]]] = []
    formats = case.get("format") or [None]
    configs = case.get("config") or [None]
    for fmt in formats:
        for config in configs:
            variant = dict(case)
            if fmt is not None:
                variant["statements"] = [s.replace("{FORMAT}", fmt) for s in case["statements"]]
            if config is not None:
                variant["properties"] = {
                    k: (config if v == "{CONFIG}" else v) for k, v in case.get("properties", {}).items()
                }
            label = "/".join(str(x) for x in (fmt, config) if x is not None)
            out.append((label, variant))
    return out


# ---------------------------------------------------------------------------------------------
# (de)serialization of test records


def _serialize_key(source: DataSource | None, key: Any) -> bytes | None:
    if key is None:
        return None
    if source is None:
        return orjson.dumps(key)
    fmt = source.key_format.name
    columns = source.schema.key
    if fmt == "NONE" or not columns:
        return str(key).encode() if not isinstance(key, str) else key.encode()
    if fmt == "KAFKA":
        return _kafka_bytes(columns[0].type, key)
    if fmt == "JSON":
        return orjson.dumps(key)
    raise CaseFailure(f"test framework: cannot serialize key in format {fmt}")


def _kafka_bytes(sql_type: t.SqlType, value: Any) -> bytes:
    base = sql_type.base
    if base is t.BaseType.INTEGER:
        return struct.pack(">i", int(value))
    if base is t.BaseType.BIGINT:
        return struct.pack(">q", int(value))
    if base is t.BaseType.DOUBLE:
        return struct.pack(">d", float(value))
    if base is t.BaseType.STRING:
        return str(value).encode()
    raise CaseFailure(f"test framework: KAFKA format cannot hold {sql_type}")


def _serialize_value(source: DataSource | None, value: Any) -> bytes | None:
    if value is None:
        return None
    if source is not None and source.value_format.name == "KAFKA":
        return _kafka_bytes(source.schema.value[0].type, value)
    return orjson.dumps(value)


def _deserialize_key(sink: DataSource | None, data: bytes | None) -> Any:
    if data is None:
        return None
    if sink is None:
        return orjson.loads(data)
    fmt = sink.key_format.name
    if fmt == "NONE":
        return None
    if fmt == "KAFKA":
        if not sink.schema.key:
            return data.decode()
        return _kafka_value(sink.schema.key[0], data)
    return orjson.loads(data)


def _kafka_value(column: Column, data: bytes) -> Any:
    base = column.type.base
    if base is t.BaseType.INTEGER:
        return struct.unpack(">i", data)[0]
    if base is t.BaseType.BIGINT:
        return struct.unpack(">q", data)[0]
    if base is t.BaseType.DOUBLE:
        return struct.unpack(">d", data)[0]
    return data.decode()


def _deserialize_value(sink: DataSource | None, data: bytes | None) -> Any:
    if data is None:
        return None
    if sink is not None and sink.value_format.name == "KAFKA":
        return _kafka_value(sink.schema.value[0], data)
    if sink is not None and sink.value_format.name == "NONE":
        return None
    return orjson.loads(data)


# ---------------------------------------------------------------------------------------------
# comparison


def matches(actual: Any, expected: Any) -> bool:
    """ExpectedRecordComparator.matches (doubles within 1e-6)."""
    if expected is None:
        return actual is None
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual == expected
    if isinstance(expected, int):
        return isinstance(actual, int) and not isinstance(actual, bool) and actual == expected
    if isinstance(expected, float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        return abs(expected - actual) < 0.000_001
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or len(actual) != len(expected):
            return False
        for name, value in expected.items():
            found = actual.get(name)
            if found is None:
                found = actual.get(name.upper())
            if not matches(found, value):
                return False
        return True
    return False


def _show(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# one case


def _expected_message(case: dict[str, Any]) -> str | None:
    expected = case.get("expectedException")
    if expected is None:
        return None
    return str(expected.get("message", ""))


def _precreate_topics(driver: InMemoryTopicDriver, case: dict[str, Any]) -> None:
    """Create the topics the test framework creates: declared ones, those of CREATE … (columns)
    statements, and those of input records."""
    for topic in case.get("topics", []):
        driver.create_topic(topic["name"], int(topic.get("partitions", 1)), 1)
    for piece in split_statements("\n".join(case["statements"])):
        try:
            statements = parse(piece.text)
        except KsqlError:
            continue
        for statement in statements:
            if isinstance(statement, n.CreateSource) and "KAFKA_TOPIC" in statement.properties:
                partitions = statement.properties.get("PARTITIONS", 1)
                name = str(statement.properties["KAFKA_TOPIC"])
                if driver.describe_topic(name) is None:
                    driver.create_topic(name, partitions if isinstance(partitions, int) else 1, 1)
    for record in case.get("inputs", []):
        if driver.describe_topic(record["topic"]) is None:
            driver.create_topic(record["topic"], 1, 1)


def _source_for(engine: KsqlEngine, topic: str) -> DataSource | None:
    for source in engine.metastore.sources.values():
        if source.topic == topic:
            return source
    return None


def _sink_for(engine: KsqlEngine, topic: str) -> DataSource | None:
    # the last created source over the topic is the sink that writes it
    found = None
    for source in engine.metastore.sources.values():
        if source.topic == topic:
            found = source
    return found


def run_variant(case: dict[str, Any]) -> None:
    """Run one variant; raise CaseFailure with the reason when it does not pass."""
    properties = {**BASE_PROPERTIES, **case.get("properties", {})}
    driver = InMemoryTopicDriver()
    engine = KsqlEngine(driver, properties)
    engine.start()
    expected_message = _expected_message(case)
    _precreate_topics(driver, case)
    text = "\n".join(case["statements"])
    try:
        engine.execute(text)
    except KsqlError as error:
        if expected_message is None:
            raise CaseFailure(f"unexpected error: {_one_line(error)}") from None
        statement = error.statement_text if isinstance(error, KsqlStatementError) else ""
        full = f"{error.message}\nStatement: {statement}"
        if expected_message not in full:
            raise CaseFailure(f"wrong error: expected {expected_message!r}, got {error.message!r}") from None
        return
    for record in case.get("inputs", []):
        source = _source_for(engine, record["topic"])
        try:
            produced = ProducedRecord(
                _serialize_key(source, record.get("key")),
                _serialize_value(source, record.get("value")),
                int(record.get("timestamp", 0)),
            )
        except (struct.error, ValueError, TypeError) as error:
            raise CaseFailure(f"test framework cannot serialize input {_show(record)}: {error}") from None
        driver.produce(record["topic"], [produced])
    for query in engine.persistent_queries():
        counters = query["counters"]
        if counters is not None and counters.state == "ERROR":
            raise CaseFailure(
                f"query {query['id']} failed: {(counters.last_error or '').strip().splitlines()[-1]}"
            )
    if expected_message is not None:
        raise CaseFailure(f"expected error {expected_message!r}, but the statements ran")
    _check_outputs(engine, driver, case)
    _check_post(engine, driver, case)


def _check_outputs(engine: KsqlEngine, driver: InMemoryTopicDriver, case: dict[str, Any]) -> None:
    expected_by_topic: dict[str, list[dict[str, Any]]] = {}
    for record in case.get("outputs", []):
        expected_by_topic.setdefault(record["topic"], []).append(record)
    for topic, expected in expected_by_topic.items():
        sink = _sink_for(engine, topic)
        actual = driver.records(topic)
        if len(actual) != len(expected):
            shown = "; ".join(_describe_actual(sink, r) for r in actual[:6])
            raise CaseFailure(f"topic {topic}: expected {len(expected)} records, got {len(actual)}: {shown}")
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            key_bytes, window = _split_window(sink, got.key)
            if "window" in want and want["window"] != window:
                raise CaseFailure(
                    f"topic {topic} record {index}: window {window} != expected {want['window']}"
                )
            try:
                key = _deserialize_key(sink, key_bytes)
                value = _deserialize_value(sink, got.value)
            except (struct.error, orjson.JSONDecodeError, UnicodeDecodeError) as error:
                raise CaseFailure(f"topic {topic} record {index}: cannot deserialize: {error}") from None
            if not matches(key, want.get("key")):
                raise CaseFailure(
                    f"topic {topic} record {index}: key {_show(key)} != expected {_show(want.get('key'))}"
                )
            if not matches(value, want.get("value")):
                raise CaseFailure(
                    f"topic {topic} record {index}: value {_show(value)} != expected "
                    f"{_show(want.get('value'))}"
                )
            if "timestamp" in want and int(want["timestamp"]) != got.timestamp:
                raise CaseFailure(
                    f"topic {topic} record {index}: timestamp {got.timestamp} != expected {want['timestamp']}"
                )


def _split_window(sink: DataSource | None, data: bytes | None) -> tuple[bytes | None, dict[str, Any] | None]:
    """A windowed key (inner key bytes + 8-byte window start) split into the key and its window."""
    if sink is None or not sink.is_windowed or data is None or len(data) < 8:
        return data, None
    start = struct.unpack(">q", data[-8:])[0]
    return data[:-8], {"start": start, "end": start + (sink.window_size_ms or 0), "type": "time"}


def _describe_actual(sink: DataSource | None, record: ConsumedRecord) -> str:
    try:
        return (
            f"<{_show(_deserialize_key(sink, record.key))}, {_show(_deserialize_value(sink, record.value))}>"
        )
    except (struct.error, orjson.JSONDecodeError, UnicodeDecodeError):
        return f"<{record.key!r}, {record.value!r}>"


def _check_post(engine: KsqlEngine, driver: InMemoryTopicDriver, case: dict[str, Any]) -> None:
    post = case.get("post") or {}
    for expected in post.get("sources", []):
        name = expected["name"]
        source = engine.metastore.get(name)
        if source is None:
            raise CaseFailure(f"post: source {name} does not exist")
        if source.kind.lower() != str(expected.get("type", source.kind)).lower():
            raise CaseFailure(f"post: source {name} is a {source.kind}")
        if "schema" in expected:
            want = _parse_schema(expected["schema"], source.is_table)
            got = [(c.name, c.type, c.is_key) for c in source.schema.columns]
            if want != got:
                raise CaseFailure(f"post: {name} schema is {source.schema}, expected {expected['schema']}")
        key_format = expected.get("keyFormat") or {}
        if key_format.get("format") and key_format["format"] != source.key_format.name:
            raise CaseFailure(f"post: {name} key format {source.key_format.name} != {key_format['format']}")
        if "windowType" in key_format and (key_format["windowType"], key_format.get("windowSize")) != (
            source.window_type,
            source.window_size_ms,
        ):
            raise CaseFailure(
                f"post: {name} window {source.window_type}/{source.window_size_ms} != {key_format}"
            )
        if expected.get("valueFormat") and expected["valueFormat"] != source.value_format.name:
            raise CaseFailure(
                f"post: {name} value format {source.value_format.name} != {expected['valueFormat']}"
            )
        if "valueFeatures" in expected and sorted(expected["valueFeatures"]) != sorted(
            source.value_format.features
        ):
            raise CaseFailure(
                f"post: {name} value features {source.value_format.features} != {expected['valueFeatures']}"
            )
    blacklist = (post.get("topics") or {}).get("blacklist")
    if blacklist:
        pattern = re.compile(blacklist)
        for topic in driver.list_topics():
            if pattern.fullmatch(topic.name):
                raise CaseFailure(f"post: topic {topic.name} should not exist")


def _parse_schema(schema: str, table: bool) -> list[tuple[str, t.SqlType, bool]]:
    text = schema.replace("PRIMARY KEY", "KEY")
    statement = parse(f"CREATE STREAM S ({text}) WITH (KAFKA_TOPIC='x', VALUE_FORMAT='JSON');")[0]
    assert isinstance(statement, n.CreateSource)
    return [(e.name, e.type, e.constraint in ("KEY", "PRIMARY KEY")) for e in statement.elements]


def _one_line(error: KsqlError) -> str:
    return " ".join(error.message.split())[:300]


def run_case(file: str, case: dict[str, Any]) -> CaseResult:
    """Run every variant of a case."""
    name = str(case.get("name", "?"))
    for label, variant in variants(case):
        try:
            run_variant(variant)
        except CaseFailure as failure:
            prefix = f"[{label}] " if label else ""
            return CaseResult(file, name, False, prefix + str(failure))
    return CaseResult(file, name, True)


def run_paths(paths: Iterable[Path], pattern: str | None = None, out: TextIO | None = None) -> Summary:
    """Run all cases of the files under ``paths``; print failures and the total to ``out``."""
    summary = Summary()
    for path in iter_files(list(paths)):
        for case in load_cases(path):
            if pattern and pattern not in str(case.get("name", "")):
                continue
            result = run_case(path.name, case)
            summary.results.append(result)
            if not result.passed and out is not None:
                print(f"FAIL {result.file} :: {result.name} :: {result.reason}", file=out)
    if out is not None:
        print(f"{summary.passed} passed, {summary.failed} failed", file=out)
    return summary


def baseline_path(tier: int = 1) -> Path:
    """The committed baseline of a tier's run (package data)."""
    return Path(__file__).with_name("baseline.json" if tier == 1 else f"baseline-tier{tier}.json")


def write_baseline(summary: Summary, path: Path) -> None:
    """Record the pass count and the failing cases (``file :: name``) with their reasons."""
    payload = {
        "passed": summary.passed,
        "total": len(summary.results),
        "failures": {f"{r.file} :: {r.name}": r.reason for r in summary.results if not r.passed},
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_baseline(tier: int = 1) -> dict[str, Any]:
    """The committed baseline of a tier."""
    data: dict[str, Any] = json.loads(baseline_path(tier).read_text(encoding="utf-8"))
    return data
