"""``report.html`` (self-contained: inline SVG plots, inline CSS, no external URL) and
``summary.md`` from a ``report.json`` document."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from replay.report import plots

_LATENCY = (
    ("publishLatency", "send → broker acknowledgement (sampled records)"),
    ("publishDelayLatency", "how late each send was against its intended time (coordinated omission)"),
    ("commitLatency", "duration of each transaction commit"),
)


def _template(name: str) -> jinja2.Template:
    text = resources.files("replay.report").joinpath(name).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def render_plots(doc: dict[str, Any]) -> dict[str, Any]:
    """Every plot of the report as inline SVG (None where there is nothing to draw)."""
    e2e = doc["endToEndLatency"]
    return {
        "rate": plots.rate(doc["replay"]["rate"]),
        "e2e": {t: plots.latency_over_time(t, e["series"]) for t, e in e2e.items()},
        "hist": {t: plots.histogram(t, e["endToEndLatency"]) for t, e in e2e.items()},
        "sizes": plots.topic_sizes(doc["topics"]),
        "lag": plots.query_lag(doc["queries"]),
    }


def html(doc: dict[str, Any], report_dir: Path) -> str:
    """The report page."""
    rows = [(name, doc[name], what) for name, what in _LATENCY if doc.get(name)]
    for topic, entry in doc["endToEndLatency"].items():
        rows.append((f"endToEndLatency {topic}", entry["endToEndLatency"], entry["measures"]))
        if entry.get("endToEndLatencyFromIntended") and entry["endToEndLatencyFromIntended"]["count"]:
            rows.append(
                (
                    f"… from the intended send time, {topic}",
                    entry["endToEndLatencyFromIntended"],
                    "sampled records",
                )
            )
    docs = (doc.get("validation") or {}).get("data_docs")
    data_docs = os.path.relpath(docs, report_dir) if docs else None
    return _template("report_page.html").render(
        doc=doc,
        plots=render_plots(doc),
        latency_rows=rows,
        data_docs=data_docs,
        migrations_text=json.dumps(doc.get("migrations"), indent=2)[:20000],
    )


def _ms(value: int | None) -> str:
    return "—" if value is None else f"{value / 1000:,.1f} ms"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,}"


def _rate(per_s: float | None) -> str:
    return "unthrottled" if not per_s else f"{per_s:,.0f}/s"


def markdown(doc: dict[str, Any]) -> str:
    """``summary.md``: the headline, verdicts, reconciliation and cross-checks."""
    h = doc["headline"]
    rec = doc["reconciliation"]
    lines = [
        f"# Run {doc['run_id']}: {doc['status']}",
        "",
        f"- events committed: {h['events']:,}; target {_rate(h['target_per_s'])}, achieved {_rate(h['achieved_per_s'])}",
        f"- end-to-end p99 ({h['e2e_topic'] or 'no probe'}): {_number(h['e2e_p99_ms'])} ms",
        f"- reconciliation: read {rec['read']:,} = valid {rec['valid']:,} + quarantined {rec['quarantined']:,}; "
        f"sent {rec['sent']:,}; in the source topic {_number(rec['source_records'])}: "
        f"{'reconciled' if rec['reconciled'] else 'DOES NOT RECONCILE'}",
        "",
        "## Thresholds",
        "",
        "| limit | actual | verdict |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{t['limit']}` | {t['actual']} | {'pass' if t['passed'] else '**FAIL**'} |"
        for t in doc["thresholds"]
    ]
    lines += ["", "## Cross-checks", "", "| check | expected | actual | verdict |", "|---|---|---|---|"]
    lines += [
        f"| {c['name']} | {c['expected']:,} | {_number(c['actual'])} | {'equal' if c['equal'] else '**differs**'} |"
        for c in doc["cross_checks"]
    ]
    lines += ["", "## Latency", "", "| figure | count | p50 | p99 | max |", "|---|---|---|---|---|"]
    for name in ("publishLatency", "publishDelayLatency", "commitLatency"):
        hist = doc.get(name)
        if hist:
            lines.append(
                f"| {name} | {hist['count']:,} | {_ms(hist['p50'])} | {_ms(hist['p99'])} | {_ms(hist['max'])} |"
            )
    for topic, entry in doc["endToEndLatency"].items():
        hist = entry["endToEndLatency"]
        lines.append(
            f"| endToEndLatency {topic} ({entry['mode']}) | {hist['count']:,} | {_ms(hist['p50'])} | {_ms(hist['p99'])} | {_ms(hist['max'])} |"
        )
    lines += [
        "",
        "Broker Fetch TotalTimeMs includes the consumer's long-poll wait; it is not an event latency.",
        "",
    ]
    return "\n".join(lines)
