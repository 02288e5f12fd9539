"""What a replay measures: latency histograms, per-second windows, librdkafka statistics.

Histograms are HdrHistograms in microseconds (1 µs .. 1 h, 3 significant digits), reported
with the percentiles the OpenMessaging Benchmark reports. The hot loop does not call into
``hdrh`` per record (about 1.4 µs each); it counts values in a dict keyed by the value's
HdrHistogram bucket (:func:`bucket_floor`, exact for this precision) and :meth:`drain` moves
the counts into the histogram a few times per second.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

log = logging.getLogger(__name__)

LOWEST_US = 1
HIGHEST_US = 3600 * 1_000_000
SIGNIFICANT_DIGITS = 3
# 3 significant digits -> 2048 sub-buckets per power of two: values below 2048 are exact,
# above it a bucket spans 2**(bit_length - 11) values.
_SUB_BUCKET_BITS = 11
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99_9", 99.9),
)


def bucket_floor(value: int) -> int:
    """The lowest value of ``value``'s HdrHistogram bucket (3 significant digits)."""
    shift = value.bit_length() - _SUB_BUCKET_BITS
    return value if shift <= 0 else (value >> shift) << shift


class LatencyRecorder:
    """Counts µs values cheaply and folds them into an HdrHistogram on :meth:`drain`.

    In the hot path use ``counts = recorder.counts`` and
    ``counts[bucket_floor(v)] = counts.get(bucket_floor(v), 0) + 1`` — or :meth:`record`.
    """

    __slots__ = ("counts", "histogram", "lock")

    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self.counts: dict[int, int] = {}
        # Held while counts move into the histogram, so that a metrics scrape from another
        # thread (replay.metrics.exporter) never sees a value in both places or in neither.
        self.lock = threading.Lock()

    def record(self, value_us: int) -> None:
        """Count one value (clamped into the histogram's range)."""
        key = bucket_floor(min(max(value_us, 0), HIGHEST_US))
        self.counts[key] = self.counts.get(key, 0) + 1

    def drain(self) -> None:
        """Move the pending counts into the histogram."""
        counts = self.counts
        if not counts:
            return
        with self.lock:
            # In place: the hot loop holds a reference to this very dict.
            items = list(counts.items())
            counts.clear()
            for value, count in items:
                self.histogram.record_value(min(max(value, 0), HIGHEST_US), count)

    def report(self) -> dict[str, Any]:
        """Percentiles (µs), count, mean, max and the encoded histogram (for merging later)."""
        self.drain()
        hist = self.histogram
        total = hist.get_total_count()
        out: dict[str, Any] = {"unit": "us", "count": total}
        values = hist.get_percentile_to_value_dict([pct for _, pct in PERCENTILES]) if total else {}
        for name, pct in PERCENTILES:
            out[name] = values.get(pct)
        out["max"] = hist.get_max_value() if total else None
        out["mean"] = round(hist.get_mean_value(), 1) if total else None
        out["hdr"] = hist.encode().decode("ascii") if total else None
        return out


@dataclass
class Windows:
    """Counts per 1-second window since ``t0_ns`` (monotonic), e.g. records sent per second."""

    t0_ns: int
    counts: list[int] = field(default_factory=list)

    def add(self, t_ns: int, n: int = 1) -> None:
        """Count ``n`` events at ``t_ns`` (events before ``t0_ns`` go into the first window)."""
        index = max(0, (t_ns - self.t0_ns) // 1_000_000_000)
        counts = self.counts
        if index >= len(counts):
            counts.extend([0] * (index + 1 - len(counts)))
        counts[index] += n


def window_accuracy(sent: list[int], target: list[int], tolerance: float = 0.02) -> dict[str, Any]:
    """How many full 1-s windows achieved their target within ``tolerance``.

    The last window is partial (the run ends inside it) and windows with a target of 0 have
    nothing to compare, so both are left out.
    """
    pairs = [(s, t) for s, t in zip(sent[:-1], target[:-1], strict=False) if t > 0]
    within = sum(1 for s, t in pairs if abs(s - t) <= tolerance * t)
    errors = [(s - t) / t for s, t in pairs]
    return {
        "tolerance": tolerance,
        "windows": len(pairs),
        "within": within,
        "fraction_within": round(within / len(pairs), 4) if pairs else None,
        "max_abs_error": round(max((abs(e) for e in errors), default=0.0), 4) if pairs else None,
    }


# librdkafka statistics (https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md):
# per broker `int_latency` (time a message waits in the producer queue), `outbuf_latency`
# (waits for the socket), `rtt` (request round trip); per topic `batchsize` (bytes) and
# `batchcnt` (messages per batch). Windowed averages/percentiles in µs.
_BROKER_WINDOWS = ("int_latency", "outbuf_latency", "rtt", "throttle")
_TOPIC_WINDOWS = ("batchsize", "batchcnt")


@dataclass
class RdkafkaStats:
    """Samples of the librdkafka statistics that matter for a producer (bounded in number)."""

    topic: str
    max_samples: int = 3600
    samples: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    def on_stats(self, payload: str) -> None:
        """``stats_cb``: parse one statistics JSON document and keep the figures we report."""
        try:
            stats = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            log.warning("ignoring unparsable librdkafka statistics: %s", error)
            return
        sample: dict[str, Any] = {
            "t": round(time.time(), 3),
            "msg_cnt": stats.get("msg_cnt"),
            "msg_size": stats.get("msg_size"),
            "txmsgs": stats.get("txmsgs"),
            "txmsg_bytes": stats.get("txmsg_bytes"),
        }
        for name in _BROKER_WINDOWS:
            sample[name] = _merge_windows(
                window
                for broker in stats.get("brokers", {}).values()
                if broker.get("nodeid", -1) >= 0 and (window := broker.get(name))
            )
        topic = stats.get("topics", {}).get(self.topic, {})
        for name in _TOPIC_WINDOWS:
            sample[name] = _merge_windows([topic[name]] if topic.get(name) else [])
        if len(self.samples) >= self.max_samples:
            # Keep every other sample: memory stays bounded, the whole run stays covered.
            self.samples = self.samples[::2]
            self.dropped += 1
        self.samples.append(sample)

    def report(self) -> dict[str, Any]:
        """The samples and, per figure, the mean of the averages and the max of the p99s."""
        summary: dict[str, Any] = {}
        for name in (*_BROKER_WINDOWS, *_TOPIC_WINDOWS):
            windows = [s[name] for s in self.samples if s.get(name) and s[name]["cnt"]]
            summary[name] = (
                {
                    "avg": round(sum(w["avg"] for w in windows) / len(windows), 1),
                    "p99_max": max(w["p99"] for w in windows),
                    "max": max(w["max"] for w in windows),
                }
                if windows
                else None
            )
        return {"samples": self.samples, "summary": summary, "thinned": self.dropped}


def _merge_windows(windows: Any) -> dict[str, Any] | None:
    """Combine librdkafka window stats of several brokers: weighted avg, max of p99/max."""
    items = [w for w in windows if w.get("cnt")]
    if not items:
        return None
    count = sum(w["cnt"] for w in items)
    return {
        "cnt": count,
        "avg": round(sum(w["avg"] * w["cnt"] for w in items) / count, 1),
        "p50": max(w.get("p50", 0) for w in items),
        "p99": max(w.get("p99", 0) for w in items),
        "max": max(w.get("max", 0) for w in items),
    }
