"""Scalar functions (UDFs) and ksqlDB's overload resolution.

Each function has overloads (parameter types, optional variadic last parameter, return type)
resolved like ksqlDB's UdfIndex: first without implicit casts (NULL matches any parameter),
then with numeric widening (INT → BIGINT → DECIMAL → DOUBLE); a non-variadic overload beats a
variadic one; otherwise more than one match is ambiguous. Implementations follow the Java UDFs
(null handling, Java rounding and string semantics).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.schema import types as t

B = t.BaseType
# A parameter: a base type, "T"/"U" generics, or ("ARRAY", "T") / ("MAP", "K", "V").
Param = Any
ReturnSpec = t.SqlType | str | Callable[[Sequence[t.SqlType | None]], t.SqlType | None]


@dataclass(frozen=True)
class Overload:
    """One signature of a function."""

    params: tuple[Param, ...]
    returns: ReturnSpec
    impl: Callable[..., Any]
    variadic: bool = False


@dataclass(frozen=True)
class Function:
    """A named function with its overloads; ``display`` is the name ksqlDB uses in messages."""

    display: str
    overloads: tuple[Overload, ...]


@dataclass(frozen=True)
class Resolved:
    """The chosen overload for given argument types."""

    function: Function
    overload: Overload
    return_type: t.SqlType | None
    param_types: tuple[t.SqlType | None, ...]  # per argument: the type it is converted to


_BASE = {
    "INT": B.INTEGER,
    "BIGINT": B.BIGINT,
    "DOUBLE": B.DOUBLE,
    "STRING": B.STRING,
    "BOOLEAN": B.BOOLEAN,
    "DECIMAL": B.DECIMAL,
    "BYTES": B.BYTES,
}
_CONCRETE = {
    "INT": t.INTEGER,
    "BIGINT": t.BIGINT,
    "DOUBLE": t.DOUBLE,
    "STRING": t.STRING,
    "BOOLEAN": t.BOOLEAN,
    "BYTES": t.BYTES,
}


def _accepts(param: Param, arg: t.SqlType | None, generics: dict[str, t.SqlType], casts: bool) -> bool:
    if isinstance(param, str) and param in _BASE:
        if arg is None:
            return True
        base = _BASE[param]
        if arg.base is base:
            return True
        return casts and arg.base.is_number and base.is_number and arg.base.can_implicitly_cast(base)
    if isinstance(param, str):  # generic
        if arg is None:
            return True
        bound = generics.get(param)
        if bound is None:
            generics[param] = arg
            return True
        return bound == arg
    if param[0] == "ARRAY":
        if arg is None:
            return True
        return isinstance(arg, t.Array) and _accepts(param[1], arg.element, generics, casts)
    if param[0] == "MAP":
        if arg is None:
            return True
        return (
            isinstance(arg, t.Map)
            and _accepts(param[1], arg.key, generics, casts)
            and _accepts(param[2], arg.value, generics, casts)
        )
    return False


def _match(overload: Overload, args: Sequence[t.SqlType | None], casts: bool) -> dict[str, t.SqlType] | None:
    params = overload.params
    if overload.variadic:
        fixed = params[:-1]
        if len(args) < len(fixed):
            return None
        expanded = list(fixed) + [params[-1]] * (len(args) - len(fixed))
    else:
        if len(args) != len(params):
            return None
        expanded = list(params)
    generics: dict[str, t.SqlType] = {}
    for param, arg in zip(expanded, args, strict=True):
        if not _accepts(param, arg, generics, casts):
            return None
    return generics


def _param_type(param: Param, generics: dict[str, t.SqlType], arg: t.SqlType | None) -> t.SqlType | None:
    if isinstance(param, str) and param in _CONCRETE:
        return _CONCRETE[param]
    if param == "DECIMAL":
        return arg if isinstance(arg, t.Decimal) else (t.to_decimal_type(arg) if arg is not None else None)
    if isinstance(param, str):
        return generics.get(param, arg)
    return arg


def _args_text(args: Sequence[t.SqlType | None]) -> str:
    return "(" + ", ".join(t.type_name(a) for a in args) + ")"


def resolve(name: str, args: Sequence[t.SqlType | None]) -> Resolved:
    """Pick the overload of function ``name`` for argument types ``args``."""
    function = FUNCTIONS.get(name.upper())
    if function is None:
        raise KsqlStatementError(f"Can't find any functions with the name '{name.upper()}'")
    for casts in (False, True):
        found = [(o, g) for o in function.overloads if (g := _match(o, args, casts)) is not None]
        if not found:
            continue
        if len(found) > 1:
            fixed = [(o, g) for o, g in found if not o.variadic]
            if len(fixed) == 1:
                found = fixed
        if len(found) > 1:
            raise KsqlStatementError(
                f"Function '{function.display}' cannot be resolved due to ambiguous method parameters "
                f"{_args_text(args)}.\nUse CAST() to explicitly cast your parameters to one of the "
                "supported function calls."
            )
        overload, generics = found[0]
        params = (
            list(overload.params[:-1]) + [overload.params[-1]] * (len(args) - len(overload.params) + 1)
            if overload.variadic
            else list(overload.params)
        )
        param_types = tuple(_param_type(p, generics, a) for p, a in zip(params, args, strict=True))
        returns = overload.returns
        if callable(returns) and not isinstance(returns, t.SqlType):
            return_type = returns(param_types)
        elif isinstance(returns, str):
            return_type = generics.get(returns)
        else:
            return_type = returns
        return Resolved(function, overload, return_type, param_types)
    raise KsqlStatementError(
        f"Function '{function.display}' does not accept parameters {_args_text(args)}.\n"
        "Valid alternatives are:\n"
        + "\n".join(_signature(function, o) for o in function.overloads)
        + "\nFor detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;"
    )


def _signature(function: Function, overload: Overload) -> str:
    def show(p: Param) -> str:
        if isinstance(p, tuple):
            return f"{p[0]}<{', '.join(show(x) for x in p[1:])}>"
        return "INTEGER" if p == "INT" else str(p)

    params = [show(p) for p in overload.params]
    if overload.variadic and params:
        params[-1] += "[]"
    return f"{function.display.upper()}({', '.join(params)})"


# ---------------------------------------------------------------------------------------------
# implementations


def _nan_safe(fn: Callable[[float], float]) -> Callable[[Any], float | None]:
    def call(value: Any) -> float | None:
        if value is None:
            return None
        try:
            return fn(float(value))
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf

    return call


def _ln(x: float) -> float:
    if x == 0:
        return -math.inf
    if x < 0 or math.isnan(x):
        return math.nan
    return math.log(x)


def _sqrt(x: float) -> float:
    return math.nan if x < 0 else math.sqrt(x)


def _cbrt(x: float) -> float:
    return math.copysign(abs(x) ** (1.0 / 3.0), x) if x == x else x


def _exact_cbrt(x: float) -> float:
    root = _cbrt(x)
    rounded = round(root)
    return float(rounded) if rounded**3 == x else root


def _cot(x: float) -> float:
    tan = math.tan(x)
    return math.inf if tan == 0 else 1.0 / tan


def _sinh(x: float) -> float:
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(math.inf, x)


def _cosh(x: float) -> float:
    try:
        return math.cosh(x)
    except OverflowError:
        return math.inf


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _power(base: Any, exponent: Any) -> float | None:
    if base is None or exponent is None:
        return None
    try:
        result = math.pow(float(base), float(exponent))
    except ValueError:
        return math.nan
    except (OverflowError, ZeroDivisionError):
        return math.inf
    return result


def _log2(base: Any, value: Any) -> float | None:
    if base is None or value is None:
        return None
    b, v = float(base), float(value)
    if b <= 0 or b == 1:
        return math.nan
    ln_v = _ln(v)
    return ln_v / math.log(b)


def _atan2(y: Any, x: Any) -> float | None:
    if y is None or x is None:
        return None
    return math.atan2(float(y), float(x))


def _sign(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return 0
    return int((value > 0) - (value < 0))


def _abs(value: Any) -> Any:
    return None if value is None else abs(value)


def _java_round_double(value: Any) -> int | None:
    """Math.round(double): floor(x + 0.5), as a long."""
    if value is None:
        return None
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return 2**63 - 1 if value > 0 else -(2**63)
    rounded: int = math.floor(value + 0.5)
    return rounded


def _round_decimal(value: Decimal, places: int) -> Decimal:
    mode = ROUND_HALF_UP if value > 0 else ROUND_HALF_DOWN
    return value.quantize(Decimal(1).scaleb(-places), rounding=mode)


def _round_double_places(value: Any, places: Any) -> float | None:
    if value is None or places is None:
        return None
    if math.isnan(value) or math.isinf(value):
        return float(value)
    return float(_round_decimal(Decimal(repr(float(value))), int(places)))


def _round_decimal_places(value: Any, places: Any) -> Decimal | None:
    if value is None or places is None:
        return None
    scale = -int(value.as_tuple().exponent)
    return _round_decimal(value, int(places)).quantize(Decimal(1).scaleb(-scale))


def _trunc_double_places(value: Any, places: Any) -> float | None:
    if value is None or places is None:
        return None
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_DOWN))


def _trunc_decimal_places(value: Any, places: Any) -> Decimal | None:
    if value is None or places is None:
        return None
    scale = -int(value.as_tuple().exponent)
    truncated = value.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_DOWN)
    result: Decimal = truncated.quantize(Decimal(1).scaleb(-scale))
    return result


def _decimal_scale0(types: Sequence[t.SqlType | None]) -> t.SqlType | None:
    first = types[0]
    if isinstance(first, t.Decimal):
        return t.Decimal(max(first.precision - first.scale, 1), 0)
    return first


def _first_type(types: Sequence[t.SqlType | None]) -> t.SqlType | None:
    return types[0]


def _widest_decimal(types: Sequence[t.SqlType | None]) -> t.SqlType | None:
    result: t.SqlType | None = None
    for sql_type in types:
        if sql_type is None:
            continue
        result = sql_type if result is None else t.widen_decimal(result, sql_type)
    return result


def _greatest(*values: Any) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _least(*values: Any) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _nullif(first: Any, second: Any) -> Any:
    if first is None or first == second:
        return None
    return first


def _concat(*values: Any) -> str:
    return "".join(v for v in values if v is not None)


def _concat_ws(separator: Any, *values: Any) -> str | None:
    if separator is None:
        return None
    return str(separator).join(v for v in values if v is not None)


def _substring(text: Any, pos: Any, length: Any = 0, *, with_length: bool = False) -> str | None:
    if text is None or pos is None or (with_length and length is None):
        return None
    size = len(text)
    start = max(size + pos, 0) if pos < 0 else max(min(pos - 1, size), 0)
    if not with_length:
        return str(text[start:])
    end = max(min(start + length, size), start)
    return str(text[start:end])


def _ordinal_index_of(text: str, sub: str, occurrence: int) -> int:
    if occurrence <= 0:
        return -1
    index = -1
    for _ in range(occurrence):
        index = text.find(sub, index + 1)
        if index < 0:
            return -1
    return index


def _instr(text: Any, sub: Any, position: Any = 1, occurrence: Any = 1) -> int:
    if text is None or sub is None:
        return 0
    if abs(position) > len(text):
        return 0
    reversed_ = position < 0
    if reversed_:
        text, sub, position = text[::-1], sub[::-1], -position
    found = _ordinal_index_of(text[position - 1 :], sub, occurrence)
    if found == -1:
        return 0
    result: int = len(text) - position - found - len(sub) + 2 if reversed_ else found + position
    return result


def _lpad(text: Any, length: Any, padding: Any) -> str | None:
    if text is None or padding is None or padding == "" or length is None or length < 0:
        return None
    pad_to = max(length - len(text), 0)
    pad = (padding * (pad_to // len(padding) + 1))[:pad_to]
    return str((pad + text)[:length])


def _rpad(text: Any, length: Any, padding: Any) -> str | None:
    if text is None or padding is None or padding == "" or length is None or length < 0:
        return None
    pad_to = max(length - len(text), 0)
    pad = (padding * (pad_to // len(padding) + 1))[:pad_to]
    return str((text + pad)[:length])


def _initcap(text: Any) -> str | None:
    if text is None:
        return None
    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" "))


def _split(text: Any, delimiter: Any) -> list[str] | None:
    if text is None or delimiter is None:
        return None
    if delimiter == "":
        return list(text)
    return list(text.split(delimiter))


def _replace(text: Any, old: Any, new: Any) -> str | None:
    if text is None or old is None or new is None:
        return None
    return str(text.replace(old, new))


def _array_contains(array: Any, value: Any) -> bool:
    return array is not None and value in array


def _opt(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else fn(v)


def _as_value(value: Any) -> Any:
    return value


def _floor(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return float(math.floor(value)) if math.isfinite(value) else value
    if isinstance(value, Decimal):
        return value.to_integral_value(rounding="ROUND_FLOOR")
    return value


def _ceil(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return float(math.ceil(value)) if math.isfinite(value) else value
    if isinstance(value, Decimal):
        return value.to_integral_value(rounding="ROUND_CEILING")
    return value


_NUM = ("INT", "BIGINT", "DOUBLE")


def _double_fn(fn: Callable[[float], float]) -> tuple[Overload, ...]:
    impl = _nan_safe(fn)
    return tuple(Overload((p,), t.DOUBLE, impl) for p in _NUM)


def _build() -> dict[str, Function]:
    fns: dict[str, Function] = {}

    def add(name: str, display: str, *overloads: Overload) -> None:
        fns[name] = Function(display, tuple(overloads))

    add(
        "ABS",
        "Abs",
        Overload(("INT",), t.INTEGER, _abs),
        Overload(("BIGINT",), t.BIGINT, _abs),
        Overload(("DOUBLE",), t.DOUBLE, _abs),
        Overload(("DECIMAL",), _first_type, _abs),
    )
    for name, fn in (
        ("ACOS", math.acos),
        ("ASIN", math.asin),
        ("ATAN", math.atan),
        ("COS", math.cos),
        ("SIN", math.sin),
        ("TAN", math.tan),
        ("TANH", math.tanh),
        ("DEGREES", math.degrees),
        ("RADIANS", math.radians),
    ):
        add(name, name.lower(), *_double_fn(fn))
    add("COT", "cot", *_double_fn(_cot))
    add("COSH", "cosh", *_double_fn(_cosh))
    add("SINH", "sinh", *_double_fn(_sinh))
    add("EXP", "exp", *_double_fn(_exp))
    add("LN", "ln", *_double_fn(_ln))
    add("SQRT", "sqrt", *_double_fn(_sqrt))
    add("CBRT", "cbrt", *_double_fn(_exact_cbrt))
    add("LOG", "log", *_double_fn(_ln), *(Overload((p, p), t.DOUBLE, _log2) for p in _NUM))
    add("ATAN2", "atan2", *(Overload((p, p), t.DOUBLE, _atan2) for p in _NUM))
    add("POWER", "power", *(Overload((p, p), t.DOUBLE, _power) for p in _NUM))
    add("SIGN", "sign", *(Overload((p,), t.INTEGER, _sign) for p in _NUM))
    add("PI", "pi", Overload((), t.DOUBLE, lambda: math.pi))
    add("RANDOM", "random", Overload((), t.DOUBLE, random.random))
    add(
        "ROUND",
        "Round",
        Overload(("INT",), t.INTEGER, _opt(lambda v: v)),
        Overload(("BIGINT",), t.BIGINT, _opt(lambda v: v)),
        Overload(("DOUBLE",), t.BIGINT, _java_round_double),
        Overload(("DOUBLE", "INT"), t.DOUBLE, _round_double_places),
        Overload(("DECIMAL",), _decimal_scale0, _opt(lambda v: _round_decimal(v, 0))),
        Overload(("DECIMAL", "INT"), _first_type, _round_decimal_places),
    )
    add(
        "TRUNC",
        "trunc",
        Overload(("INT",), t.INTEGER, _opt(lambda v: v)),
        Overload(("BIGINT",), t.BIGINT, _opt(lambda v: v)),
        Overload(("DOUBLE",), t.BIGINT, _opt(lambda v: int(v) if math.isfinite(v) else 0)),
        Overload(("DOUBLE", "INT"), t.DOUBLE, _trunc_double_places),
        Overload(("DECIMAL",), _decimal_scale0, _opt(lambda v: v.quantize(Decimal(1), rounding=ROUND_DOWN))),
        Overload(("DECIMAL", "INT"), _first_type, _trunc_decimal_places),
    )
    add(
        "FLOOR",
        "Floor",
        Overload(("INT",), t.INTEGER, _floor),
        Overload(("BIGINT",), t.BIGINT, _floor),
        Overload(("DOUBLE",), t.DOUBLE, _floor),
        Overload(("DECIMAL",), _decimal_scale0, _floor),
    )
    add(
        "CEIL",
        "Ceil",
        Overload(("INT",), t.INTEGER, _ceil),
        Overload(("BIGINT",), t.BIGINT, _ceil),
        Overload(("DOUBLE",), t.DOUBLE, _ceil),
        Overload(("DECIMAL",), _decimal_scale0, _ceil),
    )
    for name, fn in (("GREATEST", _greatest), ("LEAST", _least)):
        add(
            name,
            name.lower(),
            Overload(("INT", "INT"), t.INTEGER, fn, variadic=True),
            Overload(("BIGINT", "BIGINT"), t.BIGINT, fn, variadic=True),
            Overload(("DOUBLE", "DOUBLE"), t.DOUBLE, fn, variadic=True),
            Overload(("STRING", "STRING"), t.STRING, fn, variadic=True),
            Overload(("DECIMAL", "DECIMAL"), _widest_decimal, fn, variadic=True),
        )
    add("COALESCE", "COALESCE", Overload(("T", "T"), "T", _coalesce, variadic=True))
    add("IFNULL", "IFNULL", Overload(("T", "T"), "T", _coalesce))
    add("NULLIF", "NULLIF", Overload(("T", "T"), "T", _nullif))
    add("CONCAT", "concat", Overload(("STRING",), t.STRING, _concat, variadic=True))
    add("CONCAT_WS", "concat_ws", Overload(("STRING", "STRING"), t.STRING, _concat_ws, variadic=True))
    add(
        "SUBSTRING",
        "substring",
        Overload(("STRING", "INT"), t.STRING, _substring),
        Overload(("STRING", "INT", "INT"), t.STRING, lambda s, p, n: _substring(s, p, n, with_length=True)),
    )
    add(
        "INSTR",
        "instr",
        Overload(("STRING", "STRING"), t.INTEGER, _instr),
        Overload(("STRING", "STRING", "INT"), t.INTEGER, _instr),
        Overload(("STRING", "STRING", "INT", "INT"), t.INTEGER, _instr),
    )
    add("LPAD", "LPad", Overload(("STRING", "INT", "STRING"), t.STRING, _lpad))
    add("RPAD", "RPad", Overload(("STRING", "INT", "STRING"), t.STRING, _rpad))
    add("LEN", "len", Overload(("STRING",), t.INTEGER, _opt(len)))
    add("UCASE", "ucase", Overload(("STRING",), t.STRING, _opt(str.upper)))
    add("LCASE", "lcase", Overload(("STRING",), t.STRING, _opt(str.lower)))
    add("TRIM", "trim", Overload(("STRING",), t.STRING, _opt(str.strip)))
    add("INITCAP", "initcap", Overload(("STRING",), t.STRING, _initcap))
    add("REPLACE", "replace", Overload(("STRING", "STRING", "STRING"), t.STRING, _replace))
    add("SPLIT", "split", Overload(("STRING", "STRING"), t.Array(t.STRING), _split))
    add("ARRAY_LENGTH", "ARRAY_LENGTH", Overload((("ARRAY", "T"),), t.INTEGER, _opt(len)))
    add("ARRAY_CONTAINS", "ARRAY_CONTAINS", Overload((("ARRAY", "T"), "T"), t.BOOLEAN, _array_contains))
    add("AS_VALUE", "AS_VALUE", Overload(("T",), "T", _as_value))
    return fns


FUNCTIONS: dict[str, Function] = _build()
