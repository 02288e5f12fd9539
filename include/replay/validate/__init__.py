"""Validation of a Meetup dump with great-expectations, with a quarantine for bad records.

Importing this package does not import great-expectations (about 3 s); only
:func:`validate_dump` does, when it runs. It does quiet GX's loggers right away, so that
importing GX later (here or by the caller) does not flood the CLI or task logs.
"""

from replay.validate.gx_runner import quiet_gx_logging
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
