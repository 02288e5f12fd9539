"""All reports under the report root: ``replay report list``, ``compare`` and ``index.html``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from replay.errors import ReportError
from replay.report import plots
from replay.report.document import schema

log = logging.getLogger(__name__)

INDEX_FILE = "index.html"


def find_reports(root: Path) -> list[dict[str, Any]]:
    """Every ``<root>/<pipeline>/<run id>/report.json`` that is a report of this schema, oldest
    run first. Anything else under the root (a half-written file, a report of an older schema, a
    file someone put there) is skipped with a warning: one stray file must not stop every later
    run from writing its report and the index."""
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(schema())
    docs = []
    for path in sorted(root.glob("*/*/report.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("skipping %s: %s", path, error)
            continue
        problem = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if problem is not None:
            where = "/".join(str(part) for part in problem.absolute_path) or "the document"
            log.warning("skipping %s: not a report of this schema (%s: %s)", path, where, problem.message)
            continue
        docs.append(document)
    return sorted(docs, key=lambda d: (d.get("run_started_at_ms") or 0, d["generated_at"]))


def list_line(doc: dict[str, Any]) -> str:
    """One line per run: date, status, events, target/achieved rate, e2e p99, verdicts."""
    h = doc["headline"]
    passed = sum(1 for t in doc["thresholds"] if t["passed"])
    target = f"{h['target_per_s']:,.0f}" if h["target_per_s"] else "max"
    achieved = f"{h['achieved_per_s']:,.0f}" if h["achieved_per_s"] else "—"
    p99 = f"{h['e2e_p99_ms']:,.1f} ms" if h["e2e_p99_ms"] is not None else "—"
    return (
        f"{doc['generated_at'][:16]}  {doc['status']:<6}  {doc['pipeline']}/{doc['run_id']}  "
        f"{h['events']:>9,} events  rate {target}/{achieved}/s  e2e p99 {p99} ({h['e2e_topic'] or '—'})  "
        f"verdicts {passed}/{len(doc['thresholds'])} pass"
    )


def load_report(path: Path) -> dict[str, Any]:
    """A report given as its folder, its report.json, or a run folder whose report is known."""
    candidates = [path / "report.json", path] if path.is_dir() else [path]
    for candidate in candidates:
        if candidate.is_file():
            document: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
            return document
    raise ReportError(
        f"no report.json at {path}", hint="pass a report folder (var/reports/<pipeline>/<run id>)"
    )


_COMPARED: tuple[tuple[str, str], ...] = (
    ("events committed", "replay.counts.committed"),
    ("target rate (/s)", "replay.rate.target_per_s"),
    ("achieved rate (/s)", "replay.rate.achieved_per_s"),
    ("send span (s)", "replay.send_span_s"),
    ("publishLatency p99 (us)", "publishLatency.p99"),
    ("publishDelayLatency p99 (us)", "publishDelayLatency.p99"),
    ("commitLatency p99 (us)", "commitLatency.p99"),
    ("e2e p99 (ms)", "headline.e2e_p99_ms"),
    ("drain (s)", "headline.drain_s"),
    ("quarantined", "reconciliation.quarantined"),
)


def _get(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Key figures of two runs side by side with the difference (B - A) and its ratio."""
    rows = []
    for label, path in _COMPARED:
        va, vb = _get(a, path), _get(b, path)
        numeric = isinstance(va, int | float) and isinstance(vb, int | float)
        rows.append(
            {
                "figure": label,
                "a": va,
                "b": vb,
                "delta": round(vb - va, 3) if numeric else None,
                "ratio": round(vb / va, 3) if numeric and va else None,
            }
        )
    for topic in sorted(set(a["endToEndLatency"]) & set(b["endToEndLatency"])):
        va = a["endToEndLatency"][topic]["endToEndLatency"]["p99"]
        vb = b["endToEndLatency"][topic]["endToEndLatency"]["p99"]
        numeric = va is not None and vb is not None
        rows.append(
            {
                "figure": f"e2e p99 {topic} (us)",
                "a": va,
                "b": vb,
                "delta": vb - va if numeric else None,
                "ratio": round(vb / va, 3) if numeric and va else None,
            }
        )
    return rows


def compare_text(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The comparison as an aligned table."""
    rows = compare(a, b)

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        return f"{value:,.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"

    lines = [f"A = {a['pipeline']}/{a['run_id']}", f"B = {b['pipeline']}/{b['run_id']}", ""]
    lines.append(f"{'figure':<36} {'A':>14} {'B':>14} {'B - A':>14} {'B / A':>8}")
    for row in rows:
        lines.append(
            f"{row['figure']:<36} {cell(row['a']):>14} {cell(row['b']):>14} {cell(row['delta']):>14} {cell(row['ratio']):>8}"
        )
    return "\n".join(lines)


def write_index(root: Path) -> Path:
    """``<root>/index.html``: every run (newest first) and trends of rate, e2e p99 and drain."""
    import html as html_lib

    docs = find_reports(root)
    trends = [
        plots.trend(docs, "achieved_per_s", "achieved rate (/s)"),
        plots.trend(docs, "e2e_p99_ms", "e2e p99 (ms)"),
        plots.trend(docs, "drain_s", "drain (s)"),
    ]
    rows = []
    for doc in reversed(docs):
        h = doc["headline"]
        link = f"{doc['pipeline']}/{doc['run_id']}/report.html"
        rows.append(
            "<tr><td class=l><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{:,}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html_lib.escape(link, quote=True),
                html_lib.escape(doc["run_id"]),
                html_lib.escape(doc["pipeline"]),
                doc["generated_at"][:16],
                h["events"],
                h["target_per_s"] or "max",
                h["achieved_per_s"],
                h["e2e_p99_ms"] if h["e2e_p99_ms"] is not None else "—",
                "<span class=pass>passed</span>"
                if doc["status"] == "passed"
                else "<span class=fail>failed</span>",
            )
        )
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Replay reports</title><style>"
        "body{font:14px system-ui,sans-serif;margin:1.5rem auto;max-width:62rem;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:right}"
        ".l{text-align:left}.pass{color:#176b2c}.fail{color:#b3261e}figure svg{max-width:100%;height:auto}"
        "</style></head><body><h1>Replay reports</h1>"
        + "".join(f"<figure class=plot>{svg}</figure>" for svg in trends if svg)
        + "<table><tr><th class=l>run</th><th>pipeline</th><th>generated</th><th>events</th><th>target/s</th>"
        "<th>achieved/s</th><th>e2e p99 ms</th><th>status</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
    root.mkdir(parents=True, exist_ok=True)
    path = root / INDEX_FILE
    path.write_text(page, encoding="utf-8")
    return path
