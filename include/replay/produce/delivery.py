"""Delivery reports and client errors of the replay's producer.

librdkafka hands these to callbacks that run on the replay's own thread, inside ``poll()``,
``flush()`` and the transactional calls. The data-record callback is on the hot path: it counts,
and files the publish latency (send -> ack) in the dict of a :class:`LatencyRecorder`.

Only one data record in ``delivery_report_every`` carries the callback (each report costs a few
µs of the replay's single thread): librdkafka reports a record only to the callback attached to
it. The others are proven delivered by the commit of their transaction (a record that failed
makes ``commit_transaction()`` fail, and the transaction is aborted); the replay then resends the
aborted stretch with a report for every record, so a failure that persists is reported, counted
and classified like any other (:mod:`replay.produce.producer`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message

from replay.produce.errors import is_permanent
from replay.produce.metrics import LatencyRecorder, Windows

log = logging.getLogger("replay.produce.producer")

_NS = 1_000_000_000


class _RepeatFilter(logging.Filter):
    """librdkafka logs every failed reconnect while a broker is down: keep one line per kind
    (facility) per 10 s."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[object, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) < 10.0:
            return False
        self._last[kind] = now
        return True


# The `logger` of every client the replay makes: librdkafka's own log lines, de-duplicated.
rdkafka_log = logging.getLogger("replay.produce.rdkafka")
rdkafka_log.addFilter(_RepeatFilter())


@dataclass
class Failure:
    """Delivery failures of one kind."""

    code: int
    name: str
    reason: str
    count: int = 0
    first_record: str | None = None
    first_size: int | None = None


@dataclass
class AttemptCounters:
    """Raw counters of this invocation (including records sent again after an abort)."""

    sent: int = 0
    sent_bytes: int = 0
    acked: int = 0
    failed: int = 0
    resent: int = 0
    commits: int = 0
    aborts: int = 0
    first_send_ns: int | None = None
    last_send_ns: int | None = None
    failures: dict[int, Failure] = field(default_factory=dict)


class Deliveries:
    """The callbacks, and what they learnt: counts, failures, a permanent or storage error."""

    def __init__(
        self,
        topic: str,
        checkpoint_topic: str,
        publish: LatencyRecorder,
        acked: Windows,
        *,
        report_every: int = 1,
    ) -> None:
        self.topic = topic
        self.report_every = report_every
        self.checkpoint_topic = checkpoint_topic
        self.publish = publish
        self.acked_windows = acked
        self.counters = AttemptCounters()
        self.permanent: KafkaError | None = None  # an error no retry can cure
        self.storage_error: str | None = None  # the broker said it cannot write
        self._logged: dict[int, float] = {}

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """The delivery report of a data record that reports alone (after an abort)."""
        self._on_data(err, msg, 1)

    def on_sampled_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """The delivery report of a sampled data record: it stands for ``report_every`` records
        in the per-second ``acked`` windows (its latency is one value, like any other)."""
        self._on_data(err, msg, self.report_every)

    def _on_data(self, err: KafkaError | None, msg: Message, weight: int) -> None:
        if err is None:
            self.counters.acked += 1
            value = int((msg.latency() or 0.0) * 1_000_000)
            shift = value.bit_length() - 11  # HdrHistogram's bucket (metrics.bucket_floor), inlined
            if shift > 0:
                value = (value >> shift) << shift
            counts = self.publish.counts
            counts[value] = counts.get(value, 0) + 1
            acked = self.acked_windows
            window = (time.perf_counter_ns() - acked.t0_ns) // _NS
            if 0 <= window < len(acked.counts):
                acked.counts[window] += weight
            else:
                acked.add(acked.t0_ns + window * _NS, weight)
            return
        self._on_failure(err, msg)

    def on_side_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """Delivery report of DLQ and checkpoint records."""
        if err is not None:
            self._on_failure(err, msg)

    def _on_failure(self, err: KafkaError, msg: Message) -> None:
        c = self.counters
        c.failed += 1
        failure = c.failures.get(err.code())
        if failure is None:
            # Delivery reports carry no headers; the key (the event id) names a data record.
            topic = msg.topic()
            key = msg.key()
            if topic == self.topic and key:
                what = f"event id {key.decode(errors='replace')}"
            else:
                what = "checkpoint record" if topic == self.checkpoint_topic else f"record for {topic}"
            failure = Failure(
                err.code(), err.name(), err.str(), first_record=what, first_size=len(msg.value() or b"")
            )
            c.failures[err.code()] = failure
            if err.code() != KafkaError._PURGE_QUEUE:  # purged by our own abort: expected
                log.warning(
                    "delivery to %s failed: %s (%s); first: %s, %d bytes",
                    topic,
                    err.str(),
                    err.name(),
                    what,
                    failure.first_size,
                )
        failure.count += 1
        if err.code() == KafkaError.KAFKA_STORAGE_ERROR:
            self.storage_error = err.str()
        if is_permanent(err) and self.permanent is None:
            self.permanent = err

    def on_client_error(self, err: KafkaError) -> None:
        """Client-level errors (broker down, authentication); fatal ones stop the replay."""
        text = f"{err.name()}: {err.str()}"
        if err.code() == KafkaError.KAFKA_STORAGE_ERROR or "KAFKA_STORAGE_ERROR" in text:
            self.storage_error = text
        if err.fatal() and self.permanent is None:
            self.permanent = err
        # A broker that is down makes librdkafka report every reconnect: one line per kind per 10 s.
        now = time.monotonic()
        if err.fatal() or now - self._logged.get(err.code(), -1e9) >= 10.0:
            self._logged[err.code()] = now
            log.log(logging.ERROR if err.fatal() else logging.WARNING, "kafka client: %s", text)
