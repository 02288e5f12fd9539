"""The syntax tree: statements and expressions as the parser produces them.

Identifiers are already resolved for case (unquoted → upper case; quoted keep their case).
``str(expression)`` formats like ksqlDB's ExpressionFormatter, because error messages and
generated names quote expressions that way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ksqldb_lite.schema.types import SqlType

# ---------------------------------------------------------------------------------------------
# Expressions


class Expr:
    """Base of expression nodes."""

    def children(self) -> tuple[Expr, ...]:
        """Direct sub-expressions."""
        return ()


@dataclass(frozen=True)
class NullLiteral(Expr):
    """NULL."""

    def __str__(self) -> str:
        return "null"


@dataclass(frozen=True)
class BooleanLiteral(Expr):
    """TRUE / FALSE."""

    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class IntegerLiteral(Expr):
    """A whole number; ``is_bigint`` when it does not fit an INTEGER."""

    value: int
    is_bigint: bool = False

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class DecimalLiteral(Expr):
    """A number with a decimal point and no exponent: a DECIMAL in ksqlDB."""

    value: Decimal

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class DoubleLiteral(Expr):
    """A number with an exponent (``1e-1``): a DOUBLE."""

    value: float

    def __str__(self) -> str:
        mantissa, _, exponent = f"{self.value:E}".partition("E")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}E{int(exponent)}"


@dataclass(frozen=True)
class StringLiteral(Expr):
    """A quoted string."""

    value: str

    def __str__(self) -> str:
        return "'" + self.value.replace("'", "''") + "'"


@dataclass(frozen=True)
class ColumnRef(Expr):
    """A column, optionally qualified by a source name or alias."""

    name: str
    qualifier: str | None = None

    def __str__(self) -> str:
        return f"{self.qualifier}.{self.name}" if self.qualifier else self.name


@dataclass(frozen=True)
class Dereference(Expr):
    """``base->field``."""

    base: Expr
    field: str

    def children(self) -> tuple[Expr, ...]:
        return (self.base,)

    def __str__(self) -> str:
        return f"{self.base}->{self.field}"


@dataclass(frozen=True)
class Subscript(Expr):
    """``base[index]`` (1-based arrays, negative from the end; map keys)."""

    base: Expr
    index: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.base, self.index)

    def __str__(self) -> str:
        return f"{self.base}[{self.index}]"


@dataclass(frozen=True)
class FunctionCall(Expr):
    """``NAME(args)``; ``star`` for ``NAME(*)``."""

    name: str
    args: tuple[Expr, ...]
    star: bool = False

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def __str__(self) -> str:
        inner = ", ".join(str(a) for a in self.args)
        if not self.args and (self.star or self.name == "COUNT"):
            inner = "*" if self.name == "COUNT" else ""
        return f"{self.name}({inner})"


@dataclass(frozen=True)
class Cast(Expr):
    """``CAST(expr AS type)``."""

    expr: Expr
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def __str__(self) -> str:
        return f"CAST({self.expr} AS {self.type})"


@dataclass(frozen=True)
class Unary(Expr):
    """``-x`` / ``+x``."""

    sign: str
    expr: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def __str__(self) -> str:
        inner = str(self.expr)
        if self.sign == "-":
            return "-" + (" " if inner.startswith("-") else "") + inner
        return "+" + inner


@dataclass(frozen=True)
class Arithmetic(Expr):
    """``left op right`` with op one of + - * / %."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True)
class Concat(Expr):
    """``left || right``."""

    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"({self.left} || {self.right})"


# ksqlDB's ComparisonExpression.Type: (symbol, name)
COMPARISON_NAMES = {
    "=": "EQUAL",
    "<>": "NOT_EQUAL",
    "<": "LESS_THAN",
    "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
    "IS DISTINCT FROM": "IS_DISTINCT_FROM",
    "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM",
}


@dataclass(frozen=True)
class Comparison(Expr):
    """``left op right``; op is one of the keys of :data:`COMPARISON_NAMES`."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    @property
    def op_name(self) -> str:
        """ksqlDB's name of the operator (``GREATER_THAN_OR_EQUAL``)."""
        return COMPARISON_NAMES[self.op]

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True)
class Between(Expr):
    """``value [NOT] BETWEEN low AND high``."""

    value: Expr
    low: Expr
    high: Expr
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        return (self.value, self.low, self.high)

    def __str__(self) -> str:
        text = f"({self.value} BETWEEN {self.low} AND {self.high})"
        return f"(NOT {text})" if self.negated else text


@dataclass(frozen=True)
class InList(Expr):
    """``value [NOT] IN (items)``."""

    value: Expr
    items: tuple[Expr, ...]
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        return (self.value, *self.items)

    def __str__(self) -> str:
        text = f"({self.value} IN ({', '.join(str(i) for i in self.items)}))"
        return f"(NOT {text})" if self.negated else text


@dataclass(frozen=True)
class Like(Expr):
    """``value [NOT] LIKE pattern [ESCAPE 'c']``."""

    value: Expr
    pattern: Expr
    escape: str | None = None
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        return (self.value, self.pattern)

    def __str__(self) -> str:
        escape = f" ESCAPE '{self.escape}'" if self.escape is not None else ""
        text = f"({self.value} LIKE {self.pattern}{escape})"
        return f"(NOT {text})" if self.negated else text


@dataclass(frozen=True)
class IsNull(Expr):
    """``value IS [NOT] NULL``."""

    value: Expr
    negated: bool = False

    def children(self) -> tuple[Expr, ...]:
        return (self.value,)

    def __str__(self) -> str:
        return f"({self.value} IS {'NOT ' if self.negated else ''}NULL)"


@dataclass(frozen=True)
class Not(Expr):
    """``NOT expr``."""

    expr: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def __str__(self) -> str:
        return f"(NOT {self.expr})"


@dataclass(frozen=True)
class Logical(Expr):
    """``left AND right`` / ``left OR right``."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True)
class SearchedCase(Expr):
    """``CASE WHEN c THEN r … [ELSE d] END``."""

    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None = None

    def children(self) -> tuple[Expr, ...]:
        flat = [e for pair in self.whens for e in pair]
        return (*flat, self.default) if self.default is not None else tuple(flat)

    def __str__(self) -> str:
        parts = ["CASE"] + [f"WHEN {c} THEN {r}" for c, r in self.whens]
        if self.default is not None:
            parts += ["ELSE", str(self.default)]
        return "(" + " ".join([*parts, "END"]) + ")"


@dataclass(frozen=True)
class SimpleCase(Expr):
    """``CASE operand WHEN v THEN r … [ELSE d] END``."""

    operand: Expr
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None = None

    def children(self) -> tuple[Expr, ...]:
        flat = [self.operand] + [e for pair in self.whens for e in pair]
        return (*flat, self.default) if self.default is not None else tuple(flat)

    def __str__(self) -> str:
        parts = ["CASE", str(self.operand)] + [f"WHEN {c} THEN {r}" for c, r in self.whens]
        if self.default is not None:
            parts += ["ELSE", str(self.default)]
        return "(" + " ".join([*parts, "END"]) + ")"


@dataclass(frozen=True)
class CreateArray(Expr):
    """``ARRAY[items]``."""

    items: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.items

    def __str__(self) -> str:
        return "ARRAY[" + ", ".join(str(i) for i in self.items) + "]"


@dataclass(frozen=True)
class CreateMap(Expr):
    """``MAP(k := v, …)``."""

    entries: tuple[tuple[Expr, Expr], ...]

    def children(self) -> tuple[Expr, ...]:
        return tuple(e for pair in self.entries for e in pair)

    def __str__(self) -> str:
        return "MAP(" + ", ".join(f"{k}:={v}" for k, v in self.entries) + ")"


@dataclass(frozen=True)
class CreateStruct(Expr):
    """``STRUCT(name := v, …)``."""

    fields: tuple[tuple[str, Expr], ...]

    def children(self) -> tuple[Expr, ...]:
        return tuple(v for _, v in self.fields)

    def __str__(self) -> str:
        return "STRUCT(" + ", ".join(f"{n}:={v}" for n, v in self.fields) + ")"


def walk(expr: Expr) -> list[Expr]:
    """The expression and all its sub-expressions, depth first."""
    out = [expr]
    for child in expr.children():
        out.extend(walk(child))
    return out


# ---------------------------------------------------------------------------------------------
# Queries


@dataclass(frozen=True)
class SelectExpression:
    """``expr [AS alias]``."""

    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class SelectAll:
    """``*`` or ``source.*``."""

    qualifier: str | None = None


@dataclass(frozen=True)
class SelectStructAll:
    """``expr->*``."""

    base: Expr


SelectItem = SelectExpression | SelectAll | SelectStructAll


@dataclass(frozen=True)
class WindowSpec:
    """A WINDOW clause (tier 2)."""

    kind: str  # TUMBLING, HOPPING, SESSION
    size_ms: int
    advance_ms: int | None = None
    retention_ms: int | None = None
    grace_ms: int | None = None


@dataclass(frozen=True)
class Relation:
    """``FROM source [AS alias]``."""

    name: str
    alias: str | None = None


@dataclass(frozen=True)
class Query:
    """A SELECT."""

    select: tuple[SelectItem, ...]
    source: Relation
    where: Expr | None = None
    group_by: tuple[Expr, ...] | None = None
    partition_by: tuple[Expr, ...] | None = None
    having: Expr | None = None
    window: WindowSpec | None = None
    emit: str | None = None  # CHANGES, FINAL or None
    limit: int | None = None
    has_join: bool = False


# ---------------------------------------------------------------------------------------------
# Statements


@dataclass
class Statement:
    """Base of statements; ``text`` is the statement as written (without the ';')."""

    text: str = field(default="", kw_only=True)
    line: int = field(default=1, kw_only=True)
    column: int = field(default=1, kw_only=True)


@dataclass(frozen=True)
class TableElement:
    """A column definition: name, type and constraint (KEY, PRIMARY KEY, HEADERS, HEADER)."""

    name: str
    type: SqlType
    constraint: str | None = None
    header_key: str | None = None
    line: int = 1
    column: int = 1


# WITH clause values: literal python values (str, int, float, Decimal, bool, None)
Properties = dict[str, object]


@dataclass
class CreateSource(Statement):
    """CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (elements) WITH (...)."""

    kind: str  # STREAM or TABLE
    name: str
    elements: tuple[TableElement, ...]
    properties: Properties
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False


@dataclass
class CreateAsSelect(Statement):
    """CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name WITH (...) AS SELECT …"""

    kind: str
    name: str
    properties: Properties
    query: Query
    or_replace: bool = False
    if_not_exists: bool = False


@dataclass
class InsertInto(Statement):
    """INSERT INTO target [WITH (...)] SELECT …"""

    target: str
    properties: Properties
    query: Query


@dataclass
class InsertValues(Statement):
    """INSERT INTO target [(columns)] VALUES (…)."""

    target: str
    columns: tuple[str, ...] | None
    values: tuple[Expr, ...]
    target_quoted: bool = False


@dataclass
class QueryStatement(Statement):
    """A bare SELECT (push or pull query)."""

    query: Query


@dataclass
class DropSource(Statement):
    """DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]."""

    kind: str
    name: str
    if_exists: bool = False
    delete_topic: bool = False


@dataclass
class Terminate(Statement):
    """TERMINATE query_id | ALL (query_id None)."""

    query_id: str | None


@dataclass
class SetProperty(Statement):
    """SET 'name' = 'value'."""

    name: str
    value: str


@dataclass
class UnsetProperty(Statement):
    """UNSET 'name'."""

    name: str


@dataclass
class DefineVariable(Statement):
    """DEFINE name = 'value'."""

    name: str
    value: str


@dataclass
class UndefineVariable(Statement):
    """UNDEFINE name."""

    name: str


@dataclass
class ListStatement(Statement):
    """SHOW|LIST STREAMS / TABLES / QUERIES / TOPICS / PROPERTIES / VARIABLES / FUNCTIONS / TYPES."""

    what: str
    extended: bool = False
    all_topics: bool = False


@dataclass
class Describe(Statement):
    """DESCRIBE name [EXTENDED] (name None: DESCRIBE STREAMS)."""

    name: str | None
    extended: bool = False


@dataclass
class DescribeFunction(Statement):
    """DESCRIBE FUNCTION name."""

    name: str


@dataclass
class PrintTopic(Statement):
    """PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]."""

    topic: str
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None


@dataclass
class Unsupported(Statement):
    """A statement ksqlDB knows and this server refuses (feature named in the error)."""

    feature: str


def transform(expr: Expr, replace: Callable[[Expr], Expr | None]) -> Expr:
    """Rebuild ``expr`` top-down: where ``replace`` returns an expression, use it instead of the
    sub-tree; elsewhere recurse into the children."""
    found = replace(expr)
    if found is not None:
        return found
    instance: Any = expr
    changes: dict[str, object] = {}
    for f in dataclasses.fields(instance):
        value = getattr(expr, f.name)
        if isinstance(value, Expr):
            changes[f.name] = transform(value, replace)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(_transform_item(item, replace) for item in value)
    rebuilt: Expr = dataclasses.replace(instance, **changes) if changes else expr
    return rebuilt


def _transform_item(item: object, replace: Callable[[Expr], Expr | None]) -> object:
    if isinstance(item, Expr):
        return transform(item, replace)
    if isinstance(item, tuple):
        return tuple(_transform_item(x, replace) for x in item)
    return item
