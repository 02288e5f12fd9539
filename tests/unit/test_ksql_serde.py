"""Serialization formats, generated JSON readers, and the WHERE prefilter's equivalence."""

from __future__ import annotations

import ctypes
import json
import random
import struct
from typing import Any

import orjson
import pytest

from ksqldb_lite.bench import GERMANY, MEETUP_DDL, make_event
from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.execution.driver import ConsumedRecord
from ksqldb_lite.execution.memory_driver import InMemoryTopicDriver, murmur2
from ksqldb_lite.execution.streams import StreamProcessor, stream_processor_factory
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import KEY, VALUE, Column, Format
from ksqldb_lite.serde import formats as serde
from ksqldb_lite.serde import jsoncodegen


def columns(*specs: tuple[str, t.SqlType], key: bool = False) -> list[Column]:
    return [Column(name, sql_type, KEY if key else VALUE) for name, sql_type in specs]


JSON = Format("JSON")


def test_json_coercions_follow_ksqldb() -> None:
    cols = columns(("I", t.INTEGER), ("L", t.BIGINT), ("D", t.DOUBLE), ("S", t.STRING), ("B", t.BOOLEAN))
    read = serde.value_deserializer(JSON, cols)
    assert read(b'{"i": "12", "L": 3.9, "d": "1.5", "s": {"a": 1}, "b": true}') == [
        12,
        3,
        1.5,
        '{"a":1}',
        True,
    ]
    assert read(b'{"S": [1, "x", null]}') == [None, None, None, "[1, x, null]", None]
    assert read(None) is None
    with pytest.raises(serde.SerdeError, match="requiredType: BOOLEAN"):
        read(b'{"B": "true"}')
    with pytest.raises(serde.SerdeError, match="targetType: INTEGER"):
        read(b'{"I": "12x"}')
    with pytest.raises(serde.SerdeError):
        read(b"not json")


def test_json_field_lookup_exact_then_upper_cased_key() -> None:
    cols = columns(("NAME", t.STRING), ("mixedCase", t.STRING))
    read = serde.value_deserializer(JSON, cols)
    assert read(b'{"Name": "a", "mixedcase": "b"}') == ["a", None]
    assert read(b'{"NAME": "exact", "name": "lower", "mixedCase": "m"}') == ["exact", "m"]


def test_unwrapped_single_value_and_wrapping_rules() -> None:
    cols = columns(("V", t.INTEGER))
    assert serde.value_deserializer(Format("JSON", wrap_single=False), cols)(b"10") == [10]
    assert serde.value_serializer(Format("JSON", wrap_single=False), cols)([10]) == b"10"
    assert serde.value_serializer(JSON, cols)([10]) == b'{"V":10}'
    with pytest.raises(KsqlStatementError, match="'WRAP_SINGLE_VALUE' is only valid for single-field"):
        serde.validate_format(Format("JSON", wrap_single=False), cols + cols, is_key=False)


def test_kafka_key_format_big_endian_and_type_limits() -> None:
    key = columns(("K", t.INTEGER), key=True)
    assert serde.key_serializer(Format("KAFKA"), key)([7]) == struct.pack(">i", 7)
    assert serde.key_deserializer(Format("KAFKA"), key)(struct.pack(">i", -3)) == [-3]
    assert serde.key_deserializer(Format("KAFKA"), key)(None) == [None]
    with pytest.raises(serde.SerdeError, match="not 4"):
        serde.key_deserializer(Format("KAFKA"), key)(b"abc")
    with pytest.raises(KsqlStatementError, match="The 'KAFKA' format does not support type 'BOOLEAN'"):
        serde.validate_format(Format("KAFKA"), columns(("K", t.BOOLEAN), key=True), is_key=True)
    with pytest.raises(KsqlStatementError, match="can only be used when no columns are defined"):
        serde.validate_format(Format("NONE"), key, is_key=True)
    with pytest.raises(KsqlStatementError, match="requires a Schema Registry"):
        serde.validate_format(Format("AVRO"), key, is_key=True)


def test_json_multi_column_key_is_an_object() -> None:
    key = columns(("A", t.INTEGER), ("B", t.STRING), key=True)
    assert serde.key_serializer(JSON, key)([1, None]) == b'{"A":1,"B":null}'
    assert serde.key_deserializer(JSON, key)(b'{"a": 1, "B": "x"}') == [1, "x"]


def test_non_finite_doubles_and_null_map_keys_are_written_like_jackson() -> None:
    cols = columns(("D", t.DOUBLE), ("M", t.Map(t.STRING, t.DOUBLE)))
    write = serde.nonfinite_safe(serde.value_serializer(JSON, cols), cols)
    written = write([float("nan"), {None: float("-inf")}])
    assert written is not None
    assert json.loads(written) == {
        "D": "NaN",
        "M": {"null": "-Infinity"},
    }


def test_generated_validator_only_fails_what_could_fail() -> None:
    fields = [("S", t.STRING), ("I", t.INTEGER), ("ST", t.Struct((("D", t.DOUBLE),)))]
    valid = jsoncodegen.validator(fields)
    assert valid({"s": {"any": "thing"}, "i": 3, "st": {"d": 1}})
    assert not valid({"i": "3"})  # a numeric string needs the full coercion to decide
    assert not valid({"st": {"d": "x"}})
    assert not valid({"i": 2**40})


def test_generated_path_getter_reads_one_field_and_checks_objects() -> None:
    fields = [("G", t.Struct((("COUNTRY", t.STRING), ("ID", t.BIGINT))))]
    country = jsoncodegen.path_getter(fields, ["G", "COUNTRY"])
    assert country({"g": {"country": "de"}}) == "de"
    assert country({"g": None}) is None
    assert country({}) is None
    with pytest.raises(serde.SerdeError):
        country({"g": "not an object"})


def test_murmur2_matches_kafka() -> None:
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    for data, expected in vectors.items():
        assert ctypes.c_int32(murmur2(data)).value == expected


class _Context:
    query_id = "test"

    def __init__(self) -> None:
        self.errors: list[bytes | None] = []

    def report_error(self, entry: bytes | None) -> None:
        self.errors.append(entry)

    def store(self, name: str) -> Any:
        raise NotImplementedError


def _mutate(rng: random.Random, event: dict[str, Any]) -> dict[str, Any]:
    """Damage an event the way real data can: wrong types, odd casing, missing objects."""
    choice = rng.randrange(8)
    if choice == 0:
        event["time"] = "not a number"
    elif choice == 1:
        event["group"]["Country"] = event["group"].pop("country")
    elif choice == 2:
        event["group"] = "not an object"
    elif choice == 3:
        event["venue"] = {"lat": "1.5", "lon": True}
    elif choice == 4:
        event["group"]["id"] = str(event["group"]["id"])
    elif choice == 5:
        del event["group"]
    elif choice == 6:
        event["GROUP"] = event.pop("group")
    return event


@pytest.mark.parametrize(
    "where",
    [
        "`group`->country = 'de'",
        "`group`->country = 'de' OR `group`->category->id > 30",
        "venue->lat > 10 AND time IS NOT NULL",
        "`group`->country IN ('de', 'us') AND NOT (id LIKE '2%')",
    ],
)
def test_prefilter_gives_the_same_outputs_and_errors_as_full_deserialization(where: str) -> None:
    driver = InMemoryTopicDriver()
    driver.create_topic("meetup_events", 1, 1)
    engine = KsqlEngine(driver)
    engine.start()
    engine.execute(MEETUP_DDL + GERMANY.replace("`group`->country = 'de'", where))
    (query,) = engine._executor.queries.values()
    plan, sink = query.extra["plan"], query.extra["sink"]
    fast_context, full_context = _Context(), _Context()
    fast = stream_processor_factory(plan, sink)(fast_context)
    full = stream_processor_factory(plan, sink)(full_context)
    assert isinstance(fast, StreamProcessor) and isinstance(full, StreamProcessor)
    assert fast.c.prefilter is not None
    full.c.prefilter = None
    rng = random.Random(11)
    for offset in range(600):
        event = make_event(rng, offset)
        if rng.random() < 0.3:
            event = _mutate(rng, event)
        if rng.random() < 0.2 and isinstance(event.get("group"), dict):
            event["group"]["country"] = "de"
        record = ConsumedRecord("meetup_events", 0, offset, offset, None, orjson.dumps(event))
        assert fast.process(record) == full.process(record), event
    assert len(fast_context.errors) == len(full_context.errors) > 0
