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


class KsqlUnavailableError(StackError):
    """The ksqlDB server is down, not ready, or something else answers at its URL."""


class KsqlAuthError(ConfigError):
    """The ksqlDB server refused the credentials."""


class KsqlStatementError(ReplayError):
    """The ksqlDB server refused a statement or a query (its ``error_code`` and ``message``)."""

    exit_code = 9

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: int | None,
        server_message: str,
        statement: str,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.error_code = error_code
        self.server_message = server_message
        self.statement = statement


class MigrationFileError(InputError):
    """A migration file or folder breaks the rules (name, duplicate version, a statement that
    cannot be split or is not allowed in a migration)."""


class MigrationFailedError(ReplayError):
    """A migration's statement failed; the version is marked ERROR and the next apply resumes it."""

    exit_code = 9


class MigrationStateError(ReplayError):
    """The applied migrations and the local files disagree (edited or missing file, gap), or the
    metadata is missing or inconsistent."""

    exit_code = 10


class MigrationLockedError(ReplayError):
    """Another ``apply`` holds the migrations lock: two applies never run at the same time."""

    exit_code = 11


class DrainTimeoutError(ReplayError):
    """Persistent queries had not consumed their sources to the end when the time ran out."""

    exit_code = 12


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
