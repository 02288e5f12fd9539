"""Run ksqlDB query-validation test (QTT) files against the engine.

Where a variant's topics live is a :class:`Backend`: :class:`InMemoryBackend` (the default, an
:class:`~ksqldb_lite.execution.memory_driver.InMemoryTopicDriver` per variant, like TopologyTestDriver) or
:class:`ksqldb_lite.conformance.broker.KafkaBackend` (a real broker). The case logic below is
the same for both.

The QTT format (``ksqldb-functional-tests/.../test/model``): a case has ``statements`` and
``inputs``/``outputs`` records, or an ``expectedException``; ``format`` and ``config`` lists
expand a case into variants (every variant runs; a case passes only when all of them pass). Inputs are
serialized with the formats of the source that reads their topic, outputs deserialized with
the formats of the sink that writes theirs, and compared like ksqlDB's
ExpectedRecordComparator: same count and order per topic; objects by field (name as written,
then upper case) with the same number of fields; integers exactly, doubles within 1e-6;
timestamps only when the expected record gives one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import orjson

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import DriverError, KsqlError, KsqlStatementError
from ksqldb_lite.execution.driver import ConsumedRecord, Headers, ProducedRecord, TopicDriver
from ksqldb_lite.execution.memory_driver import InMemoryTopicDriver
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.parser.statements import parse, split_statements
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import Column, DataSource

# ksqlDB's TestExecutor base config (the parts that matter here)
BASE_PROPERTIES = {
    "ksql.service.id": "some.ksql.service.id",
    "ksql.streams.auto.offset.reset": "earliest",
}


@dataclass
class VariantResult:
    """The outcome of one variant of a case: ``label`` is its format (and config), e.g.
    ``AVRO`` or ``JSON/{config}``; empty for a case without a format or config list."""

    label: str
    passed: bool
    reason: str = ""


@dataclass
class CaseResult:
    """The outcome of one test case: every one of its variants, run to the end."""

    file: str
    name: str
    variants: list[VariantResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """A case passes when every variant passes (as counted in ``INDEX.tsv``)."""
        return all(v.passed for v in self.variants)

    @property
    def reason(self) -> str:
        """Why the first failing variant failed (``[label] reason``); empty when it passed."""
        for variant in self.variants:
            if not variant.passed:
                return f"[{variant.label}] {variant.reason}" if variant.label else variant.reason
        return ""


@dataclass
class Summary:
    """Totals of a run, per case and per variant."""

    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """Cases that passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        """Cases that failed."""
        return sum(1 for r in self.results if not r.passed)

    @property
    def variants_total(self) -> int:
        """Variants that ran (every variant of every case)."""
        return sum(len(r.variants) for r in self.results)

    @property
    def variants_passed(self) -> int:
        """Variants that passed."""
        return sum(1 for r in self.results for v in r.variants if v.passed)

    def failures(self) -> dict[str, dict[str, str]]:
        """The failing variants: :func:`case_id` -> variant label -> reason."""
        return {
            case_id(r.file, r.name): {v.label: v.reason for v in r.variants if not v.passed}
            for r in self.results
            if not r.passed
        }

    def variant_labels(self) -> dict[str, list[str]]:
        """Every variant that ran: :func:`case_id` -> its variant labels."""
        return {case_id(r.file, r.name): [v.label for v in r.variants] for r in self.results}


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
# where a case's topics live


class CaseTopics(Protocol):
    """The topics of one variant on some backend: the engine's driver, plus what the runner
    needs besides it to feed inputs and read outputs."""

    @property
    def driver(self) -> TopicDriver:
        """The driver the engine runs on."""
        ...

    @property
    def properties(self) -> Mapping[str, Any]:
        """Server properties the backend sets (over :data:`BASE_PROPERTIES` and the case's)."""
        ...

    def produce(self, topic: str, records: Sequence[ProducedRecord]) -> None:
        """Write input records to ``topic`` (in order) and wait until they are stored."""
        ...

    def settle(self, engine: KsqlEngine) -> None:
        """Return once every running query has processed every record it will get; raise
        :class:`CaseFailure` when that does not happen in time."""
        ...

    def records(self, topic: str) -> list[list[ConsumedRecord]]:
        """The records of ``topic`` as sequences whose order is defined: one in arrival order,
        or one per partition (order across partitions is not defined on a broker)."""
        ...

    def topic_names(self) -> list[str]:
        """The topics the case can see (for ``post.topics``)."""
        ...


class Backend(Protocol):
    """Opens a fresh, isolated :class:`CaseTopics` per variant."""

    def open_case(self, topics: Sequence[str]) -> AbstractContextManager[CaseTopics]:
        """A context for one variant that uses ``topics`` (those it names); leaving it
        releases everything the variant created. Raises :class:`CaseFailure` when the
        variant cannot be isolated (e.g. one of its topics exists already)."""
        ...


@dataclass
class InMemoryCaseTopics:
    """A variant's topics in an :class:`InMemoryTopicDriver`: produce runs every query
    synchronously, so there is nothing to wait for."""

    driver: InMemoryTopicDriver = field(default_factory=InMemoryTopicDriver)
    properties: Mapping[str, Any] = field(default_factory=dict)

    def produce(self, topic: str, records: Sequence[ProducedRecord]) -> None:
        """Append and process synchronously."""
        self.driver.produce(topic, records)

    def settle(self, engine: KsqlEngine) -> None:
        """Nothing to wait for: every query has caught up when produce returns."""

    def records(self, topic: str) -> list[list[ConsumedRecord]]:
        """The topic's records in the order they were written."""
        return [self.driver.records(topic)]

    def topic_names(self) -> list[str]:
        """Every topic of the driver (it holds only this variant's)."""
        return [topic.name for topic in self.driver.list_topics()]


class InMemoryBackend:
    """Runs each variant in a new :class:`InMemoryTopicDriver` (like TopologyTestDriver)."""

    @contextmanager
    def open_case(self, topics: Sequence[str]) -> Iterator[CaseTopics]:
        """A new in-memory driver; nothing to release."""
        yield InMemoryCaseTopics()


# ---------------------------------------------------------------------------------------------
# one case


def _expected_message(case: dict[str, Any]) -> str | None:
    expected = case.get("expectedException")
    if expected is None:
        return None
    return str(expected.get("message", ""))


def _declared_topics(case: dict[str, Any]) -> list[tuple[str, int]]:
    """(name, partitions) of the topics the test framework creates before the statements run:
    declared ones, those of ``CREATE … WITH (KAFKA_TOPIC=…)`` statements, and those of inputs."""
    declared: dict[str, int] = {}
    for topic in case.get("topics", []):
        declared.setdefault(topic["name"], int(topic.get("partitions", 1)))
    for piece in split_statements("\n".join(case["statements"])):
        try:
            statements = parse(piece.text)
        except KsqlError:
            continue
        for statement in statements:
            if isinstance(statement, n.CreateSource) and "KAFKA_TOPIC" in statement.properties:
                partitions = statement.properties.get("PARTITIONS", 1)
                name = str(statement.properties["KAFKA_TOPIC"])
                declared.setdefault(name, partitions if isinstance(partitions, int) else 1)
    for record in case.get("inputs", []):
        declared.setdefault(record["topic"], 1)
    return list(declared.items())


def case_topics(case: dict[str, Any]) -> list[str]:
    """Every topic a case names: created ones and those its outputs are read from."""
    names = [name for name, _ in _declared_topics(case)]
    for record in case.get("outputs", []):
        if record["topic"] not in names:
            names.append(record["topic"])
    return names


def _precreate_topics(driver: TopicDriver, case: dict[str, Any]) -> None:
    for name, partitions in _declared_topics(case):
        if driver.describe_topic(name) is None:
            driver.create_topic(name, partitions, 1)


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


def _headers(record: dict[str, Any]) -> Headers:
    """A QTT record's ``headers``: ``[{"KEY": name, "VALUE": base64 bytes or null}]``."""
    out: list[tuple[str, bytes | None]] = []
    for header in record.get("headers") or []:
        name = header.get("KEY", header.get("key"))
        value = header.get("VALUE", header.get("value"))
        out.append((str(name), None if value is None else base64.b64decode(str(value), validate=True)))
    return tuple(out)


def _input_record(engine: KsqlEngine, record: dict[str, Any]) -> ProducedRecord:
    source = _source_for(engine, record["topic"])
    try:
        return ProducedRecord(
            _serialize_key(source, record.get("key")),
            _serialize_value(source, record.get("value")),
            int(record.get("timestamp", 0)),
            _headers(record),
        )
    except (struct.error, ValueError, TypeError, binascii.Error) as error:
        raise CaseFailure(f"test framework cannot serialize input {_show(record)}: {error}") from None


def run_variant(case: dict[str, Any], backend: Backend | None = None) -> None:
    """Run one variant on ``backend`` (default: in memory); raise CaseFailure with the reason
    when it does not pass."""
    with (backend or InMemoryBackend()).open_case(case_topics(case)) as topics:
        properties = {**BASE_PROPERTIES, **case.get("properties", {}), **topics.properties}
        engine = KsqlEngine(topics.driver, properties)
        engine.start()
        try:
            _run_statements_and_check(engine, topics, case)
        except DriverError as error:
            raise CaseFailure(f"topic driver failed: {_one_line(error)}") from None
        finally:
            engine.close()


def _run_statements_and_check(engine: KsqlEngine, topics: CaseTopics, case: dict[str, Any]) -> None:
    expected_message = _expected_message(case)
    _precreate_topics(topics.driver, case)
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
    inputs = case.get("inputs", [])
    start = 0
    # Consecutive records of one topic go in one batch. As in TopologyTestDriver, a batch is
    # fully processed before the next is written, so the order across topics is kept (e.g.
    # two queries writing one sink, INSERT INTO).
    while start < len(inputs):
        end = start
        while end < len(inputs) and inputs[end]["topic"] == inputs[start]["topic"]:
            end += 1
        topics.produce(inputs[start]["topic"], [_input_record(engine, r) for r in inputs[start:end]])
        topics.settle(engine)
        start = end
    if not inputs:
        topics.settle(engine)  # the statements may have written records (INSERT … VALUES)
    for query in engine.persistent_queries():
        counters = query["counters"]
        if counters is not None and counters.state == "ERROR":
            raise CaseFailure(
                f"query {query['id']} failed: {(counters.last_error or '').strip().splitlines()[-1]}"
            )
    if expected_message is not None:
        raise CaseFailure(f"expected error {expected_message!r}, but the statements ran")
    _check_outputs(engine, topics, case)
    _check_post(engine, topics, case)


def _check_outputs(engine: KsqlEngine, topics: CaseTopics, case: dict[str, Any]) -> None:
    expected_by_topic: dict[str, list[dict[str, Any]]] = {}
    for record in case.get("outputs", []):
        expected_by_topic.setdefault(record["topic"], []).append(record)
    for topic, expected in expected_by_topic.items():
        sink = _sink_for(engine, topic)
        runs = [run for run in topics.records(topic) if run]
        actual = [record for run in runs for record in run]
        if len(actual) != len(expected):
            shown = "; ".join(_describe_actual(sink, r) for r in actual[:6])
            raise CaseFailure(f"topic {topic}: expected {len(expected)} records, got {len(actual)}: {shown}")
        if len(runs) <= 1:
            for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
                reason = _mismatch(sink, want, got)
                if reason is not None:
                    raise CaseFailure(f"topic {topic} record {index}: {reason}")
            continue
        # Several partitions: the expected order must be an interleaving of the partitions'
        # orders; each expected record is the next record of some partition.
        heads = [0] * len(runs)
        for index, want in enumerate(expected):
            reasons = []
            for number, run in enumerate(runs):
                if heads[number] < len(run):
                    reason = _mismatch(sink, want, run[heads[number]])
                    if reason is None:
                        heads[number] += 1
                        break
                    reasons.append(f"partition {run[heads[number]].partition}: {reason}")
            else:
                raise CaseFailure(
                    f"topic {topic} record {index}: no partition's next record matches ({'; '.join(reasons)})"
                )


def _mismatch(sink: DataSource | None, want: dict[str, Any], got: ConsumedRecord) -> str | None:
    """Why a record differs from the expected one (None when it matches)."""
    key_bytes, window = _split_window(sink, got.key)
    if "window" in want and want["window"] != window:
        return f"window {window} != expected {want['window']}"
    try:
        key = _deserialize_key(sink, key_bytes)
        value = _deserialize_value(sink, got.value)
    except (struct.error, orjson.JSONDecodeError, UnicodeDecodeError) as error:
        return f"cannot deserialize: {error}"
    if not matches(key, want.get("key")):
        return f"key {_show(key)} != expected {_show(want.get('key'))}"
    if not matches(value, want.get("value")):
        return f"value {_show(value)} != expected {_show(want.get('value'))}"
    if "timestamp" in want and int(want["timestamp"]) != got.timestamp:
        return f"timestamp {got.timestamp} != expected {want['timestamp']}"
    if "headers" in want and _headers(want) != got.headers:
        return f"headers {got.headers} != expected {_headers(want)}"
    return None


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


def _check_post(engine: KsqlEngine, topics: CaseTopics, case: dict[str, Any]) -> None:
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
        for name in topics.topic_names():
            if pattern.fullmatch(name):
                raise CaseFailure(f"post: topic {name} should not exist")


def run_case(file: str, case: dict[str, Any], backend: Backend | None = None) -> CaseResult:
    """Run every variant of a case (on ``backend``, default in memory), also those after a
    failing one: each variant is recorded, so a regression in any of them shows."""
    result = CaseResult(file, str(case.get("name", "?")))
    for label, variant in variants(case):
        try:
            run_variant(variant, backend)
        except CaseFailure as failure:
            result.variants.append(VariantResult(label, False, str(failure)))
        else:
            result.variants.append(VariantResult(label, True))
    return result


def case_id(file: str, name: str) -> str:
    """How a case is named in baselines and case lists: ``file :: name``."""
    return f"{file} :: {name}"


def variant_id(case: str, label: str) -> str:
    """How a variant of the case ``case`` (a :func:`case_id`) is shown: ``file :: name [AVRO]``."""
    return f"{case} [{label}]" if label else case


def run_paths(
    paths: Iterable[Path],
    pattern: str | None = None,
    out: TextIO | None = None,
    *,
    backend: Backend | None = None,
    only: Collection[str] | None = None,
) -> Summary:
    """Run all cases of the files under ``paths``; print each failing variant and the totals
    (per case and per variant) to ``out``.

    ``pattern``: only cases whose name contains it; ``only``: only the cases with these
    :func:`case_id` s; ``backend``: where the topics live (default in memory).
    """
    summary = Summary()
    for path in iter_files(list(paths)):
        for case in load_cases(path):
            name = str(case.get("name", ""))
            if pattern and pattern not in name:
                continue
            if only is not None and case_id(path.name, name) not in only:
                continue
            result = run_case(path.name, case, backend)
            summary.results.append(result)
            if out is not None:
                for variant in result.variants:
                    if not variant.passed:
                        shown = variant_id(case_id(result.file, result.name), variant.label)
                        print(f"FAIL {shown} :: {variant.reason}", file=out)
    if out is not None:
        print(totals_line(summary), file=out)
    return summary


def totals_line(summary: Summary) -> str:
    """``N passed, M failed (cases); V passed, W failed (variants)``."""
    variants_failed = summary.variants_total - summary.variants_passed
    return (
        f"{summary.passed} passed, {summary.failed} failed (cases); "
        f"{summary.variants_passed} passed, {variants_failed} failed (variants)"
    )


def _one_line(error: KsqlError) -> str:
    return " ".join(error.message.split())[:300]


def _parse_schema(schema: str, table: bool) -> list[tuple[str, t.SqlType, bool]]:
    text = schema.replace("PRIMARY KEY", "KEY")
    statement = parse(f"CREATE STREAM S ({text}) WITH (KAFKA_TOPIC='x', VALUE_FORMAT='JSON');")[0]
    assert isinstance(statement, n.CreateSource)
    return [(e.name, e.type, e.constraint in ("KEY", "PRIMARY KEY")) for e in statement.elements]


def baseline_path(tier: int = 1) -> Path:
    """The committed baseline of a tier's run (package data)."""
    return Path(__file__).with_name("baseline.json" if tier == 1 else f"baseline-tier{tier}.json")


def write_baseline(summary: Summary, path: Path) -> None:
    """Record the pass counts (per case and per variant) and every failing variant with its
    reason, under its case (``file :: name``) and its label (empty for a case without variants)."""
    payload = {
        "cases": {"passed": summary.passed, "total": len(summary.results)},
        "variants": {"passed": summary.variants_passed, "total": summary.variants_total},
        "failures": summary.failures(),
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def broker_cases_path() -> Path:
    """The committed list of cases that also run end to end on a real broker (package data)."""
    return Path(__file__).with_name("broker-cases.txt")


def read_case_list(path: Path) -> list[str]:
    """The :func:`case_id` s of a case list: one ``file :: name`` per line; blank lines and
    ``#`` comments (e.g. why a case is left out) are skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class Baseline:
    """A committed baseline (see :func:`write_baseline`)."""

    passed: int
    total: int
    variants_passed: int
    variants_total: int
    failures: dict[str, dict[str, str]]

    def regressions(self, summary: Summary) -> dict[str, str]:
        """Variants failing in ``summary`` that passed when the baseline was recorded:
        :func:`variant_id` -> reason."""
        return {
            variant_id(case, label): reason
            for case, failing in summary.failures().items()
            for label, reason in failing.items()
            if label not in self.failures.get(case, {})
        }

    def missing(self, summary: Summary) -> list[str]:
        """Failing variants of the baseline that did not run in ``summary`` (a renamed case or
        a changed format list: the baseline must then be re-recorded)."""
        ran = summary.variant_labels()
        return [
            variant_id(case, label)
            for case, failing in self.failures.items()
            for label in failing
            if label not in ran.get(case, [])
        ]


def read_baseline(tier: int = 1) -> Baseline:
    """The committed baseline of a tier."""
    data = json.loads(baseline_path(tier).read_text(encoding="utf-8"))
    return Baseline(
        passed=int(data["cases"]["passed"]),
        total=int(data["cases"]["total"]),
        variants_passed=int(data["variants"]["passed"]),
        variants_total=int(data["variants"]["total"]),
        failures={str(case): dict(failing) for case, failing in data["failures"].items()},
    )
