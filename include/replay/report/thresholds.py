"""A run's limits and their verdicts.

A limit is a short text, as a DAG param or ``--threshold`` gives it:

=====================================  ==================================================
``crosschecks``                        every cross-check equal (default)
``reconciliation``                     the counts reconcile exactly (default)
``e2e_p99_ms[TOPIC]<=X``               end-to-end p99 through a topic (a sink, or the
                                       source) at most X ms (also p50, p90, p99_9, max)
``rate_pct>=Y``                        achieved rate at least Y % of the target
``quarantined_pct<=Z``                 at most Z % of the records read quarantined
``drain_s[QUERY_ID or TOPIC]<=S``      a persistent query drained within S s
=====================================  ==================================================
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from replay.errors import ConfigError

DEFAULT_LIMITS: tuple[str, ...] = ("crosschecks", "reconciliation")
_LIMIT = re.compile(
    r"^\s*(?P<name>[a-z0-9_]+)(?:\[(?P<arg>[^\]]+)\])?\s*(?:(?P<op><=|>=|<|>|==)\s*(?P<value>-?[\d.]+))?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
}  # fmt: skip
_NUMERIC = {
    "e2e_p50_ms",
    "e2e_p90_ms",
    "e2e_p99_ms",
    "e2e_p99_9_ms",
    "e2e_max_ms",
    "rate_pct",
    "quarantined_pct",
    "drain_s",
}


def parse(text: str) -> dict[str, Any]:
    """One limit as ``{name, arg, op, value}``; :class:`ConfigError` for a malformed one."""
    match = _LIMIT.match(text)
    hint = "e.g. crosschecks, reconciliation, e2e_p99_ms[MEETUP_EVENTS_GERMANY]<=2000, rate_pct>=98, quarantined_pct<=1"
    if not match:
        raise ConfigError(f"threshold {text!r} is not understood", hint=hint)
    name, arg, op, value = match["name"], match["arg"], match["op"], match["value"]
    if name in ("crosschecks", "reconciliation"):
        if op is not None:
            raise ConfigError(f"threshold {text!r}: {name} takes no value", hint=hint)
    elif name not in _NUMERIC or op is None:
        raise ConfigError(f"threshold {text!r}: unknown limit or missing comparison", hint=hint)
    elif name.startswith(("e2e_", "drain_")) and not arg:
        raise ConfigError(f"threshold {text!r} needs a topic or query in brackets", hint=hint)
    return {"name": name, "arg": arg, "op": op, "value": float(value) if value is not None else None}


def _actual(limit: dict[str, Any], report: dict[str, Any]) -> tuple[Any, str | None]:
    """The figure a limit is about, and why it is missing if it is."""
    name, arg = limit["name"], limit["arg"]
    if name == "crosschecks":
        checks = report["cross_checks"]
        return all(c["equal"] for c in checks) if checks else None, None if checks else "no cross-check ran"
    if name == "reconciliation":
        return report["reconciliation"]["reconciled"], None
    if name.startswith("e2e_"):
        entry = report["endToEndLatency"].get(arg)
        if entry is None:
            return None, f"no latency probe on {arg}"
        value = entry["endToEndLatency"].get(name[4:-3])
        return (None, f"{arg} had no records") if value is None else (value / 1000.0, None)
    if name == "rate_pct":
        rate = report["replay"]["rate"]
        if not rate["target_per_s"] or rate["achieved_per_s"] is None:
            return None, "the run had no target rate"
        return 100.0 * rate["achieved_per_s"] / rate["target_per_s"], None
    if name == "quarantined_pct":
        rec = report["reconciliation"]
        return (100.0 * rec["quarantined"] / rec["read"], None) if rec["read"] else (None, "nothing read")
    for query in report["queries"]:
        if arg in (query["query_id"], query["sink_topic"]):
            return (
                (query["drain_s"], None)
                if query["drain_s"] is not None
                else (None, f"{arg} has no drain time")
            )
    return None, f"no persistent query {arg}"


def evaluate(limits: list[str] | tuple[str, ...] | None, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdict of each limit (a limit whose figure is missing fails, saying why)."""
    verdicts = []
    for text in DEFAULT_LIMITS if limits is None else limits:
        limit = parse(text)
        actual, missing = _actual(limit, report)
        if missing is not None or actual is None:
            passed = False
        elif limit["op"] is None:
            passed = bool(actual)
        else:
            passed = _OPS[limit["op"]](float(actual), limit["value"])
        verdicts.append(
            {
                "limit": text.strip(),
                "name": limit["name"],
                "subject": limit["arg"],
                "op": limit["op"],
                "value": limit["value"],
                "actual": round(actual, 3) if isinstance(actual, float) else actual,
                "passed": passed,
                "detail": missing,
            }
        )
    return verdicts
