"""Analysis of ``SELECT … GROUP BY`` queries (tables, tier 2).

The result is an :class:`AggregatePlan`: GROUP BY expressions over the source row (they become
the key), the aggregate calls (their arguments over the source row), and the SELECT and HAVING
expressions rewritten over the *aggregate row* ``[key values…, aggregate results…]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ksqldb_lite.errors import KsqlStatementError, UnsupportedFeatureError
from ksqldb_lite.function.udaf import Aggregate, is_aggregate_call, resolve_aggregate
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.expressions import ColumnSlot, Compiler, ErrorSink, Scope
from ksqldb_lite.planning.planner import (
    OutputColumn,
    _AliasGenerator,
    _qualified,
    _unqualified,
    analyze_where,
    check_key_type,
    check_select_item,
    rewrite_rowtime_literals,
    source_scope,
)
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import KEY, VALUE, Column, DataSource, LogicalSchema, MetaStore

WINDOW_BOUNDS = ("WINDOWSTART", "WINDOWEND")
_UNDOABLE = ("COUNT", "SUM", "AVG")


def _key_slot(index: int) -> str:
    return f"\x00KEY{index}"


def _agg_slot(index: int) -> str:
    return f"\x00AGG{index}"


@dataclass
class AggregatePlan:
    """A resolved GROUP BY query."""

    source: DataSource
    scope: Scope  # over the source row
    where: n.Expr | None
    group_by: list[n.Expr]
    key_columns: list[OutputColumn]  # expr: the GROUP BY expression (source row)
    aggregates: list[Aggregate]
    aggregate_scope: Scope  # over [keys…, aggregate results…]
    value_columns: list[OutputColumn]  # expr over the aggregate row
    having: n.Expr | None  # over the aggregate row
    projection: list[OutputColumn]  # SELECT order, over the aggregate row
    window: n.WindowSpec | None = None
    errors: ErrorSink = field(default_factory=ErrorSink)

    def schema(self) -> LogicalSchema:
        """The output (table) schema."""
        return LogicalSchema(
            tuple(Column(c.name, c.type, KEY) for c in self.key_columns),
            tuple(Column(c.name, c.type, VALUE) for c in self.value_columns),
        )


class AggregateAnalyzer:
    """Analyzes a GROUP BY query for a CREATE TABLE … AS SELECT (``sink_name``) or a push query."""

    def __init__(self, metastore: MetaStore, query: n.Query, sink_name: str | None) -> None:
        self.metastore = metastore
        self.query = query
        self.sink_name = sink_name

    def analyze(self) -> AggregatePlan:
        """Resolve names, types, keys and aggregates; raise ksqlDB's errors."""
        query = self.query
        if query.has_join:
            raise UnsupportedFeatureError("JOIN")
        window = query.window
        if window is not None and window.kind == "SESSION":
            raise UnsupportedFeatureError("SESSION windows")
        source = self.metastore.get(query.source.name)
        if source is None:
            raise KsqlStatementError(f"{query.source.name} does not exist.")
        alias = query.source.alias
        scope = source_scope(source, alias)
        compiler = Compiler(scope)
        where = self._where(source, alias)
        group_by = list(query.group_by or ())
        if not group_by:
            shown = [
                str(c)
                for item in query.select
                if isinstance(item, n.SelectExpression)
                for c in n.walk(item.expr)
                if is_aggregate_call(c)
            ]
            raise KsqlStatementError(
                "CREATE TABLE AS SELECT statement does not support aggregate function "
                f"[{', '.join(shown).replace('(*)', '(ROWTIME)')}] without a GROUP BY clause."
            )
        items = self._select_items(source, alias)
        group_compiler = Compiler(source_scope(source, alias, "GROUP BY"))
        seen: list[n.Expr] = []
        for expr in group_by:
            if any(isinstance(e, n.ColumnRef) and e.name in WINDOW_BOUNDS for e in n.walk(expr)):
                raise KsqlStatementError(
                    "Window bounds column WINDOWSTART can only be used in the SELECT clause of windowed aggregations"
                )
            if is_aggregate_call(expr):
                raise KsqlStatementError(
                    f"GROUP BY does not support aggregate functions: {expr} is an aggregate"
                )
            group_compiler.type_of(expr)
            plain = _unqualified(expr)
            if plain in seen:
                raise KsqlStatementError(f"Duplicate GROUP BY expression: {_qualified(expr, source.name)}")
            seen.append(plain)
        generator = _AliasGenerator([c.name for c in source.schema.columns])
        named: list[tuple[str, n.Expr]] = []
        for name, expr in items:
            if name is None:
                name = expr.name if isinstance(expr, n.ColumnRef) else generator.for_expression(expr)
            named.append((name, expr))

        # aggregates: every distinct aggregate call in SELECT and HAVING
        calls: list[n.FunctionCall] = []
        having = query.having
        for expr in [e for _, e in named] + ([having] if having is not None else []):
            for sub in n.walk(expr):
                if is_aggregate_call(sub):
                    assert isinstance(sub, n.FunctionCall)
                    if _unqualified(sub) not in [_unqualified(c) for c in calls]:
                        calls.append(sub)
        aggregates: list[Aggregate] = []
        for call in calls:
            arg_types = []
            for arg in call.args[:1]:
                for sub in n.walk(arg):
                    if isinstance(sub, n.ColumnRef) and sub.name in WINDOW_BOUNDS:
                        raise KsqlStatementError(
                            "Window bounds column WINDOWSTART can only be used in the SELECT clause of windowed "
                            "aggregations"
                        )
                arg_types.append(compiler.type_of(arg))
            aggregates.append(resolve_aggregate(call, arg_types))
        if source.is_table:
            refused = list(dict.fromkeys(a.name for a in aggregates if a.undo is None))
            if refused:
                names = ", ".join(refused[:-1]) + (" and " if len(refused) > 1 else "") + refused[-1]
                raise KsqlStatementError(
                    f"The aggregation functions {names} cannot be applied to a table source, only to a stream source."
                )

        # the aggregate row scope
        slots: dict[str, ColumnSlot] = {}
        for index, expr in enumerate(group_by):
            group_type = group_compiler.type_of(expr)
            if group_type is None:
                raise KsqlStatementError("GROUP BY NULL is not supported")
            slots[_key_slot(index)] = ColumnSlot(_key_slot(index), group_type, index)
        for index, aggregate in enumerate(aggregates):
            slots[_agg_slot(index)] = ColumnSlot(
                _agg_slot(index), aggregate.result_type, len(group_by) + index
            )
        if window is not None:
            for offset, bound in enumerate(WINDOW_BOUNDS):
                slots[bound] = ColumnSlot(bound, t.BIGINT, len(group_by) + len(aggregates) + offset)
        aggregate_scope = Scope(slots, frozenset(), "SELECT", source.name)
        aggregate_compiler = Compiler(aggregate_scope)

        def rewrite(expr: n.Expr) -> n.Expr:
            def replace(sub: n.Expr) -> n.Expr | None:
                plain = _unqualified(sub)
                for index, group in enumerate(group_by):
                    if plain == _unqualified(group):
                        return n.ColumnRef(_key_slot(index))
                if is_aggregate_call(sub):
                    for index, call in enumerate(calls):
                        if plain == _unqualified(call):
                            return n.ColumnRef(_agg_slot(index))
                return None

            return n.transform(expr, replace)

        rewritten: list[tuple[str, n.Expr, n.Expr]] = []
        for name, expr in named:
            new = rewrite(expr)
            leftovers = [
                e
                for e in n.walk(new)
                if isinstance(e, n.ColumnRef)
                and not e.name.startswith("\x00")
                and not (window is not None and e.name in WINDOW_BOUNDS)
            ]
            if leftovers:
                raise KsqlStatementError(
                    f"Non-aggregate SELECT expression(s) not part of GROUP BY: {expr}\n"
                    "Either add the column(s) to the GROUP BY or remove them from the SELECT."
                )
            rewritten.append((name, expr, new))

        keys: list[OutputColumn] = []
        key_items: set[int] = set()
        for index, group in enumerate(group_by):
            target = n.ColumnRef(_key_slot(index))
            matches = [i for i, (_, _, new) in enumerate(rewritten) if new == target]
            if len(matches) > 1:
                names = " and ".join(t.quote(rewritten[i][0]) for i in matches)
                raise KsqlStatementError(f"The projection contains a key column more than once: {names}.")
            slot_type = slots[_key_slot(index)].type
            if not matches:
                if self.sink_name is not None:
                    raise KsqlStatementError(
                        f"The query used to build {t.quote(self.sink_name)} must include the grouping expression "
                        f"{group} in its projection (eg, SELECT {group}...)."
                    )
                keys.append(OutputColumn(_key_slot(index), slot_type, group))
                continue
            key_items.add(matches[0])
            keys.append(OutputColumn(rewritten[matches[0]][0], slot_type, group))
            check_key_type(rewritten[matches[0]][0], slot_type)
        values: list[OutputColumn] = []
        for i, (name, _, new) in enumerate(rewritten):
            if i in key_items:
                continue
            value_type = self._type(aggregate_compiler, new)
            values.append(OutputColumn(name, value_type, new))
        if not values and self.sink_name is not None:
            raise KsqlStatementError("The projection contains no value columns.")
        names_seen: set[str] = set()
        for column in values:
            if column.name in names_seen or column.name in {k.name for k in keys}:
                raise KsqlStatementError(
                    f"Duplicate value columns found in schema: {t.quote(column.name)} {column.type}"
                )
            names_seen.add(column.name)
        having_rewritten = None
        if having is not None and any(
            isinstance(e, n.ColumnRef) and e.name in WINDOW_BOUNDS for e in n.walk(having)
        ):
            raise KsqlStatementError(
                "Window bounds column WINDOWSTART can only be used in the SELECT clause of windowed aggregations"
            )
        if having is not None:
            having_rewritten = rewrite(rewrite_rowtime_literals(having))
            having_type = self._type(aggregate_compiler, having_rewritten)
            if having_type.base is not t.BaseType.BOOLEAN:
                raise KsqlStatementError(f"HAVING expression must be BOOLEAN, got {having_type}")
        projection = [
            OutputColumn(name, self._type(aggregate_compiler, new), new) for name, _, new in rewritten
        ]
        return AggregatePlan(
            source,
            scope,
            where,
            group_by,
            keys,
            aggregates,
            aggregate_scope,
            values,
            having_rewritten,
            projection,
            window,
        )

    def _select_items(self, source: DataSource, alias: str | None) -> list[tuple[str | None, n.Expr]]:
        items: list[tuple[str | None, n.Expr]] = []
        valid = {source.name} | ({alias} if alias else set())
        for item in self.query.select:
            if isinstance(item, n.SelectAll):
                if item.qualifier is not None and item.qualifier not in valid:
                    raise KsqlStatementError(f"'{item.qualifier}' is not a valid stream/table name or alias.")
                items.extend((c.name, n.ColumnRef(c.name)) for c in source.schema.columns)
            elif isinstance(item, n.SelectStructAll):
                raise UnsupportedFeatureError("struct->* in an aggregation")
            else:
                expr = item.expr
                check_select_item(item)
                items.append((item.alias, expr))
        return items

    def _where(self, source: DataSource, alias: str | None) -> n.Expr | None:
        where = self.query.where
        if where is not None and any(is_aggregate_call(e) for e in n.walk(where)):
            bounds = [e for e in n.walk(where) if isinstance(e, n.ColumnRef) and e.name in WINDOW_BOUNDS]
            if bounds:
                raise KsqlStatementError(f"Error in WHERE expression: Unknown column {bounds[0].name}.")
            raise KsqlStatementError("Aggregate functions are not allowed in WHERE; use HAVING.")
        return analyze_where(where, source, alias)

    @staticmethod
    def _type(compiler: Compiler, expr: n.Expr) -> t.SqlType:
        found = compiler.type_of(expr)
        if found is None:
            raise KsqlStatementError(
                "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR)."
            )
        return found


def is_aggregation(query: n.Query) -> bool:
    """Whether a query aggregates (GROUP BY, or an aggregate function in SELECT/HAVING)."""
    if query.group_by is not None or query.having is not None:
        return True
    return any(
        is_aggregate_call(sub)
        for item in query.select
        if isinstance(item, n.SelectExpression)
        for sub in n.walk(item.expr)
    )
