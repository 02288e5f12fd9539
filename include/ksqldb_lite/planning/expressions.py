"""Expression typing and compilation to Python closures.

An expression is compiled ONCE into a closure ``fn(row) -> value`` over a row list (see
:class:`Scope` for the layout); nothing walks the syntax tree per record. Typing follows
ksqlDB's ExpressionTypeManager and the generated Java code's semantics: comparisons are false
(not null) when a side is null, arithmetic on null is null, integer arithmetic wraps like
Java's ``int``/``long``, CAST and function errors yield null and a processing-log entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.function import udf as functions
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.coercion import (
    TypedLiteral,
    UserListCoercer,
    cast_function,
    decimal_type_of_value,
    literal_value,
)
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.javalang import wrap_int, wrap_long

Row = list[Any]
Fn = Callable[[Row], Any]
B = t.BaseType

# Errors an expression may raise at run time (the Java code's exceptions).
EVALUATION_ERRORS = (
    ArithmeticError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)


class ExpressionError(KsqlStatementError):
    """A type error in an expression."""


@dataclass
class ErrorSink:
    """Where run-time expression errors go (the runtime points it at the processing log)."""

    report: Callable[[str], None] = field(default=lambda message: None)


@dataclass(frozen=True)
class ColumnSlot:
    """A column visible to expressions: its type and its index in the row list."""

    name: str
    type: t.SqlType
    index: int


@dataclass
class Scope:
    """The columns an expression may reference, and how errors name the clause.

    By default a column compiles to ``row[slot.index]``. A scope may instead supply
    ``accessor(slot)`` (how to read a column from whatever row object the caller passes) and
    ``path_accessor(slot, fields)`` (how to read ``column->f1->f2`` directly, or None) — the
    runtime uses this to evaluate a WHERE clause on the decoded JSON before coercing the record.
    """

    columns: dict[str, ColumnSlot]
    qualifiers: frozenset[str]
    clause: str = "SELECT"
    source_name: str = ""
    accessor: Callable[[ColumnSlot], Fn] | None = None
    path_accessor: Callable[[ColumnSlot, list[str]], Fn | None] | None = None

    def resolve(self, ref: n.ColumnRef) -> ColumnSlot:
        """The slot of a column reference, or ksqlDB's 'cannot be resolved' error."""
        if ref.qualifier is not None and ref.qualifier not in self.qualifiers:
            raise ExpressionError(f"{self.clause} column '{ref}' cannot be resolved.")
        slot = self.columns.get(ref.name)
        if slot is None:
            raise ExpressionError(self.unresolved_message(ref))
        return slot

    def unresolved_message(self, ref: n.ColumnRef) -> str:
        """The error for a column that does not exist."""
        message = f"{self.clause} column '{ref}' cannot be resolved."
        if self.clause == "PARTITION BY":
            message += (
                f" '{ref}' must be a column in the source schema since PARTITION BY is applied on the input."
            )
        return message


def _java_div(a: int, b: int) -> int:
    if b == 0:
        raise ArithmeticError("/ by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _java_mod(a: int, b: int) -> int:
    if b == 0:
        raise ArithmeticError("/ by zero")
    return a - b * _java_div(a, b)


def _double_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _double_mod(a: float, b: float) -> float:
    if b == 0 or math.isinf(a):
        return math.nan
    return math.fmod(a, b)


def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape is not None and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _in_match(value: Any, candidate: Any) -> bool:
    """ksqlDB's InListEvaluator.isMatch for already-coerced values."""
    if value is None or candidate is None:
        return False
    return _structured_equal(value, candidate)


def _structured_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_structured_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and _structured_equal(v, b[k]) for k, v in a.items())
    if type(a) is bool or type(b) is bool:
        return a is b
    return bool(a == b)


class Compiler:
    """Types and compiles expressions within one scope."""

    def __init__(self, scope: Scope, errors: ErrorSink | None = None) -> None:
        self.scope = scope
        self.errors = errors or ErrorSink()
        self._types: dict[int, t.SqlType | None] = {}

    # ------------------------------------------------------------------------------------------
    # typing

    def type_of(self, expr: n.Expr) -> t.SqlType | None:
        """The SQL type of an expression (None for the NULL literal); raises type errors."""
        key = id(expr)
        if key in self._types:
            return self._types[key]
        found = self._type_of(expr)
        self._types[key] = found
        return found

    def _type_of(self, e: n.Expr) -> t.SqlType | None:
        if isinstance(e, n.NullLiteral):
            return None
        if isinstance(e, TypedLiteral):
            return e.sql_type
        if isinstance(e, n.BooleanLiteral):
            return t.BOOLEAN
        if isinstance(e, n.IntegerLiteral):
            return t.BIGINT if e.is_bigint else t.INTEGER
        if isinstance(e, n.DecimalLiteral):
            return decimal_type_of_value(e.value)
        if isinstance(e, n.DoubleLiteral):
            return t.DOUBLE
        if isinstance(e, n.StringLiteral):
            return t.STRING
        if isinstance(e, n.ColumnRef):
            return self.scope.resolve(e).type
        if isinstance(e, n.Dereference):
            base = self.type_of(e.base)
            if not isinstance(base, t.Struct):
                raise ExpressionError(f"Expected STRUCT type, got: {t.type_name(base)}")
            found = base.field(e.field)
            if found is None:
                raise ExpressionError(f"Could not find field '{e.field}' in '{e.base}'.")
            return found
        if isinstance(e, n.Subscript):
            base = self.type_of(e.base)
            if isinstance(base, t.Array):
                return base.element
            if isinstance(base, t.Map):
                return base.value
            hint = (
                f" Use the dereference operator for STRUCTS: {e.base}->{e.index}"
                if isinstance(base, t.Struct)
                else ""
            )
            raise ExpressionError(f"Subscript expression ({e}) do not apply to {t.type_name(base)}.{hint}")
        if isinstance(e, n.FunctionCall):
            return self._resolve_function(e).return_type
        if isinstance(e, n.Cast):
            source = self.type_of(e.expr)
            cast_function(source, e.type)
            return e.type
        if isinstance(e, n.Unary):
            inner = self.type_of(e.expr)
            if inner is not None and not inner.base.is_number:
                raise ExpressionError(f"Unsupported arithmetic types. {inner.base.name}")
            return inner
        if isinstance(e, n.Arithmetic):
            return self._arithmetic_type(e)
        if isinstance(e, n.Concat):
            return t.STRING
        if isinstance(e, n.Comparison):
            self._check_comparison(e)
            return t.BOOLEAN
        if isinstance(e, n.Between):
            for bound, op in ((e.low, ">="), (e.high, "<=")):
                self._check_comparison(n.Comparison(op, e.value, bound))
            return t.BOOLEAN
        if isinstance(e, n.InList):
            self._in_list(e)
            return t.BOOLEAN
        if isinstance(e, n.Like):
            for side in (e.value, e.pattern):
                side_type = self.type_of(side)
                if side_type is not None and side_type.base is not B.STRING:
                    raise ExpressionError(f"LIKE operands must be STRING: {side} ({side_type})")
            return t.BOOLEAN
        if isinstance(e, n.IsNull):
            self.type_of(e.value)
            return t.BOOLEAN
        if isinstance(e, n.Not):
            self.type_of(e.expr)
            return t.BOOLEAN
        if isinstance(e, n.Logical):
            self.type_of(e.left)
            self.type_of(e.right)
            return t.BOOLEAN
        if isinstance(e, n.SearchedCase):
            return self._case_type(e)
        if isinstance(e, n.SimpleCase):
            return self._case_type(self._searched(e))
        if isinstance(e, n.CreateArray):
            if not e.items:
                raise ExpressionError(
                    "Array constructor cannot be empty. Please supply at least one element "
                    "(see https://github.com/confluentinc/ksql/issues/4239)."
                )
            common, _ = UserListCoercer(self.type_of).coerce(e.items)
            if common is None:
                raise ExpressionError(
                    "Cannot construct an array with all NULL elements "
                    "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                    "cast a NULL value to the desired type."
                )
            return t.Array(common)
        if isinstance(e, n.CreateMap):
            if not e.entries:
                raise ExpressionError(
                    "Map constructor cannot be empty. Please supply at least one key value pair "
                    "(see https://github.com/confluentinc/ksql/issues/4239)."
                )
            key_type = self._non_null_common([k for k, _ in e.entries], "keys", "key")
            map_value = self._non_null_common([v for _, v in e.entries], "values", "value")
            return t.Map(key_type, map_value)
        if isinstance(e, n.CreateStruct):
            names = [name for name, _ in e.fields]
            if len(set(names)) != len(names):
                raise ExpressionError("Duplicate field names found in STRUCT: " + str(e))
            fields: list[tuple[str, t.SqlType]] = []
            for name, value in e.fields:
                value_type = self.type_of(value)
                if value_type is None:
                    raise ExpressionError(
                        "Can't infer a type of null. Please explicitly cast it to a required type, "
                        "e.g. CAST(null AS VARCHAR)."
                    )
                fields.append((name, value_type))
            return t.Struct(tuple(fields))
        raise ExpressionError(f"Unsupported expression: {e}")

    def _non_null_common(self, exprs: list[n.Expr], plural: str, singular: str) -> t.SqlType:
        common, _ = UserListCoercer(self.type_of).coerce(exprs)
        if common is None:
            raise ExpressionError(
                f"Cannot construct a map with all NULL {plural} "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may "
                f"cast a NULL {singular} to the desired type."
            )
        return common

    def _resolve_function(self, e: n.FunctionCall) -> functions.Resolved:
        arg_types = [self.type_of(a) for a in e.args]
        return functions.resolve(e.name, arg_types)

    def _arithmetic_type(self, e: n.Arithmetic) -> t.SqlType:
        left, right = self.type_of(e.left), self.type_of(e.right)
        try:
            return arithmetic_result_type(e.op, left, right)
        except ExpressionError as error:
            raise ExpressionError(f"Error processing expression: {e}. {error.message}") from None

    def _check_comparison(self, e: n.Comparison) -> None:
        left, right = self.type_of(e.left), self.type_of(e.right)
        if left is None or right is None:
            raise ExpressionError(
                f"Comparison with NULL not supported: {t.type_name(left).upper()} {e.op} "
                f"{t.type_name(right).upper()}\nUse 'IS NULL' or 'IS NOT NULL' instead."
            )
        if not valid_comparison(left, e.op, right):
            raise ExpressionError(
                f"Cannot compare {e.left} ({left}) to {e.right} ({right}) with {e.op_name}."
            )

    def _in_list(self, e: n.InList) -> tuple[n.Expr, list[n.Expr]]:
        items = [i for i in e.items if not isinstance(i, n.NullLiteral)]
        _, coerced = UserListCoercer(self.type_of).coerce([e.value, *items])
        return coerced[0], coerced[1:]

    def _searched(self, e: n.SimpleCase) -> n.SearchedCase:
        whens = tuple((n.Comparison("=", e.operand, value), result) for value, result in e.whens)
        return n.SearchedCase(whens, e.default)

    def _case_type(self, e: n.SearchedCase) -> t.SqlType:
        result: t.SqlType | None = None
        for cond, value in e.whens:
            cond_type = self.type_of(cond)
            if cond_type is None or cond_type.base is not B.BOOLEAN:
                raise ExpressionError(
                    f"WHEN operand type should be boolean.\nType for '{cond}' is {t.type_name(cond_type)}"
                )
            value_type = self.type_of(value)
            if value_type is None:
                continue
            if result is None:
                result = value_type
            elif result != value_type:
                raise ExpressionError(
                    "Invalid Case expression. Type for all 'THEN' clauses should be the same.\n"
                    f"THEN expression 'WHEN {cond} THEN {value}' has type: {value_type}.\n"
                    f"Previous THEN expression(s) type: {result}."
                )
        default = self.type_of(e.default) if e.default is not None else None
        if result is not None and default is not None and result != default:
            raise ExpressionError(
                "Invalid Case expression. Type for the default clause should be the same as for 'THEN' "
                "clauses.\n"
                f"THEN type: {result}.\nDEFAULT type: {default}."
            )
        found = result or default
        if found is None:
            raise ExpressionError("Invalid Case expression. All case branches have NULL type")
        return found

    # ------------------------------------------------------------------------------------------
    # compiling

    def compile(self, expr: n.Expr) -> Fn:
        """Compile to ``fn(row)``; types are checked first."""
        self.type_of(expr)
        return self._compile(expr)

    def _compile(self, e: n.Expr) -> Fn:
        if isinstance(
            e, n.NullLiteral | n.BooleanLiteral | n.IntegerLiteral | n.DoubleLiteral | n.StringLiteral
        ):
            value = literal_value(e)
            return lambda row: value
        if isinstance(e, n.DecimalLiteral):
            decimal_value = e.value
            return lambda row: decimal_value
        if isinstance(e, TypedLiteral):
            typed_value = e.value
            return lambda row: typed_value
        if isinstance(e, n.ColumnRef):
            slot = self.scope.resolve(e)
            if self.scope.accessor is not None:
                return self.scope.accessor(slot)
            index = slot.index
            return lambda row: row[index]
        if isinstance(e, n.Dereference):
            direct = self._path(e)
            if direct is not None:
                return direct
            base = self._compile(e.base)
            name = e.field

            def dereference(row: Row) -> Any:
                struct = base(row)
                return None if struct is None else struct.get(name)

            return dereference
        if isinstance(e, n.Subscript):
            return self._subscript(e)
        if isinstance(e, n.FunctionCall):
            return self._function(e)
        if isinstance(e, n.Cast):
            return self._cast(e)
        if isinstance(e, n.Unary):
            inner = self._compile(e.expr)
            if e.sign == "+":
                return inner
            inner_type = self.type_of(e.expr)
            wrap = wrap_int if inner_type == t.INTEGER else wrap_long if inner_type == t.BIGINT else None

            def negate(row: Row) -> Any:
                value = inner(row)
                if value is None:
                    return None
                return wrap(-value) if wrap else -value

            return negate
        if isinstance(e, n.Arithmetic):
            return self._arithmetic(e)
        if isinstance(e, n.Concat):
            left, right = self._compile(e.left), self._compile(e.right)

            def concat(row: Row) -> Any:
                a, b = left(row), right(row)
                return None if a is None or b is None else f"{a}{b}"

            return concat
        if isinstance(e, n.Comparison):
            return self._comparison(e)
        if isinstance(e, n.Between):
            low = self._comparison(n.Comparison(">=", e.value, e.low))
            high = self._comparison(n.Comparison("<=", e.value, e.high))
            if e.negated:
                return lambda row: not (low(row) and high(row))
            return lambda row: low(row) and high(row)
        if isinstance(e, n.InList):
            return self._in(e)
        if isinstance(e, n.Like):
            return self._like(e)
        if isinstance(e, n.IsNull):
            inner = self._compile(e.value)
            if e.negated:
                return lambda row: inner(row) is not None
            return lambda row: inner(row) is None
        if isinstance(e, n.Not):
            inner = self._compile(e.expr)

            def negation(row: Row) -> Any:
                value = inner(row)
                if value is None:
                    raise TypeError("NOT of a null BOOLEAN")
                return not value

            return negation
        if isinstance(e, n.Logical):
            left, right = self._compile(e.left), self._compile(e.right)
            if e.op == "AND":

                def conjunction(row: Row) -> Any:
                    a = left(row)
                    if a is None:
                        raise TypeError("AND on a null BOOLEAN")
                    if not a:
                        return False
                    b = right(row)
                    if b is None:
                        raise TypeError("AND on a null BOOLEAN")
                    return b

                return conjunction

            def disjunction(row: Row) -> Any:
                a = left(row)
                if a is None:
                    raise TypeError("OR on a null BOOLEAN")
                if a:
                    return True
                b = right(row)
                if b is None:
                    raise TypeError("OR on a null BOOLEAN")
                return b

            return disjunction
        if isinstance(e, n.SearchedCase):
            return self._case(e)
        if isinstance(e, n.SimpleCase):
            searched = self._searched(e)
            self.type_of(searched)
            return self._case(searched)
        if isinstance(e, n.CreateArray):
            _, items = UserListCoercer(self.type_of).coerce(e.items)
            fns = [self._typed_compile(i) for i in items]
            return lambda row: [f(row) for f in fns]
        if isinstance(e, n.CreateMap):
            _, keys = UserListCoercer(self.type_of).coerce([k for k, _ in e.entries])
            _, values = UserListCoercer(self.type_of).coerce([v for _, v in e.entries])
            pairs = [
                (self._typed_compile(k), self._typed_compile(v)) for k, v in zip(keys, values, strict=True)
            ]
            return lambda row: {k(row): v(row) for k, v in pairs}
        if isinstance(e, n.CreateStruct):
            compiled = [(name, self._compile(value)) for name, value in e.fields]
            return lambda row: {name: f(row) for name, f in compiled}
        raise ExpressionError(f"Unsupported expression: {e}")

    def _path(self, e: n.Dereference) -> Fn | None:
        """``column->a->b`` read directly, when the scope knows how."""
        if self.scope.path_accessor is None:
            return None
        fields: list[str] = []
        node: n.Expr = e
        while isinstance(node, n.Dereference):
            fields.insert(0, node.field)
            node = node.base
        if not isinstance(node, n.ColumnRef):
            return None
        return self.scope.path_accessor(self.scope.resolve(node), fields)

    def _typed_compile(self, e: n.Expr) -> Fn:
        self.type_of(e)
        return self._compile(e)

    def _subscript(self, e: n.Subscript) -> Fn:
        base = self._compile(e.base)
        index = self._compile(e.index)
        if isinstance(self.type_of(e.base), t.Map):

            def map_get(row: Row) -> Any:
                mapping = base(row)
                return None if mapping is None else mapping.get(index(row))

            return map_get

        def array_get(row: Row) -> Any:
            array = base(row)
            if array is None:
                return None
            i = index(row)
            if i is None:
                return None
            size = len(array)
            if i > 0:
                return array[i - 1] if i <= size else None
            if i < 0:
                return array[size + i] if -i <= size else None
            return None

        return array_get

    def _guarded(self, fn: Fn, what: str) -> Fn:
        """Errors inside ``fn`` become null plus a processing-log entry (ksqlDB's
        evaluateOrReturnNull around casts and function calls)."""
        errors = self.errors

        def guarded(row: Row) -> Any:
            try:
                return fn(row)
            except EVALUATION_ERRORS as error:
                errors.report(f"Error computing expression {what}: {error}")
                return None

        return guarded

    def _function(self, e: n.FunctionCall) -> Fn:
        resolved = self._resolve_function(e)
        impl = resolved.overload.impl
        args: list[Fn] = []
        for arg, target in zip(e.args, resolved.param_types, strict=True):
            source = self.type_of(arg)
            compiled = self._compile(arg)
            if source is not None and target is not None and source != target and source.base.is_number:
                converter = cast_function(source, target)
                if converter is not None:
                    compiled = _apply(converter, compiled)
            args.append(compiled)
        if not args:
            fn: Fn = lambda row: impl()  # noqa: E731
        elif len(args) == 1:
            (a0,) = args
            fn = lambda row: impl(a0(row))  # noqa: E731
        elif len(args) == 2:
            a0, a1 = args
            fn = lambda row: impl(a0(row), a1(row))  # noqa: E731
        else:
            fn = lambda row: impl(*[a(row) for a in args])  # noqa: E731
        return self._guarded(fn, str(e))

    def _cast(self, e: n.Cast) -> Fn:
        inner = self._compile(e.expr)
        converter = cast_function(self.type_of(e.expr), e.type)
        if converter is None:
            return inner
        return self._guarded(_apply(converter, inner), str(e))

    def _arithmetic(self, e: n.Arithmetic) -> Fn:
        result = self.type_of(e)
        left_type, right_type = self.type_of(e.left), self.type_of(e.right)
        left, right = self._compile(e.left), self._compile(e.right)
        op = e.op
        assert result is not None
        if result.base is B.STRING:

            def add_strings(row: Row) -> Any:
                a, b = left(row), right(row)
                return None if a is None or b is None else a + b

            return add_strings
        if isinstance(result, t.Decimal):
            return _decimal_arithmetic(op, result, left, right)
        if result.base is B.DOUBLE:
            if left_type is not None and left_type.base is B.DECIMAL:
                left = _apply(float, left)
            if right_type is not None and right_type.base is B.DECIMAL:
                right = _apply(float, right)
            return _double_arithmetic(op, left, right)
        wrap = wrap_int if result.base is B.INTEGER else wrap_long
        return _integer_arithmetic(op, wrap, left, right)

    def _comparison(self, e: n.Comparison) -> Fn:
        self._check_comparison(e)
        left, right = self._compile(e.left), self._compile(e.right)
        op = e.op
        if op == "IS DISTINCT FROM":
            return lambda row: _distinct(left(row), right(row))
        if op == "IS NOT DISTINCT FROM":
            return lambda row: not _distinct(left(row), right(row))
        compare = _COMPARATORS[op]
        left_type, right_type = self.type_of(e.left), self.type_of(e.right)
        if left_type is not None and right_type is not None:
            # ksqlDB compares a DOUBLE with a DECIMAL as BigDecimal.valueOf(double)
            if left_type.base is B.DOUBLE and right_type.base is B.DECIMAL:
                left = _apply(_double_to_decimal, left)
            elif right_type.base is B.DOUBLE and left_type.base is B.DECIMAL:
                right = _apply(_double_to_decimal, right)
        if isinstance(e.right, n.StringLiteral | n.IntegerLiteral | n.BooleanLiteral | TypedLiteral):
            constant = literal_value(e.right) if not isinstance(e.right, TypedLiteral) else e.right.value

            def compare_constant(row: Row) -> bool:
                value = left(row)
                return False if value is None else compare(value, constant)

            return compare_constant

        def compare_values(row: Row) -> bool:
            a = left(row)
            if a is None:
                return False
            b = right(row)
            if b is None:
                return False
            return compare(a, b)

        return compare_values

    def _in(self, e: n.InList) -> Fn:
        value_expr, item_exprs = self._in_list(e)
        value = self._typed_compile(value_expr)
        items = [self._typed_compile(i) for i in item_exprs]
        negated = e.negated

        def membership(row: Row) -> bool:
            v = value(row)
            found = False
            if v is not None:
                for item in items:
                    if _in_match(v, item(row)):
                        found = True
                        break
            return not found if negated else found

        return membership

    def _like(self, e: n.Like) -> Fn:
        value = self._compile(e.value)
        negated = e.negated
        if isinstance(e.pattern, n.StringLiteral):
            regex = _like_regex(e.pattern.value, e.escape)

            def like_constant(row: Row) -> Any:
                v = value(row)
                if v is None:
                    return bool(negated)
                return (regex.fullmatch(v) is None) if negated else (regex.fullmatch(v) is not None)

            return like_constant
        pattern = self._compile(e.pattern)
        escape = e.escape

        def like(row: Row) -> Any:
            v, p = value(row), pattern(row)
            matched = False if v is None or p is None else _like_regex(p, escape).fullmatch(v) is not None
            return not matched if negated else matched

        return like

    def _case(self, e: n.SearchedCase) -> Fn:
        whens = [(self._compile(c), self._compile(r)) for c, r in e.whens]
        default = self._compile(e.default) if e.default is not None else (lambda row: None)

        def case(row: Row) -> Any:
            for cond, result in whens:
                if cond(row):
                    return result(row)
            return default(row)

        return case


def _apply(converter: Callable[[Any], Any], inner: Fn) -> Fn:
    def apply(row: Row) -> Any:
        value = inner(row)
        return None if value is None else converter(value)

    return apply


def _double_to_decimal(value: float) -> Decimal:
    return Decimal(repr(value)) if math.isfinite(value) else Decimal(str(value))


def _distinct(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return not _structured_equal(a, b)


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: _structured_equal(a, b) if isinstance(a, list | dict) else a == b,
    "<>": lambda a, b: not _structured_equal(a, b) if isinstance(a, list | dict) else a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _null_safe_binary(operation: Callable[[Any, Any], Any], left: Fn, right: Fn) -> Fn:
    """``operation(a, b)``, or null when either side is null."""

    def binary(row: Row) -> Any:
        a = left(row)
        if a is None:
            return None
        b = right(row)
        return None if b is None else operation(a, b)

    return binary


_INTEGER_OPS: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _java_div,
    "%": _java_mod,
}
_DOUBLE_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _double_div,
    "%": _double_mod,
}


def _integer_arithmetic(op: str, wrap: Callable[[int], int], left: Fn, right: Fn) -> Fn:
    operation = _INTEGER_OPS[op]
    return _null_safe_binary(lambda a, b: wrap(operation(a, b)), left, right)


def _double_arithmetic(op: str, left: Fn, right: Fn) -> Fn:
    operation = _DOUBLE_OPS[op]
    return _null_safe_binary(lambda a, b: operation(float(a), float(b)), left, right)


def _decimal_arithmetic(op: str, result: t.Decimal, left: Fn, right: Fn) -> Fn:
    quantum = Decimal(1).scaleb(-result.scale)

    def operation(a: Any, b: Any) -> Decimal:
        x, y = Decimal(a), Decimal(b)
        with localcontext() as ctx:
            ctx.prec = max(result.precision + 10, 50)
            ctx.traps[DivisionByZero] = True
            ctx.traps[InvalidOperation] = True
            if op == "+":
                value = x + y
            elif op == "-":
                value = x - y
            elif op == "*":
                value = x * y
            elif op == "/":
                value = x / y
            else:
                value = x % y
            return value.quantize(quantum, rounding=ROUND_HALF_UP)

    return _null_safe_binary(operation, left, right)


def arithmetic_result_type(op: str, left: t.SqlType | None, right: t.SqlType | None) -> t.SqlType:
    """ksqlDB's Operator.resultType."""
    if left is None or right is None:
        raise ExpressionError(
            f"Arithmetic on types {t.type_name(left)} and {t.type_name(right)} are not supported."
        )
    if op == "+" and left.base is B.STRING and right.base is B.STRING:
        return t.STRING
    if left.base.is_number and right.base.is_number:
        if left.base.can_implicitly_cast(right.base):
            if right.base is not B.DECIMAL:
                return right
            return _decimal_result(op, t.to_decimal_type(left), t.to_decimal_type(right))
        if right.base.can_implicitly_cast(left.base):
            if left.base is not B.DECIMAL:
                return left
            return _decimal_result(op, t.to_decimal_type(left), t.to_decimal_type(right))
    raise ExpressionError(f"Unsupported arithmetic types. {left.base.name} {right.base.name}")


def _decimal_result(op: str, a: t.Decimal, b: t.Decimal) -> t.Decimal:
    if op in "+-":
        scale = max(a.scale, b.scale)
        return t.Decimal(scale + max(a.precision - a.scale, b.precision - b.scale) + 1, scale)
    if op == "*":
        return t.Decimal(a.precision + b.precision + 1, a.scale + b.scale)
    if op == "/":
        scale = max(6, a.scale + b.precision + 1)
        return t.Decimal(a.precision - a.scale + b.scale + scale, scale)
    scale = max(a.scale, b.scale)
    return t.Decimal(min(a.precision - a.scale, b.precision - b.scale) + scale, scale)


_EQUALITY = ("=", "<>", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")


def valid_comparison(left: t.SqlType, op: str, right: t.SqlType) -> bool:
    """ksqlDB's ComparisonUtil.isValidComparison."""
    lb, rb = left.base, right.base
    if lb.is_number:
        return rb.is_number
    if lb is B.STRING:
        return rb is B.STRING or rb.is_time
    if lb in (B.BOOLEAN, B.ARRAY, B.MAP, B.STRUCT):
        return rb is lb and op in _EQUALITY
    if lb in (B.DATE, B.TIMESTAMP):
        return rb in (B.DATE, B.TIMESTAMP, B.STRING)
    if lb is B.TIME:
        return rb in (B.TIME, B.STRING)
    if lb is B.BYTES:
        return rb is B.BYTES
    return False


def column_names_in(expr: n.Expr) -> list[n.ColumnRef]:
    """Every column reference in an expression."""
    return [e for e in n.walk(expr) if isinstance(e, n.ColumnRef)]


def compile_all(compiler: Compiler, exprs: Sequence[n.Expr]) -> list[Fn]:
    """Compile several expressions with one compiler."""
    return [compiler.compile(e) for e in exprs]
