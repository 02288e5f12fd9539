"""A migration file as the commands to send: split, comments out, variables substituted.

Follows ksql-migrations' ``CommandParser`` and ``ApplyMigrationCommand``:

* statements end at ``;`` outside single-quoted strings; ``--`` (to the end of the line) and
  ``/* … */`` comments are dropped; text after the last ``;`` is an error. Back-quoted and
  double-quoted identifiers are read whole too (the tool would split inside them);
* ``SELECT``, ``DESCRIBE``, ``EXPLAIN``, ``PRINT``, ``SHOW``, ``LIST`` and ``RUN SCRIPT`` are not
  allowed (judged by the first word, as the tool does);
* ``DEFINE name = 'value';`` / ``UNDEFINE name;`` and ``--define name=value`` set variables held
  on the client; ``${name}`` is replaced in every later statement (single quotes in the value
  doubled, as ksqlDB's ``VariableSubstitutor`` does; an unknown name is left as written);
* ``SET 'p' = 'v';`` / ``UNSET 'p';`` are held on the client and sent as ``streamsProperties``
  with each later statement;
* variables and properties start afresh with each file.

Everything here is pure: :func:`plan_file` is what ``apply`` and ``apply --dry-run`` use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from replay.errors import MigrationFileError

FORBIDDEN_FIRST_WORDS = ("DESCRIBE", "EXPLAIN", "SELECT", "PRINT", "SHOW", "LIST")

_NAME = r"[A-Za-z_][A-Za-z0-9_@]*"
_STRING = r"'((?:[^']|'')*)'"
_DEFINE = re.compile(rf"\s*DEFINE\s+({_NAME})\s*=\s*{_STRING}\s*;\s*", re.IGNORECASE | re.DOTALL)
_UNDEFINE = re.compile(rf"\s*UNDEFINE\s+({_NAME})\s*;\s*", re.IGNORECASE)
_SET = re.compile(rf"\s*SET\s+{_STRING}\s*=\s*{_STRING}\s*;\s*", re.IGNORECASE | re.DOTALL)
_UNSET = re.compile(rf"\s*UNSET\s+{_STRING}\s*;\s*", re.IGNORECASE | re.DOTALL)
_VARIABLE_REF = re.compile(r"\$\{(" + _NAME + r")\}")
_QUOTES = {"'": "'", "`": "`", '"': '"'}


@dataclass(frozen=True)
class Statement:
    """One statement of a file as split: its text (comments removed, whitespace kept, ending in
    ``;``, as the tool's ``splitSql`` gives it) and the line it starts on."""

    text: str
    line: int

    @property
    def one_line(self) -> str:
        """The statement on one line, for messages."""
        return " ".join(self.text.split())


@dataclass(frozen=True)
class Command:
    """A statement to send to ``/ksql``: the text after substitution and the properties in force."""

    statement: Statement
    sql: str
    properties: dict[str, str] = field(default_factory=dict)


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def split_statements(text: str, *, source: str = "<text>") -> list[Statement]:
    """The statements of a file, in order; :class:`MigrationFileError` for an unclosed string or
    comment, or text after the last ``;``."""
    statements: list[Statement] = []
    current: list[str] = []
    start: int | None = None  # offset of the current statement's first non-blank character
    i, n = 0, len(text)

    def fail(what: str, at: int) -> MigrationFileError:
        line = text.count("\n", 0, at) + 1
        return MigrationFileError(
            f"{source}, line {line}: {what}", hint="fix the file and run the command again"
        )

    while i < n:
        char = text[i]
        if char in _QUOTES:
            close = text.find(_QUOTES[char], i + 1)
            if close < 0:
                raise fail(f"a {char} opened here is never closed", i)
            if start is None:
                start = i
            current.append(text[i : close + 1])
            i = close + 1
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                raise fail("a /* comment opened here is never closed", i)
            i = close + 2
        elif char == ";":
            current.append(";")
            line = text.count("\n", 0, start if start is not None else i) + 1
            statements.append(Statement(text="".join(current), line=line))
            current, start = [], None
            i += 1
        else:
            if start is None and not char.isspace():
                start = i
            current.append(char)
            i += 1
    rest = "".join(current)
    if rest.strip():
        raise fail(f"missing semicolon after the last statement: {' '.join(rest.split())!r}", start or 0)
    return statements


def forbidden_reason(statement: Statement) -> str | None:
    """Why ksql-migrations refuses this statement (its message), or None when it is allowed."""
    words = statement.text.upper().split()
    if words and words[0] in FORBIDDEN_FIRST_WORDS:
        return f"'{words[0]}' statements are not supported."
    if len(words) > 1 and words[0] == "RUN" and words[1] == "SCRIPT":
        return "'RUN SCRIPT' statements are not supported."
    return None


def sanitize(value: str) -> str:
    """A variable's value as ksqlDB substitutes it: single quotes doubled (inside the quotes of a
    quoted value)."""
    if len(value) >= 2 and value.startswith("'") and value.endswith("'"):
        return "'" + value[1:-1].replace("'", "''") + "'"
    return value.replace("'", "''")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """``${name}`` replaced for every defined name; unknown names are left as written."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return sanitize(variables[name]) if name in variables else match.group(0)

    return _VARIABLE_REF.sub(value, text)


def parse_defines(pairs: list[str] | None) -> dict[str, str]:
    """``--define name=value`` arguments as variables (the value may itself contain ``=``)."""
    variables: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(_NAME, name):
            raise MigrationFileError(
                f"cannot read --define {pair!r}: variables are defined as name=value",
                hint="pass e.g. --define topic=meetup_events (names: letters, digits, _)",
            )
        variables[name] = value
    return variables


def plan_file(text: str, *, source: str, defines: Mapping[str, str] | None = None) -> list[Command]:
    """The commands a file sends, in order, with the properties in force for each.

    DEFINE/UNDEFINE/SET/UNSET are consumed here (they send nothing); ``defines`` are the
    ``--define`` variables every file starts with. :class:`MigrationFileError` names the file,
    the line and the statement of the first problem.
    """
    variables = dict(defines or {})
    properties: dict[str, str] = {}
    commands: list[Command] = []
    for statement in split_statements(text, source=source):
        reason = forbidden_reason(statement)
        if reason is not None:
            raise MigrationFileError(
                f"{source}, line {statement.line}: {reason} Statement: {statement.one_line}",
                hint="a migration may only change the server (CREATE, DROP, INSERT, TERMINATE, SET, DEFINE…)",
            )
        sql = substitute(statement.text, variables)
        first = sql.split(None, 1)[0].upper() if sql.strip() else ""
        if first == "DEFINE":
            match = _DEFINE.fullmatch(sql)
            if match is None:
                raise _malformed(source, statement, "DEFINE name = 'value';")
            variables[match.group(1)] = _unquote(match.group(2))
        elif first == "UNDEFINE":
            match = _UNDEFINE.fullmatch(sql)
            if match is None:
                raise _malformed(source, statement, "UNDEFINE name;")
            variables.pop(match.group(1), None)
        elif first == "SET":
            match = _SET.fullmatch(sql)
            if match is None:
                raise _malformed(source, statement, "SET 'property' = 'value';")
            properties[_unquote(match.group(1))] = _unquote(match.group(2))
        elif first == "UNSET":
            match = _UNSET.fullmatch(sql)
            if match is None:
                raise _malformed(source, statement, "UNSET 'property';")
            properties.pop(_unquote(match.group(1)), None)
        elif sql.strip() != ";":
            commands.append(Command(statement=statement, sql=sql, properties=dict(properties)))
    return commands


def _malformed(source: str, statement: Statement, form: str) -> MigrationFileError:
    return MigrationFileError(
        f"{source}, line {statement.line}: cannot read {statement.one_line!r}",
        hint=f"write it as {form}",
    )
