"""Every real Meetup record in shared/meetup-samples passes the suite; duplicates are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.paths import shared_dir
from replay.validate import validate_dump

from .conftest import read_outputs

SAMPLES = ["events.jsonl", "events_all_versions.jsonl", "events_raw_stream_bytes_2015.jsonl"]


@pytest.mark.shared
@pytest.mark.parametrize("name", SAMPLES)
def test_every_real_record_passes(name: str, tmp_path: Path) -> None:
    path = shared_dir() / "meetup-samples" / name
    result = validate_dump(path, tmp_path, policy="fail", progress=False, data_docs=False, parallel=False)
    lines = path.read_bytes().count(b"\n")
    assert result.read == result.valid == lines
    assert result.quarantined == 0 and result.duplicates == 0
    assert all(e.success for e in result.expectations)


@pytest.mark.shared
def test_duplicates_in_real_records_are_reported_and_nothing_else(tmp_path: Path) -> None:
    """The two 2015 files hold the same stream records, so their concatenation repeats 1,676
    (id, mtime) pairs; those, and only those, are quarantined as duplicates."""
    samples = shared_dir() / "meetup-samples"
    first = (samples / "events_all_versions.jsonl").read_bytes()
    second = (samples / "events_raw_stream_bytes_2015.jsonl").read_bytes()
    dump = tmp_path / "both.jsonl"
    dump.write_bytes(first + second)
    result = validate_dump(
        dump,
        tmp_path / "out",
        max_invalid_pct=100,
        chunk_size=1_000,
        progress=False,
        data_docs=False,
        parallel=False,
    )
    assert result.duplicates == result.quarantined == 1_676
    assert result.checks == {"record.duplicate": 1_676}
    quarantine = read_outputs(tmp_path / "out").quarantine
    first_count = first.count(b"\n")
    assert min(quarantine) >= first_count  # the first copy of each pair is valid
    assert all(e["reasons"][0].startswith("duplicate (id, mtime) of record ") for e in quarantine.values())
