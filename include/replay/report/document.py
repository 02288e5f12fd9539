"""``report.json``: one run's figures in one versioned document (``report.schema.json``).

Latency fields are named as in the OpenMessaging Benchmark result (``publishLatency``,
``publishDelayLatency``, ``endToEndLatency``), in µs, with p50/p90/p99/p99_9/max and the encoded
HdrHistogram (so histograms of several runs can be merged); field meanings: docs/reports.md.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from replay.pipeline.steps import reconciliation
from replay.report import crosscheck, figures
from replay.report.inputs import RunInputs

SCHEMA_ID = "replay.report/1"


def schema() -> dict[str, Any]:
    """The JSON Schema of ``report.json``."""
    text = resources.files("replay.report").joinpath("report.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _latency(histogram: dict[str, Any] | None) -> dict[str, Any] | None:
    if histogram is None:
        return None
    return {
        k: histogram.get(k) for k in ("unit", "count", "p50", "p90", "p99", "p99_9", "max", "mean", "hdr")
    }


def _committed(produce: dict[str, Any]) -> int:
    """Records the run committed over all its attempts: a resumed (retried) replay's ``counts``
    cover its last attempt only, ``run_totals`` add up every attempt."""
    totals = produce.get("run_totals") or {}
    committed: int = totals.get("records", produce["counts"]["committed"])
    return committed


def _reconciliation(inputs: RunInputs) -> dict[str, Any]:
    counts = inputs.produce["counts"]
    validation = inputs.validation or {
        "read": counts["read"],
        "valid": counts["read"] - counts["quarantined"],
        "quarantined": counts["quarantined"],
    }
    result = reconciliation(validation, inputs.produce)
    source = next(
        (t for t in (inputs.probes or {}).get("topics", {}).values() if t["kind"] == "source"), None
    )
    result["source_records"] = source["records_in_window"] if source else None
    result["validated"] = inputs.validation is not None
    if source is not None and result["source_records"] != result["sent"]:
        result["reconciled"] = False
    return result


def _validation(inputs: RunInputs, report_dir: Path) -> dict[str, Any] | None:
    v = inputs.validation
    if v is None:
        return None
    docs = inputs.run_dir / "data_docs" / "index.html"
    keys = ("read", "valid", "quarantined", "invalid_pct", "passed", "policy")
    summary = {k: v.get(k) for k in keys}
    reasons = v.get("reasons") or v.get("by_reason") or v.get("failures")
    summary["reasons"] = reasons if isinstance(reasons, dict | list) else None
    summary["data_docs"] = str(docs) if docs.is_file() else None
    return summary


def _e2e(inputs: RunInputs) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for topic, probe in (inputs.probes or {}).get("topics", {}).items():
        mode = "source" if probe["kind"] == "source" else figures.sink_mode(probe, inputs)
        entry = {
            "kind": probe["kind"],
            "mode": mode,
            "records": probe["records_in_window"],
            "endToEndLatency": _latency(probe["endToEndLatency"]),
            "endToEndLatencyFromIntended": _latency(probe.get("endToEndLatencyFromIntended")),
            "series": probe["series"],
            "probe_max_lag": probe["probe_max_lag"],
            "measures": (
                "replay send (record timestamp) to a read_committed consumer of the sink"
                if mode == "live"
                else "catch-up: the query started after these records were produced; this is how "
                "long it took to catch up, not a live end-to-end latency"
                if mode == "catch-up"
                else "replay send to a read_committed consumer of the source topic"
            ),
        }
        out[topic] = entry
    return out


def build_document(inputs: RunInputs, report_dir: Path, *, pipeline: str | None) -> dict[str, Any]:
    """Everything but the thresholds' verdicts (see :func:`replay.report.thresholds.evaluate`).

    ``pipeline``: the run's pipeline (None: ``run.json``'s, else ``cli``)."""
    produce = inputs.produce
    source = produce["source"]
    dump = Path(source["path"])
    counts = (
        crosscheck.count_dump(dump, inputs.run_dir, start=source["start_index"], end=source["end_index"])
        if dump.is_file()
        else None
    )
    manifest = inputs.manifest or {}
    rates = figures.replay_rates(inputs)
    start, end = figures.replay_window(inputs)
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "run_id": inputs.run_id,
        "pipeline": pipeline or manifest.get("pipeline") or "cli",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_started_at_ms": manifest.get("created_at_ms"),
        "params": manifest.get("params", {}),
        "run_dir": str(inputs.run_dir),
        "report_dir": str(report_dir),
        "reconciliation": _reconciliation(inputs),
        "validation": _validation(inputs, report_dir),
        "migrations": inputs.migrations,
        "replay": {
            "status": produce["status"],
            "topic": produce["topic"]["name"],
            "pacing": produce["options"]["pacing"],
            "counts": produce["counts"],
            "run_committed": _committed(produce),
            "bytes": produce["bytes"],
            "started_at": produce["timing"]["started_at"],
            "send_span_s": produce["timing"]["send_span_s"],
            "window": {"start_s": start, "end_s": end},
            "rate": rates,
        },
        "publishLatency": _latency(produce["publishLatency"]),
        "publishDelayLatency": _latency(produce["publishDelayLatency"]),
        "commitLatency": _latency(produce["commitLatency"]),
        "endToEndLatency": _e2e(inputs),
        "topics": figures.topics(inputs),
        "broker_requests": figures.broker_requests(inputs.series),
        "queries": figures.queries(inputs),
        "cross_checks": crosscheck.cross_checks(inputs.probes or {}, counts, _committed(produce))
        if counts is not None
        else [],
        "dump_counts": None
        if counts is None
        else {
            "valid": counts.valid,
            "germany": counts.germany,
            "munich": counts.munich,
            "countries": len(counts.countries),
        },
        "collector": {
            "result": inputs.collector,
            "scrapes": inputs.series.scrapes,
            "probe_errors": (inputs.probes or {}).get("errors", []),
        },
    }
    return doc


def headline(doc: dict[str, Any]) -> dict[str, Any]:
    """The few figures ``replay report list`` and the index show for a run."""
    e2e = doc["endToEndLatency"]
    preferred = [t for t in ("MEETUP_EVENTS_GERMANY",) if t in e2e and e2e[t]["mode"] == "live"]
    preferred += [t for t, e in e2e.items() if e["mode"] == "source"]
    topic = preferred[0] if preferred else None
    p99 = e2e[topic]["endToEndLatency"]["p99"] if topic else None
    drains = [q["drain_s"] for q in doc["queries"] if q["drain_s"] is not None]
    rate = doc["replay"]["rate"]
    return {
        "events": doc["replay"]["run_committed"],
        "target_per_s": rate["target_per_s"],
        "achieved_per_s": rate["achieved_per_s"],
        "e2e_topic": topic,
        "e2e_p99_ms": round(p99 / 1000, 1) if p99 is not None else None,
        "drain_s": max(drains) if drains else None,
        "cross_checks_equal": sum(1 for c in doc["cross_checks"] if c["equal"]),
        "cross_checks": len(doc["cross_checks"]),
    }
