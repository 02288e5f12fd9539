"""The replay loop: read the dump, pace, produce; commit on a clock; rewind after an abort.

Exactly once, in short: one transactional producer per (run id, topic); ``init_transactions()``
fences a previous process of the same run (a SIGKILLed one, or a zombie) and resolves its open
transaction; every transaction holds a stretch of the dump and the checkpoint saying where it
ends (:mod:`replay.produce.transactions`, :mod:`replay.produce.checkpoint`); a restart continues
at the checkpoint's ``next_index`` with its ``next_seq``.

The hot loop keeps per-record work small: the key from a byte scan (validated dumps) or one
``orjson.loads``, a few integer operations, one ``produce()``; polls, clock-driven commits and
progress updates are batched.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from replay.dump.reader import SourceRecord, read_dump_rows
from replay.errors import InputError
from replay.limits import record_overhead
from replay.produce import setup
from replay.produce.checkpoint import Checkpoint, checkpoint_key, transactional_id
from replay.produce.delivery import AttemptCounters, Deliveries
from replay.produce.errors import MessageTooLargeError, ProduceError, ProduceInterrupted, classify
from replay.produce.metrics import LatencyRecorder, RdkafkaStats, Windows
from replay.produce.options import ProduceOptions
from replay.produce.records import (
    HEADER_INTENDED,
    HEADER_REASON,
    HEADER_RUN_ID,
    HEADER_SEQ,
    HEADER_SOURCE,
    HEADER_TRUNCATED,
    invalid_reason,
    scan_key,
    source_position,
    study_value,
)
from replay.produce.topics import TopicState
from replay.produce.transactions import Rewind, Transactions, Txn
from replay.progress import ProgressReporter

log = logging.getLogger(__name__)

_NS = 1_000_000_000
# Between two producer.poll(0) calls while sending (delivery reports wait for a poll, and
# publishLatency is measured when a report is served, so this bounds the measuring error).
_POLL_INTERVAL_NS = 1_000_000
_CHORES_INTERVAL_NS = 100_000_000  # progress and stop-request checks
_MAX_REASON_BYTES = 4096
# A commit goes into a gap before the next record only with this much room to spare.
_COMMIT_MARGIN_NS = 2_000_000
# A due commit waits while the broker is behind (more records wait for acks than it acks in
# _BACKLOG_WINDOW_NS at the current pace, and at least _BACKLOG_FLOOR): committing then would
# stall the send loop until the backlog is acked. It waits at most _COMMIT_DEFER_NS (or one
# commit interval, if longer) past its due time.
_BACKLOG_WINDOW_NS = 50_000_000
_BACKLOG_FLOOR = 1_000
_COMMIT_DEFER_NS = 2_000_000_000


class _Stop(Exception):
    """A stop was requested (signal)."""


class Replayer:
    """One run of :func:`replay.produce.produce`; use :meth:`run` once, then :meth:`close`."""

    def __init__(self, options: ProduceOptions, *, stop: threading.Event | None = None) -> None:
        self.options = options
        self.settings = options.settings
        self.stop = stop or threading.Event()
        self.topic = options.topic
        self.txn_id = transactional_id(options.run_id, options.topic)
        self.ckpt_key = checkpoint_key(options.run_id, options.topic)
        self.start_ns = time.perf_counter_ns()
        self.start_wall_us = time.time_ns() // 1000
        self.end_ns: int | None = None
        self.publish = LatencyRecorder()
        self.delay = LatencyRecorder() if options.pacing.mode != "max" else None
        self.stats = RdkafkaStats(options.topic)
        self.sent_windows = Windows(self.start_ns)
        self.acked_windows = Windows(self.start_ns)
        self.target_windows = Windows(self.start_ns)
        self.deliveries = Deliveries(
            options.topic,
            self.settings.checkpoint_topic,
            self.publish,
            self.acked_windows,
            report_every=self.settings.delivery_report_every,
        )
        self.counters: AttemptCounters = self.deliveries.counters
        self.topics: dict[str, TopicState] = {}
        self.initial: Checkpoint | None = None  # the checkpoint this attempt started from
        self.already_done = False
        self.schedule = options.pacing.schedule(self.start_ns)
        self._schedule_state = self.schedule.snapshot()
        self.admin: AdminClient | None = None
        self._txns: Transactions | None = None
        self._closed = False
        self.progress: ProgressReporter | None = None
        self._commit_interval_ns = self.settings.commit_interval_ms * 1_000_000
        # A paced replay may put a due commit off by this much, waiting for a gap it fits into.
        self._commit_grace_ns = min(self._commit_interval_ns // 2, 250_000_000)
        self._commit_due = 0
        self._commit_forced = 0
        self._commit_defer_ns = max(_COMMIT_DEFER_NS, self._commit_interval_ns)
        self._commit_backstop = 0
        self._txn_begun_ns = 0
        self._open_txn: Txn | None = None
        self._invalid_logged = 0
        self._max_record_bytes = setup.BROKER_DEFAULT_MAX_MESSAGE_BYTES
        self._max_dlq_bytes = setup.BROKER_DEFAULT_MAX_MESSAGE_BYTES
        self._overhead = record_overhead(options.run_id)
        # Records before this index report their delivery each (set when a transaction is
        # aborted: its stretch is resent with full reports, so a persistent failure is named).
        self._report_all_until = 0

    @property
    def txns(self) -> Transactions:
        """The transactional producer (there once the replay has connected)."""
        assert self._txns is not None, "not connected"
        return self._txns

    @property
    def ckpt(self) -> Checkpoint | None:
        """The last committed checkpoint (or the one the attempt started from)."""
        return self._txns.ckpt if self._txns is not None else self.initial

    @property
    def commit_latency(self) -> LatencyRecorder:
        """Durations of commit_transaction()."""
        return self._txns.commit_latency if self._txns is not None else LatencyRecorder()

    # -- set-up --------------------------------------------------------------------------------

    def _set_up(self) -> None:
        o = self.options
        self.admin = setup.connect(o, self.deliveries.on_client_error)
        self.topics = setup.prepare_topics(o, self.admin)
        self._max_record_bytes = setup.max_message_bytes(self.topics[o.topic])
        if o.dlq:
            self._max_dlq_bytes = setup.max_message_bytes(self.topics[o.dlq_topic])
        config = setup.producer_config(
            o,
            txn_id=self.txn_id,
            max_batch_bytes=min(self._max_record_bytes, self._max_dlq_bytes),
            deliveries=self.deliveries,
            stats_cb=self.stats.on_stats,
        )
        producer = Producer(config)
        try:
            producer.init_transactions(self.settings.broker_timeout_s)
        except KafkaException as error:
            raise classify(
                error.args[0],
                doing="initialising transactions",
                bootstrap=o.kafka.bootstrap_servers,
                topic=o.topic,
                txn_id=self.txn_id,
            ) from error
        self.initial = setup.starting_checkpoint(o, self.admin, self.topics[o.topic], self.ckpt_key)
        self._txns = Transactions(
            producer,
            self.initial,
            settings=self.settings,
            deliveries=self.deliveries,
            bootstrap=o.kafka.bootstrap_servers,
            txn_id=self.txn_id,
            checkpoint_key=self.ckpt_key,
        )

    # -- the loop ------------------------------------------------------------------------------

    def _commit(self, txn: Txn, *, done: bool = False) -> None:
        """Commit (see :meth:`Transactions.commit`) and remember where the schedule stood."""
        self.txns.commit(txn, done=done)
        self._schedule_state = self.schedule.snapshot()
        # Fold the counted latencies into the histograms only when there are many distinct
        # values (draining takes ~1 µs per value and would stretch the commit's stall).
        for recorder in (self.publish, self.delay):
            if recorder is not None and len(recorder.counts) > 20_000:
                recorder.drain()

    def _too_large(self, record: SourceRecord, key: bytes, size: int, txn: Txn) -> NoReturn:
        """A record the topic cannot take: commit everything before it, then stop."""
        self._commit(txn)
        raise MessageTooLargeError(
            f"the record at line {record.line} (index {record.index}, event id "
            f"{key.decode(errors='replace')}) is {size:,} bytes with headers; topic {self.topic!r} accepts "
            f"at most {self._max_record_bytes:,} (max.message.bytes); everything before it was delivered",
            hint="raise max.message.bytes on the topic, or quarantine the record so it is not replayed, then "
            "resume with the same --run-id",
        )

    def _skip(self, record: SourceRecord, reasons: list[str], txn: Txn, *, invalid: bool) -> None:
        """A quarantined or unkeyable record: count it, and send it to the DLQ when asked."""
        if invalid:
            txn.invalid += 1
            self._invalid_logged += 1
            if self._invalid_logged <= 10:
                log.warning(
                    "record at line %d is not replayable (%s); it is %s",
                    record.line,
                    "; ".join(reasons),
                    "sent to the DLQ" if self.options.dlq else "skipped and counted as invalid",
                )
        else:
            txn.quarantined += 1
        if self.options.dlq:
            reason = "; ".join(reasons).encode()[:_MAX_REASON_BYTES]
            headers: list[tuple[str, str | bytes | None]] = [
                (HEADER_RUN_ID, self.options.run_id.encode()),
                (HEADER_SOURCE, source_position(record.index, record.line, record.offset)),
                (HEADER_REASON, reason),
            ]
            value = record.raw
            # A record can be quarantined for being too large: the DLQ cannot take it whole either.
            # Keep its head and say how long it was, rather than fail the replay over it.
            # Headers and framing (replay.limits): a record that does not fit fails the whole
            # replay; a few hundred bytes less of a truncated record's head cost nothing.
            room = self._max_dlq_bytes - self._overhead - len(reason)
            if len(value) > room:
                headers.append((HEADER_TRUNCATED, b"%d" % len(value)))
                value = value[: max(room, 0)]
            self.txns.produce_side(self.options.dlq_topic, value, None, headers, txn)
            txn.dlq += 1

    def _wait(self, due: int, txn: Txn) -> int:
        """Sleep until ``due`` (monotonic ns), serving callbacks and due commits; returns now."""
        poll = self.txns.producer.poll
        clock = time.perf_counter_ns
        while True:
            now = clock()
            remaining = due - now
            if remaining <= 0:
                return now
            if now >= self._commit_due:
                if txn.empty():
                    self._schedule_next_commit(now)
                    continue
                # Commit in a gap the commit fits into, so that no record waits for it; if the
                # gaps stay short, commit anyway once the grace period is over.
                if remaining > 2 * self.txns.commit_estimate_ns + _COMMIT_MARGIN_NS or (
                    now >= self._commit_forced and self._backlog_clear(now, txn)
                ):
                    self._commit(txn)
                    self._begin(txn)
                    self._schedule_next_commit(clock())
                    continue
            if self.stop.is_set():
                raise _Stop
            if remaining > 2_000_000:
                step = remaining - 1_000_000
                if self._commit_due > now:
                    step = min(step, self._commit_due - now)
                poll(min(step, 200_000_000) / _NS)
            else:
                # poll() waits in whole milliseconds; serve what is there, then sleep precisely.
                poll(0)
                time.sleep(max(due - clock(), 0) / _NS)

    def _stream(self) -> None:
        """Send records from the last checkpoint to the end; raises _Rewind after an abort."""
        o = self.options
        txns = self.txns
        producer = txns.producer
        produce = producer.produce
        poll = producer.poll
        clock = time.perf_counter_ns
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        topic = self.topic
        quarantine = o.quarantine
        end = txns.ckpt.end_index if txns.ckpt.end_index is not None else sys.maxsize
        study = o.value_format == "study"
        # A validated dump lets the key come from a byte scan instead of a parse (records.scan_key);
        # the timestamp of --speedup and the study format still need the parsed event.
        scan = o.validated and not study and o.pacing.mode != "speedup"
        no_event: dict[str, Any] = {}
        schedule = self.schedule
        paced = schedule.paced
        next_due = schedule.next_ns
        delay_counts = self.delay.counts if self.delay is not None else {}
        run_header: tuple[str, str | bytes | None] = (HEADER_RUN_ID, o.run_id.encode())
        wall_offset_us = self.start_wall_us - self.start_ns // 1000
        sent_windows = self.sent_windows
        sent_counts = sent_windows.counts
        target_windows = self.target_windows
        target_counts = target_windows.counts
        t0 = self.start_ns
        counters = self.counters
        progress_update = self._progress_update
        txn = self._open_txn = Txn(txns.ckpt.next_index, txns.ckpt.next_seq)
        self._begin(txn)
        self._plan_commit(clock() + self._commit_interval_ns)
        next_poll = next_chores = 0
        fresh = counters.first_send_ns is None
        now = 0
        # Key + value must leave room for the headers and the batch framing.
        max_record_bytes = self._max_record_bytes - self._overhead
        # The records whose sequence number is a multiple of `every` carry a delivery report
        # (replay.produce.delivery); after an abort every resent record reports.
        every = self.settings.delivery_report_every
        report_all_until = self._report_all_until
        on_delivery = self.deliveries.on_delivery
        on_sampled = self.deliveries.on_sampled_delivery
        for index, line, offset, raw in read_dump_rows(o.path, skip=txns.ckpt.next_index):
            if index >= end:
                break
            reasons = quarantine.get(index)
            key: Any = None
            event: Any = no_event
            if reasons is None:
                if scan:
                    key = scan_key(raw)
                if key is None:
                    try:
                        event = loads(raw)
                    except decode_error:
                        event = None
                    if type(event) is dict:
                        key = event.get("id")
                        if type(key) is str and key:
                            key = key.encode()
                        elif type(key) is int:
                            key = str(key).encode()
                        else:
                            key = None
            if key is None:
                if reasons is None and not raw.strip():
                    txn.blank += 1
                else:
                    record = SourceRecord(index, line, offset, raw)
                    self._skip(record, list(reasons or [invalid_reason(raw)]), txn, invalid=reasons is None)
                txn.next_index = index + 1
                continue
            value = study_value(raw) if study else raw
            if fresh:
                # The schedule starts with the first record sent, not when the replay was set up.
                t0 = counters.first_send_ns = clock()
                self._rebase(t0)
                fresh = False
            now = clock()
            if paced:
                due = next_due(event)
                if now < due:
                    now = self._wait(due, txn)
                window = (due - t0) // _NS
                if window < len(target_counts):
                    target_counts[window] += 1
                else:
                    target_windows.add(due)
                delay = (now - due) // 1000
                shift = delay.bit_length() - 11
                if shift > 0:
                    delay = (delay >> shift) << shift
                delay_counts[delay] = delay_counts.get(delay, 0) + 1
                intended = due
            else:
                intended = now
            seq = txn.seq
            headers: list[tuple[str, str | bytes | None]] = [
                run_header,
                (HEADER_SEQ, b"%d" % seq),
                (HEADER_SOURCE, b"%d:%d:%d" % (index, line, offset)),
                (HEADER_INTENDED, b"%d" % (intended // 1000 + wall_offset_us)),
            ]
            size = len(value) + len(key)
            if size > max_record_bytes:
                self._too_large(SourceRecord(index, line, offset, raw), key, size + self._overhead, txn)
            if index < report_all_until:
                callback = on_delivery
            elif seq % every:
                callback = None
            else:
                callback = on_sampled
            while True:
                try:
                    produce(topic, value, key, headers=headers, on_delivery=callback)
                    break
                except BufferError:
                    txns.wait_for_queue()
                except KafkaException as error:
                    if error.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                        self._too_large(
                            SourceRecord(index, line, offset, raw), key, size + self._overhead, txn
                        )
                    txns.fail(error, txn, f"producing record {index} (line {line})")
            txn.records += 1
            if callback is None:
                txn.unreported += 1
            txn.bytes += size
            txn.seq = seq + 1
            txn.next_index = index + 1
            counters.sent += 1
            counters.sent_bytes += size
            window = (now - t0) // _NS
            if window < len(sent_counts):
                sent_counts[window] += 1
            else:
                sent_windows.add(now)
            if now >= next_poll:
                counters.last_send_ns = now
                # Serve delivery reports often: publishLatency is taken when a report is served.
                poll(0)
                next_poll = now + _POLL_INTERVAL_NS
                if (now >= self._commit_due and not paced) or (
                    now >= self._commit_forced and self._backlog_clear(now, txn)
                ):
                    self._commit(txn)
                    self._begin(txn)
                    self._schedule_next_commit(clock())
                if now >= next_chores:
                    next_chores = now + _CHORES_INTERVAL_NS
                    progress_update(txn)
                    if self.stop.is_set():
                        raise _Stop
        if now:
            counters.last_send_ns = now
        self._commit(txn, done=True)
        progress_update(txn)

    def _schedule_next_commit(self, now: int) -> None:
        """Commits keep to a fixed grid (see :meth:`_rebase`); a late one does not shift it."""
        due = self._commit_due + self._commit_interval_ns
        self._plan_commit(due if due > now else now + self._commit_interval_ns)

    def _plan_commit(self, due: int) -> None:
        """The next commit: due at ``due``, waiting for a gap until ``_commit_forced``, for the
        broker's backlog until ``_commit_backstop`` (see :meth:`_backlog_clear`)."""
        self._commit_due = due
        self._commit_forced = due + self._commit_grace_ns
        self._commit_backstop = due + self._commit_defer_ns

    def _begin(self, txn: Txn) -> None:
        self.txns.begin(txn)
        self._txn_begun_ns = time.perf_counter_ns()

    def _backlog_clear(self, now: int, txn: Txn) -> bool:
        """True when a commit now would not wait for a backlog (or it cannot wait any longer).

        A commit waits until every record of the transaction is acked, and the send loop waits
        for the commit. When the broker pauses (it flushes a rolled 1 GB segment, say), records
        pile up in the local queue; committing then would hold the loop for the whole pause and
        every record due meanwhile would go out late. Deferring the commit lets the loop keep
        sending on schedule into the queue, and the commit follows once the broker has caught up.
        """
        if now >= self._commit_backstop:
            return True
        return backlog_clear(len(self.txns.producer), txn.records, now - self._txn_begun_ns)

    def _rebase(self, start_ns: int) -> None:
        """Start the schedule, the per-second windows and the commit grid at ``start_ns``.

        A commit stalls sending for a few milliseconds (it waits for the last acks); the records
        due meanwhile go out late (their delay is recorded) and the loop catches up. Commits sit
        half an interval off the window grid so the catch-up lands in the same 1-s window as the
        stall instead of shifting records across a window boundary.
        """
        self._plan_commit(start_ns + self._commit_interval_ns // 2)
        self.start_ns = self.schedule.start_ns = start_ns
        self.start_wall_us = time.time_ns() // 1000 - (time.perf_counter_ns() - start_ns) // 1000
        for windows in (self.sent_windows, self.acked_windows, self.target_windows):
            windows.t0_ns = start_ns

    def _make_progress(self) -> ProgressReporter | None:
        if self.options.progress == "none" or self.initial is None:
            return None
        start = self.initial.next_index
        end = self.initial.end_index
        if end is None:
            lines = count_lines(self.options.path)
            end = None if lines is None else max(lines, start)
        return ProgressReporter(
            f"produce {self.topic}",
            total=None if end is None else end - start,
            unit="events",
            target_rate=self.options.pacing.target_rate,
            interval_s=self.settings.progress_interval_s,
            tty={"auto": None, "bar": True, "log": False}[self.options.progress],
        )

    def _progress_update(self, txn: Txn) -> None:
        if self.progress is None or self.initial is None:
            return
        self.progress.update(txn.next_index - self.initial.next_index, nbytes=self.counters.sent_bytes)

    # -- driver --------------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, resume or start, replay to the end; raises a :class:`ProduceError` on failure."""
        if not self.options.path.is_file():
            raise InputError(
                f"dump not found: {self.options.path}",
                hint="check the path, or create one with `replay dump generate`",
            )
        self._set_up()
        assert self.initial is not None
        if self.initial.done:
            self.already_done = True
            log.info("run %s on %s is already complete; nothing to send", self.options.run_id, self.topic)
            return
        self._rebase(time.perf_counter_ns())
        self.txns.last_progress = time.monotonic()
        self.progress = self._make_progress()
        # A full garbage collection of everything imported so far takes tens of milliseconds:
        # park those objects so that a collection during the replay does not stall the pacing.
        gc.freeze()
        try:
            while True:
                try:
                    self._stream()
                    break
                except Rewind:
                    # The aborted stretch goes out again with its original intended times, and
                    # with a delivery report for every record (a failure that persists is named).
                    self.schedule.restore(self._schedule_state)
                    if self._open_txn is not None:
                        self._report_all_until = max(self._report_all_until, self._open_txn.next_index)
                except _Stop:
                    self._stop_cleanly()
                    raise ProduceInterrupted(
                        "the replay was stopped by a signal after committing what it had sent",
                        hint=f"resume with the same --run-id {self.options.run_id} to continue where it stopped",
                    ) from None
        finally:
            gc.unfreeze()
        self.txns.producer.flush(10)
        self.end_ns = time.perf_counter_ns()

    def _stop_cleanly(self) -> None:
        """On a stop request: commit what is open (so the checkpoint is current)."""
        self.end_ns = time.perf_counter_ns()
        # The open transaction holds whole records only; commit it like any other.
        if self._open_txn is not None and not self._open_txn.empty():
            try:
                self._commit(self._open_txn)
            except (Rewind, ProduceError) as error:
                log.warning("could not commit the last transaction while stopping: %s", error)

    def close(self) -> None:
        """Release the clients (see :meth:`Transactions.close`); the figures stay readable."""
        self.admin = None
        if self._txns is not None and not self._closed:
            self._closed = True
            self._txns.close()


def backlog_clear(outstanding: int, records: int, txn_age_ns: int) -> bool:
    """Whether the broker keeps up: no more records wait for acks than it acks in
    _BACKLOG_WINDOW_NS at the pace of the open transaction (``records`` sent in ``txn_age_ns``),
    and at most _BACKLOG_FLOOR for a slow pace."""
    pace = records * _NS // max(txn_age_ns, 1)
    return outstanding <= max(_BACKLOG_FLOOR, pace * _BACKLOG_WINDOW_NS // _NS)


def count_lines(path: Path) -> int | None:
    """Records in a plain JSON Lines file (fast newline count); None for gzip or JSON arrays."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
        if head[:2] == b"\x1f\x8b" or head.lstrip()[:1] == b"[":
            return None
        lines = head.count(b"\n")
        last = head[-1:]
        while chunk := handle.read(1 << 24):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (1 if last not in (b"", b"\n") else 0)
