"""What ties the steps of one run together: its id, its folders and how to reach the services.

A run is identified by its run id. For ``replay run`` that is ``run-<UTC time>-<random>``; in
Airflow it is the DAG run's id, so a retried task finds the same run folder and the replay
resumes exactly once. The run folder ``var/runs/<run id>/`` holds every step's output; the
report goes to ``<report root>/<pipeline>/<run id>/`` where ``<pipeline>`` is the DAG id or
``cli``. ``run.json`` in the run folder records what the run was asked to do (its parameters),
so a report can be rebuilt later from the folder alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.paths import reports_dir, run_dir
from replay.produce.options import check_run_id
from replay.settings import KafkaSettings, KsqlSettings

RUN_MANIFEST_FILE = "run.json"
CLI_PIPELINE = "cli"


@dataclass(frozen=True)
class RunContext:
    """One run: its id, the pipeline that runs it, and the clients' settings."""

    run_id: str
    pipeline: str = CLI_PIPELINE
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    ksql: KsqlSettings = field(default_factory=KsqlSettings)
    report_root: Path = field(default_factory=reports_dir)

    def __post_init__(self) -> None:
        check_run_id(self.run_id)

    @property
    def run_dir(self) -> Path:
        """``var/runs/<run id>/``: every step's outputs."""
        return run_dir(self.run_id)

    @property
    def report_dir(self) -> Path:
        """``<report root>/<pipeline>/<run id>/``: ``report.json``, ``report.html``, ``summary.md``."""
        return self.report_root / self.pipeline / self.run_id

    def write_manifest(self, params: dict[str, Any]) -> Path:
        """Record the run's parameters in ``run.json`` (kept from the first write: a retry keeps
        the original start time and parameters). Secrets never go here: pass plain values only."""
        path = self.run_dir / RUN_MANIFEST_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            return path
        document = {
            "schema": "replay.run.manifest/1",
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "created_at_ms": int(time.time() * 1000),
            "report_dir": str(self.report_dir),
            "params": params,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    def read_manifest(self) -> dict[str, Any] | None:
        """``run.json`` if a step wrote it."""
        path = self.run_dir / RUN_MANIFEST_FILE
        if not path.is_file():
            return None
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return document
