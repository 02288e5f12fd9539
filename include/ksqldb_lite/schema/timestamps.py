"""Timestamp strings as ksqlDB reads them in ``ROWTIME > '2018-01-01T00:00:00'`` comparisons.

ksqlDB accepts a prefix of ``yyyy-MM-dd'T'HH:mm:ss.SSS`` (missing parts default to their
minimum) followed by an optional zone (``Z``, ``+hhmm``, ``+hh:mm``); without a zone the time is
UTC.
"""

from __future__ import annotations

import calendar
import re

from ksqldb_lite.errors import KsqlStatementError

_PATTERN = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?)?)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)


def parse_timestamp_literal(text: str) -> int:
    """Epoch milliseconds of a timestamp string; KsqlStatementError when it does not parse."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise KsqlStatementError(
            f"Failed to parse timestamp '{text}': expected yyyy-MM-dd'T'HH:mm:ss.SSS[zone]"
        )
    parts = match.groupdict()
    fraction = (parts["fraction"] or "0").ljust(3, "0")[:3]
    seconds = calendar.timegm(
        (
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            0,
            0,
            0,
        )
    )
    millis = seconds * 1000 + int(fraction)
    zone = parts["zone"]
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset_ms = (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
        millis -= sign * offset_ms
    return millis
