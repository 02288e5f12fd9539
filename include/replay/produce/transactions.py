"""Transactions of the replay: begin, commit with the checkpoint, abort and rewind, give up.

Every transaction holds the data records of a stretch of the dump *and* a checkpoint record
saying where that stretch ends (:mod:`replay.produce.checkpoint`); commit makes both visible to
read_committed readers, abort neither. When a transaction has to be aborted (a delivery failed,
the broker restarted), :class:`Rewind` tells the loop to continue from the last checkpoint and
send that stretch again. Only permanent errors (too large, not authorized, fenced) or a broker
that stays away longer than the broker timeout stop the replay, as a typed error. Every wait is
bounded: nothing here can hang.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NoReturn

from confluent_kafka import KafkaError, KafkaException, Producer

from replay.produce.checkpoint import Checkpoint, Totals
from replay.produce.delivery import Deliveries
from replay.produce.errors import (
    BrokerStorageError,
    BrokerUnreachableError,
    ProduceError,
    classify,
    is_permanent,
)
from replay.produce.metrics import LatencyRecorder
from replay.settings import ProduceSettings

log = logging.getLogger("replay.produce.producer")

Headers = list[tuple[str, str | bytes | None]]


class Rewind(Exception):
    """The open transaction was aborted: continue from the last checkpoint."""


@dataclass
class Txn:
    """What the open transaction holds (cleared after each commit or abort)."""

    next_index: int
    seq: int
    records: int = 0
    bytes: int = 0
    dlq: int = 0
    quarantined: int = 0
    invalid: int = 0
    blank: int = 0
    # Data records sent without a delivery report: the commit proves them delivered.
    unreported: int = 0

    def empty(self) -> bool:
        """True when nothing was added since the last commit."""
        return not (self.records or self.dlq or self.quarantined or self.invalid or self.blank)

    def totals(self) -> Totals:
        """The counts as checkpoint totals."""
        return Totals(self.records, self.dlq, self.quarantined, self.invalid, self.blank, self.bytes)

    def clear(self) -> None:
        """Start counting the next transaction (the position carries on)."""
        self.records = self.bytes = self.dlq = self.quarantined = self.invalid = self.blank = 0
        self.unreported = 0


class Transactions:
    """The transactional producer of one run, with its last committed checkpoint."""

    def __init__(
        self,
        producer: Producer,
        checkpoint: Checkpoint,
        *,
        settings: ProduceSettings,
        deliveries: Deliveries,
        bootstrap: str,
        txn_id: str,
        checkpoint_key: bytes,
    ) -> None:
        self.producer = producer
        self.ckpt = checkpoint  # the last committed one
        self.settings = settings
        self.deliveries = deliveries
        self.counters = deliveries.counters
        self.bootstrap = bootstrap
        self.txn_id = txn_id
        self.checkpoint_key = checkpoint_key
        self.open = False
        self.last_progress = time.monotonic()  # the last successful commit (or the start)
        self.commit_latency = LatencyRecorder()
        # A pessimistic guess of the next commit's duration: the slowest recent one, decaying.
        self.commit_estimate_ns = 50_000_000  # until measured: the first commit is the slowest

    # -- errors --------------------------------------------------------------------------------

    def classify(self, error: KafkaError, doing: str) -> ProduceError:
        """The typed error for a librdkafka error, knowing what this run has seen so far."""
        if self.deliveries.storage_error and not is_permanent(error):
            return BrokerStorageError(
                f"the broker could not store records while {doing} ({self.deliveries.storage_error})",
                hint="free disk space on the broker (or repair its log directory, see the broker log), "
                "then resume with the same --run-id",
            )
        typed = classify(
            error, doing=doing, bootstrap=self.bootstrap, topic=self.deliveries.topic, txn_id=self.txn_id
        )
        if isinstance(typed, BrokerUnreachableError) and self.counters.commits:
            # It answered before: it went away during the replay (a crash, a full disk, a restart
            # longer than the broker timeout).
            silent = time.monotonic() - self.last_progress
            typed.message = (
                f"Kafka at {self.bootstrap} stopped answering during the replay (no commit for "
                f"{silent:.0f} s; last error while {doing}: {error.str()})"
            )
        return typed

    def give_up_if_stalled(self, cause: KafkaError, doing: str) -> None:
        """Raise once no commit has succeeded for longer than the broker timeout."""
        if time.monotonic() - self.last_progress > self.settings.broker_timeout_s:
            raise self.classify(cause, doing)

    def fail(self, error: KafkaException, txn: Txn, doing: str) -> NoReturn:
        """A transactional call failed: abort and rewind if that can cure it, else raise.

        ``_STATE`` from ``produce()`` means the transaction already failed (a delivery error the
        reports have not told us about yet): aborting serves those reports, and :meth:`abort`
        then decides between resending and stopping.
        """
        kafka_error: KafkaError = error.args[0]
        if kafka_error.fatal():
            raise self.classify(kafka_error, doing) from error
        if kafka_error.txn_requires_abort() or kafka_error.code() == KafkaError._STATE:
            self.abort(txn, kafka_error, doing)
        raise self.classify(kafka_error, doing) from error

    def abort(self, txn: Txn, cause: KafkaError, doing: str) -> NoReturn:
        """Abort the open transaction, then raise :class:`Rewind` (or the error that stops us)."""
        log.warning(
            "aborting the transaction after %s failed (%s); %d records will be sent again",
            doing,
            cause.str(),
            txn.records,
        )
        deadline = time.monotonic() + self.settings.broker_timeout_s
        while True:
            try:
                self.producer.abort_transaction(max(deadline - time.monotonic(), 1.0))
                break
            except KafkaException as error:
                err: KafkaError = error.args[0]
                if err.fatal() or not err.retriable() or time.monotonic() > deadline:
                    raise self.classify(err, "aborting a transaction") from error
        self.open = False
        self.counters.aborts += 1
        self.counters.resent += txn.records
        if self.deliveries.permanent is not None:
            raise self.classify(self.deliveries.permanent, "delivering records")
        self.give_up_if_stalled(cause, doing)
        raise Rewind

    # -- the transaction -----------------------------------------------------------------------

    def begin(self, txn: Txn) -> None:
        """Begin the next transaction (librdkafka contacts the broker with its first record)."""
        txn.clear()
        try:
            self.producer.begin_transaction()
        except KafkaException as error:
            raise self.classify(error.args[0], "beginning a transaction") from error
        self.open = True

    def commit(self, txn: Txn, *, done: bool = False) -> None:
        """Write the checkpoint and commit; on an abortable failure abort and raise Rewind."""
        ckpt = Checkpoint(
            **{
                **self.ckpt.__dict__,
                "next_index": txn.next_index,
                "next_seq": txn.seq,
                "done": done,
                "totals": self.ckpt.totals.plus(txn.totals()),
                "updated_at": time.time(),
            }
        )
        self.produce_side(
            self.settings.checkpoint_topic, ckpt.encode(), self.checkpoint_key, None, txn, partition=0
        )
        deadline = time.monotonic() + self.settings.broker_timeout_s
        started = time.perf_counter_ns()
        while True:
            try:
                self.producer.commit_transaction(max(deadline - time.monotonic(), 1.0))
                break
            except KafkaException as error:
                err: KafkaError = error.args[0]
                if err.txn_requires_abort():
                    self.abort(txn, err, "committing a transaction")
                if err.fatal() or not err.retriable() or time.monotonic() > deadline:
                    raise self.classify(err, "committing a transaction") from error
                log.warning("commit not confirmed yet (%s); retrying", err.str())
        took = time.perf_counter_ns() - started
        self.commit_latency.record(took // 1000)
        self.commit_estimate_ns = max(took, self.commit_estimate_ns * 9 // 10)
        self.open = False
        self.ckpt = ckpt
        self.counters.commits += 1
        # A commit fails if any record of the transaction failed: the unreported ones were acked.
        self.counters.acked += txn.unreported
        self.last_progress = time.monotonic()
        txn.clear()

    def produce_side(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Headers | None,
        txn: Txn,
        *,
        partition: int = -1,
    ) -> None:
        """Produce a DLQ or checkpoint record into the open transaction (not on the hot path)."""
        while True:
            try:
                self.producer.produce(
                    topic,
                    value,
                    key,
                    partition=partition,
                    headers=headers,
                    on_delivery=self.deliveries.on_side_delivery,
                )
                return
            except BufferError:
                self.wait_for_queue()
            except KafkaException as error:
                self.fail(error, txn, f"producing to {topic}")

    def wait_for_queue(self) -> None:
        """The local queue is full: serve delivery reports, and give up if nothing moves."""
        self.producer.poll(0.05)
        if time.monotonic() - self.last_progress > self.settings.broker_timeout_s + 5:
            cause = KafkaError(KafkaError._MSG_TIMED_OUT, "the producer queue stayed full")
            self.give_up_if_stalled(cause, "waiting for the broker to take records")

    def close(self) -> None:
        """Drop what was not delivered; abort an open transaction when the broker still answers
        (otherwise the next attempt, or the broker's transaction timeout, aborts it)."""
        try:
            self.producer.purge()
            if self.open:
                self.producer.abort_transaction(5.0)
                self.open = False
            self.producer.flush(1)
            # Stops librdkafka's threads now; with nothing left to abort or flush this cannot
            # wait on a broker that is gone.
            self.producer.close()
        except KafkaException as error:
            log.debug("closing the producer: %s", error)
