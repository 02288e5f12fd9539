"""Cross-checks: each ksql sink's count for this run against a count made here from the dump.

The independent count reads the dump's valid records (not quarantined, inside the replay's
range) in Python and applies each sink's rule (``schema.md`` of the Meetup samples):
Germany = ``group.country == 'de'``; Munich = ``group.city`` one of München / Munich /
Munchen; the per-country and per-category tables count events per ``group.country`` and per
``group.category.shortname``. A table accumulates over all runs, so its figure for this run is
its change: the last value per key minus the value it had before the run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from replay.dump.reader import read_dump_rows

MUNICH_SPELLINGS = frozenset({"München", "Munich", "Munchen"})
GERMANY_SINK = "MEETUP_EVENTS_GERMANY"
MUNICH_SINK = "MEETUP_EVENTS_MUNICH"
COUNTRY_TABLE = "EVENTS_PER_COUNTRY"
CATEGORY_TABLE = "EVENTS_PER_CATEGORY"


class _Category(msgspec.Struct):
    shortname: str | None = None


class _Group(msgspec.Struct):
    country: str | None = None
    city: str | None = None
    category: _Category | None = None


class _Event(msgspec.Struct):
    group: _Group | None = None


@dataclass
class DumpCounts:
    """What the dump's valid records in the replay's range hold."""

    valid: int = 0
    germany: int = 0
    munich: int = 0
    countries: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)


def _quarantined(run_dir: Path) -> set[int]:
    # Only the indices: replay.validate.load_quarantine would import pandas (seconds).
    path = run_dir / "quarantine.jsonl"
    if not path.is_file():
        return set()
    with path.open("rb") as handle:
        return {int(orjson.loads(line)["index"]) for line in handle if line.strip()}


def count_dump(dump: Path, run_dir: Path, *, start: int = 0, end: int | None = None) -> DumpCounts:
    """Count the valid records of ``dump`` in ``[start, end)`` per sink rule (one decode of the
    ``group`` object per record with msgspec; a record whose ``group`` has other types than
    the schema's falls back to a plain parse)."""
    quarantined = _quarantined(run_dir)
    decode = msgspec.json.Decoder(_Event).decode
    out = DumpCounts()
    for index, _line, _offset, raw in read_dump_rows(dump, skip=start):
        if end is not None and index >= end:
            break
        if index in quarantined or not raw.strip():
            continue
        out.valid += 1
        try:
            group = decode(raw).group
            country, city = (group.country, group.city) if group else (None, None)
            category = group.category.shortname if group and group.category else None
        except msgspec.ValidationError:
            country, city, category = _loose(raw)
        if country == "de":
            out.germany += 1
        if city in MUNICH_SPELLINGS:
            out.munich += 1
        if isinstance(country, str):
            out.countries[country] += 1
        if isinstance(category, str):
            out.categories[category] += 1
    return out


def _loose(raw: bytes) -> tuple[Any, Any, Any]:
    event = orjson.loads(raw)
    group = event.get("group") if isinstance(event, dict) else None
    if not isinstance(group, dict):
        return None, None, None
    category = group.get("category")
    return (
        group.get("country"),
        group.get("city"),
        category.get("shortname") if isinstance(category, dict) else None,
    )


def _key(text: str | None) -> str | None:
    """A table key as text (a JSON-format key is a quoted string)."""
    if text is not None and text.startswith('"'):
        try:
            loaded = json.loads(text)
        except ValueError:
            return text
        return str(loaded)
    return text


def _count(value: str | None) -> int | None:
    """The count in a table row's value: its one numeric column."""
    if value is None:
        return None
    try:
        row = json.loads(value)
    except ValueError:
        return None
    if isinstance(row, int | float):
        return int(row)
    numbers = (
        [v for v in row.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        if isinstance(row, dict)
        else []
    )
    return int(numbers[0]) if len(numbers) == 1 else None


def table_change(probe: dict[str, Any]) -> Counter[str]:
    """This run's change per key of a counting table, from the probe's before/last values."""
    table = probe.get("table") or {}
    before = {_key(k): _count(v) for k, v in table.get("before", {}).items()}
    change: Counter[str] = Counter()
    for raw_key, value in table.get("last", {}).items():
        key = _key(raw_key)
        last = _count(value)
        if key is None or last is None:
            continue
        change[key] = last - (before.get(key) or 0)
    return change


def _check(name: str, expected: int, actual: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "expected": expected,
        "actual": actual,
        "equal": actual == expected and not extra.get("keys_differing"),
        "difference": None if actual is None else actual - expected,
        **extra,
    }


def _keyed(name: str, expected: Counter[str], actual: Counter[str]) -> dict[str, Any]:
    keys = sorted(set(expected) | {k for k, v in actual.items() if v})
    differing = [
        {"key": k, "expected": expected.get(k, 0), "actual": actual.get(k, 0)}
        for k in keys
        if expected.get(k, 0) != actual.get(k, 0)
    ]
    return _check(
        name, sum(expected.values()), sum(actual.values()), keys=len(keys), keys_differing=differing[:50]
    )


def cross_checks(probes: dict[str, Any], counts: DumpCounts, sent: int) -> list[dict[str, Any]]:
    """One check per sink the run has (and the source topic against the replay's count)."""
    topics = probes.get("topics", {})
    checks = []
    for name, probe in topics.items():
        if probe["kind"] == "source":
            checks.append(
                _check(f"{name} records = replay committed", sent, probe["records_in_window"], topic=name)
            )
    sinks = {
        GERMANY_SINK: ("Germany stream = dump group.country == 'de'", counts.germany),
        MUNICH_SINK: ("Munich stream = dump group.city in München/Munich/Munchen", counts.munich),
    }
    for topic, (label, expected) in sinks.items():
        if topic in topics:
            checks.append(
                _check(f"{topic}: {label}", expected, topics[topic]["records_in_window"], topic=topic)
            )
    tables = {
        COUNTRY_TABLE: ("this run's change per country = dump count per group.country", counts.countries),
        CATEGORY_TABLE: (
            "this run's change per category = dump count per group.category.shortname",
            counts.categories,
        ),
    }
    for topic, (label, expected_keys) in tables.items():
        if topic in topics:
            check = _keyed(f"{topic}: {label}", expected_keys, table_change(topics[topic]))
            check["topic"] = topic
            checks.append(check)
    return checks
