"""Stateful processors (tier 2): GROUP BY aggregations into tables.

Per input record the processor computes the group key, folds the record into the group's
aggregate state and emits the group's new row (a table update; a tombstone when HAVING stops
holding). Over a JSON stream the group key and the aggregates' arguments usually come from the
typed scan (``aggregate_scan.py``) rather than from the full row; the full path decides every
record the scan declines. State lives in the query's state stores (``ProcessorContext.store``),
so the Kafka driver can back it with changelog topics:

* ``aggregate``: group key bytes → JSON ``[state per aggregate…, visible, timestamp]``;
* ``materialized``: sink key bytes → sink value bytes (the table as written; pull queries read
  it);
* ``source`` (table sources only): source key bytes → last value bytes, to subtract a row's old
  contribution when it changes (ksqlDB's table aggregation "undo").
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ksqldb_lite.execution import aggregate_scan
from ksqldb_lite.execution.aggregate_scan import NOT_SCANNED, SKIPPED
from ksqldb_lite.execution.driver import (
    ConsumedRecord,
    KeyValueStore,
    ProcessorContext,
    ProcessorFactory,
    ProducedRecord,
    RawProcess,
)
from ksqldb_lite.execution.streams import SinkSpec, deserialization_error, processing_log_entry, report_to
from ksqldb_lite.planning.aggregation import AggregatePlan
from ksqldb_lite.planning.expressions import EVALUATION_ERRORS, Compiler, Fn
from ksqldb_lite.schema.logical import Format
from ksqldb_lite.serde import formats as serde

Row = list[Any]
AGGREGATE_STORE = "aggregate"
# ksqlDB's default grace period of a window: late records are accepted for 24 hours
DEFAULT_GRACE_MS = 24 * 3600 * 1000
_WINDOW_START = struct.Struct(">q")
MATERIALIZED_STORE = "materialized"
SOURCE_STORE = "source"


class _CompiledAggregate:
    def __init__(self, plan: AggregatePlan, sink: SinkSpec | None) -> None:
        source = plan.source
        self.plan = plan
        self.table_source = source.is_table
        self.key_deserializer = serde.key_deserializer(source.key_format, source.schema.key)
        self.value_deserializer = serde.value_deserializer(source.value_format, source.schema.value)
        self.errors = plan.errors
        compiler = Compiler(plan.scope, plan.errors)
        self.where: Fn | None = compiler.compile(plan.where) if plan.where is not None else None
        self.group_fns = [compiler.compile(e) for e in plan.group_by]
        self.scan = aggregate_scan.build(plan)
        count_star: Fn = lambda row: 1  # noqa: E731
        self.argument_fns = [
            compiler.compile(a.argument) if a.argument is not None else count_star for a in plan.aggregates
        ]
        aggregate_compiler = Compiler(plan.aggregate_scope, plan.errors)
        self.value_fns = [aggregate_compiler.compile(c.expr) for c in plan.value_columns]
        self.projection_fns = [aggregate_compiler.compile(c.expr) for c in plan.projection]
        self.having: Fn | None = aggregate_compiler.compile(plan.having) if plan.having is not None else None
        window = plan.window
        self.window_size = window.size_ms if window is not None else 0
        self.window_advance = (window.advance_ms or window.size_ms) if window is not None else 0
        grace = window.grace_ms if window is not None else None
        self.grace = DEFAULT_GRACE_MS if grace is None else grace
        if sink is None:  # push query: the group key only identifies the state
            self.key_serializer = serde.key_serializer(Format("JSON"), plan.schema().key)
        else:
            self.key_serializer = serde.key_serializer(sink.key_format, sink.key_columns)
        self.value_serializer: serde.ValueSerializer | None = None
        if sink is not None:
            self.value_serializer = serde.nonfinite_safe(
                serde.value_serializer(sink.value_format, sink.value_columns), sink.value_columns
            )


class AggregateProcessor:
    """Folds records into per-group aggregates and emits table updates."""

    def __init__(
        self,
        compiled: _CompiledAggregate,
        context: ProcessorContext,
        emit_row: Callable[[Row], None] | None = None,
    ) -> None:
        self.c = compiled
        self.context = context
        self.emit_row = emit_row
        # group key → (its bytes in the aggregate store, the state they hold, decoded): a cache
        # that is valid while the store still holds those very bytes (a restored store does not)
        self.states: dict[bytes, tuple[bytes, list[Any]]] = {}
        self.stream_time = -(2**63)
        self.aggregate_store: KeyValueStore = context.store(AGGREGATE_STORE)
        self.materialized: KeyValueStore = context.store(MATERIALIZED_STORE)
        self.source_rows: KeyValueStore | None = (
            context.store(SOURCE_STORE) if compiled.table_source else None
        )
        report_to(compiled.errors, context)
        # the value :meth:`process_raw` read last without deciding, and what the scan said
        self._read_value: bytes | None = None
        self._read_result: Any = None
        # offered to drivers only when there is a scan (else asking would be wasted work)
        self.process_raw: RawProcess | None = self._process_raw if compiled.scan is not None else None

    def _process_raw(
        self, key: bytes | None, value: bytes | None, timestamp: int, partition: int, offset: int
    ) -> Sequence[ProducedRecord] | None:
        """``process_raw``: the table updates of a record the scan decides (``()`` for one the
        full path would skip silently), without a :class:`ConsumedRecord`; None means "call
        :meth:`process`" (which then does not scan the value again)."""
        c = self.c
        scan = c.scan
        if scan is None or value is None or not scan.enabled:
            return None
        try:
            key_values = c.key_deserializer(key)
        except serde.SerdeError:
            return None  # process() reports it
        read = scan.read(value, key_values, timestamp, partition, offset)
        decided = self._decided(read, timestamp)
        if decided is None:
            self._read_value, self._read_result = value, read
        return decided

    def _decided(self, read: Any, timestamp: int) -> Sequence[ProducedRecord] | None:
        """The outputs of a record the scan decided (``read`` from ``AggregateScan.read``), or
        None when it did not."""
        if read is SKIPPED:
            return ()
        if type(read) is not tuple:
            return None
        group, arguments = read
        outputs: list[ProducedRecord] = []
        self._fold(timestamp, group, lambda: arguments, outputs, undo=False)
        return outputs

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        """One record in; one table update per affected group out."""
        c = self.c
        scan = c.scan
        read: Any = None
        try:
            key = c.key_deserializer(record.key)
            if record.value is not None and record.value is self._read_value:
                read, self._read_value = self._read_result, None  # process_raw's verdict
            elif scan is not None and record.value is not None and scan.enabled:
                read = scan.read(record.value, key, record.timestamp, record.partition, record.offset)
            values = c.value_deserializer(record.value) if read is None or read is NOT_SCANNED else None
        except serde.SerdeError as error:
            target = "key" if "key" in str(error).lower() else "value"
            self.context.report_error(
                processing_log_entry(self.context.query_id, deserialization_error(target, error, record))
            )
            return ()
        decided = self._decided(read, record.timestamp)
        if decided is not None:
            return decided
        outputs: list[ProducedRecord] = []
        if read is NOT_SCANNED and values is not None:
            assert scan is not None and record.value is not None
            scan.learn(record.value)
        if self.source_rows is not None and record.key is not None:
            old = self.source_rows.get(record.key)
            self.source_rows.put(record.key, record.value)
            if old is not None:
                try:
                    old_values = c.value_deserializer(old)
                except serde.SerdeError:
                    old_values = None
                if old_values is not None:
                    self._apply(record, key, old_values, outputs, undo=True)
        if values is not None:
            self._apply(record, key, values, outputs, undo=False)
        if len(outputs) > 1:
            # an update that stays in its group emits once, with the group's final row
            last = {output.key: output for output in outputs}
            outputs = list(last.values())
        return outputs

    def _apply(
        self,
        record: ConsumedRecord,
        key: list[Any],
        values: list[Any],
        outputs: list[ProducedRecord],
        undo: bool,
    ) -> None:
        c = self.c
        row = key + values
        row.append(record.timestamp)
        row.append(record.partition)
        row.append(record.offset)
        try:
            if c.where is not None and not c.where(row):
                return
            group = [f(row) for f in c.group_fns]
        except EVALUATION_ERRORS as error:
            c.errors.report(f"Error computing the GROUP BY key: {error}")
            return
        if any(value is None for value in group):
            return  # ksqlDB drops records whose GROUP BY key is null
        self._fold(record.timestamp, group, lambda: self._arguments(row), outputs, undo)

    def _arguments(self, row: Row) -> list[Any]:
        """The aggregates' arguments over a full row (an error is reported, the argument null)."""
        c = self.c
        arguments = []
        for fn in c.argument_fns:
            try:
                arguments.append(fn(row))
            except EVALUATION_ERRORS as error:
                c.errors.report(f"Error computing an aggregate argument: {error}")
                arguments.append(None)
        return arguments

    def _fold(
        self,
        timestamp: int,
        group: list[Any],
        arguments: Callable[[], list[Any]],
        outputs: list[ProducedRecord],
        undo: bool,
    ) -> None:
        """Fold one record into its group (into each of its windows): ``arguments`` is called
        once per update, as the full path evaluates (and reports) them per window."""
        c = self.c
        key_bytes = c.key_serializer(group) or b""
        if not c.window_size:
            self._update(timestamp, group, key_bytes, None, arguments(), outputs, undo)
            return
        self.stream_time = max(self.stream_time, timestamp)
        size, advance = c.window_size, c.window_advance
        first = timestamp - timestamp % advance - (size - advance) // advance * advance
        for start in range(max(first, 0), timestamp + 1, advance):
            if start <= timestamp < start + size and start + size + c.grace > self.stream_time:
                windowed = key_bytes + _WINDOW_START.pack(start)
                self._update(timestamp, group, windowed, start, arguments(), outputs, undo)

    def _update(
        self,
        record_timestamp: int,
        group: list[Any],
        key_bytes: bytes,
        window_start: int | None,
        arguments: list[Any],
        outputs: list[ProducedRecord],
        undo: bool,
    ) -> None:
        c = self.c
        state = self._state(key_bytes)
        aggregates = c.plan.aggregates
        for index, aggregate in enumerate(aggregates):
            argument = arguments[index]
            if undo:
                assert aggregate.undo is not None
                state[index] = aggregate.undo(state[index], argument)
            else:
                state[index] = aggregate.add(state[index], argument)
        # the newest timestamp folded into the row, windowed or not (Kafka Streams keeps the
        # maximum as the aggregate's timestamp; pull queries show it as ROWTIME)
        timestamp = max(int(state[-1]), record_timestamp)
        state[-1] = timestamp
        aggregate_row = group + [a.result(state[i]) for i, a in enumerate(aggregates)]
        if window_start is not None:
            aggregate_row += [window_start, window_start + c.window_size]
        visible = True
        if c.having is not None:
            try:
                visible = bool(c.having(aggregate_row))
            except EVALUATION_ERRORS as error:
                c.errors.report(f"Error evaluating HAVING: {error}")
                visible = False
        was_visible = bool(state[-2])
        state[-2] = visible
        stored = serde.dumps(state)
        self.states[key_bytes] = (stored, state)
        self.aggregate_store.put(key_bytes, stored)
        if not visible:
            if was_visible:
                self.materialized.put(key_bytes, None)
                if self.emit_row is None:
                    outputs.append(ProducedRecord(key_bytes, None, timestamp))
            return
        if self.emit_row is not None:
            self.emit_row([f(aggregate_row) for f in c.projection_fns])
            return
        assert c.value_serializer is not None
        value = [self._evaluate(f, aggregate_row) for f in c.value_fns]
        value_bytes = c.value_serializer(value)
        self.materialized.put(key_bytes, value_bytes)
        outputs.append(ProducedRecord(key_bytes, value_bytes, timestamp))

    def _evaluate(self, fn: Fn, row: Row) -> Any:
        try:
            return fn(row)
        except EVALUATION_ERRORS as error:
            self.c.errors.report(f"Error computing a column: {error}")
            return None

    def _state(self, key_bytes: bytes) -> list[Any]:
        stored = self.aggregate_store.get(key_bytes)
        cached = self.states.get(key_bytes)
        if cached is not None and cached[0] is stored:
            return cached[1]
        aggregates = self.c.plan.aggregates
        if stored is not None:
            raw = orjson.loads(stored)
            return [a.restore(raw[i]) for i, a in enumerate(aggregates)] + [raw[-2], raw[-1]]
        return [a.init() for a in aggregates] + [False, 0]


def aggregate_processor_factory(
    plan: AggregatePlan, sink: SinkSpec | None, emit_row: Callable[[Row], None] | None = None
) -> ProcessorFactory:
    """A factory the driver calls (once per task) to get the aggregation's processor."""
    compiled = _CompiledAggregate(plan, sink)

    def factory(context: ProcessorContext) -> AggregateProcessor:
        return AggregateProcessor(compiled, context, emit_row)

    return factory
