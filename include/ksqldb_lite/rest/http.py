"""HTTP helpers shared by the endpoints: JSON in and out, errors, content negotiation.

ksqlDB (Vert.x) picks a route by the request's ``Accept`` header against the media types the
route ``produces``; a request that accepts none of them gets ``406`` with no body. Bodies are
parsed with Jackson; anything that is not the expected JSON object is ``400`` with
``{"@type":"generic_error","error_code":40000,"message":"Invalid JSON in request: …"}``.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ksqldb_lite.errors import BAD_REQUEST, KsqlError

JSON = "application/json"
KSQL_V1_JSON = "application/vnd.ksql.v1+json"
DELIMITED = "application/vnd.ksqlapi.delimited.v1"


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return orjson.Fragment(str(value))  # the exact literal, like Jackson's BigDecimal
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """JSON bytes (Decimals keep their exact digits)."""
    return orjson.dumps(value, default=_default)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with ksqlDB's ``Content-Type: application/json``."""
    return Response(dumps(body), status_code=status, media_type=JSON, headers=headers)


def error_body(code: int, message: str) -> dict[str, Any]:
    """ksqlDB's ``KsqlErrorMessage``."""
    return {"@type": "generic_error", "error_code": code, "message": message}


def error_response(error: KsqlError) -> Response:
    """The response ksqlDB sends for an engine error."""
    return json_response(error.to_entity(), error.http_status)


def generic_error_response(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A ``generic_error`` response."""
    return json_response(error_body(code, message), status, headers)


class BadRequest(KsqlError):
    """The request itself is malformed (40000)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=BAD_REQUEST)


def parse_object(raw: bytes, required: Sequence[str] = ()) -> dict[str, Any]:
    """Parse a request body that must be a JSON object with the ``required`` fields."""
    try:
        value = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"Invalid JSON in request: {error}") from error
    if not isinstance(value, dict):
        kind = "no content" if value is None else f"a JSON {type(value).__name__}"
        raise BadRequest(f"Invalid JSON in request: expected a JSON object, got {kind}")
    for name in required:
        if value.get(name) is None:
            raise BadRequest(f"Invalid JSON in request: Missing required creator property '{name}'")
    return value


def field_map(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """An optional JSON-object field (null or absent: empty)."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid JSON in request: field '{name}' must be a JSON object")
    return value


def field_str(body: Mapping[str, Any], name: str) -> str:
    """An optional string field (null or absent: empty string); numbers are accepted as text,
    as Jackson does."""
    value = body.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(f"Invalid JSON in request: field '{name}' must be a string")
    return str(value)


async def read_object(request: Request, required: Sequence[str] = ()) -> dict[str, Any]:
    """Read and parse the request body as a JSON object."""
    return parse_object(await request.body(), required)


class NotAcceptable(Exception):
    """No media type the route produces is acceptable to the client (406)."""


def _accepted(header: str) -> list[str]:
    """Media ranges of an Accept header, most preferred first (stable for equal quality)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        fields = [field.strip() for field in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        quality = 1.0
        for param in fields[1:]:
            key, _, raw = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(raw)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, media))
    return [media for _, _, media in sorted(ranked)]


def negotiate(request: Request, produces: Sequence[str]) -> str | None:
    """The media type to answer with: None when the request has no Accept header (the route's
    default applies), else the first produced type the client accepts; raises NotAcceptable."""
    header = request.headers.get("accept")
    if header is None or not header.strip():
        return None
    for media in _accepted(header):
        kind, _, subtype = media.partition("/")
        for candidate in produces:
            c_kind, _, c_subtype = candidate.partition("/")
            if kind in ("*", c_kind) and subtype in ("*", c_subtype):
                return candidate
    raise NotAcceptable(header)
