"""Rows written by the engine itself: ``INSERT INTO … VALUES`` and ``/inserts-stream``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.execution.driver import ProducedRecord
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.coercion import coerce_literal_value
from ksqldb_lite.planning.expressions import EVALUATION_ERRORS, Compiler, Scope
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import ROWTIME, DataSource
from ksqldb_lite.serde import formats as serde


def _serialize(source: DataSource, values: dict[str, Any], timestamp: int) -> ProducedRecord:
    schema = source.schema
    key = [values.get(c.name) for c in schema.key]
    value = [values.get(c.name) for c in schema.value]
    key_bytes = serde.key_serializer(source.key_format, schema.key)(key)
    value_serializer = serde.nonfinite_safe(
        serde.value_serializer(source.value_format, schema.value), schema.value
    )
    return ProducedRecord(key_bytes, value_serializer(value), timestamp)


def insert_values_record(source: DataSource, statement: n.InsertValues) -> ProducedRecord:
    """The record ``INSERT INTO source (cols) VALUES (…)`` writes (values coerced like ksqlDB)."""
    schema = source.schema
    names = [c.name for c in schema.columns] if statement.columns is None else list(statement.columns)
    if len(names) != len(statement.values):
        raise KsqlStatementError(
            f"Expected a value for each column. Expected Columns: [{', '.join(names)}]. "
            f"Got [{', '.join(str(v) for v in statement.values)}]"
        )
    compiler = Compiler(Scope({}, frozenset(), "INSERT VALUES"))
    values: dict[str, Any] = {}
    timestamp = int(time.time() * 1000)
    for name, expr in zip(names, statement.values, strict=True):
        if name == ROWTIME:
            value = _evaluate(compiler, expr)
            if not isinstance(value, int):
                raise KsqlStatementError(f"Expected type BIGINT for field ROWTIME but got {value!r}")
            timestamp = value
            continue
        column = schema.find(name)
        if column is None:
            raise KsqlStatementError(f"Column name {t.quote(name)} does not exist.")
        values[name] = _coerce(column.type, compiler.type_of(expr), _evaluate(compiler, expr), name)
    return _serialize(source, values, timestamp)


def _evaluate(compiler: Compiler, expr: n.Expr) -> Any:
    try:
        return compiler.compile(expr)([])
    except EVALUATION_ERRORS as error:
        raise KsqlStatementError(f"Failed to evaluate {expr}: {error}") from None


def _coerce(target: t.SqlType, source: t.SqlType | None, value: Any, name: str) -> Any:
    if value is None:
        return None
    if source == target:
        return value
    ok, coerced = coerce_literal_value(value, source, target)
    if not ok:
        raise KsqlStatementError(
            f"Expected type {target} for field {name} but got {t.type_name(source)}({value})"
        )
    return coerced


def json_row_record(source: DataSource, row: Mapping[str, Any]) -> ProducedRecord:
    """The record for one JSON row of ``/inserts-stream`` (fields matched like JSON reading)."""
    values: dict[str, Any] = {}
    obj = dict(row)
    for column in source.schema.columns:
        raw = serde.field_lookup(obj, column.name)
        try:
            values[column.name] = serde.json_coercer(column.type)(raw)
        except serde.SerdeError as error:
            raise KsqlStatementError(f"Failed to insert values into '{source.name}'. {error}") from None
    raw_time = serde.field_lookup(obj, ROWTIME)
    timestamp = int(raw_time) if isinstance(raw_time, int) else int(time.time() * 1000)
    return _serialize(source, values, timestamp)
