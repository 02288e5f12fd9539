"""What a replay's topic must hold, checked from its records' headers (docs/replay.md) against
the dump they came from."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

from tests.conftest import Consumed


def source_of(record: Consumed) -> tuple[int, int, int]:
    """The record's ``replay-source`` header: (0-based index, 1-based line, byte offset)."""
    index, line, offset = (int(x) for x in record.headers["replay-source"].split(":"))
    return index, line, offset


def assert_exactly_once(records: list[Consumed], count: int, dump: Path) -> None:
    """Every source record once: no gap, no duplicate, per-key order kept, and each record's
    value the bytes of the dump line its ``replay-source`` header names (JSON Lines dumps)."""
    seqs = [int(r.headers["replay-seq"]) for r in records]
    indices = [source_of(r)[0] for r in records]
    assert len(records) == count, f"{len(records)} records, {len(records) - len(set(seqs))} duplicates"
    repeated = sorted(seq for seq, n in Counter(seqs).items() if n > 1)
    absent = sorted(set(range(count)) - set(seqs))
    assert sorted(seqs) == list(range(count)), f"replay-seq repeated: {repeated[:5]}, absent: {absent[:5]}"
    assert len(set(indices)) == count, f"{count - len(set(indices))} source positions sent more than once"
    last: dict[tuple[bytes | None, int], int] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        key = (record.key, record.partition)
        seq = int(record.headers["replay-seq"])
        assert seq > last.get(key, -1), "a key's records are out of order"
        last[key] = seq
    lines = dump.read_bytes().split(b"\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    wrong = []
    for record in records:
        _, line, offset = source_of(record)
        if not 0 < line <= len(lines) or starts[line - 1] != offset:
            wrong.append(f"seq {record.headers['replay-seq']}: no dump line {line} at byte {offset}")
        elif record.value != lines[line - 1].removesuffix(b"\r"):
            wrong.append(f"seq {record.headers['replay-seq']}: value is not line {line} of the dump")
    assert not wrong, f"{len(wrong)} records do not carry their source's bytes, e.g. {wrong[:3]}"
