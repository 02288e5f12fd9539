"""Validation policies and defaults, importable without pandas or great-expectations (the CLI
builds its parser from them on every ``replay`` command)."""

from __future__ import annotations

from typing import Literal

from replay.limits import MAX_RECORD_BYTES

Policy = Literal["quarantine", "fail"]
POLICIES: tuple[Policy, ...] = ("quarantine", "fail")

DEFAULT_MAX_RECORD_BYTES = MAX_RECORD_BYTES  # what a topic with Kafka's default limit takes (replay.limits)
DEFAULT_MAX_INVALID_PCT = 1.0
DEFAULT_CHUNK_SIZE = 75_000  # the full 142,502-event dump in two GX runs
