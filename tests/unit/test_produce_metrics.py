"""Histograms, per-second windows and librdkafka statistics of a replay."""

from __future__ import annotations

import json
import random

from hdrh.histogram import HdrHistogram

from replay.produce.metrics import (
    HIGHEST_US,
    LatencyRecorder,
    RdkafkaStats,
    Windows,
    bucket_floor,
    window_accuracy,
)


def test_bucket_floor_is_hdrhistograms_own_bucketing() -> None:
    reference = HdrHistogram(1, HIGHEST_US, 3)
    rng = random.Random(3)
    values = [0, 1, 2047, 2048, 2049, 4095, 4096, 10**6, HIGHEST_US] + [
        rng.randint(0, HIGHEST_US) for _ in range(20_000)
    ]
    for value in values:
        assert bucket_floor(value) == reference.get_lowest_equivalent_value(value), value


def test_recorder_reports_what_a_plain_histogram_reports() -> None:
    rng = random.Random(5)
    values = [int(rng.lognormvariate(8, 1.2)) for _ in range(50_000)]
    reference = HdrHistogram(1, HIGHEST_US, 3)
    recorder = LatencyRecorder()
    for i, value in enumerate(values):
        reference.record_value(value)
        recorder.record(value)
        if i % 7_000 == 0:
            recorder.drain()  # draining in between must not change the result
    report = recorder.report()
    assert report["count"] == len(values)
    for name, pct in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9)):
        assert report[name] == reference.get_value_at_percentile(pct)
    assert report["max"] == reference.get_max_value()
    decoded = HdrHistogram.decode(report["hdr"])
    assert decoded.get_total_count() == len(values)


def test_a_held_reference_to_the_counts_keeps_working_after_drain() -> None:
    recorder = LatencyRecorder()
    counts = recorder.counts  # the producer's hot loop keeps this reference
    counts[100] = 3
    recorder.drain()
    counts[200] = 2
    assert recorder.report()["count"] == 5


def test_empty_recorder_reports_no_percentiles() -> None:
    report = LatencyRecorder().report()
    assert report["count"] == 0
    assert report["p99"] is None and report["hdr"] is None


def test_windows_count_per_second_since_t0() -> None:
    windows = Windows(t0_ns=10_000_000_000)
    for t in (10.0, 10.5, 10.999, 11.0, 13.2):
        windows.add(int(t * 1e9))
    windows.add(9_000_000_000)  # before t0: first window
    assert windows.counts == [4, 1, 0, 1]


def test_window_accuracy_leaves_out_the_last_partial_window() -> None:
    sent = [1000, 1019, 975, 1000, 300]
    target = [1000, 1000, 1000, 1000, 250]
    result = window_accuracy(sent, target, tolerance=0.02)
    assert result["windows"] == 4
    assert result["within"] == 3  # 975 is 2.5 % short
    assert result["fraction_within"] == 0.75
    assert result["max_abs_error"] == 0.025


def _stats_document(topic: str) -> str:
    window = {"min": 10, "max": 900, "avg": 100, "sum": 1000, "cnt": 10, "p50": 90, "p99": 800}
    return json.dumps(
        {
            "msg_cnt": 12,
            "msg_size": 34_000,
            "txmsgs": 1000,
            "txmsg_bytes": 2_500_000,
            "brokers": {
                "127.0.0.1:9092/1": {
                    "nodeid": 1,
                    "int_latency": window,
                    "outbuf_latency": window,
                    "rtt": {**window, "avg": 300, "p99": 2000, "max": 2500},
                    "throttle": {**window, "cnt": 0},
                },
                "GroupCoordinator": {"nodeid": -1, "rtt": {**window, "avg": 99999}},
            },
            "topics": {topic: {"batchsize": {**window, "avg": 50_000}, "batchcnt": {**window, "avg": 20}}},
        }
    )


def test_rdkafka_stats_keep_the_figures_that_matter() -> None:
    stats = RdkafkaStats(topic="events")
    stats.on_stats(_stats_document("events"))
    stats.on_stats(_stats_document("events"))
    stats.on_stats("{not json")  # ignored with a warning, never raised into librdkafka
    report = stats.report()
    assert len(report["samples"]) == 2
    sample = report["samples"][0]
    assert sample["msg_cnt"] == 12
    assert sample["rtt"]["avg"] == 300  # the internal coordinator pseudo-broker is left out
    assert report["summary"]["rtt"] == {"avg": 300, "p99_max": 2000, "max": 2500}
    assert report["summary"]["batchsize"]["avg"] == 50_000
    assert report["summary"]["throttle"] is None


def test_rdkafka_stats_stay_bounded() -> None:
    stats = RdkafkaStats(topic="events", max_samples=10)
    for _ in range(35):
        stats.on_stats(_stats_document("events"))
    assert len(stats.samples) <= 10
    assert stats.report()["thinned"] > 0
