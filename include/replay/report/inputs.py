"""Everything a report is built from, read from the run folder alone (so it can be rebuilt).

``run.json``, ``validation.json``, ``produce-summary.json``, ``migrations.json`` and
``drain.json`` (when the migrations ran), ``metrics/probes.json`` and
``metrics/collector-result.json`` (the collector), and the raw snapshots, parsed into series.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.errors import ReportError
from replay.metrics.snapshots import SNAPSHOTS_FILE, read_snapshots, samples, source_of

log = logging.getLogger(__name__)

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
# The metric families the report reads (prefixes); the rest of a scrape is kept raw only.
WANTED = (
    "kafka_server_brokertopicmetrics",
    "kafka_log_log_size",
    "kafka_network_requestmetrics_totaltimems",
    "kafka_server_kafkarequesthandlerpool",
    "ksql_query_",
    "replay_",
)


@dataclass
class Series:
    """Parsed snapshots: ``(name, labels) -> [(t, value), ...]`` per source, time-ordered."""

    points: dict[SeriesKey, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    scrapes: dict[str, int] = field(default_factory=dict)
    first_by_source: dict[str, float] = field(default_factory=dict)
    first_t: float | None = None
    last_t: float | None = None

    def get(self, name: str, **labels: str) -> list[tuple[float, float]]:
        """The points of one series (labels must match exactly those given, others ignored —
        when several series match, their values are summed at equal times)."""
        matches = [
            pts
            for (n, lbl), pts in self.points.items()
            if n == name and all(dict(lbl).get(k) == v for k, v in labels.items())
        ]
        if len(matches) == 1:
            return matches[0]
        summed: dict[float, float] = defaultdict(float)
        for pts in matches:
            for t, v in pts:
                summed[t] += v
        return sorted(summed.items())

    def counter(self, name: str, **labels: str) -> list[tuple[float, float]]:
        """A counter's points; one that appeared only after its endpoint's first scrape gets a
        0 at that scrape (a broker exports a topic's counters from its first record on, so
        without it a topic created during the run would lose its first records)."""
        points = self.get(name, **labels)
        first = self.first_by_source.get(source_of(name))
        if points and first is not None and points[0][0] > first:
            return [(first, 0.0), *points]
        return points

    def label_values(self, name: str, label: str) -> set[str]:
        """Every value ``label`` takes in series ``name``."""
        return {dict(lbl)[label] for (n, lbl) in self.points if n == name and label in dict(lbl)}


def load_series(metrics_dir: Path) -> Series:
    """Parse every stored snapshot (prometheus_client's text parser) into :class:`Series`."""
    series = Series()
    for snapshot in read_snapshots(metrics_dir / SNAPSHOTS_FILE):
        source = snapshot.get("source", "?")
        series.scrapes[source] = series.scrapes.get(source, 0) + 1
        for sample in samples(snapshot, WANTED):
            if (
                sample.source not in series.first_by_source
                or sample.t < series.first_by_source[sample.source]
            ):
                series.first_by_source[sample.source] = sample.t
            series.points[(sample.name, sample.labels)].append((sample.t, sample.value))
            series.first_t = sample.t if series.first_t is None else min(series.first_t, sample.t)
            series.last_t = sample.t if series.last_t is None else max(series.last_t, sample.t)
    for points in series.points.values():
        points.sort()
    return series


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ReportError(
            f"{path} is not valid JSON ({error})", hint="re-run the step that writes it"
        ) from error
    return document


@dataclass
class RunInputs:
    """The run folder's documents (None where a step did not run) and the parsed series."""

    run_dir: Path
    manifest: dict[str, Any] | None
    validation: dict[str, Any] | None
    produce: dict[str, Any]
    migrations: dict[str, Any] | None
    drain: dict[str, Any] | None
    probes: dict[str, Any] | None
    collector: dict[str, Any] | None
    series: Series

    @property
    def run_id(self) -> str:
        return str(self.produce.get("run_id") or self.run_dir.name)


def load(run_dir: Path) -> RunInputs:
    """Read the run folder; :class:`ReportError` when it has no replay summary."""
    if not run_dir.is_dir():
        raise ReportError(f"run folder {run_dir} does not exist", hint="pass var/runs/<run id> of a run")
    produce = _json(run_dir / "produce-summary.json")
    if produce is None:
        raise ReportError(
            f"{run_dir} has no produce-summary.json: the replay did not run there",
            hint="run the replay step first (or pass the folder of a run that replayed)",
        )
    metrics_dir = run_dir / "metrics"
    return RunInputs(
        run_dir=run_dir,
        manifest=_json(run_dir / "run.json"),
        validation=_json(run_dir / "validation.json"),
        produce=produce,
        migrations=_json(run_dir / "migrations.json"),
        drain=_json(run_dir / "drain.json"),
        probes=_json(metrics_dir / "probes.json"),
        collector=_json(metrics_dir / "collector-result.json"),
        series=load_series(metrics_dir),
    )
