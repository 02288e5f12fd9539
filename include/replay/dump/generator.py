"""``replay dump generate``: a realistic, seeded Meetup dump in JSON Lines (``.gz`` if asked).

Deterministic for a seed: the same ``(events, seed, invalid_fraction)`` gives the same bytes.
With ``invalid_fraction`` > 0, that share of the lines are malformed records of the kinds in
:mod:`replay.dump.malformed`; a manifest next to the dump (``<dump>.manifest.json``) lists each
one (index, kind, what was broken), so tests and users can check validation against it.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import random
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from replay.dump.events import EventFactory, meetup_bytes
from replay.dump.malformed import KIND_WEIGHTS, KINDS, make_malformed
from replay.dump.progress import Progress
from replay.errors import ConfigError, InputError
from replay.limits import MAX_RECORD_BYTES
from replay.paths import var_dir

log = logging.getLogger(__name__)

DEFAULT_EVENTS = 142_502  # the study's dump
DEFAULT_SEED = 20150307
DEFAULT_MAX_RECORD_BYTES = (
    MAX_RECORD_BYTES  # validation's limit: larger records are malformed (replay.limits)
)


def default_dump_path() -> Path:
    """``var/dumps/meetup-events.jsonl``."""
    return var_dir() / "dumps" / "meetup-events.jsonl"


def manifest_path(dump: str | os.PathLike[str]) -> Path:
    """Where the manifest of a generated dump lives."""
    return Path(f"{os.fspath(dump)}.manifest.json")


@dataclass(frozen=True)
class GeneratedDump:
    """What :func:`generate_dump` wrote."""

    path: Path
    manifest: Path
    records: int
    malformed: dict[str, int]
    bytes: int
    elapsed_s: float


def _open_out(path: Path, *, compress: bool) -> io.BufferedIOBase:
    if compress:
        return gzip.open(path, "wb", compresslevel=3)
    return io.BufferedWriter(io.FileIO(path, "wb"), buffer_size=4 * 1024 * 1024)


def _malformed_plan(rng: random.Random, events: int, fraction: float) -> dict[int, str]:
    """Which record indices are malformed and of what kind (never index 0)."""
    count = min(events - 1, round(events * fraction)) if events > 1 else 0
    if count <= 0:
        return {}
    positions = sorted(rng.sample(range(1, events), count))
    kinds = list(KINDS)
    weights = [KIND_WEIGHTS[k] for k in kinds]
    # Every kind at least once when there is room, then weighted draws.
    chosen = kinds[:count] if count >= len(kinds) else []
    chosen += rng.choices(kinds, weights, k=count - len(chosen))
    rng.shuffle(chosen)
    return dict(zip(positions, chosen, strict=True))


def generate_dump(
    path: str | os.PathLike[str] | None = None,
    *,
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
    invalid_fraction: float = 0.0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    progress: bool = True,
) -> GeneratedDump:
    """Write ``events`` records (malformed ones included) to ``path`` and its manifest."""
    if events < 1:
        raise ConfigError(
            f"--events must be at least 1, got {events}", hint="pass a positive number of events"
        )
    if not 0.0 <= invalid_fraction < 1.0:
        raise ConfigError(
            f"--invalid-fraction must be in [0, 1), got {invalid_fraction}",
            hint="e.g. 0.01 for 1 % malformed",
        )
    out = Path(path) if path is not None else default_dump_path()
    if out.is_dir():
        raise InputError(f"output path is a directory: {out}", hint="pass a file path such as dump.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rng = random.Random(seed)
    plan = _malformed_plan(random.Random(seed ^ 0x5EED), events, invalid_fraction)
    factory = EventFactory(rng, events)
    recent_valid: deque[bytes] = deque(maxlen=500)
    notes: list[dict[str, Any]] = []
    written = 0
    bar = Progress(f"generate {out.name}", total=events, unit="events", logger=log, enabled=progress)
    tmp = out.with_name(out.name + ".partial")
    try:
        with bar, _open_out(tmp, compress=out.suffix == ".gz") as sink:
            for index in range(events):
                event, _style = factory.next_event()
                raw = meetup_bytes(event)
                kind = plan.get(index)
                if kind is not None:
                    earlier = recent_valid[rng.randrange(len(recent_valid))]
                    raw, note = make_malformed(kind, rng, event, raw, earlier, max_record_bytes)
                    notes.append({"index": index, "line": index + 1, "kind": kind, "note": note})
                else:
                    recent_valid.append(raw)
                sink.write(raw)
                sink.write(b"\n")
                written += len(raw) + 1
                if index % 2_000 == 0:
                    bar.advance_to(index)
            bar.advance_to(events)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written dump left behind
        raise
    tmp.replace(out)
    counts = dict(Counter(n["kind"] for n in notes))
    elapsed = time.monotonic() - started
    manifest = {
        "generator": "replay dump generate",
        "events": events,
        "seed": seed,
        "invalid_fraction": invalid_fraction,
        "max_record_bytes": max_record_bytes,
        "bytes_uncompressed": written,
        "malformed_counts": counts,
        "malformed": notes,
    }
    mpath = manifest_path(out)
    mpath.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    log.info(
        "wrote %s: %d records (%d malformed), %.1f MB in %.1f s",
        out,
        events,
        len(notes),
        written / 1e6,
        elapsed,
    )
    return GeneratedDump(
        path=out, manifest=mpath, records=events, malformed=counts, bytes=written, elapsed_s=elapsed
    )


def load_manifest(dump: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest written next to a generated dump."""
    path = manifest_path(dump)
    try:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise InputError(
            f"no manifest next to {dump}", hint="only `replay dump generate` writes one"
        ) from error
    return data
