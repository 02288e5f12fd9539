"""Generated JSON readers for a schema: row coercion, cheap validation, and path access.

For each schema the engine generates straight-line Python (once, at query start) instead of
walking the schema per record:

* ``row_coercer(fields)``: decoded JSON object → list of typed column values (what
  KsqlJsonDeserializer does: exact field name, else the upper-cased JSON key; missing → null;
  leaf coercions from :mod:`ksqldb_lite.serde.formats`);
* ``validator(fields)``: decoded object → True when every value that *could* fail coercion
  already has the right JSON type (STRING never fails and is skipped). False means "run the full
  coercion to find out", never "invalid";
* ``path_getter(fields, path)``: decoded object → the typed value at ``column->field->…``
  without coercing the rest of the record.

Lookup rule (KsqlJsonDeserializer): the exact name, else the value whose key upper-cases to
the name. The generated code tries the exact name, then (for an upper-case name) the
lower-cased name, and only then the upper-cased key map of that object, which is empty when all
its keys are lower case. Two deliberate shortcuts, both for keys no JSON producer we know
writes: with two keys differing only in case ksqlDB keeps the last one in its map, the
lower-case probe keeps the lower-case one; and a lower-case key whose upper-casing is not the
plain ASCII upper-casing (``ı`` → ``I``) is not matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ksqldb_lite.schema import types as t
from ksqldb_lite.serde import formats as serde

Fields = Sequence[tuple[str, t.SqlType]]

MISSING = object()


_EMPTY: dict[str, Any] = {}


def upper_map(obj: dict[str, Any]) -> dict[str, Any]:
    """Keys upper-cased (the last of colliding keys wins, like ksqlDB's map).

    When every key is lower case, a key matching an upper-case name was already found by the
    lower-case lookup, so an empty map answers every remaining lookup (and is cheaper to get).
    """
    if all(map(str.islower, obj)):
        return _EMPTY
    return {key.upper(): value for key, value in obj.items()}


class _Generator:
    """Builds the source of one module of generated functions."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "MISSING": MISSING,
            "upper_map": upper_map,
            "SerdeError": serde.SerdeError,
            "invalid": serde.invalid_conversion,
        }
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def constant(self, value: Any, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.env[name] = value
        return name

    def compile(self) -> dict[str, Any]:
        source = "\n".join(self.lines)
        namespace = dict(self.env)
        exec(compile(source, "<ksqldb_lite generated json reader>", "exec"), namespace)
        return namespace

    # -- lookup --------------------------------------------------------------------------------
    def lookup(
        self, body: list[str], obj: str, upper: str, name: str, target: str, indent: str, getter: str = ""
    ) -> None:
        """Emit code assigning the field ``name`` of dict ``obj`` (missing → None) to target.

        Only an upper-case name can match through the upper-cased keys; for it the lower-case
        key is tried before building the upper-cased map.
        """
        get = getter or f"{obj}.get"
        body.append(f"{indent}{target} = {get}({name!r}, MISSING)")
        body.append(f"{indent}if {target} is MISSING:")
        if name != name.upper():
            body.append(f"{indent}    {target} = None")
            return
        lower = name.lower()
        inner = indent + "    "
        if lower != name:
            body.append(f"{inner}{target} = {get}({lower!r}, MISSING)")
            body.append(f"{inner}if {target} is MISSING:")
            inner += "    "
        body.append(f"{inner}if {upper} is None:")
        body.append(f"{inner}    {upper} = upper_map({obj})")
        body.append(f"{inner}{target} = {upper}.get({name!r})")

    # -- coercion ------------------------------------------------------------------------------
    def coercer(self, sql_type: t.SqlType) -> str:
        """Name of a function ``f(value) -> typed`` (value not None)."""
        if isinstance(sql_type, t.Struct):
            return self.struct_function(sql_type.fields, as_list=False)
        return self.constant(serde.json_coercer(sql_type), "leaf")

    def emit_coerce(self, body: list[str], var: str, sql_type: t.SqlType, indent: str) -> None:
        """Emit code coercing ``var`` in place (var may be None)."""
        base = sql_type.base
        if base is t.BaseType.STRING:
            to_string = self.constant(serde.json_coercer(sql_type), "to_string")
            body.append(f"{indent}if {var} is not None and type({var}) is not str:")
            body.append(f"{indent}    {var} = {to_string}({var})")
        elif base in (t.BaseType.INTEGER, t.BaseType.BIGINT):
            low, high = (t.INT_MIN, t.INT_MAX) if base is t.BaseType.INTEGER else (t.BIGINT_MIN, t.BIGINT_MAX)
            slow = self.constant(serde.json_coercer(sql_type), "to_int")
            body.append(
                f"{indent}if {var} is not None and (type({var}) is not int or not {low} <= {var} <= {high}):"
            )
            body.append(f"{indent}    {var} = {slow}({var})")
        elif base is t.BaseType.DOUBLE:
            slow = self.constant(serde.json_coercer(sql_type), "to_double")
            body.append(f"{indent}if {var} is not None and type({var}) is not float:")
            body.append(f"{indent}    {var} = {slow}({var})")
        else:
            fn = self.coercer(sql_type)
            body.append(f"{indent}if {var} is not None:")
            body.append(f"{indent}    {var} = {fn}({var})")

    def struct_function(self, fields: Fields, as_list: bool) -> str:
        """A function coercing a JSON object to a struct dict (or a row list)."""
        fname = self.name("row" if as_list else "struct")
        required = self.constant("STRUCT<" + ", ".join(f"{t.quote(n)} {ft}" for n, ft in fields) + ">", "req")
        body = [
            f"def {fname}(obj, MISSING=MISSING, upper_map=upper_map):",
            "    if type(obj) is not dict:",
            f"        raise invalid(obj, {required})",
        ]
        body.append("    upper = None")
        body.append("    get = obj.get")
        names = []
        for index, (field_name, field_type) in enumerate(fields):
            var = f"v{index}"
            names.append(var)
            self.lookup(body, "obj", "upper", field_name, var, "    ", getter="get")
            self.emit_coerce(body, var, field_type, "    ")
        if as_list:
            body.append(f"    return [{', '.join(names)}]")
        else:
            pairs = ", ".join(
                f"{field_name!r}: {var}" for (field_name, _), var in zip(fields, names, strict=True)
            )
            body.append(f"    return {{{pairs}}}")
        self.lines.extend(body)
        self.lines.append("")
        return fname

    # -- validation ----------------------------------------------------------------------------
    def validator_function(self, fields: Fields) -> str | None:
        """A function returning True when no field of the object can fail; None if none can."""
        checks: list[str] = []
        fname = self.name("valid")
        body = [
            f"def {fname}(obj, MISSING=MISSING, upper_map=upper_map):",
            "    upper = None",
            "    get = obj.get",
        ]
        for index, (field_name, field_type) in enumerate(fields):
            check = self._check(field_type, f"v{index}")
            if check is None:
                continue
            checks.append(field_name)
            self.lookup(body, "obj", "upper", field_name, f"v{index}", "    ", getter="get")
            body.append(f"    if v{index} is not None and not ({check}):")
            body.append("        return False")
        if not checks:
            return None
        body.append("    return True")
        self.lines.extend(body)
        self.lines.append("")
        return fname

    def _check(self, sql_type: t.SqlType, var: str) -> str | None:
        base = sql_type.base
        if base is t.BaseType.STRING:
            return None
        if base is t.BaseType.INTEGER:
            return f"type({var}) is int and {t.INT_MIN} <= {var} <= {t.INT_MAX}"
        if base is t.BaseType.BIGINT:
            return f"type({var}) is int and {t.BIGINT_MIN} <= {var} <= {t.BIGINT_MAX}"
        if base is t.BaseType.DOUBLE:
            return f"type({var}) is float or type({var}) is int"
        if base is t.BaseType.BOOLEAN:
            return f"type({var}) is bool"
        if isinstance(sql_type, t.Struct):
            inner = self.validator_function(sql_type.fields)
            return f"type({var}) is dict" + (f" and {inner}({var})" if inner else "")
        if isinstance(sql_type, t.Array):
            element = self._check(sql_type.element, "x")
            if element is None:
                return f"type({var}) is list"
            return f"type({var}) is list and all(x is None or ({element}) for x in {var})"
        if isinstance(sql_type, t.Map):
            value = self._check(sql_type.value, "x")
            if value is None:
                return f"type({var}) is dict"
            return f"type({var}) is dict and all(x is None or ({value}) for x in {var}.values())"
        return "False"  # DECIMAL and others: let the full coercion decide


def row_coercer(fields: Fields) -> Callable[[Any], list[Any]]:
    """Decoded JSON object → typed column values (raises SerdeError)."""
    generator = _Generator()
    name = generator.struct_function(fields, as_list=True)
    fn: Callable[[Any], list[Any]] = generator.compile()[name]
    return fn


def struct_coercer(fields: Fields) -> Callable[[Any], dict[str, Any]]:
    """Decoded JSON object → struct dict with every declared field (raises SerdeError)."""
    generator = _Generator()
    name = generator.struct_function(fields, as_list=False)
    fn: Callable[[Any], dict[str, Any]] = generator.compile()[name]
    return fn


def validator(fields: Fields) -> Callable[[dict[str, Any]], bool]:
    """Decoded JSON object → True when nothing in it can fail to coerce (see module doc)."""
    generator = _Generator()
    name = generator.validator_function(fields)
    if name is None:
        return lambda obj: True
    fn: Callable[[dict[str, Any]], bool] = generator.compile()[name]
    return fn


def path_getter(fields: Fields, path: Sequence[str]) -> Callable[[dict[str, Any]], Any]:
    """Decoded JSON object → typed value of ``path[0]->path[1]->…`` (null when a step is null).

    Raises SerdeError when a step that must be an object is not (the record is then invalid,
    exactly as a full deserialization would find).
    """
    generator = _Generator()
    fname = generator.name("path")
    body = [f"def {fname}(obj, MISSING=MISSING, upper_map=upper_map):", "    value = obj"]
    current: Fields = fields
    sql_type: t.SqlType | None = None
    for depth, step in enumerate(path):
        field_type = dict(current).get(step)
        if field_type is None:
            raise KeyError(step)
        if depth > 0:
            required = generator.constant(str(sql_type), "req")
            body.append("    if value is None:")
            body.append("        return None")
            body.append("    if type(value) is not dict:")
            body.append(f"        raise invalid(value, {required})")
        body.append(f"    upper{depth} = None")
        generator.lookup(body, "value", f"upper{depth}", step, "found", "    ")
        body.append("    value = found")
        sql_type = field_type
        if isinstance(field_type, t.Struct):
            current = field_type.fields
    assert sql_type is not None
    generator.emit_coerce(body, "value", sql_type, "    ")
    body.append("    return value")
    generator.lines.extend(body)
    fn: Callable[[dict[str, Any]], Any] = generator.compile()[fname]
    return fn
