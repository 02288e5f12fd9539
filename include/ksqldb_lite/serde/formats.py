"""Serialization: KAFKA, JSON and NONE formats, for keys and values.

Deserializers turn record bytes into a list of column values (typed Python values, see
:mod:`ksqldb_lite.schema.types`); serializers do the reverse. JSON reading follows ksqlDB's
KsqlJsonDeserializer: a field is looked up by its exact name, then by the upper-cased JSON
key; missing fields are null; INT/BIGINT/DOUBLE accept numbers and numeric strings;
BOOLEAN only JSON booleans; a STRING column given an object stores its JSON text. Anything
that does not fit raises :class:`SerdeError` (the record is then skipped and logged).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ksqldb_lite.errors import KsqlStatementError
from ksqldb_lite.schema import javalang
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import Column, Format

Coercer = Callable[[Any], Any]
KeyDeserializer = Callable[[bytes | None], list[Any]]
ValueDeserializer = Callable[[bytes | None], list[Any] | None]
KeySerializer = Callable[[Sequence[Any]], bytes | None]
ValueSerializer = Callable[[Sequence[Any] | None], bytes | None]

SUPPORTED_FORMATS = ("JSON", "KAFKA", "NONE")
SCHEMA_REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")


class SerdeError(Exception):
    """Bytes that do not fit the schema (message as ksqlDB words it where we know it)."""


# ---------------------------------------------------------------------------------------------
# format validation (statement time)


def validate_format(fmt: Format, columns: Sequence[Column], is_key: bool) -> None:
    """Refuse a format/schema combination ksqlDB refuses (or we cannot serve)."""
    name = fmt.name
    if name in SCHEMA_REGISTRY_FORMATS:
        raise KsqlStatementError(
            f"The '{name}' format requires a Schema Registry, which ksqldb-lite does not support. "
            "Use JSON, KAFKA or NONE."
        )
    if name == "DELIMITED":
        raise KsqlStatementError("The 'DELIMITED' format is not supported by ksqldb-lite. Use JSON.")
    if name not in SUPPORTED_FORMATS:
        raise KsqlStatementError(f"Unknown format: {name}")
    described = "[" + ", ".join(c.describe() for c in columns) + "]"
    if name == "NONE":
        if columns:
            raise KsqlStatementError(
                f"The 'NONE' format can only be used when no columns are defined. Got: {described}"
            )
        return
    if name == "KAFKA":
        if len(columns) > 1:
            raise _kafka_schema_error(
                columns, f"The 'KAFKA' format only supports a single field. Got: {described}"
            )
        for column in columns:
            if column.type.base not in (
                t.BaseType.INTEGER,
                t.BaseType.BIGINT,
                t.BaseType.DOUBLE,
                t.BaseType.STRING,
                t.BaseType.BYTES,
            ):
                raise _kafka_schema_error(
                    columns, f"The 'KAFKA' format does not support type '{column.type.base.name}'"
                )
    if name == "JSON":
        for column in columns:
            if _has_non_string_map_key(column.type):
                raise KsqlStatementError("JSON only supports MAP types with STRING keys")
    if not is_key and fmt.wrap_single is not None and len(columns) != 1:
        raise KsqlStatementError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")


def _kafka_schema_error(columns: Sequence[Column], reason: str) -> KsqlStatementError:
    described = ", ".join(c.describe() for c in columns)
    return KsqlStatementError(
        "Key format does not support schema.\n"
        "format: KAFKA\n"
        f"schema: Persistence{{columns=[{described}], features=[]}}\n"
        f"reason: {reason}"
    )


def _has_non_string_map_key(sql_type: t.SqlType) -> bool:
    return any(isinstance(inner, t.Map) and inner.key != t.STRING for inner in t.nested_types(sql_type))


# ---------------------------------------------------------------------------------------------
# JSON → typed values


def _integer_coercer(bits: int, type_name: str) -> Coercer:
    """JSON → INTEGER/BIGINT like Jackson's intValue/asLong: wraps, truncates decimals, parses
    numeric strings."""
    wrap = javalang.wrap_int if bits == 32 else javalang.wrap_long

    def coerce(value: Any) -> int:
        kind = type(value)
        if kind is int:
            return wrap(value)
        if kind is float:
            return wrap(int(value)) if math.isfinite(value) else javalang.saturate(value, bits)
        if kind is str:
            try:
                return javalang.parse_int(value, bits)
            except ValueError:
                raise SerdeError(f"Can't coerce string to type. targetType: {type_name}") from None
        raise invalid_conversion(value, type_name)

    return coerce


_to_int = _integer_coercer(32, "INTEGER")
_to_long = _integer_coercer(64, "BIGINT")


def _to_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if kind is str:
        try:
            return javalang.parse_double(value)
        except ValueError:
            raise SerdeError("Can't coerce string to type. targetType: DOUBLE") from None
    raise invalid_conversion(value, "DOUBLE")


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise invalid_conversion(value, "BOOLEAN")


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is dict:
        return orjson.dumps(value).decode()
    if kind is list:
        return "[" + ", ".join("null" if v is None else _to_string(v) for v in value) + "]"
    return _json_text(value)


_JSON_NODE_NAMES = {
    str: "TextNode",
    int: "IntNode",
    float: "DoubleNode",
    bool: "BooleanNode",
    dict: "ObjectNode",
    list: "ArrayNode",
}


def invalid_conversion(value: Any, required: str) -> SerdeError:
    """ksqlDB's "Can't convert type" error for a JSON value of the wrong kind."""
    node = _JSON_NODE_NAMES.get(type(value), type(value).__name__)
    return SerdeError(f"Can't convert type. sourceType: {node}, requiredType: {required}")


def _decimal_coercer(sql_type: t.Decimal) -> Coercer:
    def coerce(value: Any) -> Decimal:
        if type(value) in (int, float) or type(value) is str:
            try:
                number = Decimal(repr(value) if isinstance(value, float) else str(value))
            except InvalidOperation:
                raise invalid_conversion(value, str(sql_type)) from None
            return fit_decimal(number, sql_type)
        raise invalid_conversion(value, str(sql_type))

    return coerce


def fit_decimal(value: Decimal, sql_type: t.Decimal) -> Decimal:
    """ksqlDB's DecimalUtil.ensureFit: same scale without rounding, within precision."""
    digits = sql_type.precision - sql_type.scale
    if abs(value) >= Decimal(10) ** digits:
        raise SerdeError(
            f"Numeric field overflow: A field with precision {sql_type.precision} and scale "
            f"{sql_type.scale} must round to an absolute value less than 10^{digits}. Got {value}"
        )
    quantized = value.quantize(Decimal(1).scaleb(-sql_type.scale))
    if quantized != value:
        raise SerdeError(
            f"Cannot fit decimal '{value}' into DECIMAL({sql_type.precision}, {sql_type.scale}) without "
            "rounding."
        )
    return quantized


def json_coercer(sql_type: t.SqlType) -> Coercer:
    """A function turning a decoded JSON value into a value of ``sql_type`` (None stays None)."""
    base = sql_type.base
    inner: Coercer
    if base is t.BaseType.STRING:
        inner = _to_string
    elif base is t.BaseType.INTEGER:
        inner = _to_int
    elif base is t.BaseType.BIGINT:
        inner = _to_long
    elif base is t.BaseType.DOUBLE:
        inner = _to_double
    elif base is t.BaseType.BOOLEAN:
        inner = _to_boolean
    elif isinstance(sql_type, t.Decimal):
        inner = _decimal_coercer(sql_type)
    elif isinstance(sql_type, t.Array):
        inner = _array_coercer(sql_type)
    elif isinstance(sql_type, t.Map):
        inner = _map_coercer(sql_type)
    elif isinstance(sql_type, t.Struct):
        inner = struct_coercer(sql_type.fields)
    else:
        raise KsqlStatementError(f"Type {sql_type} is not supported by ksqldb-lite")

    def coerce(value: Any) -> Any:
        return None if value is None else inner(value)

    return coerce


def _array_coercer(sql_type: t.Array) -> Coercer:
    element = json_coercer(sql_type.element)
    required = str(sql_type)

    def coerce(value: Any) -> list[Any]:
        if type(value) is not list:
            raise invalid_conversion(value, required)
        return [element(v) for v in value]

    return coerce


def _map_coercer(sql_type: t.Map) -> Coercer:
    item = json_coercer(sql_type.value)
    required = str(sql_type)

    def coerce(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise invalid_conversion(value, required)
        return {k: item(v) for k, v in value.items()}

    return coerce


def field_lookup(obj: dict[str, Any], name: str) -> Any:
    """ksqlDB's JSON field lookup: exact name, else the value of the key that upper-cases to it
    (the last such key wins, as in ksqlDB's upper-cased map)."""
    if name in obj:
        return obj[name]
    found = None
    for key, value in obj.items():
        if key.upper() == name:
            found = value
    return found


def struct_coercer(fields: Sequence[tuple[str, t.SqlType]]) -> Coercer:
    """Coerce a JSON object to a struct dict (every declared field, in order); generated code."""
    from ksqldb_lite.serde.jsoncodegen import struct_coercer as generated

    return generated(fields)


def row_coercer(fields: Sequence[tuple[str, t.SqlType]]) -> Callable[[Any], list[Any]]:
    """Coerce a JSON object to a list of column values; generated code."""
    from ksqldb_lite.serde.jsoncodegen import row_coercer as generated

    return generated(fields)


# ---------------------------------------------------------------------------------------------
# typed values → JSON


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        integral = isinstance(exponent, int) and exponent >= 0
        return int(value) if integral else float(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """JSON bytes of a typed value (DECIMAL as a JSON number; a null map key as "null", as
    Jackson writes it)."""
    try:
        return orjson.dumps(value, default=_json_default)
    except TypeError:
        return orjson.dumps(_null_keys_as_text(value), default=_json_default)


def _null_keys_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {("null" if k is None else k): _null_keys_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_null_keys_as_text(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# KAFKA format


def _kafka_codec(sql_type: t.SqlType) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    base = sql_type.base
    if base is t.BaseType.INTEGER:
        packer = struct.Struct(">i")
        return (lambda v: packer.pack(v)), _unpacker(packer, "Integer", 4)
    if base is t.BaseType.BIGINT:
        packer = struct.Struct(">q")
        return (lambda v: packer.pack(v)), _unpacker(packer, "Long", 8)
    if base is t.BaseType.DOUBLE:
        packer = struct.Struct(">d")
        return (lambda v: packer.pack(v)), _unpacker(packer, "Double", 8)
    if base is t.BaseType.STRING:
        return (lambda v: v.encode()), _decode_utf8
    if base is t.BaseType.BYTES:
        return (lambda v: bytes(v)), bytes
    raise KsqlStatementError(f"The 'KAFKA' format does not support type '{base.name}'")


def _unpacker(packer: struct.Struct, name: str, size: int) -> Callable[[bytes], Any]:
    def unpack(data: bytes) -> Any:
        if len(data) != size:
            raise SerdeError(f"Size of data received by {name}Deserializer is not {size}")
        return packer.unpack(data)[0]

    return unpack


def _decode_utf8(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise SerdeError(f"Error when deserializing byte[] to string: {error}") from None


# ---------------------------------------------------------------------------------------------
# key serdes


def key_deserializer(fmt: Format, columns: Sequence[Column]) -> KeyDeserializer:
    """bytes → key column values (all None for a null key)."""
    count = len(columns)
    nulls = [None] * count
    if count == 0 or fmt.name == "NONE":
        return lambda data: []
    if fmt.name == "KAFKA":
        _, decode = _kafka_codec(columns[0].type)

        def kafka_key(data: bytes | None) -> list[Any]:
            return list(nulls) if data is None else [decode(data)]

        return kafka_key
    if fmt.name == "JSON":
        if count == 1:
            coerce = json_coercer(columns[0].type)

            def json_single(data: bytes | None) -> list[Any]:
                if data is None:
                    return list(nulls)
                return [coerce(loads(data))]

            return json_single
        row = row_coercer([(c.name, c.type) for c in columns])

        def json_multi(data: bytes | None) -> list[Any]:
            if data is None:
                return list(nulls)
            decoded = loads(data)
            if decoded is None:
                return list(nulls)
            return row(decoded)

        return json_multi
    raise KsqlStatementError(f"Unsupported key format: {fmt.name}")


def key_serializer(fmt: Format, columns: Sequence[Column]) -> KeySerializer:
    """key column values → bytes (None when there is no key or it is null)."""
    count = len(columns)
    if count == 0 or fmt.name == "NONE":
        return lambda values: None
    if fmt.name == "KAFKA":
        encode, _ = _kafka_codec(columns[0].type)

        def kafka_key(values: Sequence[Any]) -> bytes | None:
            value = values[0]
            return None if value is None else encode(value)

        return kafka_key
    if fmt.name == "JSON":
        if count == 1:

            def json_single(values: Sequence[Any]) -> bytes | None:
                value = values[0]
                return None if value is None else dumps(value)

            return json_single
        names = [c.name for c in columns]

        def json_multi(values: Sequence[Any]) -> bytes | None:
            return dumps(dict(zip(names, values, strict=True)))

        return json_multi
    raise KsqlStatementError(f"Unsupported key format: {fmt.name}")


# ---------------------------------------------------------------------------------------------
# value serdes


def loads(data: bytes) -> Any:
    """A JSON value as the value readers decode it; SerdeError for anything but JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise SerdeError(f"Failed to deserialize value: {error}") from None


def unwrapped(fmt: Format, columns: Sequence[Column]) -> bool:
    """Whether a single value column is written bare (not in a JSON object)."""
    return len(columns) == 1 and fmt.wrap_single is False


def value_deserializer(fmt: Format, columns: Sequence[Column]) -> ValueDeserializer:
    """bytes → value column values; None (tombstone) for null bytes."""
    if fmt.name == "KAFKA":
        if len(columns) != 1:
            raise KsqlStatementError("The 'KAFKA' format only supports a single field.")
        _, decode = _kafka_codec(columns[0].type)
        return lambda data: None if data is None else [decode(data)]
    if fmt.name == "NONE":
        return lambda data: None if data is None else []
    if fmt.name != "JSON":
        raise KsqlStatementError(f"Unsupported value format: {fmt.name}")
    if unwrapped(fmt, columns):
        coerce = json_coercer(columns[0].type)

        def single(data: bytes | None) -> list[Any] | None:
            if data is None:
                return None
            return [coerce(loads(data))]

        return single
    row = row_coercer([(c.name, c.type) for c in columns])

    def wrapped(data: bytes | None) -> list[Any] | None:
        if data is None:
            return None
        decoded = loads(data)
        return None if decoded is None else row(decoded)

    return wrapped


def value_serializer(fmt: Format, columns: Sequence[Column]) -> ValueSerializer:
    """value column values → bytes; None row → None (tombstone)."""
    if fmt.name == "KAFKA":
        encode, _ = _kafka_codec(columns[0].type)

        def kafka_value(values: Sequence[Any] | None) -> bytes | None:
            if values is None or values[0] is None:
                return None
            return encode(values[0])

        return kafka_value
    if fmt.name == "NONE":
        return lambda values: None
    if unwrapped(fmt, columns):

        def single(values: Sequence[Any] | None) -> bytes | None:
            return None if values is None else dumps(values[0])

        return single
    names = [c.name for c in columns]

    def wrapped(values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        return dumps(dict(zip(names, values, strict=True)))

    return wrapped


# ---------------------------------------------------------------------------------------------
# non-finite doubles: Jackson writes NaN and ±Infinity as the strings "NaN", "Infinity"


def _contains_double(sql_type: t.SqlType) -> bool:
    return any(inner.base is t.BaseType.DOUBLE for inner in t.nested_types(sql_type))


def _fix_nonfinite(value: Any) -> Any:
    if type(value) is float:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if type(value) is list:
        return [_fix_nonfinite(v) for v in value]
    if type(value) is dict:
        return {k: _fix_nonfinite(v) for k, v in value.items()}
    return value


def nonfinite_safe(serializer: ValueSerializer, columns: Sequence[Column]) -> ValueSerializer:
    """Wrap a value serializer so that NaN/Infinity doubles are written as ksqlDB writes them."""
    positions = [i for i, c in enumerate(columns) if _contains_double(c.type)]
    if not positions:
        return serializer

    def safe(values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return serializer(values)
        fixed = list(values)
        for i in positions:
            fixed[i] = _fix_nonfinite(fixed[i])
        return serializer(fixed)

    return safe
