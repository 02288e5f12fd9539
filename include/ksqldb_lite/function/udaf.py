"""Aggregate functions (UDAFs) for GROUP BY: COUNT, SUM, AVG, MIN, MAX, LATEST/EARLIEST_BY_OFFSET.

An aggregate keeps a small JSON-able state per group: ``init()`` makes it, ``add(state, value)``
folds one input value in (nulls are ignored, as in ksqlDB), ``undo(state, value)`` takes one
out (table aggregations; None when the function cannot), ``result(state)`` is the column
value. States are stored as JSON in the query's state store; ``restore`` turns a stored state
back into the in-memory form (DECIMAL sums travel as strings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.javalang import wrap_int, wrap_long

AGGREGATE_NAMES = frozenset(
    {"COUNT", "SUM", "AVG", "MIN", "MAX", "LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET", "COLLECT_LIST"}
)


@dataclass(frozen=True)
class Aggregate:
    """A resolved aggregate call."""

    name: str
    result_type: t.SqlType
    argument: n.Expr | None  # None: COUNT(*)
    init: Callable[[], Any]
    add: Callable[[Any, Any], Any]
    result: Callable[[Any], Any]
    undo: Callable[[Any, Any], Any] | None = None
    restore: Callable[[Any], Any] = lambda state: state


def is_aggregate_call(expr: n.Expr) -> bool:
    """Whether the expression is a call of an aggregate function."""
    return isinstance(expr, n.FunctionCall) and expr.name.upper() in AGGREGATE_NAMES


def _literal(expr: n.Expr, position: int, name: str) -> Any:
    if isinstance(expr, n.IntegerLiteral | n.BooleanLiteral | n.StringLiteral):
        return expr.value
    raise KsqlStatementError(
        f"Parameter {position} passed to function {name} must be a literal constant, but was expression: '{expr}'"
    )


def _sum_wrap(sql_type: t.SqlType) -> Callable[[Any], Any]:
    if sql_type == t.INTEGER:
        return wrap_int
    if sql_type == t.BIGINT:
        return wrap_long
    return lambda v: v


def resolve_aggregate(call: n.FunctionCall, arg_types: Sequence[t.SqlType | None]) -> Aggregate:
    """The aggregate for a call (arguments typed by the caller)."""
    name = call.name.upper()
    args = list(call.args)
    argument = args[0] if args else None
    arg_type = arg_types[0] if arg_types else None
    if name == "COUNT":
        if not args or call.star or (isinstance(argument, n.IntegerLiteral | n.StringLiteral)):
            return Aggregate(
                "COUNT", t.BIGINT, None, lambda: 0, lambda s, v: s + 1, lambda s: s, lambda s, v: s - 1
            )
        return Aggregate(
            "COUNT",
            t.BIGINT,
            argument,
            lambda: 0,
            lambda s, v: s if v is None else s + 1,
            lambda s: s,
            lambda s, v: s if v is None else s - 1,
        )
    if argument is None or len(args) == 0:
        raise KsqlStatementError(f"Function '{name}' does not accept parameters ().")
    if arg_type is None:
        raise KsqlStatementError(
            "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR)."
        )
    if name == "SUM":
        return _sum(argument, arg_type)
    if name == "AVG":
        return _avg(argument, arg_type)
    if name in ("MIN", "MAX"):
        if arg_type.base not in (
            t.BaseType.INTEGER,
            t.BaseType.BIGINT,
            t.BaseType.DOUBLE,
            t.BaseType.DECIMAL,
            t.BaseType.STRING,
            t.BaseType.BOOLEAN,
        ):
            raise KsqlStatementError(f"Function '{name.lower()}' does not accept parameters ({arg_type}).")
        better = min if name == "MIN" else max
        return Aggregate(
            name,
            arg_type,
            argument,
            lambda: None,
            lambda s, v: s if v is None else (v if s is None else better(s, v)),
            lambda s: s,
            restore=_decimal_restorer(arg_type),
        )
    if name in ("LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET", "COLLECT_LIST"):
        return _by_offset(name, call, argument, arg_type)
    raise KsqlStatementError(f"Unknown aggregate function {name}")


def _decimal_restorer(sql_type: t.SqlType) -> Callable[[Any], Any]:
    if isinstance(sql_type, t.Decimal):
        return lambda state: None if state is None else Decimal(str(state))
    return lambda state: state


def _sum(argument: n.Expr, arg_type: t.SqlType) -> Aggregate:
    if not arg_type.base.is_number:
        raise KsqlStatementError(f"Function 'sum' does not accept parameters ({arg_type}).")
    wrap = _sum_wrap(arg_type)
    zero: Any = Decimal(0) if isinstance(arg_type, t.Decimal) else (0.0 if arg_type == t.DOUBLE else 0)
    return Aggregate(
        "SUM",
        arg_type,
        argument,
        lambda: zero,
        lambda s, v: s if v is None else wrap(s + v),
        lambda s: s,
        lambda s, v: s if v is None else wrap(s - v),
        _decimal_restorer(arg_type),
    )


def _avg(argument: n.Expr, arg_type: t.SqlType) -> Aggregate:
    if not arg_type.base.is_number:
        raise KsqlStatementError(f"Function 'avg' does not accept parameters ({arg_type}).")
    wrap = _sum_wrap(arg_type)

    def add(state: list[Any], value: Any) -> list[Any]:
        if value is None:
            return state
        return [wrap(state[0] + value), state[1] + 1]

    def undo(state: list[Any], value: Any) -> list[Any]:
        if value is None:
            return state
        return [wrap(state[0] - value), state[1] - 1]

    def result(state: list[Any]) -> float:
        total, count = state
        return 0.0 if count == 0 else float(total) / count

    def restore(state: list[Any]) -> list[Any]:
        if isinstance(arg_type, t.Decimal):
            return [Decimal(str(state[0])), state[1]]
        return list(state)

    zero: Any = Decimal(0) if isinstance(arg_type, t.Decimal) else (0.0 if arg_type == t.DOUBLE else 0)
    return Aggregate("AVG", t.DOUBLE, argument, lambda: [zero, 0], add, result, undo, restore)


def _by_offset(name: str, call: n.FunctionCall, argument: n.Expr, arg_type: t.SqlType) -> Aggregate:
    extra = list(call.args[1:])
    count: int | None = None
    ignore_nulls = True
    if name == "COLLECT_LIST":
        if extra:
            raise KsqlStatementError(f"Function 'collect_list' does not accept parameters ({arg_type}, …).")
        return Aggregate(
            name,
            t.Array(arg_type),
            argument,
            list,
            lambda s, v: [*s, v],
            lambda s: list(s),
        )
    if len(extra) == 1:
        value = _literal(extra[0], 2, name)
        if isinstance(value, bool):
            ignore_nulls = value
        else:
            count = int(value)
    elif len(extra) == 2:
        count = int(_literal(extra[0], 2, name))
        ignore_nulls = bool(_literal(extra[1], 3, name))
    elif len(extra) > 2:
        raise KsqlStatementError(f"Function '{name}' does not accept {len(call.args)} parameters.")
    latest = name == "LATEST_BY_OFFSET"
    if count is None:

        def add_one(state: Any, value: Any) -> Any:
            if value is None and ignore_nulls:
                return state
            if latest:
                return [True, value]
            return state if state[0] else [True, value]

        return Aggregate(name, arg_type, argument, lambda: [False, None], add_one, lambda s: s[1])

    limit = count

    def add_many(state: list[Any], value: Any) -> list[Any]:
        if value is None and ignore_nulls:
            return state
        if latest:
            return [*state, value][-limit:]
        return state if len(state) >= limit else [*state, value]

    return Aggregate(name, t.Array(arg_type), argument, list, add_many, lambda s: list(s))
