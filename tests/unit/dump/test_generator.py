"""The generator: deterministic, realistic against the issue's targets, Meetup's byte format."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from replay.dump import events as ev
from replay.dump import pools
from replay.dump.generator import GeneratedDump, generate_dump, load_manifest
from replay.dump.inspect import inspect_dump
from replay.dump.malformed import KINDS
from replay.dump.reader import read_dump

ORDERS = [tuple(order.split()) for order in ev.TOP_ORDER.values()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDump:
    """A clean dump large enough for stable shares (Munich ~0.24 % is ~140 events here)."""
    return generate_dump(
        tmp_path_factory.mktemp("gen") / "sample.jsonl", events=60_000, seed=11, progress=False
    )


@pytest.fixture(scope="module")
def events(sample: GeneratedDump) -> list[dict[str, Any]]:
    return [orjson.loads(r.raw) for r in read_dump(sample.path)]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate_dump(tmp_path / "a.jsonl", events=3_000, seed=5, invalid_fraction=0.02, progress=False)
    b = generate_dump(tmp_path / "b.jsonl", events=3_000, seed=5, invalid_fraction=0.02, progress=False)
    c = generate_dump(tmp_path / "c.jsonl", events=3_000, seed=6, invalid_fraction=0.02, progress=False)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert load_manifest(a.path)["malformed"] == load_manifest(b.path)["malformed"]


def test_inspect_shares_match_the_targets(sample: GeneratedDump) -> None:
    figures = inspect_dump(sample.path, progress=False).to_json()
    n = figures["records"]
    assert n == 60_000 and figures["objects"] == n
    assert 1.0 <= figures["germany"]["share_pct"] <= 2.0
    assert 0.15 <= figures["munich"]["share_pct"] <= 0.30
    assert set(figures["munich"]["spellings"]) == {"München", "Munich", "Munchen"}
    assert 54.0 <= figures["id_forms"]["numeric"]["share_pct"] <= 60.0
    assert 40.0 <= figures["id_forms"]["letters"]["share_pct"] <= 46.0
    assert figures["id_forms"]["other"]["count"] == 0
    description = figures["description_bytes"]
    assert 1_250 <= description["mean"] <= 1_650  # ≈ 1.4 KB
    assert 800 <= description["median"] <= 1_150
    assert 14_000 <= description["max"] <= 21_000  # the long tail to ≈ 20 KB
    assert 97.0 <= 100.0 * description["count"] / n <= 99.0
    assert 2_200 <= figures["record_bytes"]["mean"] <= 2_800  # 142,502 records ≈ 356 MB, like the study's
    assert 86.0 <= figures["statuses"]["upcoming"]["share_pct"] <= 93.0
    assert (
        60.0 <= figures["countries_top"][0]["share_pct"] <= 80.0
        and figures["countries_top"][0]["country"] == "us"
    )
    assert 65.0 <= figures["venue_pct"] <= 76.0
    assert 2.5 <= figures["fee_pct"] <= 4.5
    assert figures["duplicates"]["records"] == 0
    assert figures["edits"]["later_versions"] >= 0.08 * n  # the same id again with a newer mtime


def test_meetup_byte_format(sample: GeneratedDump) -> None:
    data = sample.path.read_bytes()
    assert b"\\/" in data and b"/" not in data.replace(b"\\/", b"")  # every / escaped as \/
    assert "München".encode() in data and b"\\u00fc" not in data  # raw UTF-8, not \u escapes
    for record in read_dump(sample.path):
        keys = tuple(orjson.loads(record.raw))
        assert any(keys == tuple(k for k in order if k in keys) for order in ORDERS), keys
        if record.index > 2_000:
            break


def test_field_rules(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert (event["venue_visibility"] == "members") <= ("venue" not in event)
        assert (event["payment_required"] == "1") == ("fee" in event)
        assert ("time" in event) == ("utc_offset" in event)
        assert event["visibility"] == "public" and event["maybe_rsvp_count"] == 0
        assert event["group"]["country"] == event["group"]["country"].lower()
        assert event["event_url"].startswith("http://www.meetup.com/")
        if event["rsvp_limit"]:
            assert event["yes_rsvp_count"] <= event["rsvp_limit"]


def test_times_and_utc_offsets_agree_with_the_country(events: list[dict[str, Any]]) -> None:
    cities = {(c.country, c.name): c for c in pools.CITIES}
    checked = 0
    for event in events:
        if "time" not in event:
            continue
        city = cities[(event["group"]["country"], event["group"]["city"])]
        assert event["utc_offset"] == ev.utc_offset_ms(city, event["time"]), (city.name, event["time"])
        assert event["utc_offset"] % (15 * 60 * 1000) == 0
        checked += 1
    assert checked > 0.95 * len(events)
    # Daylight saving really happens: Munich in winter (+1 h) and summer (+2 h), New York -5 / -4.
    munich, new_york = cities[("de", "München")], cities[("us", "New York")]
    assert ev.utc_offset_ms(munich, 1_425_686_400_000) == 3_600_000  # 2015-03-07
    assert ev.utc_offset_ms(munich, 1_428_000_000_000) == 7_200_000  # 2015-04-02
    assert ev.utc_offset_ms(new_york, 1_425_686_400_000) == -18_000_000
    assert ev.utc_offset_ms(new_york, 1_426_000_000_000) == -14_400_000  # after 2015-03-08


def test_edits_reuse_the_id_with_a_newer_mtime(events: list[dict[str, Any]]) -> None:
    last: dict[str, int] = {}
    edits = 0
    for event in events:
        previous = last.get(event["id"])
        if previous is not None:
            assert event["mtime"] > previous
            edits += 1
        last[event["id"]] = event["mtime"]
    assert edits > 0.08 * len(events)


def test_invalid_fraction_mixes_every_named_kind(tmp_path: Path) -> None:
    result = generate_dump(
        tmp_path / "bad.jsonl", events=4_000, seed=3, invalid_fraction=0.03, progress=False
    )
    manifest = load_manifest(result.path)
    assert set(result.malformed) == set(KINDS)
    assert sum(result.malformed.values()) == 120 == len(manifest["malformed"])
    assert all(entry["index"] > 0 for entry in manifest["malformed"])
    lines = result.path.read_bytes().split(b"\n")
    assert len(lines) == 4_001 and lines[-1] == b""
    for entry in manifest["malformed"]:
        if entry["kind"] == "empty_line":
            assert lines[entry["index"]] == b""


def test_gzip_output(tmp_path: Path) -> None:
    plain = generate_dump(tmp_path / "d.jsonl", events=500, seed=2, progress=False)
    packed = generate_dump(tmp_path / "d.jsonl.gz", events=500, seed=2, progress=False)
    assert gzip.decompress(packed.path.read_bytes()) == plain.path.read_bytes()
    assert [r.raw for r in read_dump(packed.path)] == [r.raw for r in read_dump(plain.path)]
