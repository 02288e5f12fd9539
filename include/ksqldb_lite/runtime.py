"""Record processors: a resolved query plan compiled into ``process(record) -> outputs``.

The processor is built once per query: deserializers, the WHERE predicate, key and value
expressions are all compiled to closures up front. Per record it deserializes, filters,
projects and serializes. A record that does not deserialize is reported to the processing log
through the driver's :class:`~ksqldb_lite.driver.ProcessorContext` and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ksqldb_lite import serde
from ksqldb_lite.driver import (
    ConsumedRecord,
    ProcessorContext,
    ProcessorFactory,
    ProducedRecord,
    RecordProcessor,
)
from ksqldb_lite.expressions import EVALUATION_ERRORS, ErrorSink, Fn, column_names_in
from ksqldb_lite.planner import QueryPlan
from ksqldb_lite.schema import Column, Format

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


class _Compiled:
    """Everything a processor needs, compiled once (shared by all partitions of a query)."""

    def __init__(self, plan: QueryPlan, sink: SinkSpec | None) -> None:
        source = plan.source
        self.key_deserializer = serde.key_deserializer(source.key_format, source.schema.key)
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
        self.key_serializer: serde.KeySerializer | None = None
        self.value_serializer: serde.ValueSerializer | None = None
        if sink is not None:
            self.key_serializer = serde.key_serializer(sink.key_format, sink.key_columns)
            self.value_serializer = serde.nonfinite_safe(
                serde.value_serializer(sink.value_format, sink.value_columns), sink.value_columns
            )

    def _guard(self, fn: Fn, name: str) -> Fn:
        errors = self.errors

        def guarded(row: Row) -> Any:
            try:
                return fn(row)
            except EVALUATION_ERRORS as error:
                errors.report(f"Error computing expression for column {name}: {error}")
                return None

        return guarded


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
        query_id = context.query_id
        compiled.errors.report = lambda message: context.report_error(
            processing_log_entry(query_id, record_processing_error(message))
        )

    def process(self, record: ConsumedRecord) -> Sequence[ProducedRecord]:
        """One record in, zero or one record out."""
        c = self.c
        try:
            key = c.key_deserializer(record.key)
        except serde.SerdeError as error:
            self._bad(record, "key", error)
            return ()
        try:
            values = c.value_deserializer(record.value)
        except serde.SerdeError as error:
            self._bad(record, "value", error)
            return ()
        tombstone = values is None
        if tombstone:
            if c.where is not None:
                return ()
            values = [None] * c.value_width
        row = key + values  # type: ignore[operator]
        row.append(record.timestamp)
        row.append(record.partition)
        row.append(record.offset)
        where = c.where
        if where is not None:
            try:
                if not where(row):
                    return ()
            except EVALUATION_ERRORS as error:
                c.errors.report(f"Error evaluating WHERE: {error}")
                return ()
        if tombstone:
            out_key = [
                f(row) if key_only else None for f, key_only in zip(c.key_fns, c.key_only, strict=True)
            ]
        else:
            out_key = [f(row) for f in c.key_fns]
        if self.emit_row is not None:
            self.emit_row(out_key + [f(row) for f in c.value_fns])
            return ()
        assert c.key_serializer is not None and c.value_serializer is not None
        out_value = None if tombstone else [f(row) for f in c.value_fns]
        return (ProducedRecord(c.key_serializer(out_key), c.value_serializer(out_value), record.timestamp),)

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
