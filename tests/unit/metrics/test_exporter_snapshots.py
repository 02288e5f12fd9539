"""The replay's exposition (histogram buckets from a live LatencyRecorder) and the snapshot file."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from replay.metrics.exporter import _Buckets
from replay.metrics.series import bucket_quantile
from replay.metrics.snapshots import SnapshotWriter, read_snapshots, samples
from replay.produce.metrics import LatencyRecorder


def _cumulative(buckets: list[tuple[str, float]]) -> dict[str, float]:
    return dict(buckets)


def test_buckets_count_pending_and_drained_values_once() -> None:
    recorder = LatencyRecorder()
    for value in (50, 300, 300, 2_000, 40_000):  # µs
        recorder.record(value)
    view = _Buckets(recorder)
    before, total_before = view.snapshot()
    recorder.drain()  # the values move from the dict into the HdrHistogram
    recorder.record(700_000)
    after, total_after = view.snapshot()
    b, a = _cumulative(before), _cumulative(after)
    assert b["0.0001"] == 1 and b["0.0005"] == 3 and b["0.0025"] == 4 and b["0.05"] == 5 and b["+Inf"] == 5
    assert a["0.05"] == 5 and a["1.0"] == 6 and a["+Inf"] == 6
    assert total_before < total_after
    # Cumulative counts never decrease from one bound to the next.
    values = [count for _, count in after]
    assert values == sorted(values)


def test_bucket_view_feeds_the_quantile_math() -> None:
    recorder = LatencyRecorder()
    for _ in range(99):
        recorder.record(1_000)
    recorder.record(20_000)
    buckets, _ = _Buckets(recorder).snapshot()
    bounds = [(math.inf if le == "+Inf" else float(le), count) for le, count in buckets]
    # 99 of 100 values are 1 ms, in the (0.00025, 0.001] bucket.
    assert 0.00025 < bucket_quantile(0.5, bounds) <= 0.001  # type: ignore[operator]


def test_snapshots_round_trip_and_survive_a_cut_off_end(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.jsonl.gz"
    text = "# TYPE replay_records_sent counter\nreplay_records_sent_total 42.0\n"
    writer = SnapshotWriter(path)
    for i in range(3):
        writer.write({"t": 1000 * i, "source": "replay", "status": 200, "text": text})
    writer.flush()
    writer.write({"t": 9000, "source": "replay", "status": 200, "text": text})
    writer.close()
    assert [s["t"] for s in read_snapshots(path)] == [0, 1000, 2000, 9000]
    # A second writer (a restarted collector) appends a new gzip member.
    again = SnapshotWriter(path)
    again.write({"t": 10_000, "source": "ksql", "status": 500, "error": "down"})
    again.close()
    assert [s["t"] for s in read_snapshots(path)][-1] == 10_000
    # A killed writer leaves no gzip trailer: everything flushed before is still read.
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(path.read_bytes()[:-30])
    assert len(list(read_snapshots(cut))) >= 3


def test_samples_parse_text_with_prometheus_client_and_skip_failed_scrapes() -> None:
    snapshot = {"t": 1500, "source": "replay", "status": 200, "text": '# TYPE a counter\na_total{x="1"} 3\n'}
    (sample,) = list(samples(snapshot))
    assert (sample.t, sample.name, sample.label("x"), sample.value) == (1.5, "a_total", "1", 3.0)
    assert list(samples({"t": 0, "source": "broker", "status": 0, "error": "refused"})) == []
    assert list(samples(snapshot, ("b_",))) == []


def test_prometheus_matrix_becomes_samples_without_target_labels() -> None:
    snapshot = {
        "t": 0,
        "source": "prometheus",
        "result": [
            {
                "metric": {
                    "__name__": "ksql_query_consumer_lag",
                    "job": "ksql",
                    "instance": "x",
                    "query_id": "q1",
                },
                "values": [[10.0, "5"], [11.0, "0"]],
            }
        ],
    }
    got = list(samples(snapshot))
    assert [(s.t, s.source, s.value, s.labels) for s in got] == [
        (10.0, "ksql", 5.0, (("query_id", "q1"),)),
        (11.0, "ksql", 0.0, (("query_id", "q1"),)),
    ]


def test_the_file_is_plain_gzip(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.gz"
    writer = SnapshotWriter(path)
    writer.write({"t": 1, "source": "x"})
    writer.close()
    assert gzip.decompress(path.read_bytes()).startswith(b'{"t":1')
    assert list(text_string_to_metric_families("")) == []
