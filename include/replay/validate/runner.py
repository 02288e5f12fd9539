"""``validate_dump``: prechecks, the GX suite in chunks, quarantine, policy — one library call.

The DAG, the CLI and the tests call this same function. Memory stays flat with the dump size:
records are read as a stream, flattened into a small DataFrame per chunk (only the columns the
suite needs) and written out before the next chunk is read; what is kept across chunks is the
per-expectation summary and 16 bytes per record for the duplicate check.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from replay.dump.progress import Progress
from replay.dump.reader import DumpReader, SourceRecord
from replay.errors import ConfigError, DumpValidationError, EmptyDumpError, ReplayError
from replay.validate.backends import GxBackend, make_backend
from replay.validate.columns import ChunkBuilder, ColumnPlan, DuplicateTracker
from replay.validate.gx_runner import ExpectationSummary, release_free_memory
from replay.validate.policy import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_INVALID_PCT,
    DEFAULT_MAX_RECORD_BYTES,
    POLICIES,
    Policy,
)
from replay.validate.prechecks import PRECHECKS, Failure, precheck
from replay.validate.quarantine import SUMMARY_FILE, OutputWriter
from replay.validate.suite import SuiteSpec, load_suite_spec

log = logging.getLogger(__name__)

# Kafka's broker default message.max.bytes: a larger record is refused by the broker.
# Dumps at least this large validate with GX in a worker process (see replay.validate.backends).
PARALLEL_FROM_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one dump. ``read == valid + quarantined`` always holds."""

    dump: Path
    out_dir: Path
    policy: Policy
    max_invalid_pct: float
    max_record_bytes: int
    suite: str
    read: int
    valid: int
    quarantined: int
    duplicates: int
    passed: bool
    elapsed_s: float
    checks: dict[str, int]  # failed check name -> records failing it (prechecks included)
    expectations: list[ExpectationSummary]
    paths: dict[str, str | None] = field(default_factory=dict)

    @property
    def invalid_pct(self) -> float:
        """Share of invalid records in percent (0 for an empty read)."""
        return 100.0 * self.quarantined / self.read if self.read else 0.0

    def verdict_line(self) -> str:
        """One line for people: counts and the decision."""
        head = (
            f"{self.read:,} records read, {self.valid:,} valid, {self.quarantined:,} invalid "
            f"({self.invalid_pct:.2f}%)"
        )
        if self.passed and self.policy == "fail":
            return f"{head}: passed (policy fail: no invalid record)"
        if self.passed:
            return f"{head}: passed (policy quarantine, at most {self.max_invalid_pct:g}% invalid allowed)"
        if self.policy == "fail":
            return f"{head}: failed (policy fail allows no invalid record)"
        return f"{head}: failed ({self.invalid_pct:.2f}% > {self.max_invalid_pct:g}% allowed)"

    def to_json(self) -> dict[str, Any]:
        """The ``validation.json`` summary."""
        return {
            "dump": str(self.dump),
            "out_dir": str(self.out_dir),
            "suite": self.suite,
            "policy": self.policy,
            "max_invalid_pct": self.max_invalid_pct,
            "max_record_bytes": self.max_record_bytes,
            "read": self.read,
            "valid": self.valid,
            "quarantined": self.quarantined,
            "invalid_pct": round(self.invalid_pct, 6),
            "duplicates": self.duplicates,
            "passed": self.passed,
            "reconciled": self.read == self.valid + self.quarantined,
            "elapsed_s": round(self.elapsed_s, 3),
            "failed_checks": dict(sorted(self.checks.items(), key=lambda kv: (-kv[1], kv[0]))),
            "expectations": [e.to_json() for e in self.expectations],
            "paths": self.paths,
        }


@dataclass
class _Chunk:
    """A chunk waiting for its GX result: positions of its records, the bytes of those that may
    be quarantined, and the precheck failures so far."""

    keep_all_bytes: bool
    indices: array[int] = field(default_factory=lambda: array("q"))
    lines: array[int] = field(default_factory=lambda: array("q"))
    offsets: array[int] = field(default_factory=lambda: array("q"))
    sizes: array[int] = field(default_factory=lambda: array("q"))
    raws: dict[int, bytes] = field(default_factory=dict)
    failures: dict[int, list[Failure]] = field(default_factory=dict)
    submitted: bool = False

    def add(self, record: SourceRecord, failures: list[Failure]) -> None:
        self.indices.append(record.index)
        self.lines.append(record.line)
        self.offsets.append(record.offset)
        self.sizes.append(len(record.raw))
        if failures:
            self.failures[record.index] = failures
        if failures or self.keep_all_bytes:
            self.raws[record.index] = record.raw


def validate_dump(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    policy: Policy = "quarantine",
    max_invalid_pct: float = DEFAULT_MAX_INVALID_PCT,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    suite: str | Path | None = None,
    data_docs: bool = True,
    progress: bool = True,
    parallel: bool | None = None,
) -> ValidationResult:
    """Validate a dump; write ``validation.json``, ``quarantine.jsonl``, ``verdicts.csv`` and GX
    Data Docs (``data_docs/index.html``) into ``out_dir``.

    ``policy="quarantine"`` passes when at most ``max_invalid_pct`` percent of the records are
    invalid (they are quarantined); ``policy="fail"`` passes only when none is. On failure it
    raises :class:`replay.errors.DumpValidationError` carrying the result (all outputs are
    written first). Input problems raise :class:`replay.errors.InputError` subclasses.

    ``parallel`` runs great-expectations in a worker process overlapping the reading (default:
    for dumps of 64 MiB and more).
    """
    if policy not in POLICIES:
        raise ConfigError(f"unknown validation policy {policy!r}", hint="use 'quarantine' or 'fail'")
    if not 0.0 <= max_invalid_pct <= 100.0:
        raise ConfigError(
            f"max invalid percentage {max_invalid_pct} is not in 0..100", hint="pass a percentage"
        )
    if chunk_size < 1 or max_record_bytes < 1:
        raise ConfigError("chunk size and max record bytes must be positive", hint="check the arguments")
    started = time.monotonic()
    spec = load_suite_spec(suite)
    reader = DumpReader(path)  # input errors surface before GX is imported
    out = Path(out_dir)
    if parallel is None:
        parallel = reader.info.size >= PARALLEL_FROM_BYTES
    with reader:
        backend = make_backend(spec.path, {"max_record_bytes": max_record_bytes}, parallel=parallel)
        try:
            tally = _run_chunks(reader, backend, spec, out, max_record_bytes, chunk_size, progress)
            if tally.read == 0:
                raise EmptyDumpError(
                    f"dump holds no records: {reader.info.path}",
                    hint="the file holds no events (an empty array?)",
                )
            finished = backend.finish(out, read=tally.read, valid=tally.valid, data_docs=data_docs)
        finally:
            backend.close()
    if tally.read != tally.valid + tally.quarantined:
        raise ReplayError(
            f"internal error: {tally.read} records read but {tally.valid} valid + {tally.quarantined} quarantined",
            hint="report this bug with the dump",
        )
    read, quarantined, checks = tally.read, tally.quarantined, tally.checks
    docs = finished.data_docs
    passed = quarantined == 0 if policy == "fail" else 100.0 * quarantined / max(read, 1) <= max_invalid_pct
    result = ValidationResult(
        dump=reader.info.path,
        out_dir=out,
        policy=policy,
        max_invalid_pct=max_invalid_pct,
        max_record_bytes=max_record_bytes,
        suite=spec.name,
        read=read,
        valid=tally.valid,
        quarantined=quarantined,
        duplicates=checks.get("record.duplicate", 0),
        passed=passed,
        elapsed_s=time.monotonic() - started,
        checks=checks,
        expectations=finished.summaries,
        paths={
            "summary": str(out / SUMMARY_FILE),
            "quarantine": str(out / "quarantine.jsonl"),
            "verdicts": str(out / "verdicts.csv"),
            "data_docs": str(docs) if docs else None,
        },
    )
    (out / SUMMARY_FILE).write_bytes(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    log.info("validated %s: %s", result.dump, result.verdict_line())
    if not passed:
        raise DumpValidationError(
            f"validation of {result.dump.name} failed: {result.verdict_line()}",
            result=result,
            hint=f"see {out / 'quarantine.jsonl'} for every bad record and its reasons",
        )
    return result


@dataclass
class _Tally:
    """Counts kept apart so that ``read == valid + quarantined`` is a real cross-check: ``read``
    counts records as the reader yields them, the others as verdicts are written."""

    read: int = 0
    valid: int = 0
    quarantined: int = 0
    checks: dict[str, int] = field(default_factory=dict)


def _run_chunks(
    reader: DumpReader,
    backend: GxBackend,
    spec: SuiteSpec,
    out: Path,
    max_record_bytes: int,
    chunk_size: int,
    progress: bool,
) -> _Tally:
    plan = ColumnPlan.from_suite(spec)
    duplicates = DuplicateTracker()
    order = {name: i for i, name in enumerate(PRECHECKS)}
    order.update({c.check: len(PRECHECKS) + c.position for c in spec.checks})
    tally = _Tally()
    bar = Progress(
        f"validate {reader.info.path.name}",
        total=reader.info.size,
        unit="B",
        scale=True,
        logger=log,
        enabled=progress,
    )
    # Chunks whose GX result is pending. One chunk is in flight while the next is read and
    # flattened, so a worker backend overlaps the two. For an uncompressed dump only the bytes
    # of records that failed a precheck are kept; GX failures are read back from the file.
    pending: deque[_Chunk] = deque()
    compressed = reader.info.compressed
    with OutputWriter(out) as writer, bar, reader.info.path.open("rb") as again:

        def original(chunk: _Chunk, index: int, offset: int, size: int) -> bytes:
            raw = chunk.raws.get(index)
            if raw is None:
                raw = os.pread(again.fileno(), size, offset)
            return raw

        def drain() -> None:
            chunk = pending.popleft()
            failures = chunk.failures
            if chunk.submitted:
                for index, more in backend.next_result().items():
                    failures.setdefault(index, []).extend(more)
            for index, line, offset, size in zip(
                chunk.indices, chunk.lines, chunk.offsets, chunk.sizes, strict=True
            ):
                found = failures.get(index)
                if not found:
                    writer.write_valid(index, line, offset, size)
                    tally.valid += 1
                    continue
                found.sort(key=lambda f: order[f.check])
                tally.quarantined += 1
                for name in {f.check for f in found}:
                    tally.checks[name] = tally.checks.get(name, 0) + 1
                writer.write_invalid(
                    SourceRecord(index, line, offset, original(chunk, index, offset, size)), found
                )
            release_free_memory()
            done = tally.valid + tally.quarantined
            bar.advance_to(reader.position, f"{done:,} records, {tally.quarantined:,} invalid")

        def submit(chunk: _Chunk, builder: ChunkBuilder) -> None:
            if len(builder):
                backend.submit(builder.frame(duplicates))
                chunk.submitted = True
            pending.append(chunk)
            if len(pending) > 1:
                drain()

        chunk, builder = _Chunk(keep_all_bytes=compressed), ChunkBuilder(plan)
        for record in reader.records():
            tally.read += 1
            parsed, found = precheck(record.raw, max_record_bytes)
            if parsed is not None:
                builder.add(record.index, len(record.raw), parsed)
            chunk.add(record, found)
            if len(chunk.indices) >= chunk_size:
                submit(chunk, builder)
                chunk, builder = _Chunk(keep_all_bytes=compressed), ChunkBuilder(plan)
        if chunk.indices:
            submit(chunk, builder)
        while pending:
            drain()
    return tally
