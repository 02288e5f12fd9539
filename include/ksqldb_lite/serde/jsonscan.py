"""A typed JSON scan: validate a record and read the fields a query uses, without building its row.

Most records of a filter are rejected (the study's Germany filter keeps 1.5 %), yet ksqlDB
deserializes every record before its WHERE runs, so a record that does not fit the schema goes
to the processing log even when the filter would drop it. The engine must do the same, and the
generic path (``orjson.loads`` into dicts, then a generated validator walking them) costs most
of the time of a filter. This module compiles the source's value schema into msgspec ``Struct``
types and the WHERE clause over them: one C-level pass both validates the record and decodes
it into small typed objects, and the predicate reads the referenced fields as attributes.

The scan is a *conservative* shortcut. It answers :data:`REJECTED` only when

* msgspec accepted the bytes against types at least as strict as the engine's reader
  (``serde`` / ``jsoncodegen``): every STRING is a JSON string, INT/BIGINT a JSON integer in
  range, DOUBLE a JSON number, BOOLEAN a JSON boolean, STRUCT an object, ARRAY a list, MAP an
  object; every string decoded (so UTF-8 is validated), no field skipped unparsed; and
* the predicate, evaluated on those values without reporting any run-time error, is false or
  null.

In every other case — a numeric string in an INT column, a STRING column holding an object,
a key whose case differs from the declared name, an unknown key, invalid JSON, an expression
error — it answers :data:`UNSURE` or :data:`UNSCANNED` and the caller runs the full path, which
decides (and logs) exactly as before. So a record the full reader would log is never dropped
silently, and a record the WHERE would keep is never dropped.

The same scan serves aggregations (``execution/aggregate_scan.py``): there the expressions are
the WHERE clause, the GROUP BY expressions and the aggregates' arguments, read from the scanned
objects of every record msgspec accepts (projection pushdown: the row is never built), with the
same rule that anything the scan cannot decide goes the full path.

Key lookup follows the engine's reader (``jsoncodegen``): the exact name, then (for an upper-case
name) the lower-cased name, then any key that upper-cases to the name. The scan declares the
exact and the lower-cased keys; any other key is *unknown* to msgspec (``forbid_unknown_fields``)
and makes the record go the full path — unless it was learned as harmless: a key that matches
no field under the lookup rule cannot change what the reader sees, so after the full path has
read such a record, :meth:`JsonScan.learn` adds its harmless keys (decoded as ``Any``, so still
validated) and the next records with them are scanned.

Why msgspec's acceptance is enough: with no ``Raw`` fields, msgspec parses and checks every
byte (strict JSON grammar, escapes, surrogate pairs, control characters, UTF-8 of every string
and key, float overflow); the edge cases where parsers disagree are covered by
``tests/unit/test_ksql_jsonscan.py`` against the full path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Annotated, Any, Final

import msgspec

from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.expressions import EVALUATION_ERRORS, ColumnSlot, Compiler, ErrorSink, Fn, Scope
from ksqldb_lite.schema import types as t
from ksqldb_lite.serde.jsoncodegen import MISSING

REJECTED: Final = 0  # valid for the full reader, and the WHERE is false or null: drop it
UNSURE: Final = 1  # scanned, but the WHERE keeps it or could not be decided: take the full path
UNSCANNED: Final = 2  # msgspec refused the bytes: take the full path (then ``learn``)
# what :meth:`JsonScan.decode` gives for bytes msgspec refused
NOT_SCANNED: Final = object()

Fields = Sequence[tuple[str, t.SqlType]]

# Most harmless unknown keys learned per object level; beyond, such records take the full path.
MAX_LEARNED_KEYS = 64
# The scan switches itself off when most records fail it (it would only add work).
WINDOW = 2048
MAX_UNSCANNED_IN_WINDOW = WINDOW // 2

_INT = Annotated[int, msgspec.Meta(ge=t.INT_MIN, le=t.INT_MAX)]
_BIGINT = Annotated[int, msgspec.Meta(ge=t.BIGINT_MIN, le=t.BIGINT_MAX)]
_SCALARS: dict[t.BaseType, Any] = {
    t.BaseType.STRING: str,
    t.BaseType.INTEGER: _INT,
    t.BaseType.BIGINT: _BIGINT,
    t.BaseType.DOUBLE: float,
    t.BaseType.BOOLEAN: bool,
}
_DECODE_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError)
_NONDETERMINISTIC = frozenset({"RANDOM"})


class Unsupported(Exception):
    """The schema or the WHERE clause is outside what the scan can decide (no scan is used)."""


class Undecided(Exception):
    """A shortcut's predicate hit a run-time error: the full path evaluates (and reports) it."""


# What a shortcut's expressions may raise: the full path decides (and reports) instead.
UNDECIDED = (Undecided, *EVALUATION_ERRORS)


def _undecided(message: str) -> None:
    raise Undecided(message)


def undecided_sink() -> ErrorSink:
    """An error sink for shortcut predicates: an error that the full path would report to the
    processing log makes the shortcut give up instead (so it is reported once, by the full path)."""
    return ErrorSink(report=_undecided)


def deterministic(expr: n.Expr) -> bool:
    """Whether evaluating ``expr`` twice gives the same result (no RANDOM()): a shortcut may
    only evaluate a WHERE clause that the full path evaluates again when it is not rejected."""
    return not any(
        isinstance(e, n.FunctionCall) and e.name.upper() in _NONDETERMINISTIC for e in n.walk(expr)
    )


def declared_keys(name: str) -> tuple[str, ...]:
    """The JSON keys the reader finds a field by without building the upper-cased key map."""
    lower = name.lower()
    if name == name.upper() and lower != name:
        return (name, lower)
    return (name,)


def matches(key: str, name: str) -> bool:
    """Whether the reader may take the value of ``key`` for the field ``name``."""
    return key == name or (name == name.upper() and key.upper() == name)


class _Level:
    """One object level of the schema (the record, or a STRUCT): its fields, the spellings of
    their keys declared so far, and the harmless keys learned."""

    def __init__(self, fields: Fields) -> None:
        self.fields = list(fields)
        self.learned: list[str] = []
        self.learned_set: set[str] = set()
        self.children: dict[str, _Level] = {}  # field name → level of a STRUCT (or of its elements)
        # every spelling the reader finds a field by without the upper-cased map → the field
        self.spellings: dict[str, str] = {}
        for name, _ in self.fields:
            for key in declared_keys(name):
                if key in self.spellings:
                    raise Unsupported(f"two fields are read from the JSON key {key!r}")
                self.spellings[key] = name
        for key, owner in self.spellings.items():
            if any(matches(key, other) for other, _ in self.fields if other != owner):
                raise Unsupported(f"the JSON key {key!r} matches two fields")
        # Declared up front: one spelling per field, the one producers write (``utc_offset``
        # for UTC_OFFSET); the exact upper-case one (written by ksqlDB itself) once seen.
        self.declared: dict[str, str] = {declared_keys(name)[-1]: name for name, _ in self.fields}

    def harmless(self, key: str) -> bool:
        """A key the reader never takes for any field of this level."""
        return key not in self.spellings and not any(matches(key, name) for name, _ in self.fields)

    def variants(self, name: str) -> list[tuple[int, str]]:
        """The declared spellings of a field, in the reader's order (exact name first), with
        their position among all its spellings."""
        return [(i, key) for i, key in enumerate(declared_keys(name)) if key in self.declared]


def _attribute(index: int, variant: int) -> str:
    return f"f{index}_{variant}"


class JsonScan:
    """The compiled scan of one query (shared by its processors; not thread-safe): the value
    schema as msgspec types, and the query's expressions over the scanned objects
    (:attr:`functions`, in the order given; the first is the WHERE clause for :meth:`check`)."""

    def __init__(self, fields: Fields, expressions: Sequence[n.Expr], scope: Scope, keys: int) -> None:
        self._root = _Level(fields)
        self._build_levels(self._root)
        self._values = len(fields)
        self._keys = keys
        if not all(deterministic(e) for e in expressions):
            raise Unsupported("an expression is not deterministic")
        self._expressions = list(expressions)
        self._scope = replace(scope, accessor=self._accessor, path_accessor=self._path_accessor)
        self._decode: Callable[[bytes], Any]
        # Rebuilt by ``learn`` (attribute names change): read it afresh for every record.
        self.functions: list[Fn] = []
        self._compile()
        self.enabled = True
        self._seen = 0
        self._unscanned = 0

    # -- types -----------------------------------------------------------------------------
    def _build_levels(self, level: _Level) -> None:
        for name, sql_type in level.fields:
            struct = _struct_inside(sql_type)
            if struct is not None:
                child = _Level(struct.fields)
                self._build_levels(child)
                level.children[name] = child
            else:
                _check_supported(sql_type)

    def _compile(self) -> None:
        """(Re)build the decoder and the expressions for the spellings and keys known now."""
        self._decode = msgspec.json.Decoder(self._struct_type(self._root, "Record")).decode
        compiler = Compiler(self._scope, undecided_sink())
        self.functions = [compiler.compile(e) for e in self._expressions]

    def _struct_type(self, level: _Level, label: str) -> Any:
        spec: list[tuple[str, Any, Any]] = []
        for index, (name, sql_type) in enumerate(level.fields):
            field_type = self._field_type(level, name, sql_type, f"{label}_{index}")
            for variant, key in level.variants(name):
                spec.append(
                    (_attribute(index, variant), field_type, msgspec.field(name=key, default=MISSING))
                )
        for number, key in enumerate(level.learned):
            spec.append((f"x{number}", Any, msgspec.field(name=key, default=MISSING)))
        return msgspec.defstruct(label, spec, forbid_unknown_fields=True, gc=False)

    def _field_type(self, level: _Level, name: str, sql_type: t.SqlType, label: str) -> Any:
        child = level.children.get(name)
        return self._value_type(sql_type, child, label) | None

    def _value_type(self, sql_type: t.SqlType, child: _Level | None, label: str) -> Any:
        if isinstance(sql_type, t.Struct):
            assert child is not None
            return self._struct_type(child, label)
        if isinstance(sql_type, t.Array):
            return list[self._value_type(sql_type.element, child, label) | None]  # type: ignore[misc]
        if isinstance(sql_type, t.Map):
            return dict[str, self._value_type(sql_type.value, child, label) | None]  # type: ignore[misc]
        scalar = _SCALARS.get(sql_type.base)
        if scalar is None:
            raise Unsupported(f"type {sql_type}")
        return scalar

    # -- the predicate's view of the record --------------------------------------------------
    def _accessor(self, slot: ColumnSlot) -> Fn:
        outside = outside_value(slot.index, self._keys, self._values)
        if outside is not None:
            return outside
        found = self._path_accessor(slot, [])
        if found is None:
            raise Unsupported(f"an expression reads the whole column {slot.name}")
        return found

    def _path_accessor(self, slot: ColumnSlot, path: list[str]) -> Fn | None:
        """``column->a->b`` read from the scanned objects; only paths ending at a scalar."""
        keys = self._keys
        if not keys <= slot.index < keys + self._values:
            return None
        level = self._root
        steps: list[tuple[str, ...]] = []
        name, sql_type = level.fields[slot.index - keys]
        for depth in range(len(path) + 1):
            index = next(i for i, (field, _) in enumerate(level.fields) if field == name)
            steps.append(tuple(_attribute(index, variant) for variant, _ in level.variants(name)))
            if depth == len(path):
                break
            if not isinstance(sql_type, t.Struct):
                return None
            field_type = sql_type.field(path[depth])
            if field_type is None:
                return None
            level = level.children[name]
            name, sql_type = path[depth], field_type
        if sql_type.base not in _SCALARS:
            raise Unsupported(f"an expression reads {slot.name}->{'->'.join(path)} of type {sql_type}")
        return _generated_getter(steps, keys)

    # -- per record -----------------------------------------------------------------------
    def decode(self, value: bytes) -> Any:
        """One record's value bytes as the scan's objects — the ``value`` of the rows
        ``[key columns…, value, ROWTIME, ROWPARTITION, ROWOFFSET]`` that :attr:`functions`
        read — or :data:`NOT_SCANNED` when msgspec refused them (take the full path, then
        :meth:`learn`)."""
        self._seen += 1
        if self._seen >= WINDOW:
            self._end_window()
        try:
            return self._decode(value)
        except _DECODE_ERRORS:
            self._unscanned += 1
            return NOT_SCANNED

    def check(self, value: bytes, key: list[Any], timestamp: int, partition: int, offset: int) -> int:
        """REJECTED, UNSURE or UNSCANNED for one record's value bytes (see the module doc)."""
        scanned = self.decode(value)
        if scanned is NOT_SCANNED:
            return UNSCANNED
        try:
            keep = self.functions[0](
                [*key, scanned, timestamp, partition, offset]
                if key
                else [scanned, timestamp, partition, offset]
            )
        except UNDECIDED:
            return UNSURE
        return UNSURE if keep else REJECTED

    def _end_window(self) -> None:
        if self._unscanned > MAX_UNSCANNED_IN_WINDOW:
            self.enabled = False
        self._seen = self._unscanned = 0

    def learn(self, decoded: Any) -> None:
        """After the full path read a record the scan refused: declare the spellings of field
        names it used (``UTC_OFFSET`` besides ``utc_offset``) and its harmless unknown keys,
        then rebuild the decoder and the expressions if anything is new."""
        if type(decoded) is not dict:
            return
        if self._learn_level(self._root, decoded):
            self._compile()

    def _learn_level(self, level: _Level, obj: dict[str, Any]) -> bool:
        changed = False
        for key in obj:
            if key in level.declared or key in level.learned_set:
                continue
            owner = level.spellings.get(key)
            if owner is not None:
                level.declared[key] = owner
                changed = True
            elif level.harmless(key) and _nameable(key) and len(level.learned) < MAX_LEARNED_KEYS:
                level.learned.append(key)
                level.learned_set.add(key)
                changed = True
        for name, sql_type in level.fields:
            child = level.children.get(name)
            if child is None:
                continue
            for key in declared_keys(name):
                for inner in _objects_of(obj.get(key), sql_type):
                    changed |= self._learn_level(child, inner)
        return changed


def _nameable(key: str) -> bool:
    """msgspec cannot name a field with a quote, a backslash or a control character."""
    return '"' not in key and "\\" not in key and all(ord(char) >= 0x20 for char in key)


def outside_value(index: int, keys: int, values: int) -> Fn | None:
    """How a shortcut reads a key column or ROWTIME/ROWPARTITION/ROWOFFSET from its row
    ``[key columns…, decoded value, ROWTIME, ROWPARTITION, ROWOFFSET]``; None for a value column."""
    if index < keys:
        return lambda row: row[index]
    if index >= keys + values:
        shifted = index - values + 1
        return lambda row: row[shifted]
    return None


def _objects_of(value: Any, sql_type: t.SqlType) -> list[dict[str, Any]]:
    """The JSON objects that stand for STRUCT values inside a value of ``sql_type``."""
    if isinstance(sql_type, t.Struct):
        return [value] if type(value) is dict else []
    if isinstance(sql_type, t.Array) and type(value) is list:
        return [found for element in value for found in _objects_of(element, sql_type.element)]
    if isinstance(sql_type, t.Map) and type(value) is dict:
        return [found for element in value.values() for found in _objects_of(element, sql_type.value)]
    return []


def _struct_inside(sql_type: t.SqlType) -> t.Struct | None:
    """The STRUCT a field holds directly or through arrays/maps (a level of its own)."""
    current = sql_type
    while isinstance(current, t.Array | t.Map):
        current = current.element if isinstance(current, t.Array) else current.value
    return current if isinstance(current, t.Struct) else None


def _check_supported(sql_type: t.SqlType) -> None:
    for inner in t.nested_types(sql_type):
        if isinstance(inner, t.Map) and inner.key.base is not t.BaseType.STRING:
            raise Unsupported(f"type {sql_type}")
        if not isinstance(inner, t.Array | t.Map) and inner.base not in _SCALARS:
            raise Unsupported(f"type {sql_type}")


def _generated_getter(steps: list[tuple[str, ...]], keys: int) -> Fn:
    """``row[keys].a.b`` with the reader's rules: exact key first, missing and null → null."""
    lines = ["def getter(row):", f"    value = row[{keys}]"]
    for depth, attributes in enumerate(steps):
        if depth > 0:
            lines.append("    if value is None:")
            lines.append("        return None")
        lines.append(f"    found = value.{attributes[0]}")
        for attribute in attributes[1:]:
            lines.append("    if found is MISSING:")
            lines.append(f"        found = value.{attribute}")
        lines.append("    value = None if found is MISSING else found")
    lines.append("    return value")
    namespace: dict[str, Any] = {"MISSING": MISSING}
    exec(compile("\n".join(lines), "<ksqldb_lite json scan getter>", "exec"), namespace)
    getter: Fn = namespace["getter"]
    return getter


def build(fields: Fields, expressions: Sequence[n.Expr], scope: Scope, keys: int) -> JsonScan | None:
    """The scan of expressions (for a filter: its WHERE clause) over a JSON value schema, or
    None when it cannot evaluate them exactly."""
    try:
        return JsonScan(fields, expressions, scope, keys)
    except Unsupported:
        return None
