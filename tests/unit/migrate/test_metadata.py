"""The metadata statements and rows are ksql-migrations' own (KSQLDB-FACTS.md, the tool's source)."""

from __future__ import annotations

import re
import time

import pytest

from replay.migrate.config import MigrationConfig
from replay.migrate.metadata import (
    COLUMNS,
    INFO_COLUMNS,
    MetadataRow,
    MigrationState,
    create_stream_sql,
    create_table_sql,
    format_timestamp,
    supports_multi_key_pull,
    version_rows,
)

VALUE_COLUMNS = (
    "version",
    "name",
    "state",
    "checksum",
    "started_on",
    "completed_on",
    "previous",
    "error_reason",
)


def test_stream_statement_has_the_tools_columns_types_and_with_clause() -> None:
    sql = create_stream_sql("MIGRATION_EVENTS", "default_ksql_MIGRATION_EVENTS", 3)
    assert sql.startswith("CREATE STREAM MIGRATION_EVENTS (\n")
    columns = re.findall(r"^\s+(\w+)\s+(STRING(?: KEY)?),?\s*$", sql, re.MULTILINE)
    assert columns == [("version_key", "STRING KEY")] + [(name, "STRING") for name in VALUE_COLUMNS]
    with_clause = sql[sql.index("WITH") :]
    assert re.findall(r"(\w+)=\s*'?([^',\s]+)'?", with_clause) == [
        ("KAFKA_TOPIC", "default_ksql_MIGRATION_EVENTS"),
        ("VALUE_FORMAT", "JSON"),
        ("PARTITIONS", "1"),
        ("REPLICAS", "3"),
    ]
    # Character for character as InitializeMigrationCommand builds it (its odd spaces too).
    assert "  state        STRING,  \n" in sql and "  REPLICAS= 3 \n);\n" in sql


def test_table_statement_is_a_latest_by_offset_ctas_with_the_topic_before_as_select() -> None:
    sql = create_table_sql(
        "MIGRATION_SCHEMA_VERSIONS", "MIGRATION_EVENTS", "t_ksql_MIGRATION_SCHEMA_VERSIONS"
    )
    assert sql.startswith(
        "CREATE TABLE MIGRATION_SCHEMA_VERSIONS\n  WITH (\n    KAFKA_TOPIC='t_ksql_MIGRATION_SCHEMA_VERSIONS'\n  )\n  AS SELECT \n"
    )
    aggregates = re.findall(r"latest_by_offset\((\w+)\) (?:as|AS) (\w+)", sql)
    assert aggregates == [(name, name) for name in VALUE_COLUMNS]
    assert sql.endswith("  FROM MIGRATION_EVENTS \n  GROUP BY version_key;\n")


def test_default_topics_are_service_id_ksql_name() -> None:
    config = MigrationConfig(
        config_file=None, server_url="http://x", migrations_dir=__import__("pathlib").Path(".")
    )
    assert config.topics("default_") == (
        "default_ksql_MIGRATION_EVENTS",
        "default_ksql_MIGRATION_SCHEMA_VERSIONS",
    )


def test_a_state_change_is_two_rows_current_then_the_version() -> None:
    running = version_rows(
        version=3,
        name="add users",
        state=MigrationState.RUNNING,
        checksum="ab" * 16,
        started_on="1700000000000",
        previous="2",
    )
    assert [row.values() for row in running] == [
        ("CURRENT", "3", "add users", "RUNNING", "ab" * 16, "1700000000000", "", "2", "N/A"),
        ("3", "3", "add users", "RUNNING", "ab" * 16, "1700000000000", "", "2", "N/A"),
    ]
    before = int(time.time() * 1000)
    done = version_rows(
        version=1, name="a", state=MigrationState.MIGRATED, checksum="c", started_on="1", previous="<none>"
    )
    assert done[0].previous == "<none>" and done[0].error_reason == "N/A"
    assert re.fullmatch(r"[0-9]{13}", done[0].completed_on) and int(done[0].completed_on) >= before
    failed = version_rows(
        version=2,
        name="b",
        state=MigrationState.ERROR,
        checksum="c",
        started_on="1",
        previous="1",
        error_reason="boom",
    )
    assert failed[1].state == "ERROR" and failed[1].error_reason == "boom" and failed[1].completed_on != ""


def test_insert_names_the_upper_case_columns_and_quotes_values() -> None:
    row = MetadataRow(
        "CURRENT", "1", "it's", "RUNNING", "c", "1", "", "<none>", "Failed to execute sql: X = 'y';"
    )
    sql = row.insert_sql("MIGRATION_EVENTS")
    assert sql == (
        "INSERT INTO MIGRATION_EVENTS (VERSION_KEY, VERSION, NAME, STATE, CHECKSUM, STARTED_ON, COMPLETED_ON, "
        "PREVIOUS, ERROR_REASON) VALUES ('CURRENT', '1', 'it''s', 'RUNNING', 'c', '1', '', '<none>', "
        "'Failed to execute sql: X = ''y'';');"
    )
    assert tuple(c.upper() for c in ("version_key", *VALUE_COLUMNS)) == COLUMNS
    assert INFO_COLUMNS == "version, checksum, previous, state, name, started_on, completed_on, error_reason"


@pytest.mark.parametrize(
    ("version", "multi"),
    [
        ("0.29.0", True),
        ("0.14.0", True),
        ("0.13.0", False),
        ("6.1.0", True),
        ("6.0.3", False),
        ("7.4.1-ce", True),
        ("x", False),
    ],
)
def test_multi_key_pull_queries_from_0_14_or_6_1(version: str, multi: bool) -> None:
    assert supports_multi_key_pull(version) is multi


def test_timestamps_show_in_utc_and_placeholders_stay() -> None:
    assert format_timestamp("0") == "1970-01-01 00:00:00.000 UTC"
    assert format_timestamp("1700000000123") == "2023-11-14 22:13:20.123 UTC"
    assert format_timestamp("") == "" and format_timestamp("N/A") == "N/A"
