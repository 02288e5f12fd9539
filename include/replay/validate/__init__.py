"""Validation of a Meetup dump with great-expectations, with a quarantine for bad records.

Importing this package is light: ``load_quarantine`` (what the producer needs) pulls in neither
pandas nor great-expectations; ``validate_dump`` and the rest load on first use, and GX itself
only when a validation runs. GX's loggers are quieted right away, so that importing GX later
(here or by the caller) does not flood the CLI or task logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replay.validate.gxlogs import quiet_gx_logging
from replay.validate.policy import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_INVALID_PCT,
    DEFAULT_MAX_RECORD_BYTES,
    POLICIES,
    Policy,
)
from replay.validate.quarantine import load_quarantine

if TYPE_CHECKING:
    from replay.validate.runner import ValidationResult, validate_dump

quiet_gx_logging()

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_INVALID_PCT",
    "DEFAULT_MAX_RECORD_BYTES",
    "POLICIES",
    "Policy",
    "ValidationResult",
    "load_quarantine",
    "validate_dump",
]
_FROM_RUNNER = frozenset({"ValidationResult", "validate_dump"})


def __getattr__(name: str) -> Any:
    if name in _FROM_RUNNER:
        from replay.validate import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'replay.validate' has no attribute {name!r}")
