"""Expression typing and compiled evaluation (Java semantics where ksqlDB has them)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.parser.statements import parse
from ksqldb_lite.planning.expressions import ColumnSlot, Compiler, ErrorSink, Scope
from ksqldb_lite.schema import types as t

COLUMNS: list[tuple[str, t.SqlType]] = [
    ("I", t.INTEGER),
    ("L", t.BIGINT),
    ("D", t.DOUBLE),
    ("S", t.STRING),
    ("B", t.BOOLEAN),
    ("A", t.Array(t.INTEGER)),
    ("M", t.Map(t.STRING, t.INTEGER)),
    ("ST", t.Struct((("X", t.INTEGER), ("Y", t.STRING)))),
]


def expression(text: str) -> n.Expr:
    (statement,) = parse(f"SELECT {text} FROM T EMIT CHANGES;")
    assert isinstance(statement, n.QueryStatement)
    item = statement.query.select[0]
    assert isinstance(item, n.SelectExpression)
    return item.expr


def compiler(errors: ErrorSink | None = None) -> Compiler:
    slots = {name: ColumnSlot(name, sql_type, i) for i, (name, sql_type) in enumerate(COLUMNS)}
    return Compiler(Scope(slots, frozenset({"T"})), errors)


def evaluate(text: str, **values: Any) -> Any:
    row = [values.get(name) for name, _ in COLUMNS]
    return compiler().compile(expression(text))(row)


def type_of(text: str) -> str:
    return t.type_name(compiler().type_of(expression(text)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I + I", "INTEGER"),
        ("I + L", "BIGINT"),
        ("I * D", "DOUBLE"),
        ("1.5 + I", "DECIMAL(12, 1)"),
        ("S + S", "STRING"),
        ("I > 1", "BOOLEAN"),
        ("ARRAY[1, 2]", "ARRAY<INTEGER>"),
        ("ARRAY[NULL, 10, '2e1', I, L]", "ARRAY<DECIMAL(19, 0)>"),
        ("MAP('a' := 1)", "MAP<STRING, INTEGER>"),
        ("STRUCT(F := S)", "STRUCT<`F` STRING>"),
        ("ST->X", "INTEGER"),
        ("M['k']", "INTEGER"),
        ("CAST(I AS STRING)", "STRING"),
        ("ROUND(D)", "BIGINT"),
        ("ROUND(D, 2)", "DOUBLE"),
        ("CASE WHEN B THEN 'a' END", "STRING"),
    ],
)
def test_types(text: str, expected: str) -> None:
    assert type_of(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A < A", "Cannot compare A (ARRAY<INTEGER>) to A (ARRAY<INTEGER>) with LESS_THAN."),
        ("I >= 'x'", "Cannot compare I (INTEGER) to 'x' (STRING) with GREATER_THAN_OR_EQUAL."),
        ("TRUE + 1.5", "Unsupported arithmetic types. BOOLEAN DECIMAL"),
        ("NULL <> NULL", "Comparison with NULL not supported: NULL <> NULL"),
        ("ARRAY[]", "Array constructor cannot be empty"),
        (
            "GREATEST(I, L)",
            "Function 'greatest' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT).",
        ),
        ("LEAST(S, I)", "Function 'least' does not accept parameters (STRING, INTEGER)."),
        ("NOPE", "SELECT column 'NOPE' cannot be resolved."),
        ("X.I", "SELECT column 'X.I' cannot be resolved."),
        ("CAST(S AS ARRAY<INT>)", "Cast of STRING to ARRAY<INTEGER> is not supported"),
        ("I IN (1, 'x')", 'invalid input syntax for type INTEGER: "x".'),
        ("CASE WHEN B THEN NULL ELSE NULL END", "Invalid Case expression. All case branches have NULL type"),
    ],
)
def test_type_errors(text: str, message: str) -> None:
    with pytest.raises(KsqlStatementError) as caught:
        compiler().type_of(expression(text))
    assert message in caught.value.message


def test_integer_arithmetic_wraps_and_divides_like_java() -> None:
    assert evaluate("I + 1", I=2147483647) == -2147483648
    assert evaluate("L * 2", L=2**62) == -(2**63)
    assert evaluate("I / 2", I=-7) == -3
    assert evaluate("I % 3", I=-7) == -1
    assert evaluate("I + 1", I=None) is None


def test_double_division_by_zero_follows_ieee() -> None:
    assert evaluate("D / 0", D=1.0) == math.inf
    assert math.isnan(evaluate("D / 0", D=0.0))


def test_decimal_arithmetic_keeps_the_result_scale() -> None:
    assert evaluate("1.50 + I", I=2) == Decimal("3.50")


def test_comparisons_with_null_are_false_not_null() -> None:
    assert evaluate("I > 1", I=None) is False
    assert evaluate("NOT (I > 1)", I=None) is True
    assert evaluate("I IS DISTINCT FROM 1", I=None) is True
    assert evaluate("I IS NOT DISTINCT FROM I", I=None) is True
    assert evaluate("I BETWEEN 1 AND 3", I=2) is True


def test_double_compared_with_decimal_literal_uses_its_decimal_text() -> None:
    assert evaluate("D > 0.1", D=0.1) is False
    assert evaluate("D > 0.1", D=0.10001) is True


def test_in_list_coerces_literals_and_skips_nulls() -> None:
    assert evaluate("I IN (1, '2', NULL)", I=2) is True
    assert evaluate("I IN (1, NULL)", I=None) is False
    assert evaluate("I NOT IN (1, 3)", I=2) is True
    assert evaluate("B IN ('y')", B=True) is True
    assert evaluate("S IN (10.30)", S="10.30") is True


def test_like_with_wildcards_and_escape() -> None:
    assert evaluate("S LIKE '%ab_'", S="xxabc") is True
    assert evaluate("S LIKE 'a!%' ESCAPE '!'", S="a%") is True
    assert evaluate("S LIKE 'a!%' ESCAPE '!'", S="ab") is False
    assert evaluate("S NOT LIKE 'a%'", S="b") is True


def test_structured_access() -> None:
    assert evaluate("A[1]", A=[5, 6]) == 5
    assert evaluate("A[-1]", A=[5, 6]) == 6
    assert evaluate("A[3]", A=[5, 6]) is None
    assert evaluate("M['k']", M={"k": 1}) == 1
    assert evaluate("ST->Y", ST={"X": 1, "Y": "y"}) == "y"
    assert evaluate("ST->Y", ST=None) is None


def test_constructors() -> None:
    assert evaluate("ARRAY[I, 2]", I=1) == [1, 2]
    assert evaluate("MAP(S := I)", S="k", I=1) == {"k": 1}
    assert evaluate("STRUCT(A := I, B := S)", I=1, S="s") == {"A": 1, "B": "s"}


def test_case_and_cast() -> None:
    assert evaluate("CASE WHEN I < 2 THEN 'small' WHEN I < 4 THEN 'medium' ELSE 'large' END", I=3) == "medium"
    assert evaluate("CAST(D AS STRING)", D=1e7) == "1.0E7"
    assert evaluate("CAST(S AS INT)", S=" 42 ") == 42
    assert evaluate("CAST(D AS INT)", D=3.9) == 3


def test_cast_error_is_null_and_reported() -> None:
    reports: list[str] = []
    sink = ErrorSink(report=reports.append)
    fn = compiler(sink).compile(expression("CAST(S AS INT)"))
    assert fn([None, None, None, "abc", None, None, None, None]) is None
    assert len(reports) == 1 and "CAST(S AS INTEGER)" in reports[0]


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("ROUND(D)", {"D": -1.5}, -1),
        ("ROUND(D, 1)", {"D": 1.25}, 1.3),
        ("TRUNC(D, 1)", {"D": 1.29}, 1.2),
        ("SUBSTRING(S, 6)", {"S": "some_string"}, "string"),
        ("SUBSTRING(S, -3, 2)", {"S": "abcdef"}, "de"),
        ("INSTR(S, 'or', -4, 2)", {"S": "corporate floor"}, 2),
        ("LPAD(S, 7, 'Bar')", {"S": "foo"}, "BarBfoo"),
        ("CONCAT_WS('-', S, NULL, 'x')", {"S": "a"}, "a-x"),
        ("COALESCE(I, 7)", {"I": None}, 7),
        ("NULLIF(I, 7)", {"I": 7}, None),
        ("GREATEST(I, 3, NULL)", {"I": 5}, 5),
        ("ARRAY_CONTAINS(A, 2)", {"A": [1, 2]}, True),
        ("SIGN(D)", {"D": -0.5}, -1),
        ("LN(D)", {"D": 0.0}, -math.inf),
    ],
)
def test_functions(text: str, values: dict[str, Any], expected: Any) -> None:
    assert evaluate(text, **values) == expected
