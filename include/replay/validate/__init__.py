"""Validation of a Meetup dump with great-expectations, with a quarantine for bad records.

Importing this package does not import great-expectations (about 3 s); only
:func:`validate_dump` does, when it runs.
"""

from replay.validate.quarantine import load_quarantine
from replay.validate.runner import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_INVALID_PCT,
    DEFAULT_MAX_RECORD_BYTES,
    POLICIES,
    Policy,
    ValidationResult,
    validate_dump,
)

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
