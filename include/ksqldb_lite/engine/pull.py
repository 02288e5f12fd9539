"""Pull queries: ``SELECT … FROM table [WHERE …] [LIMIT n];`` without EMIT CHANGES.

They read the state of a table built by ``CREATE TABLE … AS SELECT … GROUP BY``, windowed or
not, as ksqlDB 0.29 answers them:

* the query's ``materialized`` store holds the table as written (sink key bytes → value bytes;
  for a windowed table the key bytes end with the 8-byte window start, as Kafka Streams'
  time-windowed keys), its ``aggregate`` store each row's timestamp (ROWTIME: the newest record
  timestamp folded into the row);
* a windowed table's rows have WINDOWSTART and WINDOWEND after the key columns (``SELECT *``
  includes them, marked ``KEY`` in the header, as the key columns are);
* the WHERE clause is planned by :mod:`ksqldb_lite.planning.pull_where`: a key lookup reads only
  the named keys (for a windowed table, every window of those keys), anything else scans the
  table (``ksql.query.pull.table.scan.enabled``, default true); the full WHERE clause then
  filters every row read, WINDOWSTART / WINDOWEND bounds included;
* rows come in the store's order (key lookups: in the order the WHERE clause names the keys;
  windows by start time), at most LIMIT of them.

Refused as ksqlDB refuses them: JOIN, WINDOW, GROUP BY, PARTITION BY, HAVING, ROWPARTITION /
ROWOFFSET, tables that no query materializes. Refused as unsupported: pull queries on streams
(ksqlDB scans the topic), and on tables built without an aggregation.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from ksqldb_lite.engine.entities import QueryInfo
from ksqldb_lite.engine.properties import Properties
from ksqldb_lite.errors import KsqlStatementError, UnsupportedFeatureError
from ksqldb_lite.execution.driver import KeyValueStore, TopicDriver
from ksqldb_lite.execution.memory_driver import default_partition
from ksqldb_lite.execution.queries import PullQueryResult, QueryHeader
from ksqldb_lite.execution.tables import AGGREGATE_STORE, MATERIALIZED_STORE
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.aggregation import AggregatePlan
from ksqldb_lite.planning.planner import QueryAnalyzer
from ksqldb_lite.planning.pull_where import (
    QUERIES_DOC_LINK,
    SYNTAX_HELP,
    PullWhere,
    analyze_pull_where,
    rewrite_time_literals,
)
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import (
    KEY,
    ROWOFFSET,
    ROWPARTITION,
    ROWTIME,
    WINDOWEND,
    WINDOWSTART,
    Column,
    DataSource,
    LogicalSchema,
    MetaStore,
)
from ksqldb_lite.serde import formats as serde

SCAN_ENABLED = "ksql.query.pull.table.scan.enabled"
RANGE_SCAN_ENABLED = "ksql.query.pull.range.scan.enabled"
_WINDOW_START = struct.Struct(">q")
_NOT_IN_PULL = (ROWPARTITION, ROWOFFSET)

Row = list[Any]


def _check_rules(query: n.Query) -> None:
    """ksqlDB's ``PullQueryValidator`` rules, with its help text."""
    rules = (
        (query.has_join, "Pull queries don't support JOIN clauses."),
        (query.window is not None, "Pull queries don't support WINDOW clauses."),
        (query.group_by is not None, "Pull queries don't support GROUP BY clauses."),
        (query.partition_by is not None, "Pull queries don't support PARTITION BY clauses."),
        (query.having is not None, "Pull queries don't support HAVING clauses."),
        (query.emit is not None, "Pull queries don't support EMIT clauses."),
    )
    for broken, message in rules:
        if broken:
            raise KsqlStatementError(message + SYNTAX_HELP)
    for clause, exprs in (("SELECT", _select_exprs(query)), ("WHERE", [query.where] if query.where else [])):
        names = [
            e.name for x in exprs for e in n.walk(x) if isinstance(e, n.ColumnRef) and e.name in _NOT_IN_PULL
        ]
        if names:
            raise KsqlStatementError(
                f"Pull queries don't support the following columns in {clause} clauses: "
                f"{', '.join(t.quote(name) for name in dict.fromkeys(names))}\n{SYNTAX_HELP}"
            )


def _select_exprs(query: n.Query) -> list[n.Expr]:
    return [item.expr for item in query.select if isinstance(item, n.SelectExpression)]


def _view(source: DataSource) -> DataSource:
    """The table as a pull query sees it: a windowed table has WINDOWSTART and WINDOWEND as
    key columns after its own."""
    if not source.is_windowed:
        return source
    bounds = (Column(WINDOWSTART, t.BIGINT, KEY), Column(WINDOWEND, t.BIGINT, KEY))
    return source.with_schema(LogicalSchema(source.schema.key + bounds, source.schema.value))


class _TableReader:
    """Decodes store entries into rows ``[keys…, (WINDOWSTART, WINDOWEND,) values…, ROWTIME,
    ROWPARTITION, ROWOFFSET]``, reading only the keys a lookup names."""

    def __init__(
        self,
        source: DataSource,
        materialized: KeyValueStore,
        aggregates: KeyValueStore | None,
        with_rowtime: bool,
        partitions: int,
    ) -> None:
        self.source = source
        self.partitions = max(partitions, 1)
        self.materialized = materialized
        self.aggregates = aggregates if with_rowtime else None
        self.key_serializer = serde.key_serializer(source.key_format, source.schema.key)
        self.key_deserializer = serde.key_deserializer(source.key_format, source.schema.key)
        self.value_deserializer = serde.value_deserializer(source.value_format, source.schema.value)
        self.window_size = source.window_size_ms or 0

    def _rowtime(self, key: bytes) -> int | None:
        if self.aggregates is None:
            return None
        state = self.aggregates.get(key)
        return int(orjson.loads(state)[-1]) if state is not None else None

    def _row(self, key: bytes, value: bytes) -> Row | None:
        values = self.value_deserializer(value)
        if values is None:
            return None
        if self.source.is_windowed:
            start = _WINDOW_START.unpack(key[-8:])[0]
            keys = [*self.key_deserializer(key[:-8]), start, start + self.window_size]
        else:
            keys = self.key_deserializer(key)
        return [*keys, *values, self._rowtime(key), None, None]

    def _partition(self, key: bytes) -> int:
        return default_partition(key, self.partitions, 0)

    def _entries(self, lookup: PullWhere) -> list[tuple[bytes, bytes]]:
        """ksqlDB's order. A scan reads partition by partition (of the sink topic, by the key
        without its window) and each in key-byte order (RocksDB's; windows by start time). A
        lookup groups its keys by partition, the groups in the order their first key appears in
        the WHERE clause, the keys of a group in that order too."""
        windowed = self.source.is_windowed
        if lookup.keys is None:
            entries = list(self.materialized.items())
            return sorted(entries, key=lambda e: (self._partition(e[0][:-8] if windowed else e[0]), e[0]))
        wanted = list(dict.fromkeys(self.key_serializer(key) or b"" for key in lookup.keys))
        rank: dict[int, int] = {}
        for key in wanted:
            rank.setdefault(self._partition(key), len(rank))
        wanted.sort(key=lambda key: rank[self._partition(key)])
        if not windowed:
            found = ((key, self.materialized.get(key)) for key in wanted)
            return [(key, value) for key, value in found if value is not None]
        windows: dict[bytes, list[tuple[bytes, bytes]]] = {key: [] for key in wanted}
        for entry in self.materialized.items():
            of_key = windows.get(entry[0][:-8])
            if of_key is not None:
                of_key.append(entry)
        return [entry for key in wanted for entry in sorted(windows[key])]

    def rows(self, lookup: PullWhere) -> Iterator[Row]:
        """Rows of the table, or of the looked-up keys, in ksqlDB's order."""
        for key, value in self._entries(lookup):
            row = self._row(key, value)
            if row is not None:
                yield row


def run_pull_query(
    statement: n.QueryStatement,
    metastore: MetaStore,
    queries: Mapping[str, QueryInfo],
    driver: TopicDriver,
    properties: Properties,
) -> PullQueryResult:
    """Answer a pull query from the state of the persistent query that writes the table."""
    query = statement.query
    source = metastore.get(query.source.name)
    if source is None:
        raise KsqlStatementError(f"{query.source.name} does not exist.")
    _check_rules(query)
    if not source.is_table:
        raise UnsupportedFeatureError("Pull queries on streams")
    writer = next((q for q in queries.values() if q.sink == source.name), None)
    if writer is None:
        raise KsqlStatementError(
            f"The `{source.name}` table isn't queryable. To derive a queryable table, you can do "
            f"'CREATE TABLE QUERYABLE_{source.name} AS SELECT * FROM {source.name}'. "
            f"See {QUERIES_DOC_LINK} for more info."
        )
    if not isinstance(writer.extra.get("plan"), AggregatePlan):
        raise UnsupportedFeatureError("Pull queries on tables not built by an aggregation (GROUP BY)")
    materialized = driver.query_store(writer.query_id, MATERIALIZED_STORE)
    if materialized is None:
        raise KsqlStatementError(
            f"The table {source.name} is not ready for pull queries yet: query {writer.query_id} is still "
            "restoring its state. Try again in a moment."
        )
    view = _view(source)
    if query.where is not None:
        query = dataclasses.replace(query, where=rewrite_time_literals(query.where))
    scoped = MetaStore({**metastore.sources, source.name: view})
    try:
        plan = QueryAnalyzer(scoped, query, None, allow_tables=True).analyze()
    except KsqlStatementError as error:
        if query.where is None or not error.message.startswith("Error in WHERE expression"):
            raise
        # ksqlDB's pull-query analyzer names the predicate it could not type
        raise KsqlStatementError(f"{error.message}\nStatement: {query.where}") from error
    compiler = plan.compiler()
    scans, ranges = properties.boolean(SCAN_ENABLED, True), properties.boolean(RANGE_SCAN_ENABLED, True)
    lookup = analyze_pull_where(plan.where, source.schema.key, source.is_windowed, scans, compiler, ranges)
    where: Callable[[Row], Any] | None = compiler.compile(plan.where) if plan.where is not None else None
    projection = [compiler.compile(c.expr) for c in plan.projection]
    used = [c.expr for c in plan.projection] + ([plan.where] if plan.where is not None else [])
    with_rowtime = any(isinstance(e, n.ColumnRef) and e.name == ROWTIME for x in used for e in n.walk(x))
    aggregates = driver.query_store(writer.query_id, AGGREGATE_STORE)
    reader = _TableReader(source, materialized, aggregates, with_rowtime, source.partitions)
    rows: list[Row] = []
    for row in reader.rows(lookup):
        if where is not None and not where(row):
            continue
        rows.append([f(row) for f in projection])
        if query.limit is not None and len(rows) >= query.limit:
            break
    key_names = {c.name for c in view.schema.key}
    keys = frozenset(
        i
        for i, c in enumerate(plan.projection)
        if isinstance(c.expr, n.ColumnRef) and c.expr.name in key_names
    )
    header = QueryHeader(
        f"query_{random.randrange(10**12, 10**13)}",
        tuple(c.name for c in plan.projection),
        tuple(str(c.type) for c in plan.projection),
        keys,
    )
    return PullQueryResult(header, rows)
