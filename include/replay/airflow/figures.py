"""A run's key figures, read from its files: the DAG-run note, the asset event, the reports page.

The report (``report.json``) is the source when it exists; before it is built (or when a run
failed earlier) the run folder's ``validation.json`` and ``produce-summary.json`` give what they
can. A figure nobody measured stays ``None`` and shows as ``n/a`` — never as a zero. Nothing
here reads a secret: these files hold none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"


@dataclass(frozen=True)
class RunFigures:
    """What a person wants to know about a run at a glance."""

    run_id: str | None = None
    pipeline: str | None = None
    created_at_ms: int | None = None
    status: str | None = None
    read: int | None = None
    events: int | None = None  # records committed to the topic
    quarantined: int | None = None
    target_rate: float | None = None
    achieved_rate: float | None = None
    e2e_p99_ms: float | None = None
    validation: str | None = None  # "passed" / "failed"
    invalid_pct: float | None = None
    cross_checks: str | None = None  # "ok" / "failed"
    cross_checks_detail: str | None = None  # e.g. "6/6 equal"
    thresholds: dict[str, str] = field(default_factory=dict)  # name -> "pass" / "fail"
    has_report: bool = False

    def note_line(self) -> str:
        """One line for the DAG-run note: events, rate, e2e p99, validation, cross-checks."""
        parts = [
            f"{_int(self.events)} events" + (f" of {_int(self.read)} read" if self.read is not None else ""),
            f"rate {_num(self.achieved_rate)}/s"
            + (f" (target {_num(self.target_rate)})" if self.target_rate else ""),
            f"e2e p99 {_num(self.e2e_p99_ms)} ms" if self.e2e_p99_ms is not None else "e2e p99 n/a",
            "validation "
            + (self.validation or "n/a")
            + (f" ({self.invalid_pct:.2f}% invalid)" if self.invalid_pct is not None else ""),
            "cross-checks "
            + (self.cross_checks or "n/a")
            + (f" ({self.cross_checks_detail})" if self.cross_checks_detail else ""),
        ]
        failed = [name for name, verdict in self.thresholds.items() if verdict != "pass"]
        if self.thresholds:
            parts.append("thresholds " + ("failed: " + ", ".join(failed) if failed else "pass"))
        return " · ".join(parts)

    def asset_extra(self) -> dict[str, Any]:
        """The asset event's extra: JSON-ready key figures."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


def _int(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("cannot read %s: %s", path, error)
        return None
    return document if isinstance(document, dict) else None


def _get(document: Mapping[str, Any] | None, *paths: str) -> Any:
    """The first of the dotted ``paths`` present in ``document``."""
    for dotted in paths:
        node: Any = document
        for key in dotted.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None:
            return node
    return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _verdict(value: Any) -> str | None:
    if isinstance(value, bool):
        return "passed" if value else "failed"
    return str(value) if value is not None else None


def _check_verdict(value: Any) -> str | None:
    if isinstance(value, bool):
        return "ok" if value else "failed"
    if isinstance(value, list) and value:
        ok = all(
            bool(item.get("equal", item.get("ok", item.get("passed"))))
            for item in value
            if isinstance(item, Mapping)
        )
        return "ok" if ok else "failed"
    if isinstance(value, Mapping):
        flag = value.get("ok", value.get("passed", value.get("reconciled")))
        return None if flag is None else ("ok" if flag else "failed")
    return None


def _thresholds(value: Any) -> dict[str, str]:
    """Threshold verdicts from a report: a list of {name, passed/ok/verdict} or a name→verdict map."""
    out: dict[str, str] = {}
    items = value.items() if isinstance(value, Mapping) else enumerate(value or [])
    for key, item in items:
        if isinstance(item, Mapping):
            name = str(item.get("limit", item.get("name", key)))
            flag = item.get("passed", item.get("ok", item.get("verdict")))
        else:
            name, flag = str(key), item
        if isinstance(flag, bool):
            out[name] = "pass" if flag else "fail"
        elif flag is not None:
            out[name] = "pass" if str(flag).lower() in ("pass", "passed", "ok") else "fail"
    return out


def from_report(report: Mapping[str, Any], *, run_id: str | None = None) -> RunFigures:
    """Figures from a ``report.json`` (``replay.report`` schema: ``headline``, ``reconciliation``,
    ``validation``, ``thresholds``...), tolerant of fields an older or partial report lacks."""
    equal, total = _get(report, "headline.cross_checks_equal"), _get(report, "headline.cross_checks")
    cross: str | None
    detail: str | None
    if isinstance(total, int) and isinstance(equal, int) and total > 0:
        cross, detail = ("ok" if equal == total else "failed"), f"{equal}/{total} equal"
    else:  # no topic to count (or an older report): the reconciliation is the cross-check
        cross, detail = _check_verdict(_get(report, "reconciliation.reconciled", "cross_checks")), None
    return RunFigures(
        run_id=_get(report, "run_id") or run_id,
        pipeline=_get(report, "pipeline"),
        created_at_ms=_int_or_none(_get(report, "run_started_at_ms", "created_at_ms")),
        status=_get(report, "status"),
        read=_int_or_none(_get(report, "reconciliation.read", "validation.read")),
        events=_int_or_none(_get(report, "headline.events", "reconciliation.sent")),
        quarantined=_int_or_none(_get(report, "reconciliation.quarantined", "validation.quarantined")),
        target_rate=_float(_get(report, "headline.target_per_s", "replay.rate.target_per_s")),
        achieved_rate=_float(_get(report, "headline.achieved_per_s", "replay.rate.achieved_per_s")),
        e2e_p99_ms=_float(_get(report, "headline.e2e_p99_ms")),
        validation=_verdict(_get(report, "validation.passed")),
        invalid_pct=_float(_get(report, "validation.invalid_pct")),
        cross_checks=cross,
        cross_checks_detail=detail,
        thresholds=_thresholds(_get(report, "thresholds")),
        has_report=True,
    )


def from_run_folder(run_dir: Path) -> RunFigures:
    """Figures from the run folder alone (no report yet)."""
    manifest = _load(run_dir / "run.json") or {}
    validation = _load(run_dir / "validation.json")
    produce = _load(run_dir / "produce-summary.json")
    cross = None
    if validation is not None and produce is not None:
        from replay.pipeline.steps import reconciliation

        try:
            cross = "ok" if reconciliation(validation, produce)["reconciled"] else "failed"
        except (KeyError, TypeError) as error:
            log.warning("cannot reconcile %s: %s", run_dir, error)
    return RunFigures(
        run_id=manifest.get("run_id") or run_dir.name,
        pipeline=manifest.get("pipeline"),
        created_at_ms=_int_or_none(manifest.get("created_at_ms")),
        status=_get(produce, "status"),
        read=_int_or_none(_get(validation, "read")),
        # run_totals: every attempt of the run (a retried replay's counts cover its last one).
        events=_int_or_none(_get(produce, "run_totals.records", "counts.committed")),
        quarantined=_int_or_none(_get(validation, "quarantined")),
        target_rate=_float(_get(produce, "rate.target_per_s")),
        achieved_rate=_float(_get(produce, "rate.achieved_per_s")),
        validation=_verdict(_get(validation, "passed")),
        invalid_pct=_float(_get(validation, "invalid_pct")),
        cross_checks=cross,
    )


def run_figures(run_dir: Path, report_dir: Path) -> RunFigures:
    """The report's figures when the report exists, else what the run folder has."""
    report = _load(report_dir / REPORT_FILE)
    if report is not None:
        return from_report(report, run_id=run_dir.name)
    return from_run_folder(run_dir)
