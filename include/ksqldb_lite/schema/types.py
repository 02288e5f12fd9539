"""SQL types, written and compared the way ksqlDB does.

Values at run time are plain Python: BOOLEAN ``bool``, INTEGER/BIGINT ``int``, DOUBLE
``float``, DECIMAL :class:`decimal.Decimal`, STRING ``str``, ARRAY ``list``, MAP ``dict``,
STRUCT ``dict`` (every declared field present, in declared order), SQL NULL ``None``.
A type of ``None`` (in analysis) is the type of the NULL literal: unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class BaseType(Enum):
    """ksqlDB's SqlBaseType, in its order (numeric widening follows it)."""

    BOOLEAN = 0
    INTEGER = 1
    BIGINT = 2
    DECIMAL = 3
    DOUBLE = 4
    STRING = 5
    ARRAY = 6
    MAP = 7
    STRUCT = 8
    TIME = 9
    DATE = 10
    TIMESTAMP = 11
    BYTES = 12

    @property
    def is_number(self) -> bool:
        """INTEGER, BIGINT, DECIMAL or DOUBLE."""
        return self in (BaseType.INTEGER, BaseType.BIGINT, BaseType.DECIMAL, BaseType.DOUBLE)

    @property
    def is_time(self) -> bool:
        """TIME, DATE or TIMESTAMP."""
        return self in (BaseType.TIME, BaseType.DATE, BaseType.TIMESTAMP)

    def can_implicitly_cast(self, to: BaseType) -> bool:
        """ksqlDB's implicit casts: numbers widen; STRING parses to time types and BYTES."""
        if self is to:
            return True
        if self.is_number and to.is_number:
            return self.value <= to.value
        return self is BaseType.STRING and (to.is_time or to is BaseType.BYTES)


class SqlType:
    """Base of all SQL types."""

    base: BaseType

    def __str__(self) -> str:
        return self.base.name


@dataclass(frozen=True)
class Primitive(SqlType):
    """A type without parameters."""

    base: BaseType

    def __str__(self) -> str:
        return self.base.name

    def __repr__(self) -> str:
        return self.base.name


@dataclass(frozen=True)
class Decimal(SqlType):
    """DECIMAL(precision, scale)."""

    precision: int
    scale: int

    @property
    def base(self) -> BaseType:  # type: ignore[override]
        return BaseType.DECIMAL

    def __str__(self) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"


@dataclass(frozen=True)
class Array(SqlType):
    """ARRAY<element>."""

    element: SqlType

    @property
    def base(self) -> BaseType:  # type: ignore[override]
        return BaseType.ARRAY

    def __str__(self) -> str:
        return f"ARRAY<{self.element}>"


@dataclass(frozen=True)
class Map(SqlType):
    """MAP<key, value>."""

    key: SqlType
    value: SqlType

    @property
    def base(self) -> BaseType:  # type: ignore[override]
        return BaseType.MAP

    def __str__(self) -> str:
        return f"MAP<{self.key}, {self.value}>"


@dataclass(frozen=True)
class Struct(SqlType):
    """STRUCT<`NAME` type, ...>; field names are case-sensitive."""

    fields: tuple[tuple[str, SqlType], ...]

    @property
    def base(self) -> BaseType:  # type: ignore[override]
        return BaseType.STRUCT

    def field(self, name: str) -> SqlType | None:
        """The type of a field, or None."""
        for field_name, field_type in self.fields:
            if field_name == name:
                return field_type
        return None

    def __str__(self) -> str:
        inner = ", ".join(f"{quote(name)} {ftype}" for name, ftype in self.fields)
        return f"STRUCT<{inner}>"


BOOLEAN = Primitive(BaseType.BOOLEAN)
INTEGER = Primitive(BaseType.INTEGER)
BIGINT = Primitive(BaseType.BIGINT)
DOUBLE = Primitive(BaseType.DOUBLE)
STRING = Primitive(BaseType.STRING)
TIME = Primitive(BaseType.TIME)
DATE = Primitive(BaseType.DATE)
TIMESTAMP = Primitive(BaseType.TIMESTAMP)
BYTES = Primitive(BaseType.BYTES)

INT_UPCAST_TO_DECIMAL = Decimal(10, 0)
BIGINT_UPCAST_TO_DECIMAL = Decimal(19, 0)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def quote(name: str) -> str:
    """Backtick-quote an identifier as ksqlDB prints it in schemas (always quoted)."""
    return "`" + name.replace("`", "``") + "`"


def to_decimal_type(sql_type: SqlType) -> Decimal:
    """INTEGER → DECIMAL(10, 0), BIGINT → DECIMAL(19, 0), DECIMAL → itself."""
    if isinstance(sql_type, Decimal):
        return sql_type
    if sql_type == INTEGER:
        return INT_UPCAST_TO_DECIMAL
    if sql_type == BIGINT:
        return BIGINT_UPCAST_TO_DECIMAL
    raise ValueError(f"Cannot convert {sql_type.base.name} to DECIMAL.")


def widen_decimal(left: SqlType, right: SqlType) -> Decimal:
    """The smallest DECIMAL holding both (ksqlDB's DecimalUtil.widen)."""
    a, b = to_decimal_type(left), to_decimal_type(right)
    whole = max(a.precision - a.scale, b.precision - b.scale)
    scale = max(a.scale, b.scale)
    return Decimal(whole + scale, scale)


def nested_types(sql_type: SqlType) -> list[SqlType]:
    """The type and every type nested in it (elements, map keys and values, struct fields)."""
    out = [sql_type]
    if isinstance(sql_type, Array):
        out.extend(nested_types(sql_type.element))
    elif isinstance(sql_type, Map):
        out.extend(nested_types(sql_type.key))
        out.extend(nested_types(sql_type.value))
    elif isinstance(sql_type, Struct):
        for _, field_type in sql_type.fields:
            out.extend(nested_types(field_type))
    return out


def contains_map(sql_type: SqlType) -> bool:
    """Whether the type is, or contains, a MAP (not allowed in keys)."""
    return any(isinstance(inner, Map) for inner in nested_types(sql_type))


def type_name(sql_type: SqlType | None) -> str:
    """``str(type)``, or ``null`` for the NULL literal's unknown type."""
    return "null" if sql_type is None else str(sql_type)
