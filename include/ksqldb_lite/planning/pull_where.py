"""The WHERE clause of a pull query, read as ksqlDB 0.29's ``QueryFilterNode`` reads it.

ksqlDB rewrites the predicate first (string literals compared with ROWTIME, WINDOWSTART or
WINDOWEND become epoch milliseconds; ``BETWEEN`` becomes two comparisons, ``IN`` a disjunction
of equalities; NOT is pushed down) and splits it into disjuncts (disjunctive normal form). Each
disjunct is then checked:

* its atoms must be comparisons or LIKE (``IS NULL``, a bare boolean column… are refused);
* WINDOWSTART / WINDOWEND may only be compared with ``= < <= > >=``;
* a disjunct that compares every key column with ``=`` to a value that needs no column is a
  *key lookup*; anything else needs a *table scan*, which ksqlDB allows by default
  (``ksql.query.pull.table.scan.enabled=true``); with scans disabled the same cases are
  refused with ksqlDB's messages.

The result, :class:`PullWhere`, says which keys to read (or that the whole table is read); the
full WHERE clause is evaluated on every row read in both cases, as ksqlDB does, so a lookup
only narrows what is read. For windowed tables the window bounds of a key lookup are checked
as ksqlDB checks them (one bound of each kind, ``=`` alone); they then filter the windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.expressions import Compiler, ExpressionError
from ksqldb_lite.planning.planner import rewrite_rowtime_literals
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import ROWTIME, WINDOWEND, WINDOWSTART, Column
from ksqldb_lite.schema.timestamps import parse_timestamp_literal

QUERIES_DOC_LINK = "https://cnfl.io/queries"
SYNTAX_HELP = (
    f" See {QUERIES_DOC_LINK} for more info.\nAdd EMIT CHANGES if you intended to issue a push query."
)
WINDOW_BOUNDS = (WINDOWSTART, WINDOWEND)
WINDOW_BOUND_OPS = ("=", ">", ">=", "<", "<=")
_NEGATED = {"=": "<>", "<>": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}
_TIME_COLUMNS = (ROWTIME, WINDOWSTART, WINDOWEND)


def invalid_where(message: str, windowed: bool) -> KsqlStatementError:
    """ksqlDB's ``invalidWhereClauseException``: the reason, then what a pull query needs."""
    extra = ""
    if windowed:
        extra = (
            "\n - (optionally) limits the time bounds of the windowed table."
            "\n\t Bounds on [`WINDOWSTART`, `WINDOWEND`] are supported"
            "\n\t Supported operators are [EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN, "
            "LESS_THAN_OR_EQUAL]"
        )
    return KsqlStatementError(
        f"{message}.{SYNTAX_HELP}\nPull queries require a WHERE clause that:"
        "\n - includes a key equality expression, e.g. `SELECT * FROM X WHERE <key-column> = Y;`."
        "\n - in the case of a multi-column key, is a conjunction of equality expressions that "
        "cover all key columns."
        "\n - to support range expressions, e.g.,  SELECT * FROM X WHERE <key-column> < Y;`, range "
        "scans need to be enabled by setting ksql.query.pull.range.scan.enabled=true"
        f"{extra}\nIf more flexible queries are needed, , table scans can be enabled by setting "
        "ksql.query.pull.table.scan.enabled=true."
    )


def rewrite_time_literals(expr: n.Expr) -> n.Expr:
    """String literals compared with ROWTIME / WINDOWSTART / WINDOWEND become epoch ms (UTC), as
    ksqlDB's ``StatementRewriteForMagicPseudoTimestamp`` does for pull queries."""

    def parse(text: str) -> int:
        try:
            return parse_timestamp_literal(text)
        except KsqlStatementError:
            raise invalid_where(f"Failed to parse datetime: {text}", True) from None

    return rewrite_rowtime_literals(expr, _TIME_COLUMNS, parse)


def _normalize(e: n.Expr, negate: bool = False) -> n.Expr:
    """BETWEEN and IN rewritten into comparisons, NOT pushed down to the atoms."""
    if isinstance(e, n.Not):
        return _normalize(e.expr, not negate)
    if isinstance(e, n.Logical):
        op = e.op if not negate else ("OR" if e.op == "AND" else "AND")
        return n.Logical(op, _normalize(e.left, negate), _normalize(e.right, negate))
    if isinstance(e, n.Between):
        both = n.Logical("AND", n.Comparison(">=", e.value, e.low), n.Comparison("<=", e.value, e.high))
        return _normalize(both, negate != e.negated)
    if isinstance(e, n.InList):
        equalities: n.Expr = n.Comparison("=", e.value, e.items[-1])
        for item in reversed(e.items[:-1]):
            equalities = n.Logical("OR", n.Comparison("=", e.value, item), equalities)
        return _normalize(equalities, negate != e.negated)
    if negate:
        if isinstance(e, n.Comparison) and e.op in _NEGATED:
            return n.Comparison(_NEGATED[e.op], e.left, e.right)
        if isinstance(e, n.IsNull):
            return n.IsNull(e.value, not e.negated)
        return n.Not(e)
    return e


def disjuncts(where: n.Expr) -> list[list[n.Expr]]:
    """The predicate in disjunctive normal form: a list of conjunctions of atoms."""

    def dnf(e: n.Expr) -> list[list[n.Expr]]:
        if isinstance(e, n.Logical) and e.op == "OR":
            return dnf(e.left) + dnf(e.right)
        if isinstance(e, n.Logical) and e.op == "AND":
            return [a + b for a in dnf(e.left) for b in dnf(e.right)]
        return [[e]]

    return dnf(_normalize(where))


def _conjunction(atoms: list[n.Expr]) -> n.Expr:
    out = atoms[0]
    for atom in atoms[1:]:
        out = n.Logical("AND", out, atom)
    return out


@dataclass
class WindowBounds:
    """The WINDOWSTART / WINDOWEND bounds of one disjunct (ksqlDB's ``WindowBounds``)."""

    bounds: dict[tuple[str, str], int]  # (column, "=" | "lower" | "upper") -> epoch ms


@dataclass(frozen=True)
class PullWhere:
    """How a pull query reads its table: ``keys`` (each a list of key column values, in the
    order the WHERE clause names them, duplicates removed) or ``None`` for a table scan."""

    keys: list[list[Any]] | None


class _Analyzer:
    def __init__(
        self, key_columns: tuple[Column, ...], windowed: bool, scans_enabled: bool, compiler: Compiler
    ) -> None:
        self.key_columns = key_columns
        self.key_index = {c.name: i for i, c in enumerate(key_columns)}
        self.windowed = windowed
        self.scans_enabled = scans_enabled
        self.compiler = compiler
        self.scan = False

    def _scan_or_fail(self, message: str, windowed: bool | None = None) -> None:
        if not self.scans_enabled:
            raise invalid_where(message, self.windowed if windowed is None else windowed)
        self.scan = True

    @staticmethod
    def _column_side(c: n.Comparison) -> tuple[n.ColumnRef, n.Expr] | None:
        if isinstance(c.right, n.ColumnRef):
            return c.right, c.left
        if isinstance(c.left, n.ColumnRef):
            return c.left, c.right
        return None

    def check(self, disjunct: list[n.Expr]) -> None:
        """ksqlDB's ``Validator``: refuse what no plan answers, note what needs a scan."""
        seen: set[int] = set()
        keyed = False
        for atom in disjunct:
            if isinstance(atom, n.Like) and not atom.negated:
                self._check_like(atom)
                continue
            if not isinstance(atom, n.Comparison):
                raise invalid_where(f"Unsupported expression in WHERE clause: {atom}", False)
            sides = self._column_side(atom)
            if sides is None:
                self._scan_or_fail("A comparison must directly reference a key column")
                continue
            column, other = sides
            if any(isinstance(e, n.ColumnRef) for e in n.walk(other)):
                self._scan_or_fail("A comparison must be between a key column and a resolvable expression")
                continue
            if column.name in WINDOW_BOUNDS:
                if atom.op not in WINDOW_BOUND_OPS:
                    raise invalid_where(f"Unsupported {column.name} bounds: {atom.op_name}", True)
                continue
            index = self.key_index.get(column.name)
            if index is None:
                continue  # a value column: a filter on the rows read
            if atom.op not in WINDOW_BOUND_OPS:  # <>, IS [NOT] DISTINCT FROM: no key bound
                keys = ", ".join(f"{t.quote(c.name)} {c.type} KEY" for c in self.key_columns)
                self._scan_or_fail(f"Bound on key columns '[{keys}]' must currently be '='")
            if index in seen and not self.scans_enabled:
                raise invalid_where(
                    "A comparison condition on the key column cannot be combined with other comparisons "
                    "such as an IN predicate",
                    self.windowed,
                )
            seen.add(index)
            keyed = True
        if not keyed:
            self._scan_or_fail(f"WHERE clause missing key column for disjunct: {_conjunction(disjunct)}")
        elif len(seen) != len(self.key_columns):
            names = [self.key_columns[i].name for i in sorted(seen)]
            expected = ", ".join(f"{t.quote(c.name)} {c.type} KEY" for c in self.key_columns)
            self._scan_or_fail(
                f"Multi-column sources must specify every key in the WHERE clause. Specified: "
                f"[{', '.join(t.quote(name) for name in names)}] Expected: [{expected}]"
            )

    def _check_like(self, like: n.Like) -> None:
        if not isinstance(like.value, n.ColumnRef):
            self._scan_or_fail("Like condition must be between strings")
            return
        sql_type = self.compiler.type_of(like.value)
        if sql_type is None or sql_type.base is not t.BaseType.STRING:
            shown = t.type_name(sql_type)
            raise invalid_where(
                f"The column type for Like condition must be VARCHAR. The column type is {shown}",
                self.windowed,
            )
        if not isinstance(like.pattern, n.StringLiteral | n.NullLiteral):
            raise invalid_where("Like condition on non-string pattern", self.windowed)

    def key_of(self, disjunct: list[n.Expr]) -> tuple[str, list[Any] | None]:
        """What a keyed disjunct reads, as ksqlDB's ``KeyValueExtractor`` decides: ``("lookup",
        key)`` when it compares every key column with ``=`` (``=`` wins over other comparisons
        of a column), ``("range", None)`` for a range on a single STRING key, else ``("scan",
        None)``. Window bounds are checked on the way."""
        key: list[Any] = [None] * len(self.key_columns)
        ops: dict[int, str] = {}
        bounds = WindowBounds({})
        for atom in disjunct:
            if not isinstance(atom, n.Comparison):
                continue
            sides = self._column_side(atom)
            if sides is None:
                continue
            column, other = sides
            if column.name in WINDOW_BOUNDS and self.windowed:
                self._bound(atom, column, other, bounds)
                continue
            index = self.key_index.get(column.name)
            if index is None or ops.get(index) == "=" or (index in ops and atom.op != "="):
                continue
            ops[index] = atom.op
            if atom.op == "=":
                key[index] = self._resolve_key(other, self.key_columns[index], atom)
        if not ops:
            return "scan", None
        if all(op == "=" for op in ops.values()) and len(ops) == len(self.key_columns):
            return "lookup", key
        if len(self.key_columns) == 1 and self.key_columns[0].type.base is t.BaseType.STRING:
            return "range", None
        return "scan", None

    def _bound(self, atom: n.Comparison, column: n.ColumnRef, other: n.Expr, bounds: WindowBounds) -> None:
        op = atom.op if atom.right is other else _FLIPPED[atom.op]
        kind = "=" if op == "=" else ("upper" if op in ("<", "<=") else "lower")
        value = self._resolve_bound(other)
        if (column.name, kind) in bounds.bounds:
            name = {"=": "EQUAL", "upper": "LESS_THAN", "lower": "GREATER_THAN"}[kind]
            raise invalid_where(f"Duplicate {column.name} bounds on: {name}", True)
        bounds.bounds[(column.name, kind)] = value
        kinds = {k for (c, k) in bounds.bounds if c == column.name}
        if "=" in kinds and len(kinds) > 1:
            raise invalid_where(f"`{atom}` cannot be combined with other {column.name} bounds", True)

    def _constant(self, expr: n.Expr) -> Any:
        return self.compiler.compile(expr)([])

    def _resolve_bound(self, expr: n.Expr) -> int:
        if isinstance(expr, n.IntegerLiteral):
            return expr.value
        try:
            value = self._constant(expr)
        except (ExpressionError, KsqlStatementError):
            value = None
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid_where(
                "Window bounds must resolve to an INT, BIGINT, or STRING containing a datetime.", True
            )
        return value

    def _resolve_key(self, expr: n.Expr, column: Column, atom: n.Comparison) -> Any:
        value = expr.value if isinstance(expr, n.StringLiteral | n.IntegerLiteral) else self._constant(expr)
        if value is None:
            raise KsqlStatementError(f"Primary key columns can not be NULL: {atom}")
        coerced = _coerce_key(value, column.type)
        if coerced is None:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            raise KsqlStatementError(
                f"'{shown}' can not be converted to the type of the key column: {column.name} {column.type} KEY"
            )
        return coerced


def _coerce_key(value: Any, sql_type: t.SqlType) -> Any:
    """ksqlDB's strict coercion of a lookup value to the key column's type (widening only);
    None when it does not convert."""
    base = sql_type.base
    if isinstance(value, bool):
        return value if base is t.BaseType.BOOLEAN else None
    if base in (t.BaseType.INTEGER, t.BaseType.BIGINT):
        return value if isinstance(value, int) else None
    if base is t.BaseType.DOUBLE:
        return float(value) if isinstance(value, int | float | Decimal) else None
    if base is t.BaseType.DECIMAL:
        return Decimal(value) if isinstance(value, int | Decimal) else None
    if base is t.BaseType.STRING:
        return value if isinstance(value, str) else None
    return value


def analyze_pull_where(
    where: n.Expr | None,
    key_columns: tuple[Column, ...],
    windowed: bool,
    scans_enabled: bool,
    compiler: Compiler,
    range_scans_enabled: bool = True,
) -> PullWhere:
    """Check a pull query's (already type-checked, time-literal rewritten) WHERE clause and plan
    how to read the table; raises ksqlDB's errors."""
    if where is None:
        if not scans_enabled:
            raise invalid_where("Missing WHERE clause", windowed)
        return PullWhere(None)
    analyzer = _Analyzer(key_columns, windowed, scans_enabled, compiler)
    parts = disjuncts(where)
    for disjunct in parts:
        analyzer.check(disjunct)
    if analyzer.scan:
        return PullWhere(None)
    keys: list[list[Any]] = []
    kinds: set[str] = set()
    for disjunct in parts:
        kind, key = analyzer.key_of(disjunct)
        kinds.add(kind)
        if key is not None and key not in keys:
            keys.append(key)
    if kinds == {"lookup"}:
        return PullWhere(keys)
    # A range scan reads what a scan filtered by the WHERE clause gives; ksqlDB plans one only
    # for a non-windowed table with range scans enabled, else it needs a table scan.
    needs_scan = "scan" in kinds or windowed or not range_scans_enabled
    if needs_scan and not scans_enabled:
        raise KsqlStatementError(
            "Query requires table scan to be enabled. Table scans can be enabled by setting "
            "ksql.query.pull.table.scan.enabled=true"
        )
    return PullWhere(None)
