"""Type coercion: casts, literal coercion, and ksqlDB's common type of a user list.

Mirrors ksqlDB's CastEvaluator (what CAST supports and how values convert), its
DefaultSqlValueCoercer (STRICT for expressions, LAX for literals) and CoercionUtil (the common
type of ``IN`` lists and of ARRAY/MAP constructor elements).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.javalang import double_str, parse_double, parse_int, saturate, wrap_int, wrap_long

Fn = Callable[[Any], Any]
B = t.BaseType


class CoercionError(KsqlStatementError):
    """A value or type cannot be coerced (ksqlDB reports these from code generation, prefixed
    ``Invalid Select:`` / ``Invalid Predicate:``)."""


class InvalidCoercionError(CoercionError):
    """No common type ("operator does not exist")."""


# ---------------------------------------------------------------------------------------------
# value helpers


def parse_boolean_exact(text: str) -> bool | None:
    """ksqlDB's SqlBooleans.parseBooleanExact: prefixes of true/yes or false/no, any case."""
    if not text:
        return None
    lowered = text.lower()
    if "true".startswith(lowered) or "yes".startswith(lowered):
        return True
    if "false".startswith(lowered) or "no".startswith(lowered):
        return False
    return None


def decimal_type_of_value(value: Decimal) -> t.Decimal:
    """ksqlDB's DecimalUtil.fromValue."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent > 0:
        value = value.quantize(Decimal(1))
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
    scale = -exponent
    if -1 < value < 1:
        return t.Decimal(scale + 1, scale)
    precision = len(digits)
    return t.Decimal(precision, max(scale, 0))


def decimal_cast(value: Decimal, sql_type: t.Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """ksqlDB's DecimalUtil.cast: check magnitude, then set the scale (HALF_UP)."""
    digits = sql_type.precision - sql_type.scale
    if abs(value) >= Decimal(10) ** digits:
        raise ArithmeticError(
            f"Numeric field overflow: A field with precision {sql_type.precision} and scale "
            f"{sql_type.scale} must round to an absolute value less than 10^{digits}. Got {value:f}"
        )
    return value.quantize(Decimal(1).scaleb(-sql_type.scale), rounding=rounding)


def java_string_of(value: Any, sql_type: t.SqlType | None) -> str:
    """``String.valueOf`` of a ksqlDB value (CAST … AS STRING)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return double_str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list):
        element = sql_type.element if isinstance(sql_type, t.Array) else None
        return "[" + ", ".join(java_string_of(v, element) for v in value) + "]"
    if isinstance(value, dict):
        if isinstance(sql_type, t.Struct):
            inner = ",".join(
                f"{k}={java_string_of(v, sql_type.field(k))}" for k, v in value.items() if v is not None
            )
            return "Struct{" + inner + "}"
        item = sql_type.value if isinstance(sql_type, t.Map) else None
        return "{" + ", ".join(f"{k}={java_string_of(v, item)}" for k, v in value.items()) + "}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# CAST


def cast_function(source: t.SqlType | None, target: t.SqlType) -> Fn | None:
    """A function converting non-null values of ``source`` to ``target`` (None: identity).

    Raises CoercionError when ksqlDB does not support the cast.
    """
    if source is None or source == target:
        return None
    fn = _cast(source, target)
    if fn is None:
        raise CoercionError(f"Cast of {source} to {target} is not supported")
    return fn


def _null_safe(fn: Fn | None) -> Fn:
    if fn is None:
        return lambda v: v
    return lambda v: None if v is None else fn(v)


def _cast(source: t.SqlType, target: t.SqlType) -> Fn | None:
    s, d = source.base, target.base
    if d is B.STRING:
        if s in (B.BOOLEAN, B.INTEGER, B.BIGINT, B.DOUBLE, B.ARRAY, B.MAP, B.STRUCT):
            return lambda v: java_string_of(v, source)
        if s is B.DECIMAL:
            return lambda v: format(v, "f")
        return None
    if s is B.STRING:
        if d is B.BOOLEAN:
            return lambda v: parse_boolean_exact(v.strip()) is True
        if d is B.INTEGER:
            return lambda v: parse_int(v.strip(), 32)
        if d is B.BIGINT:
            return lambda v: parse_int(v.strip(), 64)
        if d is B.DOUBLE:
            return _parse_sql_double
        if isinstance(target, t.Decimal):
            return lambda v: decimal_cast(Decimal(v.strip()), target)
        return None
    if s.is_number and d.is_number:
        if d is B.INTEGER:
            return lambda v: saturate(v, 32) if isinstance(v, float) else wrap_int(int(v))
        if d is B.BIGINT:
            return lambda v: saturate(v, 64) if isinstance(v, float) else wrap_long(int(v))
        if d is B.DOUBLE:
            return float
        if isinstance(target, t.Decimal):
            if s is B.DOUBLE:
                return lambda v: decimal_cast(Decimal(repr(v)), target)
            return lambda v: decimal_cast(Decimal(v), target)
    if isinstance(source, t.Array) and isinstance(target, t.Array):
        try:
            inner = _null_safe(cast_function(source.element, target.element))
        except CoercionError:
            return None
        return lambda v: [inner(x) for x in v]
    if isinstance(source, t.Map) and isinstance(target, t.Map):
        try:
            keys = _null_safe(cast_function(source.key, target.key))
            values = _null_safe(cast_function(source.value, target.value))
        except CoercionError:
            return None
        return lambda v: {keys(k): values(x) for k, x in v.items()}
    if isinstance(source, t.Struct) and isinstance(target, t.Struct):
        mappers: list[tuple[str, Fn]] = []
        try:
            for name, ftype in target.fields:
                from_type = source.field(name)
                if from_type is not None:
                    mappers.append((name, _null_safe(cast_function(from_type, ftype))))
        except CoercionError:
            return None
        names = [name for name, _ in target.fields]

        def cast_struct(v: dict[str, Any]) -> dict[str, Any]:
            out = dict.fromkeys(names)
            for name, mapper in mappers:
                out[name] = mapper(v.get(name))
            return out

        return cast_struct
    return None


def _parse_sql_double(text: str) -> float:
    value = parse_double(text.strip())
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"Invalid double value: {text}")
    return value


# ---------------------------------------------------------------------------------------------
# DefaultSqlValueCoercer: can a type (or a literal value) be coerced to another?


def can_coerce(source: t.SqlType, target: t.SqlType, lax: bool) -> t.SqlType | None:
    """The common type if ``source`` coerces to ``target`` (STRICT, or LAX for literals)."""
    s, d = source.base, target.base
    if s is d and s not in (B.DECIMAL, B.ARRAY, B.MAP, B.STRUCT):
        return target
    if s in (B.INTEGER, B.BIGINT, B.DECIMAL) and d is B.DECIMAL:
        return t.widen_decimal(source, target)
    if s.is_number and d.is_number and s.value <= d.value:
        if d is B.DOUBLE:
            return target
        return target
    if isinstance(source, t.Array) and isinstance(target, t.Array):
        element = can_coerce(source.element, target.element, lax)
        return t.Array(element) if element is not None else None
    if isinstance(source, t.Map) and isinstance(target, t.Map):
        key = can_coerce(source.key, target.key, lax)
        value = can_coerce(source.value, target.value, lax)
        return t.Map(key, value) if key is not None and value is not None else None
    if isinstance(source, t.Struct) and isinstance(target, t.Struct):
        names = [name for name, _ in source.fields] + [
            name for name, _ in target.fields if source.field(name) is None
        ]
        fields: list[tuple[str, t.SqlType]] = []
        for name in names:
            from_type, to_type = source.field(name), target.field(name)
            if from_type is None:
                assert to_type is not None
                fields.append((name, to_type))
            elif to_type is None:
                fields.append((name, from_type))
            else:
                common = can_coerce(from_type, to_type, lax)
                if common is None:
                    return None
                fields.append((name, common))
        return t.Struct(tuple(fields))
    if lax:
        if d is B.STRING and s in (B.BOOLEAN, B.INTEGER, B.BIGINT, B.DECIMAL, B.DOUBLE):
            return target
        if s is B.STRING and d in (B.BOOLEAN, B.INTEGER, B.BIGINT, B.DECIMAL, B.DOUBLE):
            return target
    return None


def coerce_literal_value(value: Any, source: t.SqlType | None, target: t.SqlType) -> tuple[bool, Any]:
    """LAX coercion of a literal's value: (ok, coerced value)."""
    if value is None:
        return True, None
    assert source is not None
    s, d = source.base, target.base
    try:
        if s is B.STRING and d is not B.STRING:
            text = value.strip()
            if d is B.BOOLEAN:
                parsed = parse_boolean_exact(text)
                return (parsed is not None), parsed
            if d is B.INTEGER:
                return True, parse_int(text, 32)
            if d is B.BIGINT:
                return True, parse_int(text, 64)
            if d is B.DOUBLE:
                return True, _parse_sql_double(text)
            if isinstance(target, t.Decimal):
                return True, _fit_exact(Decimal(text), target)
            return False, None
        if d is B.STRING:
            if s is B.DECIMAL:
                return True, format(value, "f")
            if s is B.BOOLEAN:
                return True, "true" if value else "false"
            if s is B.DOUBLE:
                return True, double_str(value)
            return True, str(value)
        if isinstance(target, t.Decimal) and s.is_number:
            return True, _fit_exact(Decimal(repr(value) if isinstance(value, float) else value), target)
        if d is B.DOUBLE and s.is_number:
            return True, float(value)
        if d in (B.INTEGER, B.BIGINT) and s in (B.INTEGER, B.BIGINT):
            return True, int(value)
        if s is d:
            return True, value
    except (ValueError, InvalidOperation, ArithmeticError):
        return False, None
    return False, None


def _fit_exact(value: Decimal, target: t.Decimal) -> Decimal:
    digits = target.precision - target.scale
    if abs(value) >= Decimal(10) ** digits:
        raise ArithmeticError("overflow")
    quantized = value.quantize(Decimal(1).scaleb(-target.scale))
    if quantized != value:
        raise ArithmeticError("rounding")
    return quantized


# ---------------------------------------------------------------------------------------------
# CoercionUtil: common type of a user list


TypeOf = Callable[[n.Expr], t.SqlType | None]

_LITERALS = (
    n.NullLiteral,
    n.BooleanLiteral,
    n.IntegerLiteral,
    n.DecimalLiteral,
    n.DoubleLiteral,
    n.StringLiteral,
)


def literal_value(expr: n.Expr) -> Any:
    """The Python value of a literal node."""
    if isinstance(expr, n.NullLiteral):
        return None
    return expr.value  # type: ignore[attr-defined]


def _string_numeric_type(text: str) -> t.SqlType:
    value = Decimal(text.strip())
    if not value.is_finite():
        raise InvalidOperation(text)
    has_point = "." in text or "e" in text.lower()
    if not has_point and value == value.to_integral_value():
        number = int(value)
        if t.INT_MIN < number < t.INT_MAX:
            return t.INTEGER
        if t.BIGINT_MIN < number < t.BIGINT_MAX:
            return t.BIGINT
    return decimal_type_of_value(value)


def _operator_error(target: t.SqlType, source: t.SqlType | None, expr: n.Expr) -> InvalidCoercionError:
    return InvalidCoercionError(
        f"operator does not exist: {target} = {t.type_name(source)} ({expr})\n"
        "Hint: You might need to add explicit type casts."
    )


def _invalid_syntax(value: Any, target: t.SqlType) -> CoercionError:
    return CoercionError(f'invalid input syntax for type {target.base.name}: "{value}".')


class UserListCoercer:
    """ksqlDB's CoercionUtil.coerceUserList."""

    def __init__(self, type_of: TypeOf) -> None:
        self.type_of = type_of

    def coerce(self, exprs: Sequence[n.Expr]) -> tuple[t.SqlType | None, list[n.Expr]]:
        """(common type, expressions converted to it); common type None if all NULL."""
        typed = [(self.type_of(e), e) for e in exprs]
        common = self._common(typed)
        if common is None:
            return None, list(exprs)
        return common, [self._convert(e, ty, common) for ty, e in typed]

    def _common(self, typed: Sequence[tuple[t.SqlType | None, n.Expr]]) -> t.SqlType | None:
        result: t.SqlType | None = None
        first = True
        for sql_type, expr in typed:
            if first:
                result = sql_type
                first = False
                continue
            result = self._resolve(sql_type, expr, result)
        return result

    def _resolve(
        self, sql_type: t.SqlType | None, expr: n.Expr, common: t.SqlType | None
    ) -> t.SqlType | None:
        if common is None:
            return sql_type
        if sql_type is None:
            return common
        if isinstance(expr, n.CreateArray):
            if not isinstance(common, t.Array):
                raise _operator_error(common, sql_type, expr)
            try:
                element = self._structured(common.element, expr.items)
            except InvalidCoercionError as error:
                raise _operator_error(common, sql_type, expr) from error
            return t.Array(element) if element is not None else None
        if isinstance(expr, n.CreateMap):
            if not isinstance(common, t.Map):
                raise _operator_error(common, sql_type, expr)
            try:
                key = self._structured(common.key, [k for k, _ in expr.entries])
                value = self._structured(common.value, [v for _, v in expr.entries])
            except InvalidCoercionError as error:
                raise _operator_error(common, sql_type, expr) from error
            return t.Map(key, value) if key is not None and value is not None else None
        if isinstance(expr, n.CreateStruct):
            if not isinstance(common, t.Struct):
                raise _operator_error(common, sql_type, expr)
            return self._struct(expr, common, sql_type)
        if isinstance(expr, n.StringLiteral):
            if common.base.is_number:
                return self._numeric_from_string(expr.value, common)
            if common.base is B.BOOLEAN:
                if parse_boolean_exact(expr.value.strip()) is None:
                    raise _invalid_syntax(expr.value, t.BOOLEAN)
                return common
        lax = isinstance(expr, _LITERALS)
        found = can_coerce(sql_type, common, lax)
        if found is not None:
            return found
        found = can_coerce(common, sql_type, lax)
        if found is not None:
            return found
        raise _operator_error(common, sql_type, expr)

    def _struct(self, expr: n.CreateStruct, common: t.Struct, sql_type: t.SqlType) -> t.SqlType:
        names = [name for name, _ in expr.fields] + [
            n_ for n_, _ in common.fields if n_ not in dict(expr.fields)
        ]
        fields: list[tuple[str, t.SqlType]] = []
        try:
            for name in names:
                value = dict(expr.fields).get(name)
                source_type = self.type_of(value) if value is not None else None
                target_type = common.field(name)
                if target_type is None:
                    assert source_type is not None
                    fields.append((name, source_type))
                elif value is None or source_type is None:
                    fields.append((name, target_type))
                else:
                    resolved = self._resolve(source_type, value, target_type)
                    assert resolved is not None
                    fields.append((name, resolved))
        except InvalidCoercionError as error:
            raise _operator_error(common, sql_type, expr) from error
        return t.Struct(tuple(fields))

    def _structured(self, target: t.SqlType, exprs: Sequence[n.Expr]) -> t.SqlType | None:
        typed = [(self.type_of(e), e) for e in exprs]
        if not typed:
            return target
        return self._common([(target, n.NullLiteral()), *typed])

    def _numeric_from_string(self, text: str, target: t.SqlType) -> t.SqlType:
        try:
            source = _string_numeric_type(text)
        except (InvalidOperation, ValueError):
            raise _invalid_syntax(text, target) from None
        if source.base is B.DOUBLE or target.base is B.DOUBLE:
            return t.DOUBLE
        if source.base is B.DECIMAL or target.base is B.DECIMAL:
            return t.widen_decimal(source, target)
        return target if source.base.can_implicitly_cast(target.base) else source

    def _convert(self, expr: n.Expr, sql_type: t.SqlType | None, common: t.SqlType) -> n.Expr:
        if sql_type is None or sql_type == common:
            return expr
        if isinstance(expr, _LITERALS):
            ok, value = coerce_literal_value(literal_value(expr), sql_type, common)
            if not ok:
                raise _invalid_syntax(literal_value(expr), common)
            return TypedLiteral(value, common)
        return n.Cast(expr, common)


class TypedLiteral(n.Expr):
    """A literal already converted to a type (the result of literal coercion)."""

    def __init__(self, value: Any, sql_type: t.SqlType) -> None:
        self.value = value
        self.sql_type = sql_type

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return "'" + self.value.replace("'", "''") + "'"
        if self.value is None:
            return "null"
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)
