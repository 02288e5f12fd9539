"""The command log: every successful state-changing statement, in order, for recovery.

ksqlDB writes each statement that changes the metastore (CREATE, DROP, TERMINATE, INSERT INTO …
SELECT, …) to its command topic and, when a server starts, replays the topic to rebuild streams,
tables and persistent queries. The engine does the same through the :class:`CommandLog`
protocol: :class:`InMemoryCommandLog` keeps a list (tests, conformance); the Kafka-backed log
(separate work) uses a single-partition command topic ``_confluent-ksql-<service id>_command_topic``
whose offsets are the command sequence numbers.

A command carries the statement with ``${var}`` references already substituted, and the
properties in effect when it ran (server overrides + request ``streamsProperties`` + ``SET``),
so that replay does not depend on the session that issued it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(frozen=True)
class Command:
    """One logged statement."""

    statement: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    # ksqlDB's command id, e.g. ``stream/`S`/create``, ``terminate/CSAS_S_1/execute``.
    command_id: str = ""

    def to_json(self) -> bytes:
        """Serialized form (what the Kafka-backed log stores as the record value)."""
        return orjson.dumps(
            {
                "statement": self.statement,
                "streamsProperties": dict(self.properties),
                "commandId": self.command_id,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Command:
        """Inverse of :meth:`to_json`."""
        raw = orjson.loads(data)
        return cls(
            str(raw["statement"]), dict(raw.get("streamsProperties") or {}), str(raw.get("commandId", ""))
        )


class CommandLog(Protocol):
    """Append-only, ordered log of commands."""

    def append(self, command: Command) -> int:
        """Durably append one command; return its sequence number (0, 1, 2, … ; for the Kafka log
        the record offset). Raises :class:`ksqldb_lite.errors.DriverError` on failure."""
        ...

    def read_all(self) -> Iterable[tuple[int, Command]]:
        """Every command with its sequence number, oldest first (used once, at start)."""
        ...


class InMemoryCommandLog:
    """A command log in a list."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def append(self, command: Command) -> int:
        """Append; the sequence number is the list index."""
        self.commands.append(command)
        return len(self.commands) - 1

    def read_all(self) -> Iterable[tuple[int, Command]]:
        """All commands, oldest first."""
        return list(enumerate(self.commands))
