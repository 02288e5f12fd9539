"""KSQL text → statements (:mod:`ksqldb_lite.parser.nodes`).

Statements are split on ``;`` (outside quotes and comments), ``${name}`` variables are
substituted, then each is parsed with the LALR grammar in ``ksql.lark``. Syntax errors carry
ksqlDB's message shape: ``line L:C: Syntax Error`` and a hint.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ksqldb_lite.errors import KsqlStatementError, KsqlSyntaxError, UnsupportedFeatureError
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.schema import types as t

_COMMANDS = (
    "SELECT",
    "CREATE",
    "INSERT",
    "DESCRIBE",
    "PRINT",
    "EXPLAIN",
    "SHOW",
    "LIST",
    "TERMINATE",
    "PAUSE",
    "RESUME",
    "DROP",
    "SET",
    "DEFINE",
    "UNDEFINE",
    "UNSET",
    "ASSERT",
    "ALTER",
)

# Statements ksqlDB has and this server refuses, recognized by their first words.
_UNSUPPORTED_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("EXPLAIN",), "EXPLAIN"),
    (("PAUSE",), "PAUSE"),
    (("RESUME",), "RESUME"),
    (("ALTER",), "ALTER"),
    (("ASSERT",), "ASSERT"),
    (("CREATE", "TYPE"), "CREATE TYPE"),
    (("DROP", "TYPE"), "DROP TYPE"),
    (("CREATE", "SINK", "CONNECTOR"), "Connectors"),
    (("CREATE", "SOURCE", "CONNECTOR"), "Connectors"),
    (("DROP", "CONNECTOR"), "Connectors"),
    (("DESCRIBE", "CONNECTOR"), "Connectors"),
    (("SHOW", "CONNECTORS"), "Connectors"),
    (("LIST", "CONNECTORS"), "Connectors"),
    (("SHOW", "SOURCE", "CONNECTORS"), "Connectors"),
    (("SHOW", "SINK", "CONNECTORS"), "Connectors"),
    (("LIST", "SOURCE", "CONNECTORS"), "Connectors"),
    (("LIST", "SINK", "CONNECTORS"), "Connectors"),
)

_TYPE_NAMES: dict[str, t.SqlType] = {
    "BOOLEAN": t.BOOLEAN,
    "INT": t.INTEGER,
    "INTEGER": t.INTEGER,
    "BIGINT": t.BIGINT,
    "DOUBLE": t.DOUBLE,
    "STRING": t.STRING,
    "VARCHAR": t.STRING,
    "TIMESTAMP": t.TIMESTAMP,
    "DATE": t.DATE,
    "TIME": t.TIME,
    "BYTES": t.BYTES,
}

_UNIT_MS = {
    "MILLISECOND": 1,
    "SECOND": 1000,
    "MINUTE": 60_000,
    "HOUR": 3_600_000,
    "DAY": 86_400_000,
}


@dataclass(frozen=True)
class StatementText:
    """One statement of a request: its text as written (with its ';', as ksqlDB reports it in
    ``statementText``) and where it starts in the request (1-based line and column)."""

    text: str
    line: int
    column: int

    @property
    def body(self) -> str:
        """The text without the terminating ';'."""
        return self.text[:-1].rstrip() if self.text.endswith(";") else self.text


def split_statements(text: str) -> list[StatementText]:
    """Split on ``;`` outside quotes and comments; blank statements are dropped."""
    out: list[StatementText] = []
    start = 0
    i = 0
    length = len(text)
    while i < length:
        ch = text[i]
        if ch in "'\"`":
            end = i + 1
            while end < length:
                if text[end] == ch:
                    if end + 1 < length and text[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
            continue
        if ch == "-" and text.startswith("--", i):
            newline = text.find("\n", i)
            i = length if newline < 0 else newline + 1
            continue
        if ch == "/" and text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = length if close < 0 else close + 2
            continue
        if ch == ";":
            _append_statement(out, text, start, i + 1)
            start = i + 1
        i += 1
    _append_statement(out, text, start, length)
    return out


_COMMENT_OR_SPACE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def _append_statement(out: list[StatementText], text: str, start: int, end: int) -> None:
    lead = _COMMENT_OR_SPACE.match(text, start, end)
    begin = lead.end() if lead else start
    body = text[begin:end].rstrip()
    if not body.rstrip(";").strip():
        return
    line = text.count("\n", 0, begin) + 1
    column = begin - (text.rfind("\n", 0, begin) + 1) + 1
    out.append(StatementText(body, line, column))


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_@]*)\}")


def substitute_variables(text: str, variables: Mapping[str, str]) -> str:
    """Replace ``${name}`` with the value of a defined variable (names are case-insensitive
    in ksqlDB's DEFINE; lookups use the name as stored)."""
    if "${" not in text or not variables:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        for key in (name, name.upper(), name.lower()):
            if key in variables:
                return str(variables[key])
        return match.group(0)

    return _VARIABLE.sub(replace, text)


def _grammar_cache(grammar: str) -> str | bool:
    """Where lark keeps the built parser tables (about a second to build): the user's cache
    directory, one file per grammar version (lark also checks a digest inside); False when the
    directory cannot be created."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ksqldb-lite"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    return str(base / f"ksql-grammar-{digest}.lark-cache")


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("ksqldb_lite.parser").joinpath("ksql.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=_grammar_cache(grammar),
    )


def parse_statement(piece: StatementText) -> n.Statement:
    """Parse one statement (already split and substituted)."""
    words = piece.body.split(None, 3)
    upper = tuple(w.upper() for w in words)
    for prefix, feature in _UNSUPPORTED_PREFIXES:
        if upper[: len(prefix)] == prefix:
            raise UnsupportedFeatureError(feature, piece.text)
    try:
        tree = _lark().parse(piece.body)
    except UnexpectedInput as error:
        raise _syntax_error(error, piece) from None
    builder = _AstBuilder(piece)
    try:
        statement: n.Statement = builder.transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, KsqlStatementError):
            raise error.orig_exc.with_statement(piece.text) from None
        raise
    statement.text = piece.text
    statement.line = piece.line
    statement.column = piece.column
    return statement


def parse(text: str, variables: Mapping[str, str] | None = None) -> list[n.Statement]:
    """Split and parse a whole request (no DEFINE handling: see :class:`StatementStream`)."""
    return [parse_statement(_substituted(p, variables or {})) for p in split_statements(text)]


def _substituted(piece: StatementText, variables: Mapping[str, str]) -> StatementText:
    text = substitute_variables(piece.text, variables)
    return piece if text == piece.text else StatementText(text, piece.line, piece.column)


def parse_with_variables(piece: StatementText, variables: Mapping[str, str]) -> n.Statement:
    """Substitute variables into one statement, then parse it."""
    return parse_statement(_substituted(piece, variables))


def _position(piece: StatementText, line: int, column: int) -> tuple[int, int]:
    """Map a position inside the statement to the position in the whole request."""
    if line == 1:
        return piece.line, piece.column + column - 1
    return piece.line + line - 1, column


def _syntax_error(error: UnexpectedInput, piece: StatementText) -> KsqlSyntaxError:
    line, column = _position(
        piece, error.line if error.line > 0 else 1, error.column if error.column > 0 else 1
    )
    if isinstance(error, UnexpectedToken):
        token_text = str(error.token) if error.token.type != "$END" else "<EOF>"
    elif isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        token_text = piece.body[position] if position < len(piece.body) else "<EOF>"
    elif isinstance(error, UnexpectedEOF):
        token_text = "<EOF>"
    else:
        token_text = "?"
    first = piece.body.split(None, 1)[0] if piece.body.split() else ""
    at_start = error.line in (1, -1) and error.column in (1, -1)
    expected = sorted(
        getattr(error, "expected", None) or getattr(error, "allowed", None) or (), key=_token_order
    )
    if at_start and first.upper() not in _COMMANDS:
        detail = f"Unknown statement '{first}'\nDid you mean '{_most_similar(first.upper())}'?"
    elif token_text != "<EOF>" and 0 < len(expected) <= 3:
        detail = "Expecting {" + ", ".join(_token_display(name) for name in expected) + "}"
    elif token_text == "<EOF>":
        detail = "Syntax error at or near \";\"\n'}', ']', or ')' is missing"
    else:
        detail = f"Syntax error at or near '{token_text}' at line {line}:{column}"
    return KsqlSyntaxError(f"line {line}:{column}: Syntax Error\n{detail}", piece.text)


_PUNCTUATION = {
    "COMMA": "','",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "DOT": "'.'",
    "STRING_KW": "'STRING'",
}
_VALUE_TOKENS = ("STRING", "INTEGER_VALUE", "DECIMAL_VALUE", "FLOAT_VALUE", "IDENTIFIER", "DIGIT_IDENTIFIER")


def _token_order(name: str) -> tuple[int, str]:
    if name in _PUNCTUATION:
        return 0, str(list(_PUNCTUATION).index(name))
    if name in _VALUE_TOKENS:
        return 2, str(_VALUE_TOKENS.index(name))
    return 1, name


def _token_display(name: str) -> str:
    """How ANTLR names an expected token: literals quoted, value tokens by name."""
    if name in _PUNCTUATION:
        return _PUNCTUATION[name]
    if name in _VALUE_TOKENS:
        return name
    return f"'{name}'"


def _most_similar(word: str) -> str:
    def distance(a: str, b: str) -> int:
        previous = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            current = [i]
            for j, cb in enumerate(b, 1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
            previous = current
        return previous[-1]

    return min(_COMMANDS, key=lambda command: distance(word, command))


@functools.cache
def _reserved_words() -> frozenset[str]:
    """Keywords of the grammar that are not in its ``non_reserved`` rules."""
    grammar = _lark()
    keywords = {
        term.name for term in grammar.terminals if term.pattern.type == "str" and term.pattern.value.isalpha()
    }
    non_reserved: set[str] = set()
    for rule in grammar.rules:
        if rule.origin.name in ("non_reserved", "alias_non_reserved"):
            non_reserved.update(sym.name for sym in rule.expansion)
    return frozenset(k.replace("_KW", "") for k in keywords - non_reserved)


def _unquote(text: str, quote: str) -> str:
    return text[1:-1].replace(quote * 2, quote)


class Ident(str):
    """An identifier; ``quoted`` records whether it was quoted (case kept)."""

    quoted: bool = False


def _ident(value: str, quoted: bool) -> Ident:
    ident = Ident(value)
    ident.quoted = quoted
    return ident


def _tokens(children: list[Any], kind: str) -> list[Token]:
    return [c for c in children if isinstance(c, Token) and c.type == kind]


def _has(children: list[Any], kind: str) -> bool:
    return any(isinstance(c, Token) and c.type == kind for c in children)


def _of(children: list[Any], kind: type) -> list[Any]:
    return [c for c in children if isinstance(c, kind)]


def _one(children: list[Any], kind: type) -> Any:
    found = _of(children, kind)
    return found[0] if found else None


def _tree(children: list[Any], name: str) -> Tree[Any] | None:
    for child in children:
        if isinstance(child, Tree) and child.data == name:
            return child
    return None


@v_args(inline=False)
class _AstBuilder(Transformer[Token, Any]):
    """lark tree → nodes."""

    def __init__(self, piece: StatementText) -> None:
        super().__init__()
        self.piece = piece

    # ---- identifiers and literals ----
    def unquoted_identifier(self, c: list[Any]) -> Ident:
        token = c[0]
        if isinstance(token, Tree):  # non_reserved / alias_non_reserved
            while isinstance(token, Tree):
                token = token.children[0]
        elif token.type == "IDENTIFIER" and token.upper() in _reserved_words():
            # the contextual lexer lets a keyword through as an identifier where no keyword
            # fits; ksqlDB reserves these words
            line, column = _position(self.piece, token.line or 1, token.column or 1)
            raise KsqlSyntaxError(
                f"line {line}:{column}: Syntax Error\nSyntax error at or near '{token}' at line "
                f"{line}:{column}"
            )
        return _ident(str(token).upper(), False)

    def quoted_identifier(self, c: list[Any]) -> Ident:
        return _ident(_unquote(str(c[0]), '"'), True)

    def backquoted_identifier(self, c: list[Any]) -> Ident:
        return _ident(_unquote(str(c[0]), "`"), True)

    def null_literal(self, c: list[Any]) -> n.Expr:
        return n.NullLiteral()

    def boolean_literal(self, c: list[Any]) -> n.Expr:
        return n.BooleanLiteral(str(c[0]).upper() == "TRUE")

    def string_literal(self, c: list[Any]) -> n.Expr:
        return n.StringLiteral(_unquote(str(c[0]), "'"))

    def integer_literal(self, c: list[Any]) -> n.Expr:
        value = int(str(c[0]))
        if value > t.BIGINT_MAX:
            return n.DecimalLiteral(Decimal(value))
        return n.IntegerLiteral(value, value > t.INT_MAX)

    def decimal_literal(self, c: list[Any]) -> n.Expr:
        try:
            return n.DecimalLiteral(Decimal(str(c[0])))
        except InvalidOperation as error:
            raise KsqlSyntaxError(f"Invalid numeric literal: {c[0]}") from error

    def float_literal(self, c: list[Any]) -> n.Expr:
        return n.DoubleLiteral(float(str(c[0])))

    def number(self, c: list[Any]) -> int:
        return int(str(c[0]))

    # ---- types ----
    def array_type(self, c: list[Any]) -> t.SqlType:
        return t.Array(_one(c, t.SqlType))

    def map_type(self, c: list[Any]) -> t.SqlType:
        key, value = _of(c, t.SqlType)
        return t.Map(key, value)

    def struct_type(self, c: list[Any]) -> t.SqlType:
        names = _of(c, Ident)
        types = _of(c, t.SqlType)
        return t.Struct(tuple(zip((str(x) for x in names), types, strict=True)))

    def decimal_type(self, c: list[Any]) -> t.SqlType:
        precision, scale = (int(str(x)) for x in _tokens(c, "INTEGER_VALUE"))
        if precision < 1:
            raise KsqlStatementError(f"DECIMAL precision must be >= 1: DECIMAL({precision}, {scale})")
        if scale < 0 or scale > precision:
            raise KsqlStatementError(
                f"DECIMAL scale must be between 0 and precision {precision}. Got: {scale}"
            )
        return t.Decimal(precision, scale)

    def base_type(self, c: list[Any]) -> t.SqlType:
        name = str(c[0]).upper()
        found = _TYPE_NAMES.get(name)
        if found is None:
            raise KsqlStatementError(f"Unknown type: {name}")
        return found

    def type_parameter(self, c: list[Any]) -> str:
        return str(c[0])

    # ---- expressions ----
    def column_ref(self, c: list[Any]) -> n.Expr:
        return n.ColumnRef(str(c[0]))

    def qualified_column_ref(self, c: list[Any]) -> n.Expr:
        return n.ColumnRef(str(c[1]), str(c[0]))

    def dereference(self, c: list[Any]) -> n.Expr:
        return n.Dereference(c[0], str(c[2]))

    def subscript(self, c: list[Any]) -> n.Expr:
        exprs = _of(c, n.Expr)
        return n.Subscript(exprs[0], exprs[1])

    def function_call(self, c: list[Any]) -> n.Expr:
        name = str(c[0])
        return n.FunctionCall(name, tuple(_of(c[1:], n.Expr)))

    def function_star(self, c: list[Any]) -> n.Expr:
        return n.FunctionCall(str(c[0]), (), star=True)

    def cast(self, c: list[Any]) -> n.Expr:
        return n.Cast(_one(c, n.Expr), _one(c, t.SqlType))

    def array_constructor(self, c: list[Any]) -> n.Expr:
        return n.CreateArray(tuple(_of(c, n.Expr)))

    def map_entry(self, c: list[Any]) -> tuple[n.Expr, n.Expr]:
        key, value = _of(c, n.Expr)
        return key, value

    def map_constructor(self, c: list[Any]) -> n.Expr:
        return n.CreateMap(tuple(x for x in c if isinstance(x, tuple)))

    def struct_field(self, c: list[Any]) -> tuple[str, n.Expr]:
        return str(c[0]), _one(c, n.Expr)

    def struct_constructor(self, c: list[Any]) -> n.Expr:
        return n.CreateStruct(tuple(x for x in c if isinstance(x, tuple)))

    def when_clause(self, c: list[Any]) -> tuple[n.Expr, n.Expr]:
        cond, result = _of(c, n.Expr)
        return cond, result

    def searched_case(self, c: list[Any]) -> n.Expr:
        whens = tuple(x for x in c if isinstance(x, tuple))
        default = c[-2] if _has(c, "ELSE") else None
        return n.SearchedCase(whens, default)

    def simple_case(self, c: list[Any]) -> n.Expr:
        whens = tuple(x for x in c if isinstance(x, tuple))
        default = c[-2] if _has(c, "ELSE") else None
        return n.SimpleCase(c[1], whens, default)

    def unary(self, c: list[Any]) -> n.Expr:
        sign = str(c[0])
        value = c[1]
        if sign == "-":
            if isinstance(value, n.IntegerLiteral):
                number = -value.value
                return n.IntegerLiteral(number, not t.INT_MIN <= number <= t.INT_MAX)
            if isinstance(value, n.DecimalLiteral):
                return n.DecimalLiteral(-value.value)
            if isinstance(value, n.DoubleLiteral):
                return n.DoubleLiteral(-value.value)
        return n.Unary(sign, value)

    def arithmetic(self, c: list[Any]) -> n.Expr:
        return n.Arithmetic(str(c[1]), c[0], c[2])

    def concat(self, c: list[Any]) -> n.Expr:
        return n.Concat(c[0], c[2])

    def comparison_operator(self, c: list[Any]) -> str:
        op = str(c[0])
        return "<>" if op == "!=" else op

    def comparison(self, c: list[Any]) -> n.Expr:
        return n.Comparison(c[1], c[0], c[2])

    def between(self, c: list[Any]) -> n.Expr:
        value, low, high = _of(c, n.Expr)
        return n.Between(value, low, high, negated=_has(c, "NOT"))

    def in_list(self, c: list[Any]) -> n.Expr:
        exprs = _of(c, n.Expr)
        return n.InList(exprs[0], tuple(exprs[1:]), negated=_has(c, "NOT"))

    def like(self, c: list[Any]) -> n.Expr:
        value, pattern = _of(c, n.Expr)[:2]
        escape_tokens = _tokens(c, "STRING")
        escape = _unquote(str(escape_tokens[0]), "'") if escape_tokens else None
        if escape is not None and len(escape) != 1:
            raise KsqlStatementError(f"Escape string must be a single character: '{escape}'")
        return n.Like(value, pattern, escape, negated=_has(c, "NOT"))

    def is_null(self, c: list[Any]) -> n.Expr:
        return n.IsNull(c[0], negated=_has(c, "NOT"))

    def distinct_from(self, c: list[Any]) -> n.Expr:
        left, right = _of(c, n.Expr)
        op = "IS NOT DISTINCT FROM" if _has(c, "NOT") else "IS DISTINCT FROM"
        return n.Comparison(op, left, right)

    def not_(self, c: list[Any]) -> n.Expr:
        return n.Not(c[1])

    def and_(self, c: list[Any]) -> n.Expr:
        return n.Logical("AND", c[0], c[2])

    def or_(self, c: list[Any]) -> n.Expr:
        return n.Logical("OR", c[0], c[2])

    # ---- queries ----
    def select_single(self, c: list[Any]) -> n.SelectItem:
        alias = _one(c, Ident)
        return n.SelectExpression(c[0], str(alias) if alias is not None else None)

    def select_struct_all(self, c: list[Any]) -> n.SelectItem:
        return n.SelectStructAll(c[0])

    def select_all_qualified(self, c: list[Any]) -> n.SelectItem:
        return n.SelectAll(str(c[0]))

    def select_all(self, c: list[Any]) -> n.SelectItem:
        return n.SelectAll(None)

    def source_name(self, c: list[Any]) -> Ident:
        ident: Ident = c[0]
        return ident

    def aliased_relation(self, c: list[Any]) -> n.Relation:
        names = _of(c, Ident)
        return n.Relation(str(names[0]), str(names[1]) if len(names) > 1 else None)

    def relation(self, c: list[Any]) -> tuple[n.Relation, bool]:
        relations = _of(c, n.Relation)
        return relations[0], len(relations) > 1

    def expression_list(self, c: list[Any]) -> tuple[n.Expr, ...]:
        return tuple(_of(c, n.Expr))

    def paren_expression_list(self, c: list[Any]) -> tuple[n.Expr, ...]:
        return tuple(_of(c, n.Expr))

    def where_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("where", [_one(c, n.Expr)])

    def having_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("having", [_one(c, n.Expr)])

    def group_by_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("group_by", [c[-1]])

    def partition_by_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("partition_by", [c[-1]])

    def emit_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("emit", [str(c[1]).upper()])

    def limit_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("limit", [int(str(c[1]))])

    def window_unit(self, c: list[Any]) -> int:
        unit = str(c[0]).upper().rstrip("S")
        return _UNIT_MS[unit]

    def retention_clause(self, c: list[Any]) -> tuple[str, int]:
        return "retention", int(c[1]) * int(c[2])

    def grace_clause(self, c: list[Any]) -> tuple[str, int]:
        return "grace", int(c[2]) * int(c[3])

    def window_options(self, c: list[Any]) -> dict[str, int]:
        return dict(c)

    def tumbling(self, c: list[Any]) -> n.WindowSpec:
        ints = [x for x in c if isinstance(x, int)]
        opts = _one(c, dict) or {}
        return n.WindowSpec("TUMBLING", ints[0] * ints[1], None, opts.get("retention"), opts.get("grace"))

    def hopping(self, c: list[Any]) -> n.WindowSpec:
        ints = [x for x in c if isinstance(x, int)]
        opts = _one(c, dict) or {}
        return n.WindowSpec(
            "HOPPING", ints[0] * ints[1], ints[2] * ints[3], opts.get("retention"), opts.get("grace")
        )

    def session(self, c: list[Any]) -> n.WindowSpec:
        ints = [x for x in c if isinstance(x, int)]
        opts = _one(c, dict) or {}
        return n.WindowSpec("SESSION", ints[0] * ints[1], None, opts.get("retention"), opts.get("grace"))

    def window_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("window", [_one(c, n.WindowSpec)])

    def query(self, c: list[Any]) -> n.Query:
        select = tuple(x for x in c if isinstance(x, n.SelectExpression | n.SelectAll | n.SelectStructAll))
        relation, has_join = next(x for x in c if isinstance(x, tuple))
        clauses: dict[str, Any] = {str(x.data): x.children[0] for x in c if isinstance(x, Tree)}
        return n.Query(
            select=select,
            source=relation,
            where=clauses.get("where"),
            group_by=clauses.get("group_by"),
            partition_by=clauses.get("partition_by"),
            having=clauses.get("having"),
            window=clauses.get("window"),
            emit=clauses.get("emit"),
            limit=clauses.get("limit"),
            has_join=has_join,
        )

    # ---- DDL pieces ----
    @v_args(meta=True)
    def table_element(self, meta: Any, c: list[Any]) -> n.TableElement:
        name = c[0]
        sql_type = c[1]
        constraint: str | None = None
        header_key: str | None = None
        if len(c) > 2:
            tree = c[2]
            constraint = {
                "primary_key": "PRIMARY KEY",
                "key": "KEY",
                "headers": "HEADERS",
                "header": "HEADER",
            }[tree.data]
            if tree.data == "header":
                header_key = _unquote(str(tree.children[-1]), "'")
        line, column = _position(self.piece, *_meta_pos(meta))
        return n.TableElement(str(name), sql_type, constraint, header_key, line, column)

    def table_elements(self, c: list[Any]) -> tuple[n.TableElement, ...]:
        return tuple(_of(c, n.TableElement))

    def table_property(self, c: list[Any]) -> tuple[str, object]:
        key = c[0]
        name = _unquote(str(key), "'") if isinstance(key, Token) else str(key)
        value = c[-1]
        return name.upper(), _literal_value(value)

    def table_properties(self, c: list[Any]) -> dict[str, object]:
        props: dict[str, object] = {}
        for key, value in c:
            if isinstance(key, str):
                props[key] = value
        return props

    def with_clause(self, c: list[Any]) -> dict[str, object]:
        found: dict[str, object] = _one(c, dict)
        return found

    def or_replace(self, c: list[Any]) -> Tree[Any]:
        return Tree("or_replace", [bool(c)])

    def if_not_exists(self, c: list[Any]) -> Tree[Any]:
        return Tree("if_not_exists", [bool(c)])

    def if_exists(self, c: list[Any]) -> Tree[Any]:
        return Tree("if_exists", [bool(c)])

    def delete_topic(self, c: list[Any]) -> Tree[Any]:
        return Tree("delete_topic", [True])

    def column_list(self, c: list[Any]) -> tuple[str, ...]:
        return tuple(str(x) for x in _of(c, Ident))

    def values(self, c: list[Any]) -> list[n.Expr]:
        return _of(c, n.Expr)

    def resource_name(self, c: list[Any]) -> str:
        token = c[0]
        return _unquote(str(token), "'") if isinstance(token, Token) else str(token)

    def variable_name(self, c: list[Any]) -> str:
        return str(c[0])

    def interval_clause(self, c: list[Any]) -> Tree[Any]:
        return Tree("interval", [int(str(c[1]))])

    def print_clause(self, c: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"from_beginning": _has(c, "BEGINNING")}
        for x in c:
            if isinstance(x, Tree):
                out[x.data] = x.children[0]
        return out

    # ---- statements ----
    def start(self, c: list[Any]) -> n.Statement:
        statement: n.Statement = c[0]
        return statement

    def query_statement(self, c: list[Any]) -> n.Statement:
        return n.QueryStatement(query=c[0])

    def _create(self, c: list[Any], kind: str) -> n.Statement:
        flags: dict[str, Any] = {str(x.data): x.children[0] for x in c if isinstance(x, Tree)}
        name = _one(c, Ident)
        props = _one(c, dict) or {}
        query = _one(c, n.Query)
        if query is not None:
            return n.CreateAsSelect(
                kind=kind,
                name=str(name),
                properties=props,
                query=query,
                or_replace=flags["or_replace"],
                if_not_exists=flags["if_not_exists"],
            )
        elements = next((x for x in c if isinstance(x, tuple)), ())
        return n.CreateSource(
            kind=kind,
            name=str(name),
            elements=elements,
            properties=props,
            or_replace=flags["or_replace"],
            if_not_exists=flags["if_not_exists"],
            is_source=_has(c, "SOURCE"),
        )

    def create_stream(self, c: list[Any]) -> n.Statement:
        return self._create(c, "STREAM")

    def create_stream_as(self, c: list[Any]) -> n.Statement:
        return self._create(c, "STREAM")

    def create_table(self, c: list[Any]) -> n.Statement:
        return self._create(c, "TABLE")

    def create_table_as(self, c: list[Any]) -> n.Statement:
        return self._create(c, "TABLE")

    def insert_into(self, c: list[Any]) -> n.Statement:
        return n.InsertInto(
            target=str(_one(c, Ident)), properties=_one(c, dict) or {}, query=_one(c, n.Query)
        )

    def insert_values(self, c: list[Any]) -> n.Statement:
        target = _one(c, Ident)
        columns = next((x for x in c if isinstance(x, tuple)), None)
        values = next(x for x in c if isinstance(x, list))
        return n.InsertValues(
            target=str(target), columns=columns, values=tuple(values), target_quoted=target.quoted
        )

    def _drop(self, c: list[Any], kind: str) -> n.Statement:
        flags: dict[str, Any] = {str(x.data): x.children[0] for x in c if isinstance(x, Tree)}
        return n.DropSource(
            kind=kind,
            name=str(_one(c, Ident)),
            if_exists=flags["if_exists"],
            delete_topic=flags.get("delete_topic", False),
        )

    def drop_stream(self, c: list[Any]) -> n.Statement:
        return self._drop(c, "STREAM")

    def drop_table(self, c: list[Any]) -> n.Statement:
        return self._drop(c, "TABLE")

    def terminate(self, c: list[Any]) -> n.Statement:
        return n.Terminate(query_id=str(c[1]))

    def terminate_all(self, c: list[Any]) -> n.Statement:
        return n.Terminate(query_id=None)

    def set_property(self, c: list[Any]) -> n.Statement:
        strings = _tokens(c, "STRING")
        return n.SetProperty(name=_unquote(str(strings[0]), "'"), value=_unquote(str(strings[1]), "'"))

    def unset_property(self, c: list[Any]) -> n.Statement:
        return n.UnsetProperty(name=_unquote(str(_tokens(c, "STRING")[0]), "'"))

    def define_variable(self, c: list[Any]) -> n.Statement:
        return n.DefineVariable(name=str(c[1]), value=_unquote(str(_tokens(c, "STRING")[0]), "'"))

    def undefine_variable(self, c: list[Any]) -> n.Statement:
        return n.UndefineVariable(name=str(c[1]))

    def _list(self, what: str) -> Callable[[list[Any]], n.Statement]:
        def build(c: list[Any]) -> n.Statement:
            return n.ListStatement(what=what, extended=_has(c, "EXTENDED"), all_topics=_has(c, "ALL"))

        return build

    def list_properties(self, c: list[Any]) -> n.Statement:
        return self._list("PROPERTIES")(c)

    def list_topics(self, c: list[Any]) -> n.Statement:
        return self._list("TOPICS")(c)

    def list_streams(self, c: list[Any]) -> n.Statement:
        return self._list("STREAMS")(c)

    def list_tables(self, c: list[Any]) -> n.Statement:
        return self._list("TABLES")(c)

    def list_functions(self, c: list[Any]) -> n.Statement:
        return self._list("FUNCTIONS")(c)

    def list_queries(self, c: list[Any]) -> n.Statement:
        return self._list("QUERIES")(c)

    def list_variables(self, c: list[Any]) -> n.Statement:
        return self._list("VARIABLES")(c)

    def list_types(self, c: list[Any]) -> n.Statement:
        return self._list("TYPES")(c)

    def describe_source(self, c: list[Any]) -> n.Statement:
        return n.Describe(name=str(c[1]), extended=_has(c, "EXTENDED"))

    def describe_streams(self, c: list[Any]) -> n.Statement:
        return n.Describe(name=None, extended=_has(c, "EXTENDED"))

    def describe_function(self, c: list[Any]) -> n.Statement:
        return n.DescribeFunction(name=str(c[2]))

    def print_topic(self, c: list[Any]) -> n.Statement:
        topic = c[1]
        options = c[2]
        return n.PrintTopic(
            topic=str(topic),
            from_beginning=options["from_beginning"],
            interval=options.get("interval"),
            limit=options.get("limit"),
        )


def _meta_pos(meta: Any) -> tuple[int, int]:
    if meta is None or getattr(meta, "empty", True):
        return 1, 1
    return int(meta.line), int(meta.column)


def _literal_value(expr: Any) -> object:
    if isinstance(expr, n.StringLiteral):
        return expr.value
    if isinstance(expr, n.IntegerLiteral | n.DecimalLiteral | n.DoubleLiteral | n.BooleanLiteral):
        return expr.value
    return None
