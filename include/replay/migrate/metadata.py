"""The migrations metadata, exactly as ksql-migrations keeps it, so either tool reads the other's.

* ``MIGRATION_EVENTS``: a stream (key ``version_key``; eight STRING values; one partition) that
  every state change is written to — two rows each, ``CURRENT`` and the version;
* ``MIGRATION_SCHEMA_VERSIONS``: ``CREATE TABLE … AS SELECT version_key, latest_by_offset(…)``
  over the stream: the latest row per key, read back with pull queries.

Statements, column order, value formats and pull queries are those of
``InitializeMigrationCommand``, ``MetadataUtil`` and ``ApplyMigrationCommand`` (see
``../shared/ksql-conformance/KSQLDB-FACTS.md``). Rows go in with ``INSERT … VALUES`` on ``/ksql``
(the tool uses ``/inserts-stream``, which real ksqlDB serves over HTTP/2 only): same columns,
same values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from replay.errors import MigrationStateError
from replay.migrate.client import KsqlClient, Row

NONE_VERSION = "<none>"
CURRENT_KEY = "CURRENT"
EMPTY_ERROR_REASON = "N/A"
COLUMNS = (
    "VERSION_KEY",
    "VERSION",
    "NAME",
    "STATE",
    "CHECKSUM",
    "STARTED_ON",
    "COMPLETED_ON",
    "PREVIOUS",
    "ERROR_REASON",
)
# The order of ksql-migrations' per-version pull query (MigrationVersionInfo reads by position).
INFO_COLUMNS = "version, checksum, previous, state, name, started_on, completed_on, error_reason"


class MigrationState(StrEnum):
    """A version's state; PENDING is shown for files never applied, never written."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    MIGRATED = "MIGRATED"
    ERROR = "ERROR"


def create_stream_sql(name: str, topic: str, replicas: int) -> str:
    """The metadata stream's CREATE, character for character as ``initialize-metadata`` sends it."""
    return (
        f"CREATE STREAM {name} (\n"
        "  version_key  STRING KEY,\n"
        "  version      STRING,\n"
        "  name         STRING,\n"
        "  state        STRING,  \n"
        "  checksum     STRING,\n"
        "  started_on   STRING,\n"
        "  completed_on STRING,\n"
        "  previous     STRING,\n"
        "  error_reason STRING\n"
        ") WITH (  \n"
        f"  KAFKA_TOPIC='{topic}',\n"
        "  VALUE_FORMAT='JSON',\n"
        "  PARTITIONS=1,\n"
        f"  REPLICAS= {replicas} \n"
        ");\n"
    )


def create_table_sql(table: str, stream: str, topic: str) -> str:
    """The metadata table's CTAS, character for character as ``initialize-metadata`` sends it."""
    return (
        f"CREATE TABLE {table}\n"
        "  WITH (\n"
        f"    KAFKA_TOPIC='{topic}'\n"
        "  )\n"
        "  AS SELECT \n"
        "    version_key, \n"
        "    latest_by_offset(version) as version, \n"
        "    latest_by_offset(name) AS name, \n"
        "    latest_by_offset(state) AS state,     \n"
        "    latest_by_offset(checksum) AS checksum, \n"
        "    latest_by_offset(started_on) AS started_on, \n"
        "    latest_by_offset(completed_on) AS completed_on, \n"
        "    latest_by_offset(previous) AS previous, \n"
        "    latest_by_offset(error_reason) AS error_reason \n"
        f"  FROM {stream} \n"
        "  GROUP BY version_key;\n"
    )


def quote_literal(value: str) -> str:
    """A KSQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def now_ms() -> str:
    """Epoch milliseconds as the string the metadata stores."""
    return str(int(time.time() * 1000))


@dataclass(frozen=True)
class MetadataRow:
    """One row of ``MIGRATION_EVENTS`` (all strings, as the tool writes them)."""

    version_key: str
    version: str
    name: str
    state: str
    checksum: str
    started_on: str
    completed_on: str
    previous: str
    error_reason: str = EMPTY_ERROR_REASON

    def values(self) -> tuple[str, ...]:
        return (
            self.version_key,
            self.version,
            self.name,
            self.state,
            self.checksum,
            self.started_on,
            self.completed_on,
            self.previous,
            self.error_reason,
        )

    def insert_sql(self, stream: str) -> str:
        """``INSERT INTO <stream> (VERSION_KEY, …) VALUES ('…', …);``"""
        values = ", ".join(quote_literal(value) for value in self.values())
        return f"INSERT INTO {stream} ({', '.join(COLUMNS)}) VALUES ({values});"

    @classmethod
    def from_event(cls, row: Row) -> MetadataRow:
        """A row of ``SELECT * FROM <stream>`` (upper-case column names)."""
        return cls(*(str(row.get(column) or "") for column in COLUMNS))


def version_rows(
    *,
    version: int,
    name: str,
    state: MigrationState,
    checksum: str,
    started_on: str,
    previous: str,
    error_reason: str | None = None,
    completed_on: str | None = None,
) -> tuple[MetadataRow, MetadataRow]:
    """The two rows of one state change, ``CURRENT`` then the version (``updateState``):
    ``completed_on`` is "" while RUNNING and the time of the change for MIGRATED/ERROR."""
    if completed_on is None:
        completed_on = "" if state is MigrationState.RUNNING else now_ms()
    row = MetadataRow(
        version_key=CURRENT_KEY,
        version=str(version),
        name=name,
        state=state.value,
        checksum=checksum,
        started_on=started_on,
        completed_on=completed_on,
        previous=previous,
        error_reason=error_reason or EMPTY_ERROR_REASON,
    )
    return row, replace(row, version_key=str(version))


@dataclass(frozen=True)
class VersionInfo:
    """A version's row of ``MIGRATION_SCHEMA_VERSIONS`` (``MigrationVersionInfo``)."""

    version: int
    checksum: str
    previous: str
    state: MigrationState
    name: str
    started_on: str
    completed_on: str
    error_reason: str

    @classmethod
    def from_row(cls, row: Row) -> VersionInfo:
        try:
            return cls(
                version=int(str(row["VERSION"])),
                checksum=str(row["CHECKSUM"]),
                previous=str(row["PREVIOUS"]),
                state=MigrationState(str(row["STATE"])),
                name=str(row["NAME"]),
                started_on=str(row["STARTED_ON"]),
                completed_on=str(row["COMPLETED_ON"]),
                error_reason=str(row["ERROR_REASON"]),
            )
        except (KeyError, ValueError) as error:
            raise MigrationStateError(
                f"the migrations table holds a row that is not a migration's: {row}",
                hint="check MIGRATION_SCHEMA_VERSIONS; rows are written by ksql-migrations or replay migrate only",
            ) from error

    @staticmethod
    def pending(version: int, name: str) -> VersionInfo:
        return VersionInfo(
            version, "N/A", "N/A", MigrationState.PENDING, name, "N/A", "N/A", EMPTY_ERROR_REASON
        )


def format_timestamp(epoch_ms: str) -> str:
    """Epoch ms as ``yyyy-MM-dd HH:mm:ss.SSS UTC`` ("" and "N/A" as they are), as ``info`` shows it."""
    if epoch_ms in ("", "N/A"):
        return epoch_ms
    try:
        moment = datetime.fromtimestamp(int(epoch_ms) / 1000, tz=UTC)
    except ValueError:
        return epoch_ms
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


_VERSION = re.compile(r"v?([0-9]+)\.([0-9]+)\.")


def supports_multi_key_pull(server_version: str) -> bool:
    """``WHERE version_key IN (…)`` from ksqlDB 0.14 / Confluent Platform 6.1 on (``KsqlVersion``)."""
    match = _VERSION.match(server_version)
    if match is None:
        return False
    major, minor = int(match.group(1)), int(match.group(2))
    if major < 4:  # standalone ksqlDB 0.x
        return (major, minor) >= (0, 14)
    return (major, minor) >= (6, 1)


class MetadataStore:
    """Reads and writes the metadata of one project on one server."""

    def __init__(self, client: KsqlClient, *, stream: str, table: str, server_version: str) -> None:
        self.client = client
        self.stream = stream
        self.table = table
        self.multi_key = supports_multi_key_pull(server_version)

    def write(self, rows: Iterable[MetadataRow]) -> None:
        """Append rows to the stream, in order (one INSERT per request, like one insert each)."""
        for row in rows:
            self.client.execute(row.insert_sql(self.stream))

    def current_version(self) -> str:
        """``CURRENT``'s version, or ``<none>`` (the tool's query, verbatim)."""
        rows = self.client.pull(f"SELECT VERSION FROM {self.table} WHERE version_key = '{CURRENT_KEY}';")
        return str(rows[0]["VERSION"]) if rows else NONE_VERSION

    def info(self, version: str | int) -> VersionInfo | None:
        """A version's row (the tool's query, verbatim), or None."""
        rows = self.client.pull(f"SELECT {INFO_COLUMNS} FROM {self.table} WHERE version_key = '{version}';")
        return VersionInfo.from_row(rows[0]) if rows else None

    def infos(self, versions: list[int]) -> dict[int, VersionInfo]:
        """Rows of many versions: one multi-key pull where the server has it, else one each."""
        if not versions:
            return {}
        if not self.multi_key:
            found = {version: self.info(version) for version in versions}
            return {version: info for version, info in found.items() if info is not None}
        keys = "', '".join(str(version) for version in versions)
        rows = self.client.pull(f"SELECT {INFO_COLUMNS} FROM {self.table} WHERE version_key IN ('{keys}');")
        infos = [VersionInfo.from_row(row) for row in rows]
        return {info.version: info for info in infos}

    def latest_migrated(self) -> str:
        """The newest MIGRATED version, or ``<none>`` (``MetadataUtil.getLatestMigratedVersion``):
        CURRENT if it is MIGRATED, else its ``previous``, which must be MIGRATED."""
        current = self.current_version()
        if current == NONE_VERSION:
            return NONE_VERSION
        info = self.require(current)
        if info.state is MigrationState.MIGRATED:
            return current
        if info.previous == NONE_VERSION:
            return NONE_VERSION
        previous = self.require(info.previous)
        if previous.state is not MigrationState.MIGRATED:
            raise MigrationStateError(
                f"version {current} follows version {info.previous}, which is {previous.state.value}, not MIGRATED",
                hint="the metadata is inconsistent; read it with `replay migrate info`",
            )
        return info.previous

    def require(self, version: str | int) -> VersionInfo:
        info = self.info(version)
        if info is None:
            raise MigrationStateError(
                f"version {version} is named in the migrations metadata but has no row in {self.table}",
                hint="the metadata is inconsistent; read it with `replay migrate info`",
            )
        return info
