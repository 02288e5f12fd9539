"""The KSQL parser: splitting, identifiers, literals, syntax errors, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ksqldb_lite.errors import KsqlSyntaxError, UnsupportedFeatureError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.parser.statements import parse, split_statements, substitute_variables
from ksqldb_lite.schema import types as t


def one(text: str) -> n.Statement:
    (statement,) = parse(text)
    return statement


def test_split_respects_quotes_comments_and_keeps_the_semicolon() -> None:
    pieces = split_statements(
        "-- comment; here\nSET 'a;b' = 'c';\n/* x; y */ SHOW STREAMS;\nSELECT ';' FROM `s;t` EMIT CHANGES"
    )
    assert [p.text for p in pieces] == [
        "SET 'a;b' = 'c';",
        "SHOW STREAMS;",
        "SELECT ';' FROM `s;t` EMIT CHANGES",
    ]
    assert [(p.line, p.column) for p in pieces] == [(2, 1), (3, 12), (4, 1)]


def test_identifiers_unquoted_upper_case_quoted_keep_case() -> None:
    statement = one(
        'CREATE STREAM my_s (id INT KEY, `mixedCase` STRING, "dq" BIGINT) '
        "WITH (kafka_topic='t', value_format='json');"
    )
    assert isinstance(statement, n.CreateSource)
    assert statement.name == "MY_S"
    assert [(e.name, e.type, e.constraint) for e in statement.elements] == [
        ("ID", t.INTEGER, "KEY"),
        ("mixedCase", t.STRING, None),
        ("dq", t.BIGINT, None),
    ]
    assert statement.properties == {"KAFKA_TOPIC": "t", "VALUE_FORMAT": "json"}


def test_types_nested_and_printed_like_ksqldb() -> None:
    statement = one(
        "CREATE STREAM S (A ARRAY<MAP<STRING, STRUCT<x INT, `y` DECIMAL(4, 2)>>>) WITH (KAFKA_TOPIC='t');"
    )
    assert isinstance(statement, n.CreateSource)
    assert str(statement.elements[0].type) == "ARRAY<MAP<STRING, STRUCT<`X` INTEGER, `y` DECIMAL(4, 2)>>>"


def test_literals_are_typed_like_ksqldb() -> None:
    statement = one("SELECT 1, 3000000000, 1.50, 1e-1, 'it''s', TRUE, NULL, -2 FROM S EMIT CHANGES;")
    assert isinstance(statement, n.QueryStatement)
    exprs = [item.expr for item in statement.query.select if isinstance(item, n.SelectExpression)]
    assert exprs == [
        n.IntegerLiteral(1),
        n.IntegerLiteral(3000000000, True),
        n.DecimalLiteral(Decimal("1.50")),
        n.DoubleLiteral(0.1),
        n.StringLiteral("it's"),
        n.BooleanLiteral(True),
        n.NullLiteral(),
        n.IntegerLiteral(-2),
    ]


def test_expression_precedence_and_formatting() -> None:
    statement = one("SELECT NOT a > 1 AND b OR c, x->y[2], 1 + 2 * 3 FROM S EMIT CHANGES;")
    assert isinstance(statement, n.QueryStatement)
    texts = [str(item.expr) for item in statement.query.select if isinstance(item, n.SelectExpression)]
    assert texts == ["(((NOT (A > 1)) AND B) OR C)", "X->Y[2]", "(1 + (2 * 3))"]


def test_query_clauses() -> None:
    statement = one("SELECT * FROM s AS x WHERE v BETWEEN 1 AND 2 PARTITION BY k, v EMIT CHANGES LIMIT 5;")
    assert isinstance(statement, n.QueryStatement)
    query = statement.query
    assert query.source == n.Relation("S", "X")
    assert isinstance(query.where, n.Between)
    assert query.partition_by == (n.ColumnRef("K"), n.ColumnRef("V"))
    assert (query.emit, query.limit) == ("CHANGES", 5)


def test_non_reserved_words_are_identifiers_but_partition_is_a_clause() -> None:
    statement = one("SELECT key, id, time FROM s partition BY key EMIT CHANGES;")
    assert isinstance(statement, n.QueryStatement)
    assert statement.query.source.alias is None
    assert statement.query.partition_by == (n.ColumnRef("KEY"),)


def test_reserved_word_as_identifier_is_a_syntax_error_with_position() -> None:
    with pytest.raises(KsqlSyntaxError) as caught:
        parse("CREATE STREAM S (ID INT KEY, GROUP STRING) WITH (KAFKA_TOPIC='t');")
    assert caught.value.message.startswith("line 1:30: Syntax Error")
    assert caught.value.statement_text.startswith("CREATE STREAM S")


def test_syntax_error_positions_count_lines_of_the_whole_request() -> None:
    with pytest.raises(KsqlSyntaxError) as caught:
        parse("SHOW STREAMS;\nSELECT * FROM s WHERE a IN ( ) EMIT CHANGES;")
    assert caught.value.message == "line 2:30: Syntax Error\nSyntax error at or near ')' at line 2:30"


def test_unknown_statement_suggests_the_closest_command() -> None:
    with pytest.raises(KsqlSyntaxError, match=r"Unknown statement 'SHWO'\nDid you mean 'SHOW'\?"):
        parse("SHWO STREAMS;")


def test_unsupported_statements_are_refused_by_name() -> None:
    with pytest.raises(UnsupportedFeatureError, match="EXPLAIN is not supported"):
        parse("EXPLAIN SELECT * FROM S EMIT CHANGES;")
    with pytest.raises(UnsupportedFeatureError, match="Connectors"):
        parse("CREATE SINK CONNECTOR c WITH ('a'='b');")


def test_statement_kinds() -> None:
    kinds = [
        type(s).__name__
        for s in parse(
            "SET 'a'='b'; UNSET 'a'; DEFINE v = 'x'; UNDEFINE v; SHOW QUERIES; LIST TOPICS;"
            "DESCRIBE S EXTENDED; DROP STREAM IF EXISTS S DELETE TOPIC; TERMINATE ALL;"
            "INSERT INTO S (A) VALUES (1); INSERT INTO S SELECT * FROM T; PRINT 't' FROM BEGINNING LIMIT 2;"
        )
    ]
    assert kinds == [
        "SetProperty",
        "UnsetProperty",
        "DefineVariable",
        "UndefineVariable",
        "ListStatement",
        "ListStatement",
        "Describe",
        "DropSource",
        "Terminate",
        "InsertValues",
        "InsertInto",
        "PrintTopic",
    ]


def test_variables_substitute_everywhere_defined_ones_only() -> None:
    assert substitute_variables("SELECT '${a}', ${b} FROM ${a}", {"a": "x"}) == "SELECT 'x', ${b} FROM x"
