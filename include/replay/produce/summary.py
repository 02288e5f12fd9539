"""The JSON summary of a replay (``produce-summary.json``), documented in docs/replay.md.

Its JSON Schema ships next to this module (``summary.schema.json``) and is checked by the
tests, so the documentation, the schema and the output cannot drift apart.
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.produce.metrics import window_accuracy

if TYPE_CHECKING:
    from replay.errors import ReplayError
    from replay.produce.producer import Replayer

SCHEMA_ID = "replay.produce.summary/1"
_NS = 1_000_000_000


def schema() -> dict[str, Any]:
    """The JSON Schema of the summary."""
    text = resources.files("replay.produce").joinpath("summary.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s % 1 * 1000):03d}Z"


def _rate(count: int, span_ns: int | None) -> float | None:
    return round(count / (span_ns / _NS), 2) if span_ns and span_ns > 0 and count > 0 else None


def build_summary(replayer: Replayer, *, status: str, error: ReplayError | None = None) -> dict[str, Any]:
    """Everything the replay measured, as a JSON-ready dict (see docs/replay.md)."""
    r = replayer
    o = r.options
    c = r.counters
    s = r.settings
    initial, final = r.initial, r.ckpt
    this_attempt = final.totals if final else None
    before = initial.totals if initial else None
    committed = {
        name: (getattr(this_attempt, name) - getattr(before, name)) if this_attempt and before else 0
        for name in ("records", "dlq", "quarantined", "invalid", "blank", "bytes")
    }
    end_ns = r.end_ns or 0
    # The paced span: first to last send; its rate is what --rate is compared with.
    first_sends = c.sent - c.resent
    send_span = (c.last_send_ns - c.first_send_ns) if c.first_send_ns and c.last_send_ns else None
    achieved = _rate(first_sends - 1, send_span) if first_sends > 1 else None
    target = o.pacing.target_rate
    if o.pacing.mode == "speedup" and first_sends > 1:
        # The speed-up's own rate: records over the intended span (the schedule's offset).
        target = _rate(first_sends - 1, r.schedule.snapshot()[0])
    commit_span = (end_ns - c.first_send_ns) if c.first_send_ns and end_ns else None
    sent_windows = list(r.sent_windows.counts)
    target_windows = list(r.target_windows.counts) if o.pacing.mode != "max" else []
    read = sum(committed[k] for k in ("records", "quarantined", "invalid", "blank"))
    return {
        "schema": SCHEMA_ID,
        "run_id": o.run_id,
        "status": status,
        "already_complete": r.already_done,
        "error": None
        if error is None
        else {
            "kind": getattr(error, "kind", type(error).__name__),
            "message": error.message,
            "hint": error.hint,
        },
        "source": {
            "path": str(o.path),
            "size_bytes": o.path.stat().st_size if o.path.exists() else None,
            "start_index": initial.start_index if initial else o.skip,
            "end_index": initial.end_index if initial else o.end_index,
            "resumed_from_index": initial.next_index if initial else None,
            "next_index": final.next_index if final else None,
            "attempt": initial.attempt if initial else None,
        },
        "topic": r.topics[o.topic].describe() if o.topic in r.topics else {"name": o.topic},
        "dlq_topic": (r.topics[o.dlq_topic].describe() if o.dlq_topic in r.topics else {"name": o.dlq_topic})
        if o.dlq
        else None,
        "checkpoint": {
            "topic": s.checkpoint_topic,
            "key": r.ckpt_key.decode(),
            "transactional_id": r.txn_id,
            "next_index": final.next_index if final else None,
            "next_seq": final.next_seq if final else None,
            "done": final.done if final else False,
        },
        "options": {
            "pacing": o.pacing.describe(),
            "value_format": o.value_format,
            "skip": o.skip,
            "limit": o.limit,
            "dlq": o.dlq,
            "reset": o.reset,
            "quarantine_size": len(o.quarantine),
            "validated": o.validated,
            "commit_interval_ms": s.commit_interval_ms,
            "broker_timeout_s": s.broker_timeout_s,
            "producer": {
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": s.linger_ms,
                "batch.size": s.batch_size,
                "compression.type": s.compression_type,
                **{k: v for k, v in o.producer_config.items() if isinstance(v, str | int | float | bool)},
            },
        },
        "counts": {
            "read": read,
            "sent": c.sent,
            "acked": c.acked,
            "failed": c.failed,
            "committed": committed["records"],
            "quarantined": committed["quarantined"],
            "dlq": committed["dlq"],
            "invalid": committed["invalid"],
            "blank": committed["blank"],
            "resent": c.resent,
            "transactions_committed": c.commits,
            "transactions_aborted": c.aborts,
        },
        "run_totals": final.totals.__dict__ if final else None,
        "bytes": {"sent": c.sent_bytes, "committed": committed["bytes"]},
        "timing": {
            "started_at": _iso(r.start_wall_us / 1e6),
            "finished_at": _iso(time.time()),
            "elapsed_s": round((end_ns - r.start_ns) / _NS, 3) if end_ns else None,
            "send_span_s": round(send_span / _NS, 3) if send_span else None,
        },
        "rate": {
            "target_per_s": target,
            "achieved_per_s": achieved,
            "error_pct": round(100 * (achieved - target) / target, 3) if achieved and target else None,
            "committed_per_s": _rate(committed["records"], commit_span),
            "committed_mb_per_s": round(committed["bytes"] / 1e6 / (commit_span / _NS), 2)
            if commit_span
            else None,
            "windows": {
                "size_s": 1,
                "sent": sent_windows,
                "acked": list(r.acked_windows.counts),
                "target": target_windows,
            },
            "window_accuracy": window_accuracy(sent_windows, target_windows) if target_windows else None,
        },
        # Sampled: one data record in `sample_every` reports its delivery (all resent ones do).
        "publishLatency": {**r.publish.report(), "sample_every": s.delivery_report_every},
        "publishDelayLatency": r.delay.report() if r.delay is not None else None,
        "commitLatency": r.commit_latency.report(),
        "rdkafka": r.stats.report(),
        "failures": [
            {
                "code": f.code,
                "name": f.name,
                "reason": f.reason,
                "count": f.count,
                "first_record": f.first_record,
                "first_size": f.first_size,
            }
            for f in c.failures.values()
        ],
    }


def write_summary(summary: dict[str, Any], path: Path) -> Path:
    """Write the summary atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def delivery_report(summary: dict[str, Any]) -> str:
    """A few lines for a human: what was delivered and what was not."""
    counts = summary["counts"]
    ck = summary["checkpoint"]
    totals = summary.get("run_totals") or {}
    lines = [
        f"run {summary['run_id']} -> {summary['topic']['name']}: {summary['status']}",
        f"  this attempt: committed {counts['committed']:,} records ({summary['bytes']['committed'] / 1e6:,.1f} MB), "
        f"quarantined {counts['quarantined']:,}, to DLQ {counts['dlq']:,}, invalid {counts['invalid']:,}, "
        f"blank {counts['blank']:,}; sent {counts['sent']:,}, acked {counts['acked']:,}, failed {counts['failed']:,}",
    ]
    if totals:
        lines.append(f"  whole run: {totals['records']:,} records committed exactly once")
    rate = summary["rate"]
    if rate["achieved_per_s"]:
        target = f" (target {rate['target_per_s']:,.0f}/s)" if rate["target_per_s"] else ""
        lines.append(
            f"  rate {rate['achieved_per_s']:,.0f}/s{target}; committed {rate['committed_per_s'] or 0:,.0f}/s"
        )
    pub, delay = summary["publishLatency"], summary["publishDelayLatency"]
    if pub["count"]:
        lines.append(f"  publishLatency p50 {pub['p50']} us, p99 {pub['p99']} us, max {pub['max']} us")
    if delay and delay["count"]:
        lines.append(
            f"  publishDelayLatency p50 {delay['p50']} us, p99 {delay['p99']} us, max {delay['max']} us"
        )
    if summary["status"] != "completed" and ck["next_index"] is None:
        lines.append("  NOT delivered: nothing (the replay stopped before its first commit)")
    elif summary["status"] != "completed":
        end = summary["source"]["end_index"]
        lines.append(
            f"  NOT delivered: source records from index {ck['next_index']:,} to "
            f"{'the end of the dump' if end is None else f'{end - 1:,}'}; resume with --run-id {summary['run_id']}"
        )
    return "\n".join(lines)
