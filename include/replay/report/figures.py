"""Derived figures of a run: topics, broker request times, persistent queries, the replay.

Every figure says what it measures; in particular the broker's request TotalTimeMs is the time
the broker spent on a request, and for Fetch that includes the long-poll wait
(``fetch.max.wait.ms``) — it is not the latency of an event (docs/reports.md).
"""

from __future__ import annotations

import calendar
import statistics
import time
from typing import Any

from replay.metrics.series import counter_increase, per_second_increase
from replay.report.inputs import RunInputs, Series

QUANTILES = ("0.50", "0.99", "0.999")
REQUESTS = {
    "Produce": "time the broker took to handle a produce request: append and, with acks=all, "
    "wait for the in-sync replicas",
    "FetchConsumer": "time the broker took to answer a consumer's fetch; includes the long-poll "
    "wait (fetch.max.wait.ms, up to 500 ms by default) when no data is there: NOT an event latency",
}


def iso_to_epoch(text: str | None) -> float | None:
    """``2026-12-02T03:00:01.234Z`` → epoch seconds (UTC)."""
    if not text:
        return None
    main, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{frac or 0}")


def replay_window(inputs: RunInputs) -> tuple[float | None, float | None]:
    """When the replay sent its first and its last record (epoch s)."""
    timing = inputs.produce.get("timing", {})
    start = iso_to_epoch(timing.get("started_at"))
    span = timing.get("send_span_s")
    end = start + span if start is not None and span is not None else iso_to_epoch(timing.get("finished_at"))
    return start, end


def _increase(series: Series, name: str, **labels: str) -> float | None:
    points = series.counter(name, **labels)
    return counter_increase(points) if len(points) >= 2 else None


def topics(inputs: RunInputs) -> list[dict[str, Any]]:
    """Per topic this run wrote to or the probes read: records, offsets, bytes, log size."""
    probes = (inputs.probes or {}).get("topics", {})
    series = inputs.series
    out = []
    for name, probe in probes.items():
        delta = 0
        for part in probe["partitions"].values():
            if part.get("end") is not None:
                delta += part["end"] - max(part["start"], 0)
        sizes = series.get("kafka_log_log_size", topic=name)
        out.append(
            {
                "topic": name,
                "kind": probe["kind"],
                "records": probe["records_in_window"],
                "records_before_window": probe["records_before_window"],
                "offset_delta": delta,
                "non_data_offsets": delta - probe["records"],
                "broker_messages_in": _increase(
                    series, "kafka_server_brokertopicmetrics_messagesin_total", topic=name
                ),
                "bytes_in": _increase(series, "kafka_server_brokertopicmetrics_bytesin_total", topic=name),
                "bytes_out": _increase(series, "kafka_server_brokertopicmetrics_bytesout_total", topic=name),
                "log_size_start": sizes[0][1] if sizes else None,
                "log_size_end": sizes[-1][1] if sizes else None,
            }
        )
    return out


def broker_requests(series: Series) -> list[dict[str, Any]]:
    """Produce and FetchConsumer TotalTimeMs (ms) over the run: the median and the highest
    value of each percentile gauge across the scrapes (the broker's own decaying histograms)."""
    out = []
    for request, meaning in REQUESTS.items():
        figures: dict[str, Any] = {"request": request, "measures": meaning, "unit": "ms"}
        for quantile in QUANTILES:
            values = [
                v
                for _, v in series.get(
                    "kafka_network_requestmetrics_totaltimems", request=request, quantile=quantile
                )
            ]
            key = "p" + quantile[2:].ljust(2, "0")
            figures[key] = {
                "median": round(statistics.median(values), 2) if values else None,
                "max": round(max(values), 2) if values else None,
            }
        figures["requests"] = _increase(
            series, "kafka_network_requestmetrics_totaltimems_count", request=request
        )
        out.append(figures)
    return out


def _drain_entries(drain: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The per-query entries of drain.json, whatever its exact nesting."""
    if not drain:
        return []
    entries = drain.get("queries", drain)
    if isinstance(entries, dict):
        entries = [dict(v, id=k) if isinstance(v, dict) else {"id": k} for k, v in entries.items()]
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def queries(inputs: RunInputs) -> list[dict[str, Any]]:
    """Per persistent query: records in/out and errors during the run, lag over time, drain."""
    series = inputs.series
    probes = (inputs.probes or {}).get("topics", {})
    by_query = {p["query"]["query_id"]: (t, p) for t, p in probes.items() if p.get("query")}
    # The queries downstream of the run's topic (the probes found them); a shared server's
    # other queries (the migrations' own metadata table, other runs) are not this run's.
    ids = set(by_query) or series.label_values("ksql_query_messages_consumed_total", "query_id")
    drains = {str(e.get("id") or e.get("query_id")): e for e in _drain_entries(inputs.drain)}
    _, replay_end = replay_window(inputs)
    out = []
    for query_id in sorted(ids):
        lag = series.get("ksql_query_consumer_lag", query_id=query_id)
        topic, probe = by_query.get(query_id, (None, None))
        drain = drains.get(query_id, {})
        drain_s = drain.get("drain_s")
        source = "drain.json" if drain_s is not None else None
        if drain_s is None and probe and probe.get("last_in_window_at_ms") and replay_end:
            drain_s = round(max(probe["last_in_window_at_ms"] / 1000 - replay_end, 0.0), 3)
            source = "probe"
        out.append(
            {
                "query_id": query_id,
                "sink_topic": topic,
                "mode": sink_mode(probe, inputs) if probe else "unknown",
                "records_in": _increase(series, "ksql_query_messages_consumed_total", query_id=query_id),
                "records_out": _increase(series, "ksql_query_messages_produced_total", query_id=query_id),
                "processing_errors": _increase(
                    series, "ksql_query_processing_errors_total", query_id=query_id
                ),
                "lag_max": max((v for _, v in lag), default=None),
                "lag_end": lag[-1][1] if lag else None,
                "lag_series": [[round(t, 3), v] for t, v in lag],
                "drain_s": drain_s,
                "drain_source": source,
            }
        )
    return out


def sink_mode(probe: dict[str, Any], inputs: RunInputs) -> str:
    """``live`` when the sink's query ran before the replay sent its first record, else
    ``catch-up``: its records were produced before it existed, so their latency is how long
    the query took to catch up, not a live end-to-end latency."""
    query = probe.get("query") or {}
    if probe.get("existed_at_start") and query.get("at_start", True):
        return "live"
    start, _ = replay_window(inputs)
    seen = (query.get("seen_at_ms") or probe.get("first_seen_ms") or 0) / 1000
    return "catch-up" if start is not None and seen > start else "live"


def replay_rates(inputs: RunInputs) -> dict[str, Any]:
    """Target vs achieved records per second (the replay's own exact windows) and the sends
    per second as scraped from its endpoint (a cross-check of the windows)."""
    rate = inputs.produce["rate"]
    windows = rate["windows"]
    start, end = replay_window(inputs)
    scraped: list[float] = []
    points = inputs.series.get("replay_records_sent_total")
    if start is not None and points and points[0][0] > start:
        # The replay's counters start at 0 with its process, before its first scrape.
        points = [(start, 0.0), *points]
    if start is not None and end is not None and len(points) >= 2:
        scraped = [
            round(v, 1) for v in per_second_increase(points, start, int(end - start) + 1, fold_edges=True)
        ]
    return {
        "target_per_s": rate["target_per_s"],
        "achieved_per_s": rate["achieved_per_s"],
        "error_pct": rate["error_pct"],
        "window_accuracy": rate["window_accuracy"],
        "sent_per_s": windows["sent"],
        "target_per_window": windows["target"],
        "scraped_sent_per_s": scraped,
    }
