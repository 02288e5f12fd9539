"""The arithmetic of metric series: counters with resets, per-window rates, histogram merges,
percentiles from Prometheus buckets, record counts from offsets.

Pure functions over plain values, so each rule is unit-tested on hand-computed cases
(tests/unit/metrics/test_series.py) and used unchanged by the collector and the report.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from hdrh.histogram import HdrHistogram

from replay.produce.metrics import HIGHEST_US, LOWEST_US, PERCENTILES, SIGNIFICANT_DIGITS, bucket_floor

Point = tuple[float, float]  # (time in seconds, value)


def counter_increase(points: Sequence[Point]) -> float:
    """How much a counter grew over ``points`` (time-ordered), counting through resets.

    A sample lower than its predecessor means the process restarted and the counter began again
    at zero, so the new sample itself is the growth since the reset (Prometheus' ``increase``
    rule, without its extrapolation to the window's edges).
    """
    total = 0.0
    for (_, before), (_, after) in itertools.pairwise(points):
        total += after - before if after >= before else after
    return total


def counter_rates(points: Sequence[Point]) -> list[Point]:
    """Per-interval rates ``(end time, growth / seconds)`` between consecutive samples, resets
    counted as in :func:`counter_increase`; intervals of zero length are skipped."""
    out: list[Point] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t1 <= t0:
            continue
        growth = v1 - v0 if v1 >= v0 else v1
        out.append((t1, growth / (t1 - t0)))
    return out


def per_second_increase(
    points: Sequence[Point], start: float, seconds: int, *, fold_edges: bool = False
) -> list[float]:
    """A counter's growth in each 1-s window ``[start + i, start + i + 1)``.

    The growth between two samples is spread evenly over the time between them (a scrape every
    second rarely lands on a window boundary). Growth outside ``[start, start + seconds)`` is
    dropped, or with ``fold_edges`` added to the first / last window — for a counter that can
    only grow inside the range (the replay's sends), whose scrapes straddle its edges. Resets
    as in :func:`counter_increase`.
    """
    windows = [0.0] * max(seconds, 0)
    if not windows:
        return windows
    end = start + seconds
    for (t0, v0), (t1, v1) in pairwise(points):
        if t1 <= t0:
            continue
        growth = v1 - v0 if v1 >= v0 else v1
        per_s = growth / (t1 - t0)
        if fold_edges:
            windows[0] += per_s * max(min(t1, start) - t0, 0.0)
            windows[-1] += per_s * max(t1 - max(t0, end), 0.0)
        first = max(math.floor(t0 - start), 0)
        last = min(math.ceil(t1 - start), seconds)
        for index in range(first, last):
            lo = max(t0, start + index)
            hi = min(t1, start + index + 1)
            if hi > lo:
                windows[index] += per_s * (hi - lo)
    return windows


def bucket_quantile(quantile: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``quantile`` (0..1) of a Prometheus histogram from its cumulative ``(le, count)``
    buckets (sorted, the last one ``+Inf``), interpolating linearly inside a bucket as
    Prometheus' ``histogram_quantile`` does; None without observations. A quantile that falls
    in the ``+Inf`` bucket is the highest finite bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def bucket_delta(
    later: Sequence[tuple[float, float]], earlier: Sequence[tuple[float, float]] | None
) -> list[tuple[float, float]]:
    """The observations between two scrapes of one cumulative histogram, bucket by bucket
    (a reset — any bucket lower than before — means ``later`` counts from zero)."""
    if not earlier or len(earlier) != len(later):
        return list(later)
    if any(after < before for (_, after), (_, before) in zip(later, earlier, strict=True)):
        return list(later)
    return [(bound, after - before) for (bound, after), (_, before) in zip(later, earlier, strict=True)]


def new_histogram() -> HdrHistogram:
    """An empty µs histogram with the project's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def histogram_from_counts(counts: Mapping[int, int]) -> HdrHistogram:
    """An HdrHistogram from ``{value_us: count}`` (values clamped into the range)."""
    hist = new_histogram()
    for value, count in counts.items():
        if count > 0:
            hist.record_value(min(max(int(value), LOWEST_US), HIGHEST_US), int(count))
    return hist


def merge_histograms(encoded: Iterable[str | None]) -> HdrHistogram:
    """One histogram holding every observation of the encoded (base64, compressed) ones.

    Percentiles of a merge are computed over all observations; averaging the parts'
    percentiles instead would be wrong whenever the parts differ in size or shape."""
    merged = new_histogram()
    for item in encoded:
        if item:
            merged.decode_and_add(item)
    return merged


def histogram_report(hist: HdrHistogram) -> dict[str, Any]:
    """p50/p90/p99/p99.9/max/mean (µs), count and the encoded histogram, as in
    ``produce-summary.json`` (replay.produce.metrics.LatencyRecorder.report)."""
    total = hist.get_total_count()
    out: dict[str, Any] = {"unit": "us", "count": total}
    values = hist.get_percentile_to_value_dict([pct for _, pct in PERCENTILES]) if total else {}
    for name, pct in PERCENTILES:
        out[name] = values.get(pct)
    out["max"] = hist.get_max_value() if total else None
    out["mean"] = round(hist.get_mean_value(), 1) if total else None
    out["hdr"] = hist.encode().decode("ascii") if total else None
    return out


def counts_percentiles(counts: Mapping[int, int], wanted: Sequence[float] = (50.0, 99.0)) -> list[int | None]:
    """Percentiles (nearest rank) of ``{value: count}``: cheap for the few distinct values of
    one second of one topic, where building an HdrHistogram each time would cost more."""
    total = sum(counts.values())
    if total <= 0:
        return [None for _ in wanted]
    ordered = sorted(counts.items())
    out: list[int | None] = []
    for pct in wanted:
        rank = max(1, math.ceil(pct / 100.0 * total))
        seen = 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                out.append(int(value))
                break
    return out


def add_bucketed(counts: dict[int, int], value_us: int, n: int = 1) -> None:
    """Count ``n`` observations of ``value_us`` in ``counts`` under its HdrHistogram bucket."""
    key = bucket_floor(min(max(value_us, 0), HIGHEST_US))
    counts[key] = counts.get(key, 0) + n


def data_records(start: int, end: int, data_offsets: Iterable[int]) -> dict[str, int]:
    """What a partition's offset range ``[start, end)`` holds: data records (the offsets a
    read_committed consumer returned) and the rest — transaction markers and records of
    aborted transactions, which take offsets but are never delivered.

    The offset delta alone over-counts a transactional topic by one marker per transaction.
    """
    delta = max(end - start, 0)
    records = sum(1 for offset in data_offsets if start <= offset < end)
    return {"offset_delta": delta, "records": records, "non_data_offsets": delta - records}


def offset_delta_records(start: int, end: int, *, markers: int, aborted: int = 0) -> int:
    """Records committed in ``[start, end)`` when the writer's transactions are known: the
    offset delta minus one commit/abort marker per transaction minus aborted records."""
    return max(end - start - markers - aborted, 0)
