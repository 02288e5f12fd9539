"""Pull queries on tables, windowed and not, against ksqlDB 0.29's answers and error messages.

Expected rows and messages follow ksqlDB's REST query-validation tests
(``rest-query-validation-tests/pull-queries-against-materialized-aggregates.json``): the same
statements, inputs and partitions (four), through the in-memory driver.
"""

from __future__ import annotations

from typing import Any

import pytest

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.execution.driver import ProducedRecord
from ksqldb_lite.execution.memory_driver import InMemoryTopicDriver
from ksqldb_lite.execution.queries import PullQueryResult

EARLIEST = {"auto.offset.reset": "earliest"}
STREAM = "CREATE STREAM INPUT (ID {type} KEY, V INT) WITH (kafka_topic='test_topic', value_format='JSON');"
TABLE = "CREATE TABLE AGG AS SELECT ID, COUNT(1) AS COUNT FROM INPUT GROUP BY ID;"
WINDOWED = (
    "CREATE TABLE AGG AS SELECT ID, COUNT(1) AS COUNT FROM INPUT WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;"
)


def engine(table: str, inputs: list[tuple[str, int]], key_type: str = "STRING") -> KsqlEngine:
    driver = InMemoryTopicDriver()
    driver.create_topic("test_topic", 4, 1)
    ksql = KsqlEngine(driver, EARLIEST)
    ksql.start()
    ksql.execute(STREAM.format(type=key_type))
    ksql.execute(table)
    for key, timestamp in inputs:
        encoded = key.encode() if key_type == "STRING" else int(key).to_bytes(4, "big", signed=True)
        driver.produce("test_topic", [ProducedRecord(encoded, b"{}", timestamp)])
    return ksql


def pull(ksql: KsqlEngine, sql: str, properties: dict[str, Any] | None = None) -> PullQueryResult:
    result = ksql.execute_query(sql, properties)
    assert isinstance(result, PullQueryResult)
    return result


WINDOW_INPUTS = [("11", 12001), ("10", 12345), ("10", 12211), ("10", 14253), ("10", 15364)]


def test_key_lookup_marks_key_columns_and_reads_rowtime() -> None:
    ksql = engine(TABLE, [("11", 12345), ("10", 12365)])
    result = pull(ksql, "SELECT ID, COUNT, ROWTIME FROM AGG WHERE ID='10';")
    assert result.header.schema == "`ID` STRING KEY, `COUNT` BIGINT, `ROWTIME` BIGINT"
    assert result.header.query_stream_metadata()["columnTypes"] == ["STRING", "BIGINT", "BIGINT"]
    assert result.rows == [["10", 1, 12365]]
    assert pull(ksql, "SELECT * FROM AGG WHERE ID='missing';").rows == []


def test_in_lookup_keeps_ksqldb_order_and_scan_goes_partition_by_partition() -> None:
    ksql = engine(TABLE, [(k, 1000 + i) for i, k in enumerate(["11", "10", "9", "8", "12"])])
    assert pull(ksql, "SELECT * FROM AGG WHERE ID IN ('10', '8');").rows == [["10", 1], ["8", 1]]
    assert pull(ksql, "SELECT * FROM AGG WHERE ID = '10' OR ID = '8';").rows == [["10", 1], ["8", 1]]
    # a scan: partition 0 ("11"), 2 ("10", "12"), 3 ("8", "9") of four, key bytes within each
    scanned = pull(ksql, "SELECT * FROM AGG;").rows
    assert [row[0] for row in scanned] == ["11", "10", "12", "8", "9"]
    assert pull(ksql, "SELECT * FROM AGG LIMIT 2;").rows == scanned[:2]
    assert [r[0] for r in pull(ksql, "SELECT * FROM AGG WHERE COUNT = 1 AND ID > '10';").rows] == [
        "11",
        "12",
        "8",
        "9",
    ]


def test_windowed_select_star_has_window_bounds_as_keys() -> None:
    ksql = engine(WINDOWED, [("11", 12346), ("10", 12345)])
    result = pull(ksql, "SELECT * FROM AGG WHERE ID='10';")
    assert (
        result.header.schema
        == "`ID` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY, `COUNT` BIGINT"
    )
    assert result.rows == [["10", 12000, 13000, 1]]


@pytest.mark.parametrize(
    ("where", "starts"),
    [
        ("100 <= WindowStart AND WindowStart < 200000 AND ID='10'", [12000, 14000, 15000]),
        ("12000 <= WindowStart AND WindowStart < 14000 AND ID='10'", [12000]),
        ("12000 < WindowStart AND WindowStart <= 14000 AND ID='10'", [14000]),
        ("WindowStart > 17000 AND 11234756356 > WindowStart AND ID='10'", []),
        ("12000 <= WindowStart AND WindowEnd < 14000 AND ID='10'", [12000]),
        ("12000 < WindowStart AND WindowEnd <= 15000 AND ID='10'", [14000]),
        ("ID='10' AND WINDOWSTART=14000", [14000]),
        ("ID='10' AND WINDOWSTART BETWEEN 13000 AND 15000", [14000, 15000]),
        ("ID='10'", [12000, 14000, 15000]),
    ],
)
def test_windowed_lookup_with_window_bounds(where: str, starts: list[int]) -> None:
    ksql = engine(WINDOWED, WINDOW_INPUTS)
    result = pull(ksql, f"SELECT ID, WINDOWSTART, WINDOWEND, ROWTIME, COUNT FROM AGG WHERE {where};")
    assert result.header.schema.startswith(
        "`ID` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY"
    )
    assert [row[1] for row in result.rows] == starts
    by_start = {12000: ["10", 12000, 13000, 12345, 2], 14000: ["10", 14000, 15000, 14253, 1]}
    for row in result.rows:
        assert row == by_start.get(row[1], row)  # ROWTIME: the newest timestamp in the window


def test_windowed_bounds_accept_datetime_strings() -> None:
    ksql = engine(WINDOWED, [("10", 1582501512456), ("10", 1582501512456)])
    sql = "SELECT * FROM AGG WHERE ID='10' AND WindowStart>='2020-02-23T23:45:12.000' AND WindowEnd<'2020-02-23T23:55:12.000';"
    assert pull(ksql, sql).rows == [["10", 1582501512000, 1582501513000, 2]]


def test_windowed_table_scan_on_window_bounds_only() -> None:
    ksql = engine(WINDOWED, [("10", 12345), ("11", 12346), ("10", 13345), ("11", 13346)], key_type="INT")
    assert pull(ksql, "SELECT * FROM AGG WHERE WINDOWSTART > 12500;").rows == [
        [10, 13000, 14000, 1],
        [11, 13000, 14000, 1],
    ]
    assert pull(ksql, "SELECT * FROM AGG WHERE WINDOWSTART > 12500 AND WINDOWEND < 13500;").rows == []


@pytest.mark.parametrize(
    ("table", "sql", "message"),
    [
        (
            WINDOWED,
            "SELECT * FROM AGG WHERE ID='10' AND WINDOWSTART <> 12000;",
            "Unsupported WINDOWSTART bounds: NOT_EQUAL",
        ),
        (
            WINDOWED,
            "SELECT * FROM AGG WHERE ID='10' AND WINDOWSTART > 1 AND WINDOWSTART > 2;",
            "Duplicate WINDOWSTART bounds on: GREATER_THAN",
        ),
        (
            WINDOWED,
            "SELECT * FROM AGG WHERE ID='10' AND WINDOWSTART = 1 AND WINDOWSTART > 0;",
            "cannot be combined with other WINDOWSTART bounds",
        ),
        (
            WINDOWED,
            "SELECT * FROM AGG WHERE ID='10' AND WINDOWSTART >= 'not a date';",
            "Failed to parse datetime: not a date",
        ),
        (
            TABLE,
            "SELECT * FROM AGG WHERE ID='10' AND WINDOWSTART=10;",
            "WHERE column 'WINDOWSTART' cannot be resolved",
        ),
        (
            TABLE,
            "SELECT * FROM AGG WHERE ID IS NULL;",
            "Unsupported expression in WHERE clause: (ID IS NULL)",
        ),
        (
            TABLE,
            "SELECT * FROM AGG WHERE ID='10' GROUP BY ID;",
            "Pull queries don't support GROUP BY clauses.",
        ),
        (
            TABLE,
            "SELECT * FROM AGG WINDOW TUMBLING (SIZE 1 SECOND) WHERE ID='10';",
            "Pull queries don't support WINDOW clauses.",
        ),
        (
            TABLE,
            "SELECT *, ROWPARTITION FROM AGG WHERE ID='10';",
            "Pull queries don't support the following columns in SELECT clauses: `ROWPARTITION`",
        ),
        (TABLE, "SELECT * FROM AGG WHERE ID IN (NULL);", "Primary key columns can not be NULL: (ID = null)"),
    ],
)
def test_refused_as_ksqldb_refuses(table: str, sql: str, message: str) -> None:
    ksql = engine(table, [("10", 12345)])
    with pytest.raises(KsqlStatementError) as refused:
        ksql.execute_query(sql)
    assert message in refused.value.message
    assert refused.value.error_code == 40001


def test_help_text_of_where_errors() -> None:
    ksql = engine(WINDOWED, [("10", 12345)])
    with pytest.raises(KsqlStatementError) as refused:
        ksql.execute_query("SELECT * FROM AGG WHERE ID='10' AND WINDOWSTART <> 1;")
    text = refused.value.message
    assert "Add EMIT CHANGES if you intended to issue a push query." in text
    assert "Bounds on [`WINDOWSTART`, `WINDOWEND`] are supported" in text


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT * FROM AGG WHERE ID != '100';",
            "Bound on key columns '[`ID` STRING KEY]' must currently be '='",
        ),
        (
            "SELECT * FROM AGG WHERE COUNT = 100;",
            "WHERE clause missing key column for disjunct: (COUNT = 100)",
        ),
        (
            "SELECT * FROM AGG WHERE ID = 'a' AND ID IN ('a', 'b');",
            "cannot be combined with other comparisons such as an IN predicate",
        ),
        ("SELECT * FROM AGG WHERE ID + 'x' = 'ax';", "A comparison must directly reference a key column"),
    ],
)
def test_table_scans_disabled(sql: str, message: str) -> None:
    ksql = engine(TABLE, [("10", 12345)])
    with pytest.raises(KsqlStatementError) as refused:
        ksql.execute_query(sql, {"ksql.query.pull.table.scan.enabled": "false"})
    assert message in refused.value.message
    assert (
        "table scans can be enabled by setting ksql.query.pull.table.scan.enabled=true"
        in refused.value.message
    )
    assert pull(ksql, sql).rows is not None  # scans on (the default): answered


def test_windowed_range_needs_table_scans() -> None:
    ksql = engine(WINDOWED, [("10", 12345)])
    with pytest.raises(KsqlStatementError, match="Query requires table scan to be enabled"):
        ksql.execute_query(
            "SELECT * FROM AGG WHERE ID <= '10';", {"ksql.query.pull.table.scan.enabled": "false"}
        )


def test_key_value_converted_strictly() -> None:
    ksql = engine(TABLE, [("10", 12345), ("8", 12346)], key_type="INT")
    assert pull(ksql, "SELECT * FROM AGG WHERE ID IN (10, 8);").rows == [[10, 1], [8, 1]]
    with pytest.raises(
        KsqlStatementError, match="Cannot compare ID \\(INTEGER\\) to '10' \\(STRING\\)"
    ) as refused:
        ksql.execute_query("SELECT * FROM AGG WHERE ID='10';")
    assert "Statement: (ID = '10')" in refused.value.message


def test_table_nobody_materializes_is_not_queryable() -> None:
    driver = InMemoryTopicDriver()
    driver.create_topic("users", 1, 1)
    ksql = KsqlEngine(driver, EARLIEST)
    ksql.start()
    ksql.execute(
        "CREATE TABLE X (ID STRING PRIMARY KEY, N INT) WITH (kafka_topic='users', value_format='JSON');"
    )
    with pytest.raises(KsqlStatementError, match="The `X` table isn't queryable"):
        ksql.execute_query("SELECT * FROM X WHERE ID = '100';")


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE COPY AS SELECT * FROM AGG;",
        "CREATE TABLE TOTALS AS SELECT ID, SUM(COUNT) AS N FROM AGG GROUP BY ID;",
    ],
)
def test_only_pull_queries_read_a_windowed_table(sql: str) -> None:
    """Its records carry the window in the key: other queries are refused, not run wrongly."""
    ksql = engine(WINDOWED, [("10", 12345)])
    with pytest.raises(KsqlStatementError, match="queries that read a windowed table is not supported"):
        ksql.execute(sql)
    with pytest.raises(KsqlStatementError, match="queries that read a windowed table is not supported"):
        ksql.execute_query("SELECT ID, SUM(COUNT) AS N FROM AGG GROUP BY ID EMIT CHANGES;")
