"""End-to-end latency probes: read_committed consumers on the source topic and the ksql sinks.

Each record read adds ``now − record timestamp`` (µs) to its topic's histogram; one source
record in ``intended_sample_every`` also adds ``now − replay-intended-us`` (the intended send
time, so a stalled replay cannot hide latency: coordinated omission). The record timestamp of
a ksql sink is its source record's, so a sink's figure is the latency from the replay to the
sink. Only records of this run's time window count: a sink whose query (re)processes earlier
runs shows those as ``records_before_window`` and keeps them out of the histogram.

The consumers must keep up with an unthrottled replay (~75k records/s of 2.4 KB) on a
2-core machine: records come in batches, ``now`` is read once per batch, per-record work is a
few C calls (timestamps counted with :class:`collections.Counter`), and the header is parsed on
a sample only. Values go into dicts keyed by HdrHistogram bucket (as in the replay) and become
histograms when the probe reports.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from replay.metrics.series import add_bucketed, counts_percentiles, histogram_from_counts, histogram_report
from replay.produce.metrics import HIGHEST_US, bucket_floor
from replay.produce.records import HEADER_INTENDED

log = logging.getLogger(__name__)

_BATCH = 5000


@dataclass
class TopicState:
    """What a probe learnt about one topic during the run."""

    topic: str
    kind: str  # "source", "stream" or "table"
    start_offsets: dict[int, int]
    existed_at_start: bool
    first_seen_ms: int
    window_start_ms: int
    counts: dict[int, int] = field(default_factory=dict)
    intended: dict[int, int] = field(default_factory=dict)
    seconds: dict[int, dict[int, int]] = field(default_factory=dict)
    records: Counter[int] = field(default_factory=Counter)
    last_offsets: dict[int, int] = field(default_factory=dict)
    in_window: int = 0
    before_window: int = 0
    min_ts: int | None = None
    max_ts: int | None = None
    first_in_window_at_ms: int | None = None
    last_in_window_at_ms: int | None = None
    max_lag: int = 0
    history_records: int = 0  # tables: records before the run's start offsets (the baseline)
    read_from_beginning: bool = False
    # Tables: the last value per key with a timestamp before the window / inside it.
    table_before: dict[bytes | None, bytes | None] = field(default_factory=dict)
    table_last: dict[bytes | None, bytes | None] = field(default_factory=dict)

    def report(self, end_offsets: dict[int, int]) -> dict[str, Any]:
        """The figures of this topic, JSON-ready (histograms encoded for merging later)."""
        series = []
        for second in sorted(self.seconds):
            bucket = self.seconds[second]
            if not bucket:
                continue
            p50, p99 = counts_percentiles(bucket, (50.0, 99.0))
            series.append(
                {"t": second, "count": sum(bucket.values()), "p50": p50, "p99": p99, "max": max(bucket)}
            )
        partitions = {
            str(p): {
                "start": start,
                "end": end_offsets.get(p),
                "records": self.records.get(p, 0),
                "last_offset": self.last_offsets.get(p),
            }
            for p, start in sorted(self.start_offsets.items())
        }
        out: dict[str, Any] = {
            "topic": self.topic,
            "kind": self.kind,
            "existed_at_start": self.existed_at_start,
            "first_seen_ms": self.first_seen_ms,
            "window_start_ms": self.window_start_ms,
            "partitions": partitions,
            "records": sum(self.records.values()) - self.history_records,
            "history_records": self.history_records,
            "records_in_window": self.in_window,
            "records_before_window": self.before_window,
            "min_timestamp_ms": self.min_ts,
            "max_timestamp_ms": self.max_ts,
            "first_in_window_at_ms": self.first_in_window_at_ms,
            "last_in_window_at_ms": self.last_in_window_at_ms,
            "probe_max_lag": self.max_lag,
            "endToEndLatency": histogram_report(histogram_from_counts(self.counts)),
            "series": series,
        }
        if self.kind == "source":
            out["endToEndLatencyFromIntended"] = histogram_report(histogram_from_counts(self.intended))
        if self.kind == "table":
            out["table"] = {
                "before": {_text(k): _text(v) for k, v in self.table_before.items()},
                "last": {_text(k): _text(v) for k, v in self.table_last.items()},
            }
        return out


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


class Probe:
    """One read_committed consumer and the topics it reads, on a thread of its own."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        window_start_ms: int,
        intended_every: int = 16,
    ) -> None:
        self.name = name
        self.window_start_ms = window_start_ms
        self.intended_every = intended_every
        self.consumer = Consumer(
            {
                **config,
                "group.id": f"replay-probe-{name}-{time.time_ns()}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                # Bound the broker's long-poll wait: an idle probe must notice new data quickly.
                "fetch.wait.max.ms": 50,
                "max.partition.fetch.bytes": 8 << 20,
                "fetch.max.bytes": 64 << 20,
                # The end of a partition, markers included, shows as an EOF event: how
                # finish() knows the probe has read everything (a read_committed position
                # stops before a trailing transaction marker).
                "enable.partition.eof": True,
            }
        )
        self.topics: dict[str, TopicState] = {}
        self._pending: queue.SimpleQueue[TopicState] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.eof: dict[tuple[str, int], int] = {}
        self.ends: dict[str, dict[int, int]] = {}
        self._finishing = threading.Event()
        self._finish_deadline = 0.0
        self.thread = threading.Thread(target=self._run, name=f"probe-{name}", daemon=True)

    # -- topics --------------------------------------------------------------------------------

    def add(self, state: TopicState) -> None:
        """Start reading a topic from ``state.start_offsets`` (done on the probe's thread)."""
        self._pending.put(state)

    def _assign_pending(self) -> None:
        new: list[TopicPartition] = []
        while True:
            try:
                state = self._pending.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self.topics[state.topic] = state
            for partition, offset in state.start_offsets.items():
                begin = offset < 0 or state.read_from_beginning
                new.append(TopicPartition(state.topic, partition, OFFSET_BEGINNING if begin else offset))
            log.info(
                "probe %s: reading %s (%s) from %s", self.name, state.topic, state.kind, state.start_offsets
            )
        if new:
            self.consumer.incremental_assign(new)

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        consumer = self.consumer
        next_lag = 0.0
        ends: dict[str, dict[int, int]] | None = None
        while not self.stop.is_set():
            self._assign_pending()
            if self._finishing.is_set():
                # Every call on the consumer stays on this thread (the client is not shared).
                if ends is None:
                    ends = self._end_offsets()
                if self._caught_up(ends) or time.monotonic() >= self._finish_deadline:
                    break
            first = consumer.poll(0.1)
            if first is not None:
                batch = [first, *consumer.consume(_BATCH, 0)]
                self.handle(batch, time.time_ns() // 1000)
            if time.monotonic() >= next_lag:
                next_lag = time.monotonic() + 1.0
                self._track_lag()
        self.ends = ends or {}
        consumer.close()

    def handle(self, batch: list[Message], now_us: int) -> None:
        """Count one batch of records received at ``now_us`` (epoch µs)."""
        good = [m for m in batch if m.error() is None]
        if len(good) != len(batch):
            for message in batch:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    self.eof[(message.topic() or "", message.partition() or 0)] = message.offset() or 0
                elif error is not None and len(self.errors) < 100:
                    self.errors.append(f"{message.topic()}: {error.str()}")
                    log.warning("probe %s: %s", self.name, error.str())
        if not good:
            return
        if len(self.topics) == 1 or len({m.topic() for m in good}) == 1:
            self._handle_topic(self.topics[good[0].topic() or ""], good, now_us)
            return
        by_topic: dict[str, list[Message]] = {}
        for message in good:
            by_topic.setdefault(message.topic() or "", []).append(message)
        for name, messages in by_topic.items():
            self._handle_topic(self.topics[name], messages, now_us)

    def _handle_topic(self, state: TopicState, batch: list[Message], now_us: int) -> None:
        now_ms = now_us // 1000
        state.records.update([m.partition() or 0 for m in batch])
        state.last_offsets.update({m.partition() or 0: m.offset() or 0 for m in batch})
        stamps = Counter([m.timestamp()[1] for m in batch])
        start = self.window_start_ms
        counts = state.counts
        second: dict[int, int] | None = None
        in_window = 0
        for ts, n in stamps.items():
            if ts < start:
                state.before_window += n
                continue
            if second is None:
                second = state.seconds.setdefault(now_us // 1_000_000, {})
            in_window += n
            key = bucket_floor(min(max(now_us - ts * 1000, 0), HIGHEST_US))
            counts[key] = counts.get(key, 0) + n
            second[key] = second.get(key, 0) + n
        if in_window:
            state.in_window += in_window
            state.last_in_window_at_ms = now_ms
            if state.first_in_window_at_ms is None:
                state.first_in_window_at_ms = now_ms
        low, high = min(stamps), max(stamps)
        state.min_ts = low if state.min_ts is None else min(state.min_ts, low)
        state.max_ts = high if state.max_ts is None else max(state.max_ts, high)
        if state.kind == "source":
            self._intended(state, batch, now_us)
        elif state.kind == "table":
            # A table is read from its beginning (its values before the run are the baseline
            # of this run's change); only offsets from the run's start count as its records.
            starts = state.start_offsets
            history = 0
            for message in batch:
                if (message.offset() or 0) < starts.get(message.partition() or 0, 0):
                    history += 1
                target = state.table_last if message.timestamp()[1] >= start else state.table_before
                target[message.key()] = message.value()
            if history:
                state.history_records += history

    def _intended(self, state: TopicState, batch: list[Message], now_us: int) -> None:
        intended = state.intended
        for message in batch[:: self.intended_every]:
            headers = message.headers()
            # A consumed record's headers are a list of (name, bytes) pairs.
            if not isinstance(headers, list):
                continue
            for name, value in headers:
                if name == HEADER_INTENDED and value:
                    add_bucketed(intended, now_us - int(value))
                    break

    def _track_lag(self) -> None:
        """The probe's own lag (records it has yet to read), so a reader sees when it fell behind."""
        with self._lock:
            states = list(self.topics.values())
        for state in states:
            for partition in state.start_offsets:
                try:
                    _, high = self.consumer.get_watermark_offsets(
                        TopicPartition(state.topic, partition), timeout=1.0, cached=True
                    )
                except KafkaException as error:  # the lag is advisory: skip a failed look-up
                    log.debug("probe %s: watermarks of %s: %s", self.name, state.topic, error)
                    continue
                last = state.last_offsets.get(partition)
                position = last + 1 if last is not None else state.start_offsets[partition]
                state.max_lag = max(state.max_lag, high - position)

    # -- the end -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading on the probe's thread."""
        self.thread.start()

    def finish(self, timeout_s: float) -> dict[str, dict[str, int]]:
        """Read every topic up to its current end (at most ``timeout_s``), stop, and return the
        end offsets per topic and partition."""
        self._finish_deadline = time.monotonic() + timeout_s
        self._finishing.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s + 15)
        else:  # never started, or ended early: its consumer was closed, or never used
            self.ends = {}
        if self.thread.is_alive():
            self.stop.set()
            self.thread.join(5)
            self.errors.append(f"probe {self.name} did not stop in time; its figures may be incomplete")
        if self.ends and not self._caught_up(self.ends):
            self.errors.append(f"probe {self.name} did not read to the end within {timeout_s:.0f} s")
        return {topic: {str(p): o for p, o in parts.items()} for topic, parts in self.ends.items()}

    def _end_offsets(self) -> dict[str, dict[int, int]]:
        ends: dict[str, dict[int, int]] = {}
        with self._lock:
            states = list(self.topics.values())
        for state in states:
            for partition in state.start_offsets:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(state.topic, partition), timeout=10
                )
                ends.setdefault(state.topic, {})[partition] = high
        return ends

    def _caught_up(self, ends: dict[str, dict[int, int]]) -> bool:
        eof = dict(self.eof)
        return all(
            eof.get((topic, p), -1) >= end or end <= max(self.topics[topic].start_offsets.get(p, 0), 0)
            for topic, parts in ends.items()
            for p, end in parts.items()
        )

    def reports(self, ends: dict[str, dict[str, int]]) -> dict[str, Any]:
        """Every topic's report (after :meth:`finish`)."""
        with self._lock:
            states = list(self.topics.values())
        return {s.topic: s.report({int(p): o for p, o in ends.get(s.topic, {}).items()}) for s in states}
