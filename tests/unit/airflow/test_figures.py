"""A run's key figures from report.json (the report's schema) or, before it, its run folder."""

from __future__ import annotations

import json
from pathlib import Path

from replay.airflow.figures import from_report, run_figures

REPORT = {
    "run_id": "manual__1",
    "pipeline": "meetup_replay",
    "run_started_at_ms": 1_764_000_000_000,
    "status": "failed",
    "reconciliation": {"read": 1000, "valid": 990, "quarantined": 10, "sent": 990, "reconciled": True},
    "validation": {"read": 1000, "valid": 990, "quarantined": 10, "invalid_pct": 1.0, "passed": True},
    "headline": {
        "events": 990,
        "target_per_s": 5000.0,
        "achieved_per_s": 4987.5,
        "e2e_topic": "meetup_events",
        "e2e_p99_ms": 12.25,
        "drain_s": 0.8,
        "cross_checks_equal": 6,
        "cross_checks": 6,
    },
    "thresholds": [
        {"limit": "crosschecks", "name": "crosschecks", "passed": True},
        {"limit": "e2e_p99_ms[meetup_events]<=10", "name": "e2e_p99_ms", "passed": False},
    ],
}


def test_the_note_line_from_a_report_names_each_key_figure() -> None:
    figures = from_report(REPORT)
    line = figures.note_line()
    assert line == (
        "990 events of 1,000 read · rate 4,988/s (target 5,000) · e2e p99 12.25 ms · "
        "validation passed (1.00% invalid) · cross-checks ok (6/6 equal) · thresholds failed: e2e_p99_ms[meetup_events]<=10"
    )
    five = from_report({**REPORT, "headline": {**REPORT["headline"], "cross_checks_equal": 5}})  # type: ignore[dict-item]
    assert five.cross_checks == "failed" and five.cross_checks_detail == "5/6 equal"
    extra = figures.asset_extra()
    assert extra["events"] == 990 and extra["e2e_p99_ms"] == 12.25 and extra["has_report"] is True
    json.dumps(extra)  # JSON-ready


def test_missing_fields_show_as_not_available_never_as_zero() -> None:
    line = from_report({"run_id": "r"}).note_line()
    assert line == "n/a events · rate n/a/s · e2e p99 n/a · validation n/a · cross-checks n/a"


def test_without_a_report_the_run_folder_gives_what_it_has(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"run_id": "r1", "pipeline": "meetup_replay", "created_at_ms": 5})
    )
    (run / "validation.json").write_text(
        json.dumps({"read": 10, "valid": 9, "quarantined": 1, "passed": True, "invalid_pct": 10.0})
    )
    summary = {
        "status": "completed",
        "options": {"skip": 0, "limit": None},
        "counts": {"committed": 4, "quarantined": 0, "invalid": 0, "blank": 0, "dlq": 0},
        "run_totals": {"records": 9, "quarantined": 1, "dlq": 1, "invalid": 0, "blank": 0, "bytes": 90},
        "rate": {"target_per_s": None, "achieved_per_s": 1234.5},
    }
    (run / "produce-summary.json").write_text(json.dumps(summary))
    figures = run_figures(run, tmp_path / "reports" / "meetup_replay" / "r1")
    assert figures.has_report is False and figures.events == 9  # every attempt, not the last one
    assert figures.cross_checks == "ok" and figures.validation == "passed"
    assert figures.note_line().startswith("9 events of 10 read · rate 1,234/s · e2e p99 n/a")
