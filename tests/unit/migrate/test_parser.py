"""The statement splitter and the client-side DEFINE/SET handling (ksql-migrations' rules)."""

from __future__ import annotations

import pytest

from replay.errors import MigrationFileError
from replay.migrate.parser import parse_defines, plan_file, sanitize, split_statements, substitute


def texts(sql: str) -> list[str]:
    return [statement.text for statement in split_statements(sql)]


def test_split_keeps_semicolons_and_quotes_inside_strings() -> None:
    sql = "CREATE STREAM A (X STRING) WITH (KAFKA_TOPIC='a;b', VALUE_FORMAT='JSON');\nINSERT INTO A (X) VALUES ('it''s; ok');"
    assert texts(sql) == [
        "CREATE STREAM A (X STRING) WITH (KAFKA_TOPIC='a;b', VALUE_FORMAT='JSON');",
        "\nINSERT INTO A (X) VALUES ('it''s; ok');",
    ]


def test_split_drops_comments_but_not_comment_markers_in_strings() -> None:
    sql = "-- header; not a statement\nCREATE STREAM A /* inline; */ AS SELECT '--x' AS Y FROM B; -- tail"
    assert texts(sql) == ["CREATE STREAM A  AS SELECT '--x' AS Y FROM B;"]


def test_split_reads_quoted_identifiers_whole() -> None:
    assert texts('CREATE STREAM `a;b` AS SELECT "c;\'d" FROM X;') == [
        'CREATE STREAM `a;b` AS SELECT "c;\'d" FROM X;'
    ]


def test_split_gives_the_line_each_statement_starts_on() -> None:
    statements = split_statements("\n\n-- c\nCREATE STREAM A AS SELECT * FROM B;\n\nDROP STREAM A;\n")
    assert [s.line for s in statements] == [4, 6]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE STREAM A AS SELECT * FROM B", "missing semicolon"),
        ("CREATE STREAM A (X STRING) WITH (KAFKA_TOPIC='a);", "never closed"),
        ("/* open; CREATE STREAM A;", "never closed"),
    ],
)
def test_split_errors_name_the_file_and_line(sql: str, message: str) -> None:
    with pytest.raises(MigrationFileError, match=rf"V000001__x.sql, line 1: .*{message}"):
        split_statements(sql, source="V000001__x.sql")


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("SELECT * FROM A EMIT CHANGES;", "SELECT"),
        ("describe A;", "DESCRIBE"),
        ("EXPLAIN Q1;", "EXPLAIN"),
        ("PRINT 't';", "PRINT"),
        ("SHOW STREAMS;", "SHOW"),
        ("LIST TOPICS;", "LIST"),
        ("RUN SCRIPT '/tmp/x.sql';", "RUN SCRIPT"),
    ],
)
def test_forbidden_statements_are_refused_as_the_tool_words_it(sql: str, word: str) -> None:
    with pytest.raises(MigrationFileError, match=f"'{word}' statements are not supported"):
        plan_file(f"CREATE STREAM OK AS SELECT * FROM B;\n{sql}", source="V000002__y.sql")


def test_define_substitutes_later_statements_and_undefine_stops_it() -> None:
    commands = plan_file(
        "DEFINE topic = 'meetup_events';\n"
        "CREATE STREAM S (ID STRING) WITH (KAFKA_TOPIC='${topic}', VALUE_FORMAT='JSON');\n"
        "UNDEFINE topic;\n"
        "CREATE STREAM T (ID STRING) WITH (KAFKA_TOPIC='${topic}', VALUE_FORMAT='JSON');\n",
        source="f",
    )
    assert [c.sql.strip() for c in commands] == [
        "CREATE STREAM S (ID STRING) WITH (KAFKA_TOPIC='meetup_events', VALUE_FORMAT='JSON');",
        "CREATE STREAM T (ID STRING) WITH (KAFKA_TOPIC='${topic}', VALUE_FORMAT='JSON');",
    ]


def test_defines_from_the_command_line_start_every_file_and_define_values_are_unquoted() -> None:
    defines = parse_defines(["name=O'Brien", "expr=a=b"])
    assert defines == {"name": "O'Brien", "expr": "a=b"}
    first = plan_file(
        "DEFINE who = 'it''s me';\nINSERT INTO A (X, Y) VALUES ('${name}', '${who}');",
        source="a",
        defines=defines,
    )
    assert first[0].sql == "\nINSERT INTO A (X, Y) VALUES ('O''Brien', 'it''s me');"
    # Variables (and properties) start afresh with the next file: `who` is gone, --define stays.
    second = plan_file("INSERT INTO A (X, Y) VALUES ('${name}', '${who}');", source="b", defines=defines)
    assert second[0].sql == "INSERT INTO A (X, Y) VALUES ('O''Brien', '${who}');"


@pytest.mark.parametrize("bad", ["novalue", "=x", "1a=b", "a b=c"])
def test_bad_define_arguments_are_refused(bad: str) -> None:
    with pytest.raises(MigrationFileError, match="name=value"):
        parse_defines([bad])


def test_set_and_unset_are_held_and_sent_with_each_later_statement() -> None:
    commands = plan_file(
        "CREATE STREAM A AS SELECT * FROM S;\n"
        "SET 'auto.offset.reset' = 'earliest';\n"
        "SET 'ksql.streams.num.stream.threads'='2';\n"
        "CREATE STREAM B AS SELECT * FROM S;\n"
        "UNSET 'ksql.streams.num.stream.threads';\n"
        "CREATE TABLE C AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;\n",
        source="f",
    )
    assert [c.properties for c in commands] == [
        {},
        {"auto.offset.reset": "earliest", "ksql.streams.num.stream.threads": "2"},
        {"auto.offset.reset": "earliest"},
    ]
    assert plan_file("CREATE STREAM D AS SELECT * FROM S;", source="g")[0].properties == {}


def test_malformed_set_says_how_to_write_it() -> None:
    with pytest.raises(MigrationFileError) as error:
        plan_file("SET auto.offset.reset = earliest;", source="f")
    assert "write it as SET 'property' = 'value';" in error.value.one_line()


def test_sanitize_and_substitute_follow_ksqldb() -> None:
    assert sanitize("a'b") == "a''b"
    assert sanitize("'a'b'") == "'a''b'"
    assert substitute("${a} ${b} ${a}", {"a": "1"}) == "1 ${b} 1"
