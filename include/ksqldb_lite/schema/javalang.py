"""Java number semantics the generated code of ksqlDB has and Python lacks.

Integer overflow wraps (``int`` 32 bit, ``long`` 64 bit); ``Integer.parseInt`` accepts only an
optional sign and ASCII digits; ``Double.parseDouble`` trims and accepts ``NaN``/``Infinity``;
casting a double to an integer saturates; ``Double.toString`` switches to ``1.0E7`` notation.
"""

from __future__ import annotations

import math
from decimal import Decimal

INT_BITS = 32
LONG_BITS = 64


def wrap(value: int, bits: int) -> int:
    """Two's complement overflow of an integer to ``bits`` bits."""
    half: int = 2 ** (bits - 1)
    return ((value + half) % (2 * half)) - half


def wrap_int(value: int) -> int:
    """Java ``int`` overflow."""
    return value if -2147483648 <= value <= 2147483647 else wrap(value, INT_BITS)


def wrap_long(value: int) -> int:
    """Java ``long`` overflow."""
    return value if -(2**63) <= value < 2**63 else wrap(value, LONG_BITS)


def saturate(value: float, bits: int) -> int:
    """Java's ``(int) d`` / ``(long) d``: truncate, clamp to the range, NaN → 0."""
    if math.isnan(value):
        return 0
    high: int = 2 ** (bits - 1) - 1
    if math.isinf(value):
        return high if value > 0 else -high - 1
    return max(-high - 1, min(high, int(value)))


def parse_int(text: str, bits: int) -> int:
    """``Integer.parseInt`` / ``Long.parseLong`` (raises ValueError)."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(text)
    number = int(text)
    if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise ValueError(text)
    return number


def parse_double(text: str) -> float:
    """``Double.parseDouble`` (trims whitespace; NaN/Infinity; trailing d/f)."""
    body = text.strip()
    if body[-1:] in ("d", "D", "f", "F"):
        body = body[:-1]
    if body in ("NaN", "+NaN", "-NaN"):
        return math.nan
    if body.lstrip("+-") == "Infinity":
        return -math.inf if body.startswith("-") else math.inf
    lowered = body.lower()
    if "inf" in lowered or "nan" in lowered or "_" in body:
        raise ValueError(text)
    return float(body)


def double_str(value: float) -> str:
    """``Double.toString`` (shortest round-trip digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    power = len(digits) - 1 + int(exponent)
    return ("-" if sign else "") + text[0] + "." + (text[1:] or "0") + "E" + str(power)
