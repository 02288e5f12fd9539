"""Record processors: a resolved query plan compiled into ``process(record) -> outputs``.

The processor is built once per query: deserializers, the WHERE predicate, key and value
expressions are all compiled to closures up front. Per record it deserializes, filters,
projects and serializes. A record that does not deserialize is reported to the processing log
through the driver's :class:`~ksqldb_lite.execution.driver.ProcessorContext` and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from ksqldb_lite.execution.driver import (
    ConsumedRecord,
    ProcessorContext,
    ProcessorFactory,
    ProducedRecord,
    RawProcess,
    RecordProcessor,
)
from ksqldb_lite.planning.expressions import (
    EVALUATION_ERRORS,
    ColumnSlot,
    Compiler,
    ErrorSink,
    Fn,
    column_names_in,
)
from ksqldb_lite.planning.planner import QueryPlan
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import Column, Format
from ksqldb_lite.serde import formats as serde
from ksqldb_lite.serde import jsoncodegen, jsonscan
from ksqldb_lite.serde.jsonscan import REJECTED

Row = list[Any]


@dataclass(frozen=True)
class SinkSpec:
    """How a query writes: the sink's key/value formats and column lists."""

    key_format: Format
    value_format: Format
    key_columns: tuple[Column, ...]
    value_columns: tuple[Column, ...]


def processing_log_entry(query_id: str, message: dict[str, Any]) -> bytes:
    """A processing-log record shaped like ksqlDB's (stream KSQL_PROCESSING_LOG)."""
    return orjson.dumps(
        {
            "LOGGER": f"processing.{query_id}",
            "LEVEL": "ERROR",
            "TIME": int(time.time() * 1000),
            "MESSAGE": message,
        }
    )


def deserialization_error(target: str, error: Exception, record: ConsumedRecord) -> dict[str, Any]:
    """The MESSAGE of a deserialization error entry (type 0)."""
    return {
        "TYPE": 0,
        "DESERIALIZATIONERROR": {
            "TARGET": target,
            "ERRORMESSAGE": f"Failed to deserialize {target} from topic: {record.topic}. {error}",
            "RECORDB64": None,
            "CAUSE": [str(error)],
            "topic": record.topic,
        },
        "RECORDPROCESSINGERROR": None,
        "PRODUCTIONERROR": None,
        "SERIALIZATIONERROR": None,
        "KAFKASTREAMSTHREADERROR": None,
    }


def record_processing_error(message: str) -> dict[str, Any]:
    """The MESSAGE of a record processing error entry (type 1)."""
    return {
        "TYPE": 1,
        "DESERIALIZATIONERROR": None,
        "RECORDPROCESSINGERROR": {"ERRORMESSAGE": message, "RECORD": None, "CAUSE": []},
        "PRODUCTIONERROR": None,
        "SERIALIZATIONERROR": None,
        "KAFKASTREAMSTHREADERROR": None,
    }


def report_to(errors: ErrorSink, context: ProcessorContext) -> None:
    """Send run-time expression errors to the query's processing log."""
    query_id = context.query_id
    errors.report = lambda message: context.report_error(
        processing_log_entry(query_id, record_processing_error(message))
    )


class _Compiled:
    """Everything a processor needs, compiled once (shared by all partitions of a query)."""

    def __init__(self, plan: QueryPlan, sink: SinkSpec | None) -> None:
        source = plan.source
        self.key_deserializer = serde.key_deserializer(source.key_format, source.schema.key)
        self.keyless = not source.schema.key
        self.value_deserializer = serde.value_deserializer(source.value_format, source.schema.value)
        self.value_width = len(source.schema.value)
        # For a tombstone only key expressions over key columns (or constants) can be computed;
        # ksqlDB evaluates the others against the (null) value: null.
        key_names = {c.name for c in source.schema.key}
        self.key_only = [
            all(ref.name in key_names for ref in column_names_in(c.expr)) for c in plan.key_columns
        ]
        self.errors = plan.errors
        compiler = plan.compiler()
        self.where: Fn | None = compiler.compile(plan.where) if plan.where is not None else None
        self.key_fns = [self._guard(compiler.compile(c.expr), c.name) for c in plan.key_columns]
        self.value_fns = [self._guard(compiler.compile(c.expr), c.name) for c in plan.value_columns]
        self.projection_fns = [self._guard(compiler.compile(c.expr), c.name) for c in plan.projection]
        self.key_serializer: serde.KeySerializer | None = None
        self.value_serializer: serde.ValueSerializer | None = None
        if sink is not None:
            self.key_serializer = serde.key_serializer(sink.key_format, sink.key_columns)
            self.value_serializer = serde.nonfinite_safe(
                serde.value_serializer(sink.value_format, sink.value_columns), sink.value_columns
            )
        # a table source: a row the WHERE rejects, or a tombstone, deletes the key downstream
        self.table = source.is_table
        self.prefilter: Fn | None = None
        self.validate: Callable[[dict[str, Any]], bool] = lambda obj: False
        self.row_from_json: Callable[[Any], list[Any]] | None = None
        self.scan: jsonscan.JsonScan | None = None
        if (
            plan.where is not None
            and not self.table
            and _prefilter_applies(plan)
            and jsonscan.deterministic(plan.where)
        ):
            self._build_prefilter(plan)
            self.scan = jsonscan.build(
                [(c.name, c.type) for c in source.schema.value],
                [plan.where],
                plan.scope,
                len(source.schema.key),
            )

    def _build_prefilter(self, plan: QueryPlan) -> None:
        """Compile the WHERE clause a second time, over the decoded JSON object, so that records
        it rejects are never coerced (they are only checked for values that would fail)."""
        source = plan.source
        keys = len(source.schema.key)
        values = len(source.schema.value)
        fields = [(c.name, c.type) for c in source.schema.value]

        def accessor(slot: ColumnSlot) -> Fn:
            outside = jsonscan.outside_value(slot.index, keys, values)
            if outside is not None:
                return outside
            getter = jsoncodegen.path_getter(fields, [slot.name])
            return lambda row: getter(row[keys])

        def path_accessor(slot: ColumnSlot, path: list[str]) -> Fn | None:
            if not keys <= slot.index < keys + values or not _struct_path(slot.type, path):
                return None
            getter = jsoncodegen.path_getter(fields, [slot.name, *path])
            return lambda row: getter(row[keys])

        scope = replace(plan.scope, accessor=accessor, path_accessor=path_accessor)
        assert plan.where is not None
        # Errors the full path would report make the prefilter give up (reported once, there).
        self.prefilter = Compiler(scope, jsonscan.undecided_sink()).compile(plan.where)
        self.validate = jsoncodegen.validator(fields)
        self.row_from_json = jsoncodegen.row_coercer(fields)

    def _guard(self, fn: Fn, name: str) -> Fn:
        errors = self.errors

        def guarded(row: Row) -> Any:
            try:
                return fn(row)
            except EVALUATION_ERRORS as error:
                errors.report(f"Error computing expression for column {name}: {error}")
                return None

        return guarded


def _prefilter_applies(plan: QueryPlan) -> bool:
    source = plan.source
    fmt = source.value_format
    return fmt.name == "JSON" and bool(source.schema.value) and not serde.unwrapped(fmt, source.schema.value)


def _struct_path(sql_type: t.SqlType, path: list[str]) -> bool:
    current = sql_type
    for step in path:
        if not isinstance(current, t.Struct):
            return False
        found = current.field(step)
        if found is None:
            return False
        current = found
    return True


_FALLBACK = object()


class StreamProcessor:
    """Filter and project one stream record (persistent query or push query)."""

    def __init__(
        self,
        compiled: _Compiled,
        context: ProcessorContext,
        emit_row: Callable[[Row], None] | None = None,
    ) -> None:
        self.c = compiled
        self.context = context
        self.emit_row = emit_row
        self.materialized = context.store("materialized") if compiled.table and emit_row is None else None
        report_to(compiled.errors, context)
        # the value :meth:`process_raw` scanned last without deciding, and what the scan said
        self._scanned_value: bytes | None = None
        self._scan_result = jsonscan.UNSCANNED
        # offered to drivers only when there is a scan (else asking would be wasted work)
        self.process_raw: RawProcess | None = self._process_raw if compiled.scan is not None else None

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        """One record in, zero or one record out."""
        c = self.c
        try:
            key = c.key_deserializer(record.key)
        except serde.SerdeError as error:
            self._bad(record, "key", error)
            return ()
        if c.prefilter is not None and record.value is not None:
            return self._prefiltered(record, key)
        try:
            values = c.value_deserializer(record.value)
        except serde.SerdeError as error:
            self._bad(record, "value", error)
            return ()
        return self._finish(record, key, values)

    def _process_raw(
        self, key: bytes | None, value: bytes | None, timestamp: int, partition: int, offset: int
    ) -> Sequence[ProducedRecord] | None:
        """``process_raw``: ``()`` when :meth:`process` would return nothing and report nothing
        for this record (its value fits the schema and the WHERE clause rejects it), decided by
        the typed scan alone; None means "call :meth:`process`" (which then does not scan the
        value again). Lets a driver skip building a :class:`ConsumedRecord` for most records of
        a filter."""
        c = self.c
        scan = c.scan
        if scan is None or value is None or not scan.enabled:
            return None
        if c.keyless:
            key_values: list[Any] = []
        else:
            try:
                key_values = c.key_deserializer(key)
            except serde.SerdeError:
                return None
        result = scan.check(value, key_values, timestamp, partition, offset)
        if result == REJECTED:
            return ()
        self._scanned_value, self._scan_result = value, result
        return None

    def _scan(self, record: ConsumedRecord, key: list[Any]) -> int:
        """The scan's verdict on a record (reusing the one :meth:`process_raw` just gave)."""
        scan = self.c.scan
        if scan is None or not scan.enabled:
            return jsonscan.UNSCANNED
        if record.value is self._scanned_value:
            self._scanned_value = None
            return self._scan_result
        assert record.value is not None
        return scan.check(record.value, key, record.timestamp, record.partition, record.offset)

    def _prefiltered(self, record: ConsumedRecord, key: list[Any]) -> Sequence[ProducedRecord]:
        """WHERE on the scanned or decoded JSON first; coerce only what passes (or what must be
        logged)."""
        c = self.c
        assert c.prefilter is not None and c.row_from_json is not None and record.value is not None
        scanned = self._scan(record, key)
        if scanned == jsonscan.REJECTED:
            return ()
        try:
            decoded = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            return self._finish_bytes(record, key)
        if type(decoded) is not dict:
            return self._finish_bytes(record, key)
        if scanned == jsonscan.UNSCANNED:
            if c.scan is not None and c.scan.enabled:
                c.scan.learn(decoded)
            raw_row = [*key, decoded, record.timestamp, record.partition, record.offset]
            try:
                keep: Any = c.prefilter(raw_row)
            except (serde.SerdeError, jsonscan.Undecided, *EVALUATION_ERRORS):
                keep = _FALLBACK
            if keep is not _FALLBACK and not keep and c.validate(decoded):
                return ()
        try:
            values = c.row_from_json(decoded)
        except serde.SerdeError as error:
            self._bad(record, "value", error)
            return ()
        return self._finish(record, key, values)

    def _finish_bytes(self, record: ConsumedRecord, key: list[Any]) -> Sequence[ProducedRecord]:
        try:
            values = self.c.value_deserializer(record.value)
        except serde.SerdeError as error:
            self._bad(record, "value", error)
            return ()
        return self._finish(record, key, values)

    def _finish(
        self, record: ConsumedRecord, key: list[Any], values: list[Any] | None
    ) -> Sequence[ProducedRecord]:
        c = self.c
        tombstone = values is None
        if values is None:
            if c.where is not None and not c.table:
                return ()
            values = [None] * c.value_width
        row = key + values
        row.append(record.timestamp)
        row.append(record.partition)
        row.append(record.offset)
        where = c.where
        if where is not None and not tombstone:
            try:
                keep = where(row)
            except EVALUATION_ERRORS as error:
                c.errors.report(f"Error evaluating WHERE: {error}")
                keep = False
            if not keep:
                if not c.table:
                    return ()
                tombstone = True
        if self.emit_row is not None:
            if not tombstone:
                self.emit_row([f(row) for f in c.projection_fns])
            return ()
        if tombstone:
            out_key = [
                f(row) if key_only else None for f, key_only in zip(c.key_fns, c.key_only, strict=True)
            ]
        else:
            out_key = [f(row) for f in c.key_fns]
        assert c.key_serializer is not None and c.value_serializer is not None
        key_bytes = c.key_serializer(out_key)
        value_bytes = None if tombstone else c.value_serializer([f(row) for f in c.value_fns])
        if self.materialized is not None and key_bytes is not None:
            self.materialized.put(key_bytes, value_bytes)
        return (ProducedRecord(key_bytes, value_bytes, record.timestamp),)

    def _bad(self, record: ConsumedRecord, target: str, error: Exception) -> None:
        self.context.report_error(
            processing_log_entry(self.context.query_id, deserialization_error(target, error, record))
        )


def stream_processor_factory(
    plan: QueryPlan, sink: SinkSpec | None, emit_row: Callable[[Row], None] | None = None
) -> ProcessorFactory:
    """A factory the driver calls (once per task) to get the query's processor."""
    compiled = _Compiled(plan, sink)

    def factory(context: ProcessorContext) -> RecordProcessor:
        return StreamProcessor(compiled, context, emit_row)

    return factory


__all__ = ["ErrorSink", "SinkSpec", "StreamProcessor", "stream_processor_factory"]


def _printable(data: bytes | None) -> str:
    if data is None:
        return "<null>"
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data.hex()


class _PrintProcessor:
    """Formats records like ksqlDB's PRINT."""

    def __init__(self, emit: Callable[[Row], None], interval: int) -> None:
        self.emit = emit
        self.interval = interval
        self.seen = 0

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        self.seen += 1
        if (self.seen - 1) % self.interval == 0:
            moment = time.gmtime(record.timestamp // 1000)
            rowtime = time.strftime("%Y/%m/%d %H:%M:%S", moment) + f".{record.timestamp % 1000:03d} Z"
            self.emit(
                [
                    f"rowtime: {rowtime}, key: {_printable(record.key)}, value: {_printable(record.value)}, "
                    f"partition: {record.partition}"
                ]
            )
        return ()


def print_processor_factory(emit: Callable[[Row], None], interval: int) -> ProcessorFactory:
    """The processor of a PRINT: every ``interval``-th record as ``[line]``."""
    return lambda context: _PrintProcessor(emit, interval)
