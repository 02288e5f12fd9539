"""Analysis of SELECT queries over streams: names, types, keys and the output schema.

Produces a :class:`QueryPlan` — the typed, name-resolved form of a query that the runtime
compiles into a record processor. The rules follow ksqlDB's (new) planner for stream queries:
``SELECT *`` is the key columns then the value columns; unaliased expressions are named
``KSQL_COL_n`` (avoiding numbers already used by source columns) and ``a->b`` is named ``B``;
without PARTITION BY the projection must contain every key column exactly once; with PARTITION
BY the partitioning expressions become the key and the old key moves into the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ksqldb_lite.errors import KsqlStatementError, UnsupportedFeatureError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.coercion import CoercionError
from ksqldb_lite.planning.expressions import ColumnSlot, Compiler, ErrorSink, ExpressionError, Scope
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import (
    KEY,
    PSEUDO_COLUMNS,
    ROWTIME,
    SYSTEM_COLUMN_NAMES,
    VALUE,
    Column,
    DataSource,
    LogicalSchema,
    MetaStore,
)

GENERATED_PREFIX = "KSQL_COL"
_NUMBERED = re.compile(r"(?P<name>.*?)(?:_(?P<number>\d+))?")


@dataclass(frozen=True)
class OutputColumn:
    """A column of the query result and the expression that computes it."""

    name: str
    type: t.SqlType
    expr: n.Expr


@dataclass
class QueryPlan:
    """A resolved stream query."""

    source: DataSource
    scope: Scope
    where: n.Expr | None
    key_columns: list[OutputColumn]
    value_columns: list[OutputColumn]
    partition_by_null: bool = False
    partitioned: bool = False
    limit: int | None = None
    errors: ErrorSink = field(default_factory=ErrorSink)
    # every selected column in SELECT order (the row shape of push queries)
    projection: list[OutputColumn] = field(default_factory=list)

    def schema(self) -> LogicalSchema:
        """The output schema."""
        return LogicalSchema(
            tuple(Column(c.name, c.type, KEY) for c in self.key_columns),
            tuple(Column(c.name, c.type, VALUE) for c in self.value_columns),
        )

    def compiler(self) -> Compiler:
        """A compiler over the source row layout, reporting run-time errors to ``errors``."""
        return Compiler(self.scope, self.errors)


def row_layout(source: DataSource) -> list[tuple[str, t.SqlType]]:
    """The row list a processor builds: key columns, value columns, ROWTIME, ROWPARTITION,
    ROWOFFSET."""
    cols = [(c.name, c.type) for c in source.schema.columns]
    return cols + list(PSEUDO_COLUMNS.items())


def source_scope(source: DataSource, alias: str | None, clause: str = "SELECT") -> Scope:
    """The scope of a query over ``source``."""
    slots: dict[str, ColumnSlot] = {}
    for index, (name, sql_type) in enumerate(row_layout(source)):
        slots.setdefault(name, ColumnSlot(name, sql_type, index))
    qualifiers = frozenset({source.name} | ({alias} if alias else set()))
    return Scope(slots, qualifiers, clause, source.name)


class _AliasGenerator:
    """ksqlDB's ColumnNames alias generators (KSQL_COL_n and struct field names)."""

    def __init__(self, taken: list[str]) -> None:
        self.used: dict[str, set[int]] = {}
        for name in taken:
            base, number = self._split(name)
            self.used.setdefault(base, set()).add(number)
        self.next: dict[str, int] = {}

    @staticmethod
    def _split(name: str) -> tuple[str, int]:
        match = _NUMBERED.fullmatch(name)
        assert match is not None
        number = match.group("number")
        return match.group("name") or "", int(number) if number is not None else 0

    def _generate(self, prefix: str, drop_zero: bool) -> str:
        used = self.used.get(prefix, set())
        index = self.next.get(prefix, 0)
        while index in used:
            index += 1
        self.next[prefix] = index + 1
        return prefix if index == 0 and drop_zero else f"{prefix}_{index}"

    def ksql_col(self) -> str:
        return self._generate(GENERATED_PREFIX, drop_zero=False)

    def for_field(self, field_name: str) -> str:
        base, _ = self._split(field_name)
        return self._generate(base, drop_zero=True)

    def for_expression(self, expr: n.Expr) -> str:
        if isinstance(expr, n.Dereference):
            return self.for_field(expr.field)
        return self.ksql_col()


def _unqualified(expr: n.Expr) -> n.Expr:
    """The expression with column qualifiers removed (for comparing expressions)."""
    if isinstance(expr, n.ColumnRef):
        return n.ColumnRef(expr.name)
    if isinstance(expr, n.Dereference):
        return n.Dereference(_unqualified(expr.base), expr.field)
    if isinstance(expr, n.FunctionCall):
        return n.FunctionCall(expr.name, tuple(_unqualified(a) for a in expr.args), expr.star)
    if isinstance(expr, n.Arithmetic):
        return n.Arithmetic(expr.op, _unqualified(expr.left), _unqualified(expr.right))
    if isinstance(expr, n.Cast):
        return n.Cast(_unqualified(expr.expr), expr.type)
    if isinstance(expr, n.Subscript):
        return n.Subscript(_unqualified(expr.base), _unqualified(expr.index))
    if isinstance(expr, n.CreateStruct):
        return n.CreateStruct(tuple((k, _unqualified(v)) for k, v in expr.fields))
    if isinstance(expr, n.CreateArray):
        return n.CreateArray(tuple(_unqualified(v) for v in expr.items))
    if isinstance(expr, n.CreateMap):
        return n.CreateMap(tuple((_unqualified(k), _unqualified(v)) for k, v in expr.entries))
    return expr


def _qualified(expr: n.Expr, source: str) -> n.Expr:
    """The expression with column references qualified by the source (for messages)."""
    if isinstance(expr, n.ColumnRef):
        return n.ColumnRef(expr.name, expr.qualifier or source)
    if isinstance(expr, n.Dereference):
        return n.Dereference(_qualified(expr.base, source), expr.field)
    if isinstance(expr, n.FunctionCall):
        return n.FunctionCall(expr.name, tuple(_qualified(a, source) for a in expr.args), expr.star)
    if isinstance(expr, n.Arithmetic):
        return n.Arithmetic(expr.op, _qualified(expr.left, source), _qualified(expr.right, source))
    if isinstance(expr, n.Cast):
        return n.Cast(_qualified(expr.expr, source), expr.type)
    return expr


def check_select_item(item: n.SelectExpression) -> None:
    """ksqlDB's reserved-name rules for one SELECT item of a persistent query."""
    expr = item.expr
    if item.alias is None and isinstance(expr, n.ColumnRef) and expr.name in SYSTEM_COLUMN_NAMES:
        raise KsqlStatementError(
            f"Reserved column name in select: {t.quote(expr.name)}. Please remove or alias the column."
        )
    if item.alias is not None and item.alias in SYSTEM_COLUMN_NAMES:
        raise KsqlStatementError(
            f"{t.quote(item.alias)} is a reserved column name. You cannot use it as an alias for a column."
        )


def analyze_where(where: n.Expr | None, source: DataSource, alias: str | None) -> n.Expr | None:
    """Type-check a WHERE clause over the source row (ROWTIME strings become epoch millis)."""
    if where is None:
        return None
    where = rewrite_rowtime_literals(where)
    compiler = Compiler(source_scope(source, alias, "WHERE"))
    try:
        where_type = compiler.type_of(where)
    except CoercionError as error:
        raise KsqlStatementError(f"Invalid Predicate: {error.message}.") from None
    except ExpressionError as error:
        if "cannot be resolved" in error.message:
            raise
        raise KsqlStatementError(f"Error in WHERE expression: {error.message}") from None
    if where_type is not None and where_type.base is not t.BaseType.BOOLEAN:
        raise KsqlStatementError(
            f"Type error in WHERE expression: Should evaluate to boolean but is {where} ({where_type}) instead."
        )
    return where


def check_key_type(name: str, sql_type: t.SqlType) -> None:
    """ksqlDB refuses MAPs anywhere in a key column's type."""
    if t.contains_map(sql_type):
        raise KsqlStatementError(
            "Map keys, including types that contain maps, are not supported as they may lead to "
            f"unexpected behavior due to inconsistent serialization. Key column name: {t.quote(name)}. "
            f"Column type: {sql_type}. See https://github.com/confluentinc/ksql/issues/6621 for more."
        )


@dataclass
class _Item:
    name: str | None
    expr: n.Expr
    from_star: bool = False


class QueryAnalyzer:
    """Analyzes one SELECT over a stream for a persistent query (``sink_name``) or a push query."""

    def __init__(
        self, metastore: MetaStore, query: n.Query, sink_name: str | None, allow_tables: bool = False
    ) -> None:
        self.metastore = metastore
        self.query = query
        self.sink_name = sink_name
        self.allow_tables = allow_tables

    def analyze(self) -> QueryPlan:
        """Resolve the query; raises KsqlStatementError with ksqlDB's messages."""
        query = self.query
        if query.has_join:
            raise UnsupportedFeatureError("JOIN")
        if query.window is not None:
            raise UnsupportedFeatureError("Windowed aggregation (WINDOW)")
        if query.group_by is not None:
            raise UnsupportedFeatureError("GROUP BY (aggregation)")
        if query.having is not None:
            raise UnsupportedFeatureError("HAVING")
        source = self.metastore.get(query.source.name)
        if source is None:
            raise KsqlStatementError(f"{query.source.name} does not exist.")
        if source.is_table and not self.allow_tables:
            raise UnsupportedFeatureError("Queries over tables")
        alias = query.source.alias
        scope = source_scope(source, alias)
        compiler = Compiler(scope)
        where = self._where(source, alias)
        items = self._expand(source, alias, compiler)
        partition = query.partition_by
        if partition is not None and len(partition) == 0:
            raise KsqlStatementError("PARTITION BY requires at least one expression")
        generator = _AliasGenerator([c.name for c in source.schema.columns])
        named = self._name_items(items, generator)
        for _name, expr in named:
            if compiler.type_of(expr) is None:
                raise KsqlStatementError(
                    "Can't infer a type of null. Please explicitly cast it to a required type, "
                    "e.g. CAST(null AS VARCHAR)."
                )
        if partition is None:
            keys, values = self._keys_from_source(source, named, compiler)
            partition_null = False
        else:
            keys, values, partition_null = self._keys_from_partition(
                source, alias, named, compiler, generator
            )
        if not values and self.sink_name is not None and not partition_null:
            raise KsqlStatementError("The projection contains no value columns.")
        plan = QueryPlan(
            source, scope, where, keys, values, partition_null, partition is not None, query.limit
        )
        plan.projection = [OutputColumn(name, self._type(compiler, expr), expr) for name, expr in named]
        self._check_duplicates(plan)
        return plan

    # ---- WHERE ------------------------------------------------------------------------------
    def _where(self, source: DataSource, alias: str | None) -> n.Expr | None:
        return analyze_where(self.query.where, source, alias)

    # ---- SELECT -----------------------------------------------------------------------------
    def _expand(self, source: DataSource, alias: str | None, compiler: Compiler) -> list[_Item]:
        items: list[_Item] = []
        valid = {source.name} | ({alias} if alias else set())
        for item in self.query.select:
            if isinstance(item, n.SelectAll):
                if item.qualifier is not None and item.qualifier not in valid:
                    raise KsqlStatementError(f"'{item.qualifier}' is not a valid stream/table name or alias.")
                columns = self._star_columns(source)
                items.extend(_Item(c.name, n.ColumnRef(c.name), from_star=True) for c in columns)
            elif isinstance(item, n.SelectStructAll):
                struct_type = compiler.type_of(item.base)
                if not isinstance(struct_type, t.Struct):
                    raise KsqlStatementError(f"Expected STRUCT type, got: {t.type_name(struct_type)}")
                for field_name, _ in struct_type.fields:
                    items.append(_Item(field_name, n.Dereference(item.base, field_name)))
            else:
                expr = item.expr
                if self.sink_name is not None:  # push and pull queries may select ROWTIME etc.
                    check_select_item(item)
                items.append(_Item(item.alias, expr))
        for entry in items:
            try:
                compiler.type_of(entry.expr)
            except CoercionError as error:
                raise KsqlStatementError(f"Invalid Select: {error.message}.") from None
        return items

    def _star_columns(self, source: DataSource) -> list[Column]:
        if self.query.partition_by is None:
            return list(source.schema.columns)
        plain = {e.name for e in self.query.partition_by if isinstance(e, n.ColumnRef)}
        return [c for c in source.schema.value + source.schema.key if c.name not in plain]

    def _name_items(self, items: list[_Item], generator: _AliasGenerator) -> list[tuple[str, n.Expr]]:
        named: list[tuple[str, n.Expr]] = []
        for item in items:
            if item.name is not None:
                named.append((item.name, item.expr))
            elif isinstance(item.expr, n.ColumnRef):
                named.append((item.expr.name, item.expr))
            else:
                named.append((generator.for_expression(item.expr), item.expr))
        return named

    # ---- keys -------------------------------------------------------------------------------
    def _keys_from_source(
        self, source: DataSource, named: list[tuple[str, n.Expr]], compiler: Compiler
    ) -> tuple[list[OutputColumn], list[OutputColumn]]:
        keys: list[OutputColumn] = []
        values: list[OutputColumn] = []
        key_names = {c.name for c in source.schema.key}
        seen: dict[str, list[str]] = {}
        for name, expr in named:
            sql_type = compiler.type_of(expr)
            assert sql_type is not None
            if isinstance(expr, n.ColumnRef) and expr.name in key_names:
                seen.setdefault(expr.name, []).append(name)
                if len(seen[expr.name]) == 1:
                    keys.append(OutputColumn(name, sql_type, expr))
                continue
            values.append(OutputColumn(name, sql_type, expr))
        for key_name, aliases in seen.items():
            if len(aliases) > 1:
                raise KsqlStatementError(
                    f"The projection contains a key column ({t.quote(key_name)}) more than once, "
                    f"aliased as: {' and '.join(aliases)}."
                )
        if self.sink_name is not None:
            for column in source.schema.key:
                if column.name not in seen:
                    raise KsqlStatementError(
                        f"The query used to build {t.quote(self.sink_name)} must include the key column "
                        f"{column.name} in its projection (eg, SELECT {column.name}...)."
                    )
        # keys in source order
        order = [c.name for c in source.schema.key]
        keys.sort(key=lambda k: order.index(k.expr.name) if isinstance(k.expr, n.ColumnRef) else 0)
        return keys, values

    def _keys_from_partition(
        self,
        source: DataSource,
        alias: str | None,
        named: list[tuple[str, n.Expr]],
        compiler: Compiler,
        generator: _AliasGenerator,
    ) -> tuple[list[OutputColumn], list[OutputColumn], bool]:
        partition = list(self.query.partition_by or ())
        nulls = [e for e in partition if isinstance(e, n.NullLiteral)]
        if nulls and len(partition) > 1:
            raise KsqlStatementError("Cannot PARTITION BY multiple columns including NULL")
        partition_compiler = Compiler(source_scope(source, alias, "PARTITION BY"))
        for expr in partition:
            if not isinstance(expr, n.NullLiteral):
                partition_compiler.type_of(rewrite_rowtime_literals(expr))
        values_all = [(name, expr) for name, expr in named]
        if nulls:
            return [], [OutputColumn(name, self._type(compiler, e), e) for name, e in values_all], True
        star = any(isinstance(item, n.SelectAll) for item in self.query.select)
        keys: list[OutputColumn] = []
        used: set[int] = set()
        if not star and self.sink_name is not None:
            self._check_partition_projected(source, partition, named)
        for expr in partition:
            target = _unqualified(expr)
            matches = [i for i, (_, e) in enumerate(named) if _unqualified(e) == target]
            if not matches:
                name = self._partition_name(expr, generator)
                keys.append(OutputColumn(name, self._type(compiler, expr), expr))
                continue
            if len(matches) > 1:
                aliases = " and ".join(named[i][0] for i in matches)
                raise KsqlStatementError(
                    f"The projection contains a key column ({t.quote(named[matches[0]][0])}) more than once, "
                    f"aliased as: {aliases}."
                )
            index = matches[0]
            used.add(index)
            name, match_expr = named[index]
            keys.append(OutputColumn(name, self._type(compiler, match_expr), match_expr))
        values = [
            OutputColumn(name, self._type(compiler, e), e)
            for i, (name, e) in enumerate(named)
            if i not in used
        ]
        for key in keys:
            check_key_type(key.name, key.type)
        return keys, values, False

    def _check_partition_projected(
        self, source: DataSource, partition: list[n.Expr], named: list[tuple[str, n.Expr]]
    ) -> None:
        projected = {_unqualified(e) for _, e in named}
        if all(_unqualified(e) in projected for e in partition):
            return
        shown = [str(_qualified(e, source.name)) for e in partition]
        sink = t.quote(self.sink_name or "")
        if len(shown) == 1:
            raise KsqlStatementError(
                f"The query used to build {sink} must include the partitioning expression {shown[0]} in its "
                f"projection (eg, SELECT {shown[0]}...)."
            )
        raise KsqlStatementError(
            f"The query used to build {sink} must include the partitioning expressions {' and '.join(shown)} "
            f"in its projection (eg, SELECT {', '.join(shown)}...)."
        )

    def _partition_name(self, expr: n.Expr, generator: _AliasGenerator) -> str:
        if isinstance(expr, n.ColumnRef):
            return expr.name
        return generator.for_expression(expr)

    @staticmethod
    def _type(compiler: Compiler, expr: n.Expr) -> t.SqlType:
        sql_type = compiler.type_of(expr)
        if sql_type is None:
            raise KsqlStatementError(
                "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null "
                "AS VARCHAR)."
            )
        return sql_type

    def _check_duplicates(self, plan: QueryPlan) -> None:
        seen: set[str] = set()
        for column in plan.key_columns + plan.value_columns:
            if column.name in seen:
                raise KsqlStatementError(
                    f"Cannot create a stream with duplicate column names: {t.quote(column.name)}"
                    if self.sink_name
                    else f"Duplicate column names: {t.quote(column.name)}"
                )
            seen.add(column.name)


# ---------------------------------------------------------------------------------------------
# ROWTIME 'string' comparisons: ksqlDB rewrites string literals compared with ROWTIME to epoch ms


def rewrite_rowtime_literals(
    expr: n.Expr,
    columns: tuple[str, ...] = (ROWTIME,),
    parse: Callable[[str], int] | None = None,
) -> n.Expr:
    """Replace string literals compared to ROWTIME (or to ``columns``) with epoch milliseconds
    (UTC); ``parse`` turns a literal into them (default: ksqlDB's partial timestamp parser)."""
    from ksqldb_lite.schema.timestamps import parse_timestamp_literal

    to_millis = parse or parse_timestamp_literal

    def is_time(e: n.Expr) -> bool:
        return isinstance(e, n.ColumnRef) and e.name in columns

    def convert(e: n.Expr) -> n.Expr:
        if isinstance(e, n.StringLiteral):
            return n.IntegerLiteral(to_millis(e.value), True)
        return e

    def visit(e: n.Expr) -> n.Expr:
        if isinstance(e, n.Comparison):
            left, right = visit(e.left), visit(e.right)
            if is_time(left):
                right = convert(right)
            elif is_time(right):
                left = convert(left)
            return n.Comparison(e.op, left, right)
        if isinstance(e, n.Between):
            value = visit(e.value)
            if is_time(value):
                return n.Between(value, convert(e.low), convert(e.high), e.negated)
            return n.Between(value, visit(e.low), visit(e.high), e.negated)
        if isinstance(e, n.Logical):
            return n.Logical(e.op, visit(e.left), visit(e.right))
        if isinstance(e, n.Not):
            return n.Not(visit(e.expr))
        return e

    return visit(expr)
