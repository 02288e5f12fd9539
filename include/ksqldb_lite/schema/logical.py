"""Logical schemas (key and value columns), formats, and the sources of the metastore."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ksqldb_lite.schema import types as t

ROWTIME = "ROWTIME"
ROWPARTITION = "ROWPARTITION"
ROWOFFSET = "ROWOFFSET"
ROWKEY = "ROWKEY"
WINDOWSTART = "WINDOWSTART"
WINDOWEND = "WINDOWEND"

# pseudo columns every stream has (not part of SELECT *)
PSEUDO_COLUMNS: dict[str, t.SqlType] = {ROWTIME: t.BIGINT, ROWPARTITION: t.INTEGER, ROWOFFSET: t.BIGINT}
SYSTEM_COLUMN_NAMES = frozenset({ROWTIME, ROWPARTITION, ROWOFFSET, WINDOWSTART, WINDOWEND})

KEY = "KEY"
VALUE = "VALUE"


@dataclass(frozen=True)
class Column:
    """A column of a source: name (case-sensitive), type, and whether it lives in the key."""

    name: str
    type: t.SqlType
    namespace: str = VALUE  # KEY or VALUE

    @property
    def is_key(self) -> bool:
        """Whether the column is (part of) the record key."""
        return self.namespace == KEY

    def describe(self, table: bool = False) -> str:
        """``\\`NAME\\` TYPE [KEY|PRIMARY KEY]`` as ksqlDB prints columns in messages."""
        suffix = (" PRIMARY KEY" if table else " KEY") if self.is_key else ""
        return f"{t.quote(self.name)} {self.type}{suffix}"


@dataclass(frozen=True)
class LogicalSchema:
    """Key columns then value columns, in declaration order."""

    key: tuple[Column, ...]
    value: tuple[Column, ...]

    @property
    def columns(self) -> tuple[Column, ...]:
        """Key columns followed by value columns."""
        return self.key + self.value

    def find(self, name: str) -> Column | None:
        """A key or value column by exact name."""
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def find_value(self, name: str) -> Column | None:
        """A value column by exact name."""
        for column in self.value:
            if column.name == name:
                return column
        return None

    def __str__(self) -> str:
        return ", ".join(c.describe() for c in self.columns)

    def schema_string(self, table: bool = False) -> str:
        """Like ``str()``, with PRIMARY KEY for tables."""
        return ", ".join(c.describe(table) for c in self.columns)


@dataclass(frozen=True)
class Format:
    """A key or value format and its serde features.

    ``wrap_single`` is True/False when the user or the config chose explicitly whether a
    single value column is wrapped in a JSON object (SerdeFeatures WRAP_SINGLES /
    UNWRAP_SINGLES), None when left to the default (wrapped).
    """

    name: str
    wrap_single: bool | None = None
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def features(self) -> list[str]:
        """ksqlDB's serde feature names."""
        if self.wrap_single is None:
            return []
        return ["WRAP_SINGLES" if self.wrap_single else "UNWRAP_SINGLES"]


@dataclass(frozen=True)
class TimestampColumn:
    """``WITH (TIMESTAMP='col', TIMESTAMP_FORMAT='…')``."""

    column: str
    format: str | None = None


@dataclass(frozen=True)
class DataSource:
    """A stream or table of the metastore."""

    name: str
    kind: str  # STREAM or TABLE
    schema: LogicalSchema
    topic: str
    key_format: Format
    value_format: Format
    sql: str
    timestamp: TimestampColumn | None = None
    is_source: bool = False  # CREATE SOURCE …: read-only
    is_windowed: bool = False
    window_type: str | None = None  # TUMBLING or HOPPING (windowed tables)
    window_size_ms: int | None = None
    partitions: int = 1
    replicas: int = 1

    @property
    def is_table(self) -> bool:
        """Whether the source is a table."""
        return self.kind == "TABLE"

    def with_schema(self, schema: LogicalSchema) -> DataSource:
        """A copy with another schema."""
        return replace(self, schema=schema)


@dataclass
class MetaStore:
    """Sources by name (case-sensitive, as resolved by the parser)."""

    sources: dict[str, DataSource] = field(default_factory=dict)

    def get(self, name: str) -> DataSource | None:
        """A source by exact name."""
        return self.sources.get(name)

    def copy(self) -> MetaStore:
        """A shallow copy for a sandbox (sources are immutable)."""
        return MetaStore(dict(self.sources))
