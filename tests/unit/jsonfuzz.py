"""Hostile JSON records for the oracle tests of the typed scan (filters and aggregations).

The damage is what a producer bug or a broken network could do to a record: flipped, inserted
or deleted bytes, invalid UTF-8, wrong JSON types, keys in another case, duplicate keys,
numbers out of range. Shared by ``test_ksql_jsonscan.py`` and ``test_ksql_aggscan.py``.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.execution.memory_driver import DictStore, InMemoryTopicDriver


def planned(ddl: str, statement: str) -> tuple[Any, Any]:
    """The plan and sink of the statement's persistent query, from an engine of its own (a
    plan's expression errors go to the context of the processor built from it)."""
    driver = InMemoryTopicDriver()
    driver.create_topic("meetup_events", 1, 1)
    engine = KsqlEngine(driver)
    engine.start()
    engine.execute(ddl + statement)
    query = next(q for q in engine._executor.queries.values() if "plan" in q.extra)
    return query.extra["plan"], query.extra["sink"]


class Context:
    """A processor context that keeps the processing-log messages (and, for aggregations, its
    state stores in dicts)."""

    query_id = "test"

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []
        self.stores: dict[str, DictStore] = {}

    def report_error(self, entry: bytes | None) -> None:
        assert entry is not None
        message = orjson.loads(entry)["MESSAGE"]
        self.errors.append(message)

    def store(self, name: str) -> DictStore:
        return self.stores.setdefault(name, DictStore())


def damage_bytes(rng: random.Random, data: bytes) -> bytes:
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


def damage_json(rng: random.Random, event: dict[str, Any]) -> Any:
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


def duplicate_key(data: bytes) -> bytes:
    """The same key twice (the last one wins for both readers)."""
    return data.replace(b'"group":{', b'"group":{"country":"zz","country":"de",', 1).replace(
        b'"status":', b'"status":7,"status":', 1
    )


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


def double_literals(rng: random.Random, count: int) -> list[bytes]:
    """JSON numbers that round differently: short, long, tiny, huge, negative zero."""
    literals = [b"0.1", b"0.10000000000000001", b"1e-1", b"-0", b"1e308", b"1.7976931348623157e308"]
    for _ in range(count):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 25)))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 25)))
        exponent = rng.randrange(-330, 320)
        literals.append(
            f"{digits.lstrip('0') or '0'}{'.' + fraction if fraction else ''}e{exponent}".encode()
        )
    return literals
