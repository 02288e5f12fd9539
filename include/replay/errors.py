"""Typed errors of the replay library.

Every error carries a one-line ``hint`` that tells the user what to do next; the CLI and the
DAG print ``str(error)`` (what failed and why) followed by the hint, never a traceback.
"""

from __future__ import annotations


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
