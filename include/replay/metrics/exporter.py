"""The replay's own ``/metrics`` endpoint (Prometheus text format, ``prometheus_client``).

Nothing is added to the replay's hot loop: a :class:`ReplayCollector` reads the replay's own
counters and latency recorders when it is scraped, on the HTTP server's thread. The endpoint
binds a free loopback port and announces its URL in the run folder
(``metrics/replay-endpoint.json``), where the metric collector — another process — finds it.

Exported (all cumulative since the replay process started; a resumed run starts again at 0):

* ``replay_records_sent_total``, ``replay_records_acked_total``, ``replay_records_failed_total``,
  ``replay_records_resent_total``, ``replay_bytes_sent_total``;
* ``replay_records_due_total`` — records the pacing schedule had due (target), paced runs only;
* ``replay_transactions_committed_total``, ``replay_transactions_aborted_total``;
* ``replay_producer_queue_messages`` — records waiting in librdkafka's queue;
* histograms ``replay_publish_latency_seconds`` (send → ack, sampled as in
  ``produce-summary.json``), ``replay_publish_delay_seconds`` (how late each send was against
  its intended time), ``replay_commit_latency_seconds``;
* ``replay_info`` (labels ``run_id``, ``topic``, ``pacing``) = 1.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from replay.produce.metrics import LatencyRecorder
from replay.settings import LOOPBACK

if TYPE_CHECKING:
    from replay.produce.producer import Replayer

log = logging.getLogger(__name__)

ENDPOINT_FILE = "replay-endpoint.json"
# The endpoint's last exposition, written when the replay ends: the collector's final reading
# of the replay even when its last scrape came a moment before the end.
FINAL_FILE = "replay-final.prom"
# Upper bounds in seconds (µs in the recorders), from 100 µs to a minute.
BUCKETS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
_BOUNDS_US = [round(b * 1_000_000) for b in BUCKETS_S]


class _Buckets:
    """Cumulative bucket counts of one :class:`LatencyRecorder`, read without stopping it.

    The recorder keeps recent values in a dict and folds them into its HdrHistogram now and
    then (under its lock). The histogram part is bucketed again only when it changed; the dict
    part, a few thousand distinct values at most, on every scrape.
    """

    def __init__(self, recorder: LatencyRecorder) -> None:
        self.recorder = recorder
        self._hist_total = -1
        self._hist_buckets = [0] * (len(_BOUNDS_US) + 1)
        self._hist_sum_us = 0.0

    def _histogram_part(self) -> None:
        hist = self.recorder.histogram
        total = hist.get_total_count()
        if total == self._hist_total:
            return
        counts = hist.counts
        cumulative = []
        for bound in _BOUNDS_US:
            index = min(hist.get_counts_array_index(bound), hist.counts_len - 1)
            cumulative.append(sum(counts[: index + 1]))
        per_bucket = [cumulative[0]] + [b - a for a, b in itertools.pairwise(cumulative)]
        per_bucket.append(total - (cumulative[-1] if cumulative else 0))
        self._hist_buckets = per_bucket
        self._hist_sum_us = hist.get_mean_value() * total if total else 0.0
        self._hist_total = total

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        """``([(le, cumulative count)...], sum in seconds)`` of everything recorded so far."""
        recorder = self.recorder
        with recorder.lock:
            pending = recorder.counts.copy()
            self._histogram_part()
            per_bucket = list(self._hist_buckets)
            total_us = self._hist_sum_us
        for value, count in pending.items():
            per_bucket[bisect.bisect_left(_BOUNDS_US, value)] += count
            total_us += value * count
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip([*BUCKETS_S, float("inf")], per_bucket, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out, total_us / 1_000_000


class ReplayCollector(Collector):
    """The figures above, read from a running :class:`~replay.produce.producer.Replayer`."""

    def __init__(self, replayer: Replayer) -> None:
        self.replayer = replayer
        self._buckets: dict[int, _Buckets] = {}

    def _histogram(self, name: str, doc: str, recorder: LatencyRecorder | None) -> Metric | None:
        if recorder is None:
            return None
        buckets = self._buckets.get(id(recorder))
        if buckets is None or buckets.recorder is not recorder:
            buckets = self._buckets[id(recorder)] = _Buckets(recorder)
        values, total_s = buckets.snapshot()
        family = HistogramMetricFamily(name, doc)
        family.add_metric([], values, total_s)
        return family

    def collect(self) -> Iterator[Metric]:
        """One family per figure (read at scrape time)."""
        r = self.replayer
        c = r.counters
        pacing = r.options.pacing
        info = GaugeMetricFamily(
            "replay_info", "The replay this endpoint belongs to.", labels=["run_id", "topic", "pacing"]
        )
        info.add_metric([r.options.run_id, r.topic, pacing.mode], 1)
        yield info
        for name, doc, value in (
            ("replay_records_sent", "Records handed to the producer (first sends and resends).", c.sent),
            ("replay_records_acked", "Records the broker acknowledged (sampled reports).", c.acked),
            ("replay_records_failed", "Records whose delivery failed.", c.failed),
            ("replay_records_resent", "Records sent again after an aborted transaction.", c.resent),
            ("replay_bytes_sent", "Key and value bytes handed to the producer.", c.sent_bytes),
            ("replay_transactions_committed", "Transactions committed.", c.commits),
            ("replay_transactions_aborted", "Transactions aborted.", c.aborts),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        if pacing.mode != "max":
            # The windows list only grows; summing a copy is safe against the hot loop.
            due = sum(list(r.target_windows.counts))
            yield CounterMetricFamily("replay_records_due", "Records the schedule had due.", value=due)
        # The transactional producer exists once the replay has connected (Replayer.txns
        # asserts that it has; a scrape may come before).
        txns = r._txns
        if txns is not None:
            yield GaugeMetricFamily(
                "replay_producer_queue_messages", "Records in librdkafka's queue.", value=len(txns.producer)
            )
        for family in (
            self._histogram(
                "replay_publish_latency_seconds", "Send to acknowledgement (sampled records).", r.publish
            ),
            self._histogram("replay_publish_delay_seconds", "Actual minus intended send time.", r.delay),
            self._histogram(
                "replay_commit_latency_seconds",
                "Duration of commit_transaction().",
                txns.commit_latency if txns is not None else None,
            ),
        ):
            if family is not None:
                yield family


class ReplayEndpoint:
    """``/metrics`` of one replay on a free loopback port, announced in ``metrics_dir``."""

    def __init__(self, replayer: Replayer, metrics_dir: Path, *, port: int | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ReplayCollector(replayer))
        port = configured_port() if port is None else port
        self.server, self.thread = start_http_server(port, addr=LOOPBACK, registry=self.registry)
        self.port = int(self.server.server_port)
        self.url = f"http://{LOOPBACK}:{self.port}/metrics"
        self.announcement = metrics_dir / ENDPOINT_FILE
        metrics_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.announcement.with_name(f".{ENDPOINT_FILE}.{os.getpid()}.tmp")
        payload = {"url": self.url, "pid": os.getpid(), "started_at_ms": int(time.time() * 1000)}
        tmp.write_text(json.dumps(payload) + "\n", encoding="utf-8")
        tmp.replace(self.announcement)
        log.info("replay metrics on %s", self.url)

    def close(self) -> None:
        """Write the last exposition to ``replay-final.prom``, then stop serving (the
        announcement stays: the collector notes that the endpoint went away)."""
        final = self.announcement.with_name(FINAL_FILE)
        tmp = final.with_name(f".{FINAL_FILE}.{os.getpid()}.tmp")
        tmp.write_bytes(generate_latest(self.registry))
        tmp.replace(final)
        self.server.shutdown()
        self.server.server_close()


def configured_port() -> int:
    """The port the replay's endpoint binds: ``REPLAY_METRICS_REPLAY_PORT`` (a fixed one for a
    Prometheus server to scrape), else 0 for a free one."""
    from replay.settings import MetricsSettings

    return MetricsSettings().replay_port


def read_announcement(metrics_dir: Path) -> dict[str, Any] | None:
    """The endpoint a replay announced in ``metrics_dir``, if any."""
    path = metrics_dir / ENDPOINT_FILE
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return document
