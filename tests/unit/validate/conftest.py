"""Helpers for validation tests: small generated dumps and a reader for the outputs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from replay.dump.events import meetup_bytes
from replay.dump.generator import generate_dump
from replay.dump.reader import read_dump


@dataclass
class Outputs:
    """What validate_dump wrote into its folder."""

    summary: dict[str, Any]
    quarantine: dict[int, dict[str, Any]]
    verdicts: list[dict[str, str]]


def read_outputs(out_dir: Path) -> Outputs:
    quarantine = {}
    for line in (out_dir / "quarantine.jsonl").read_bytes().splitlines():
        entry = orjson.loads(line)
        quarantine[entry["index"]] = entry
    with (out_dir / "verdicts.csv").open(encoding="utf-8", newline="") as handle:
        verdicts = list(csv.DictReader(handle))
    return Outputs(orjson.loads((out_dir / "validation.json").read_bytes()), quarantine, verdicts)


@pytest.fixture(scope="session")
def base_events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Valid generated events; the first one has a venue, a time and no fee."""
    dump = generate_dump(tmp_path_factory.mktemp("base") / "base.jsonl", events=400, seed=42, progress=False)
    events = [orjson.loads(r.raw) for r in read_dump(dump.path)]
    full = next(e for e in events if "venue" in e and "time" in e and "fee" not in e and "lat" in e["venue"])
    unique = {(e["id"], e["mtime"]): e for e in events}
    rest = [e for key, e in unique.items() if e is not full]
    return [full, *rest]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def as_bytes(event: dict[str, Any]) -> bytes:
    return meetup_bytes(event)
