"""Build one run's report: ``report.json``, ``report.html``, ``summary.md``, then the index."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from replay.errors import ThresholdError
from replay.report import catalog, inputs, render
from replay.report.document import build_document, headline
from replay.report.thresholds import evaluate

log = logging.getLogger(__name__)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def build(
    run_dir: Path,
    report_dir: Path,
    *,
    thresholds: list[str] | None = None,
    pipeline: str | None = None,
) -> dict[str, Any]:
    """Write the report of ``run_dir`` into ``report_dir`` and refresh the index one level up.

    ``thresholds`` are the run's limits (:mod:`replay.report.thresholds`; None: the defaults).
    Returns a small summary (path, status, headline). Raises :class:`ThresholdError` after
    everything is written when a limit failed.
    """
    began = time.monotonic()
    log.info("report %s: reading the run folder", run_dir.name)
    loaded = inputs.load(run_dir)
    log.info(
        "report %s: %d snapshots parsed in %.1f s",
        run_dir.name,
        sum(loaded.series.scrapes.values()),
        time.monotonic() - began,
    )
    doc = build_document(loaded, report_dir, pipeline=pipeline)
    doc["thresholds"] = evaluate(thresholds, doc)
    doc["status"] = "passed" if all(t["passed"] for t in doc["thresholds"]) else "failed"
    doc["headline"] = headline(doc)
    report_dir.mkdir(parents=True, exist_ok=True)
    _write(report_dir / "report.json", json.dumps(doc, indent=2, default=str) + "\n")
    _write(report_dir / "report.html", render.html(doc, report_dir))
    _write(report_dir / "summary.md", render.markdown(doc))
    index = catalog.write_index(report_dir.parent.parent)
    seconds = round(time.monotonic() - began, 2)
    log.info(
        "report %s: %s in %.1f s -> %s", doc["run_id"], doc["status"], seconds, report_dir / "report.html"
    )
    result = {
        "report_dir": str(report_dir),
        "html": str(report_dir / "report.html"),
        "index": str(index),
        "status": doc["status"],
        "headline": doc["headline"],
        "build_s": seconds,
    }
    failed = [t for t in doc["thresholds"] if not t["passed"]]
    if failed:
        raise ThresholdError(
            f"run {doc['run_id']}: {len(failed)} limit(s) failed: "
            + "; ".join(f"{t['limit']} (actual {t['actual']})" for t in failed),
            failed=failed,
            report_dir=report_dir,
            hint=f"the report says why: {report_dir / 'report.html'}",
        )
    return result
