"""Checks that run before great-expectations: records that do not even parse as a JSON object.

Such records never reach the DataFrame; their reason is the parse error itself. The size limit is
checked here too for them (for parsed records the suite's ``record.size`` expectation does it),
so a quarantined record always lists every reason that applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# JSON type names of parsed values (orjson gives exactly these Python types).
JSON_TYPES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    type(None): "null",
}

# Machine-readable names of the precheck failures (the "checks" of a quarantined record).
EMPTY = "record.empty"
INVALID_UTF8 = "record.utf8"
NOT_JSON = "record.json"
NOT_OBJECT = "record.object"
TOO_LARGE = "record.size"
PRECHECKS = (EMPTY, INVALID_UTF8, NOT_JSON, NOT_OBJECT, TOO_LARGE)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one record is invalid: a stable check name and a human-readable reason."""

    check: str
    reason: str


def too_large_reason(size: int, max_record_bytes: int) -> str:
    """The reason text for a record over the size limit."""
    return f"record is {size} bytes, over the {max_record_bytes} bytes that fit in a Kafka message with the replay's headers"


def precheck(raw: bytes, max_record_bytes: int) -> tuple[dict[str, Any] | None, list[Failure]]:
    """Parse one record; returns the object, or None and the reasons it cannot be validated."""
    if not raw.strip():
        return None, [Failure(EMPTY, "empty line" if not raw else "blank line (whitespace only)")]
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        failures = [_parse_failure(raw, error)]
        if len(raw) > max_record_bytes:
            failures.append(Failure(TOO_LARGE, too_large_reason(len(raw), max_record_bytes)))
        return None, failures
    if not isinstance(value, dict):
        kind = JSON_TYPES.get(type(value), type(value).__name__)
        failures = [Failure(NOT_OBJECT, f"not a JSON object: the record is a JSON {kind}")]
        if len(raw) > max_record_bytes:
            failures.append(Failure(TOO_LARGE, too_large_reason(len(raw), max_record_bytes)))
        return None, failures
    return value, []


def _parse_failure(raw: bytes, error: orjson.JSONDecodeError) -> Failure:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        snippet = raw[max(0, bad.start - 8) : bad.end + 8]
        return Failure(INVALID_UTF8, f"invalid UTF-8 at byte {bad.start} ({bad.reason}) near {snippet!r}")
    message = str(error)
    if message.startswith("unexpected end of data"):
        return Failure(NOT_JSON, f"truncated JSON ({message})")
    return Failure(NOT_JSON, f"not valid JSON ({message})")
