"""Typed errors of the replay library.

Every error carries a one-line ``hint`` that tells the user what to do next; the CLI and the
DAG print ``str(error)`` (what failed and why) followed by the hint, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ReplayError(Exception):
    """Base class of all errors the library raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint as a single line for a terminal or a task log."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(ReplayError):
    """A setting is missing or invalid."""

    exit_code = 2


class PrerequisiteError(ReplayError):
    """A program the project needs (java, mvn) is missing or too old."""

    exit_code = 3


class StackError(ReplayError):
    """Starting, stopping or reaching the embedded stack failed."""

    exit_code = 4


class PortInUseError(StackError):
    """A port the stack wants to bind is taken by another process."""


class InputError(ReplayError):
    """The dump (or another input file) cannot be read as asked."""

    exit_code = 5


class DumpNotFoundError(InputError):
    """The dump path does not exist."""


class DumpIsDirectoryError(InputError):
    """The dump path is a directory, not a file."""


class EmptyDumpError(InputError):
    """The dump holds no data at all (zero bytes, or an empty gzip stream)."""


class NotJsonDumpError(InputError):
    """The dump is binary or text that is not JSON Lines / a JSON array."""


class DumpFormatError(InputError):
    """The dump breaks its format beyond one bad record (corrupt gzip, a giant line, junk after ``]``)."""


class DumpValidationError(ReplayError):
    """The dump failed validation under the chosen policy; ``result`` holds the full outcome."""

    exit_code = 6

    def __init__(self, message: str, *, result: object, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        # A replay.validate.ValidationResult; typed loosely so errors.py stays import-free.
        self.result = result


class SuiteError(ReplayError):
    """The expectation suite cannot be loaded or one of its expectations failed to evaluate."""

    exit_code = 2


class ReconciliationError(ReplayError):
    """The steps of a run disagree about how many records went where (a bug, never input)."""

    exit_code = 8


class MetricsError(ReplayError):
    """The metric collector cannot start, reach what it measures, or stop."""

    exit_code = 13


class ReportError(ReplayError):
    """A run's report cannot be built (its run folder lacks what the report needs)."""

    exit_code = 14


class ThresholdError(ReportError):
    """The report was written, and one or more of the run's limits failed."""

    exit_code = 15

    def __init__(
        self, message: str, *, failed: list[dict[str, object]], report_dir: Path, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.failed = failed
        self.report_dir = report_dir
