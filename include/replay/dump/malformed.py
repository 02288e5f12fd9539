"""Malformed records of named kinds, for ``replay dump generate --invalid-fraction``.

Each kind is something validation must catch before it silently breaks a stream downstream.
``EXPECTED_CHECKS`` says which validation check (``meta.check`` of the suite, or a precheck)
quarantines each kind; the tests hold the validator to it.
"""

from __future__ import annotations

import random
from typing import Any

from replay.dump.events import meetup_bytes

KINDS: tuple[str, ...] = (
    "truncated_line",
    "invalid_utf8",
    "not_an_object",
    "missing_required_field",
    "wrong_type",
    "id_not_string",
    "duplicate_id_mtime",
    "out_of_range",
    "oversized",
    "empty_line",
)
# Oversized records are ~1 MB each; keep them rare so a dump does not balloon.
KIND_WEIGHTS: dict[str, float] = {kind: 1.0 for kind in KINDS} | {"oversized": 0.05}

REQUIRED_FIELDS = (
    "id",
    "name",
    "status",
    "visibility",
    "venue_visibility",
    "mtime",
    "event_url",
    "yes_rsvp_count",
    "maybe_rsvp_count",
    "rsvp_limit",
    "payment_required",
    "group",
)
# field -> a value of the wrong JSON type
WRONG_TYPES: dict[str, Any] = {
    "mtime": "1425793345907",
    "yes_rsvp_count": "3",
    "rsvp_limit": 10.5,
    "group": "Los Angeles Hiking Group",
    "venue_visibility": True,
    "payment_required": 0,
    "name": 12345,
    "time": "2015-03-14T19:00:00Z",
    "venue": ["Central Park"],
}
# Which checks quarantine each kind (any one of them must be among the record's checks).
EXPECTED_CHECKS: dict[str, set[str]] = {
    "truncated_line": {"record.json"},
    "invalid_utf8": {"record.utf8"},
    "not_an_object": {"record.object"},
    "missing_required_field": {f"{f}.type" for f in REQUIRED_FIELDS},
    "wrong_type": {f"{f}.type" for f in WRONG_TYPES},
    "id_not_string": {"id.type"},
    "duplicate_id_mtime": {"record.duplicate"},
    "out_of_range": {
        "mtime.range",
        "time.range",
        "group.group_lat.range",
        "venue.lon.range",
        "utc_offset.quarter_hour",
        "yes_rsvp_count.range",
    },
    "oversized": {"record.size"},
    "empty_line": {"record.empty"},
}


def make_malformed(
    kind: str,
    rng: random.Random,
    event: dict[str, Any],
    raw: bytes,
    earlier_raw: bytes,
    max_record_bytes: int,
) -> tuple[bytes, str]:
    """Bytes of a malformed record of ``kind`` derived from a valid ``event`` (and its ``raw``
    bytes); ``earlier_raw`` is a valid record written before, for duplicates. Returns the
    bytes and a short note of what was broken."""
    if kind == "truncated_line":
        cut = rng.randint(len(raw) // 4, len(raw) - 2)
        return raw[:cut], f"cut at byte {cut} of {len(raw)}"
    if kind == "invalid_utf8":
        bad = rng.choice((b"\xff", b"\xc3\x28", b"\x80", b"\xe2\x82"))
        return raw.replace(b'"name":"', b'"name":"' + bad, 1), f"inserted {bad!r} into name"
    if kind == "not_an_object":
        choice = rng.randrange(4)
        shape = (b"[" + raw + b"]", b'"keep-alive"', b"42", b"null")[choice]
        return shape, ("array", "string", "number", "null")[choice]
    if kind == "empty_line":
        return b"", "empty line"
    if kind == "duplicate_id_mtime":
        return earlier_raw, "copy of an earlier record"
    changed = dict(event)
    if kind == "missing_required_field":
        name = rng.choice(REQUIRED_FIELDS)
        del changed[name]
        note = f"removed {name}"
    elif kind == "wrong_type":
        name = rng.choice([f for f in WRONG_TYPES if f in changed])
        changed[name] = WRONG_TYPES[name]
        note = f"{name} = {WRONG_TYPES[name]!r}"
    elif kind == "id_not_string":
        changed["id"] = (
            int(changed["id"]) if changed["id"].isdigit() else 220_000_000 + rng.randint(0, 999_999)
        )
        note = f"id = {changed['id']}"
    elif kind == "out_of_range":
        note = _out_of_range(changed, rng)
    elif kind == "oversized":
        pad = max_record_bytes - len(raw) + rng.randint(1, 4_096)
        changed["description"] = changed.get("description", "") + "<p>" + "x" * pad + "</p>"
        note = f"description padded by {pad} bytes"
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; known: {', '.join(KINDS)}")
    return meetup_bytes(changed), note


def _out_of_range(event: dict[str, Any], rng: random.Random) -> str:
    options = ["mtime_seconds", "group_lat", "yes_negative"]
    if "time" in event:
        options += ["time_micros", "utc_offset_minutes"]
    if "venue" in event and "lon" in event["venue"]:
        options.append("venue_lon")
    option = rng.choice(options)
    if option == "mtime_seconds":
        event["mtime"] //= 1000
        return f"mtime in seconds ({event['mtime']})"
    if option == "time_micros":
        event["time"] *= 1000
        return f"time in microseconds ({event['time']})"
    if option == "utc_offset_minutes":
        event["utc_offset"] += 600_000
        return f"utc_offset {event['utc_offset']} is not on a quarter hour"
    if option == "yes_negative":
        event["yes_rsvp_count"] = -1
        return "yes_rsvp_count = -1"
    if option == "group_lat":
        event["group"] = dict(event["group"]) | {"group_lat": 123.45}
        return "group.group_lat = 123.45"
    event["venue"] = dict(event["venue"]) | {"lon": -200.5}
    return "venue.lon = -200.5"
