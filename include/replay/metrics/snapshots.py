"""Raw metric snapshots of a run, stored compressed so that a report can be rebuilt later.

``metrics/snapshots.jsonl.gz``: one JSON object per line and scrape —
``{"t": epoch ms, "source": "broker" | "ksql" | "replay", "url", "ms": scrape time, "status",
"text": the Prometheus text exposition as served}``, or, read from a Prometheus server,
``{"t", "source": "prometheus", "query", "result": the API's matrix}``. The file is flushed
every few seconds (a killed collector loses at most the last ones) and read back even when its
end is cut off.

:func:`samples` turns either kind into one stream of :class:`Sample` — parsed with
``prometheus_client``'s text parser, never by hand.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

SNAPSHOTS_FILE = "snapshots.jsonl.gz"
_FLUSH_EVERY_S = 5.0


@dataclass(frozen=True)
class Sample:
    """One sample of one scrape: when (epoch s), from which source, which series, its value."""

    t: float
    source: str
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, name: str) -> str | None:
        """One label's value."""
        for key, value in self.labels:
            if key == name:
                return value
        return None


class SnapshotWriter:
    """Appends snapshots to the gzip file; flushes every few seconds and on :meth:`close`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A restarted collector appends a new gzip member; readers see one stream.
        self._raw: IO[bytes] = path.open("ab")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="ab", compresslevel=6)
        self._last_flush = time.monotonic()
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        """One snapshot (a JSON-ready dict)."""
        self._gz.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self.written += 1
        if time.monotonic() - self._last_flush >= _FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Make everything written so far readable (a gzip sync flush)."""
        self._gz.flush()
        self._raw.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close (the gzip trailer makes the file complete)."""
        self._gz.close()
        self._raw.close()


def read_snapshots(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete snapshot in the file, also when a killed writer cut its end off."""
    if not path.is_file():
        return
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    pending = b""
    damaged = False
    with path.open("rb") as handle:
        while not damaged and (chunk := handle.read(1 << 20)):
            data = b""
            while chunk:
                try:
                    data += decompressor.decompress(chunk)
                except zlib.error as error:
                    log.warning("%s: damaged after this point (%s); reading what came before", path, error)
                    damaged = True
                    break
                if not decompressor.eof:
                    break
                # The next gzip member (a restarted writer appends one).
                chunk = decompressor.unused_data
                decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line:
                    yield json.loads(line)


def samples(snapshot: dict[str, Any], wanted: tuple[str, ...] = ()) -> Iterator[Sample]:
    """The samples of one snapshot; ``wanted`` keeps only metric families with these prefixes."""
    t = snapshot["t"] / 1000.0
    source = snapshot["source"]
    if "text" in snapshot:
        if snapshot.get("status") != 200:
            return
        for family in text_string_to_metric_families(snapshot["text"]):
            if wanted and not family.name.startswith(wanted):
                continue
            for sample in family.samples:
                yield Sample(
                    t, source, sample.name, tuple(sorted(sample.labels.items())), float(sample.value)
                )
        return
    for series in snapshot.get("result", []):
        metric = dict(series["metric"])
        name = metric.pop("__name__", "")
        if wanted and not name.startswith(wanted):
            continue
        for key in ("job", "instance"):  # Prometheus' own target labels
            metric.pop(key, None)
        labels = tuple(sorted(metric.items()))
        origin = source_of(name)
        for at, value in series.get("values", []):
            yield Sample(float(at), origin, name, labels, float(value))


def source_of(name: str) -> str:
    """Which endpoint a series comes from, by its name (as both stores need it)."""
    if name.startswith("ksql_"):
        return "ksql"
    if name.startswith("replay_"):
        return "replay"
    return "broker"
