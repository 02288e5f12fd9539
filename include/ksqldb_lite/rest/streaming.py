"""The streaming endpoints: ``POST /query``, ``/query-stream`` and ``/inserts-stream``.

All three stream their answer: over HTTP/1.1 with chunked transfer encoding, over HTTP/2 as
DATA frames (the server, Hypercorn, does either for a response without a length). Framing,
byte for byte as ksqlDB 0.29 writes it, is the same on both:

* ``/query`` (``QueryStreamWriter``): ``[`` then ``{"header":{"queryId","schema"}},\\n``,
  ``{"row":{"columns":[…]}},\\n`` per row, a bare ``\\n`` after each second without rows (the
  keep-alive that also detects a gone client), ``{"finalMessage":"Limit Reached"}]\\n`` at the
  LIMIT (``]\\n`` alone when the query was closed), and on a failure ``\\n{"errorMessage":{…}},\\n``.
  A pull query (``PullQueryStreamWriter``): ``[`` header, ``,\\n`` + row …, ``]``.
* ``/query-stream`` delimited (default, ``application/vnd.ksqlapi.delimited.v1``): the metadata
  ``{"queryId","columnNames","columnTypes"}`` then one JSON array per row, each on its own line;
  ``Accept: application/json``: one array ``[metadata,row,…]``; ``Accept:
  application/vnd.ksql.v1+json``: the ``/query`` framing.
* ``PRINT 'topic'`` (on ``/query``, and delimited-only on ``/query-stream``): the format lines,
  then one text line per record, a blank line when idle.
* ``/inserts-stream``: request ``{"target":"S"}`` then one JSON object per line; response one ack
  ``{"status":"ok","seq":n}`` per row (delimited) or a JSON array of them; a failure ends the
  stream with ``{"@type":"InsertError","error_code","message","status":"error","seq"}``.

A push query ends when the client goes away (noticed through ``http.disconnect``), at its
LIMIT, on ``/close-query``, or when the server shuts down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ksqldb_lite.errors import BAD_REQUEST, BAD_STATEMENT, SERVER_ERROR, KsqlError
from ksqldb_lite.execution.queries import PrintTopic, PullQueryResult, PushQuery, QueryHeader, Row
from ksqldb_lite.rest.core import ServerCore, ServerState
from ksqldb_lite.rest.endpoints import core_of
from ksqldb_lite.rest.http import (
    DELIMITED,
    JSON,
    KSQL_V1_JSON,
    BadRequest,
    NotAcceptable,
    dumps,
    error_body,
    error_response,
    field_map,
    field_str,
    negotiate,
    parse_object,
    read_object,
)

log = logging.getLogger(__name__)

# ksqlDB's disconnect-check interval: a keep-alive newline after this long without rows.
KEEPALIVE_S = 1.0
MAX_IDLE_WAIT_S = 0.05


@dataclass(frozen=True)
class Framing:
    """How one response format frames a query result."""

    begin: Callable[[QueryHeader], bytes]
    row: Callable[[Row], bytes]
    end: Callable[[str | None], bytes]
    error: Callable[[str], bytes]
    keepalive: bytes = b""
    pull_begin: Callable[[QueryHeader, int], bytes] | None = None


def _query_row(row: Row) -> bytes:
    return dumps({"row": {"columns": row}}) + b",\n"


def _query_end(final_message: str | None) -> bytes:
    return (dumps({"finalMessage": final_message}) if final_message else b"") + b"]\n"


QUERY_FRAMING = Framing(
    begin=lambda header: b"[" + dumps(header.query_header()) + b",\n",
    row=_query_row,
    end=_query_end,
    error=lambda message: b"\n" + dumps({"errorMessage": error_body(SERVER_ERROR, message)}) + b",\n",
    keepalive=b"\n",
)

DELIMITED_FRAMING = Framing(
    begin=lambda header: dumps(header.query_stream_metadata()) + b"\n",
    row=lambda row: dumps(row) + b"\n",
    end=lambda final_message: b"",
    error=lambda message: dumps(error_body(SERVER_ERROR, message)) + b"\n",
)

# PRINT: plain text, one record per line (ksqlDB's TopicStreamWriter), a blank line when idle.
PRINT_FRAMING = Framing(
    begin=lambda header: b"",
    row=lambda row: str(row[0]).encode("utf-8") + b"\n",
    end=lambda final_message: b"",
    error=lambda message: message.encode("utf-8") + b"\n",
    keepalive=b"\n",
)

JSON_ARRAY_FRAMING = Framing(
    begin=lambda header: b"[" + dumps(header.query_stream_metadata()),
    row=lambda row: b"," + dumps(row),
    end=lambda final_message: b"]",
    error=lambda message: b"," + dumps(error_body(SERVER_ERROR, message)) + b"]",
)


class _ClientGone(Exception):
    """The client closed the connection."""


class _Channel:
    """A chunked response body plus a watch for the client going away."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.gone = anyio.Event()

    async def watch(self) -> None:
        """Wait for ``http.disconnect`` (the request body has been read already)."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                return

    async def start(self, media_type: str, status: int = 200) -> None:
        headers = [(b"content-type", media_type.encode("latin-1"))]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, data: bytes) -> None:
        if self.gone.is_set():
            raise _ClientGone
        if data:
            try:
                await self._send({"type": "http.response.body", "body": data, "more_body": True})
            except OSError as error:
                raise _ClientGone from error

    async def finish(self, data: bytes = b"") -> None:
        if not self.gone.is_set():
            try:
                await self._send({"type": "http.response.body", "body": data, "more_body": False})
            except OSError as error:
                raise _ClientGone from error


class PushQueryResponse(Response):
    """Streams a running push query until its end, then closes it."""

    def __init__(self, core: ServerCore, query: PushQuery, framing: Framing, media_type: str) -> None:
        super().__init__(media_type=media_type)
        self.core = core
        self.query = query
        self.framing = framing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel = _Channel(receive, send)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(channel.watch)
                try:
                    await channel.start(self.media_type or JSON)
                    await self._stream(channel)
                except _ClientGone:
                    log.debug("client of %s went away", self.query.query_id)
                group.cancel_scope.cancel()
        finally:
            self.core.forget_push_query(self.query)
            if not self.query.done:
                await self.core.call(self.query.close)

    async def _stream(self, channel: _Channel) -> None:
        framing, query = self.framing, self.query
        await channel.write(framing.begin(query.header))
        if isinstance(query, PrintTopic):
            await channel.write("".join(f"{line}\n" for line in query.format_lines).encode("utf-8"))
        idle_since = time.monotonic()
        wait = 0.001
        while True:
            rows = query.poll(0)
            if rows is None:
                if query.error is not None:
                    await channel.write(framing.error(query.error.message))
                    await channel.finish()
                else:
                    await channel.finish(framing.end(query.final_message))
                return
            if rows:
                await channel.write(b"".join(framing.row(row) for row in rows))
                idle_since = time.monotonic()
                wait = 0.001
                continue
            with anyio.move_on_after(wait):
                await channel.gone.wait()
            if channel.gone.is_set():
                raise _ClientGone
            if self.core.state is not ServerState.READY and not query.done:
                await self.core.call(query.close)  # shutting down: end the stream cleanly
            wait = min(wait * 2, MAX_IDLE_WAIT_S)
            if framing.keepalive and time.monotonic() - idle_since >= KEEPALIVE_S:
                await channel.write(framing.keepalive)
                idle_since = time.monotonic()


def _pull_body(result: PullQueryResult, framing: Framing) -> bytes:
    if framing is QUERY_FRAMING:
        rows = b",\n".join(dumps({"row": {"columns": row}}) for row in result.rows)
        head = b"[" + dumps(result.header.query_header())
        return head + (b",\n" + rows if result.rows else b"") + b"]"
    return (
        framing.begin(result.header) + b"".join(framing.row(row) for row in result.rows) + framing.end(None)
    )


async def _start_query(
    request: Request,
    sql: str,
    properties: dict[str, Any],
    variables: dict[str, Any],
    framing: Framing,
    media: str,
) -> Response:
    core = core_of(request)
    if not sql.strip():
        raise BadRequest('"ksql" field must be populated' if framing is QUERY_FRAMING else "No SQL given")
    result = await core.call(core.engine.execute_query, sql, properties, variables)
    if isinstance(result, PullQueryResult):
        return Response(_pull_body(result, framing), media_type=media)
    if isinstance(result, PrintTopic):
        # PRINT answers text lines: on /query (with the old API's JSON Content-Type, as ksqlDB)
        # and on /query-stream in the delimited format only (406 otherwise, as ksqlDB).
        if framing is not QUERY_FRAMING and framing is not DELIMITED_FRAMING:
            await core.call(result.close)
            return Response(status_code=406)
        framing = PRINT_FRAMING
    core.register_push_query(result)
    return PushQueryResponse(core, result, framing, media)


# media type answered -> (framing, Content-Type); the None entry is the route's default.
_QUERY_FORMATS: dict[str | None, tuple[Framing, str]] = {
    None: (QUERY_FRAMING, JSON),
    KSQL_V1_JSON: (QUERY_FRAMING, JSON),
    JSON: (QUERY_FRAMING, JSON),
    DELIMITED: (DELIMITED_FRAMING, DELIMITED),
}
_QUERY_STREAM_FORMATS: dict[str | None, tuple[Framing, str]] = {
    None: (DELIMITED_FRAMING, DELIMITED),
    DELIMITED: (DELIMITED_FRAMING, DELIMITED),
    JSON: (JSON_ARRAY_FRAMING, JSON),
    KSQL_V1_JSON: (QUERY_FRAMING, KSQL_V1_JSON),
}


async def _query_endpoint(
    request: Request,
    produces: tuple[str, ...],
    formats: dict[str | None, tuple[Framing, str]],
    fields: tuple[str, str],
    required: tuple[str, ...],
) -> Response:
    try:
        framing, media = formats[negotiate(request, produces)]
        body = await read_object(request, required)
        sql = field_str(body, fields[0])
        properties = field_map(body, fields[1])
        variables = field_map(body, "sessionVariables")
        return await _start_query(request, sql, properties, variables, framing, media)
    except NotAcceptable:
        return Response(status_code=406)
    except KsqlError as error:
        return error_response(error)


async def query(request: Request) -> Response:
    """``POST /query``: the old API (body as ``/ksql``: ``ksql``, ``streamsProperties``, …).
    With ``Accept: application/vnd.ksqlapi.delimited.v1`` it answers like ``/query-stream``."""
    produces = (KSQL_V1_JSON, JSON, DELIMITED)
    return await _query_endpoint(request, produces, _QUERY_FORMATS, ("ksql", "streamsProperties"), ())


async def query_stream(request: Request) -> Response:
    """``POST /query-stream``: body ``{"sql", "properties", "sessionVariables"}``."""
    produces = (DELIMITED, JSON, KSQL_V1_JSON)
    return await _query_endpoint(request, produces, _QUERY_STREAM_FORMATS, ("sql", "properties"), ("sql",))


# -- /inserts-stream ----------------------------------------------------------------------------


def _ack(seq: int) -> dict[str, Any]:
    return {"status": "ok", "seq": seq}


def _insert_error(seq: int, code: int, message: str) -> dict[str, Any]:
    # ksqlDB's InsertError: a KsqlErrorMessage subclass without a registered type name, so
    # Jackson writes its simple class name as the type id.
    return {"@type": "InsertError", "error_code": code, "message": message, "status": "error", "seq": seq}


class _AckWriter:
    """Acks as delimited lines or as one JSON array."""

    def __init__(self, channel: _Channel, as_array: bool) -> None:
        self._channel = channel
        self._as_array = as_array
        self._written = False

    async def write(self, acks: Iterable[dict[str, Any]]) -> None:
        parts = []
        for ack in acks:
            if self._as_array:
                parts.append((b"," if self._written else b"[") + dumps(ack))
            else:
                parts.append(dumps(ack) + b"\n")
            self._written = True
        await self._channel.write(b"".join(parts))

    async def end(self) -> None:
        tail = (b"]" if self._written else b"[]") if self._as_array else b""
        await self._channel.finish(tail)


class InsertsStreamResponse(Response):
    """Reads rows from the request body as they arrive and acknowledges each one."""

    def __init__(self, core: ServerCore, media_type: str) -> None:
        super().__init__(media_type=media_type)
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lines = _LineReader(receive)
        try:
            first = await lines.next_line()
            target = self._target(first)
            await self.core.call(_check_target, self.core, target)
        except KsqlError as error:
            await error_response(error)(scope, receive, send)
            return
        except _ClientGone:
            return
        channel = _Channel(receive, send)
        acks = _AckWriter(channel, self.media_type == JSON)
        try:
            await channel.start(self.media_type or DELIMITED)
            seq = 0
            while True:
                batch = await lines.next_lines()
                if batch is None:
                    break
                outcome, seq = await anyio.to_thread.run_sync(self._insert, target, batch, seq)
                await acks.write(outcome)
                if outcome and outcome[-1]["status"] == "error":
                    break
            await acks.end()
        except _ClientGone:
            log.debug("an /inserts-stream client went away")

    @staticmethod
    def _target(line: bytes | None) -> str:
        if line is None:
            raise BadRequest("Invalid JSON in request: no arguments given")
        args = parse_object(line, required=("target",))
        return str(args["target"])

    def _insert(self, target: str, lines: list[bytes], seq: int) -> tuple[list[dict[str, Any]], int]:
        """Insert rows in order; stop at the first failure (its ack is an error)."""
        outcome: list[dict[str, Any]] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                if not isinstance(row, dict):
                    raise orjson.JSONDecodeError("not an object", line.decode("utf-8", "replace"), 0)
            except orjson.JSONDecodeError:
                outcome.append(_insert_error(seq, BAD_REQUEST, "Invalid JSON in inserts stream"))
                return outcome, seq + 1
            try:
                self.core.locked(self.core.engine.insert_row, target, row)
            except KsqlError as error:
                outcome.append(_insert_error(seq, error.error_code, error.message))
                return outcome, seq + 1
            except Exception:
                log.exception("inserting into %s failed", target)
                message = "Error in processing inserts. Check server logs for details."
                outcome.append(_insert_error(seq, SERVER_ERROR, message))
                return outcome, seq + 1
            outcome.append(_ack(seq))
            seq += 1
        return outcome, seq


def _check_target(core: ServerCore, target: str) -> None:
    """Refuse an unknown target before the stream starts, as ksqlDB does (400 / 40001)."""
    quoted = target if target.startswith("`") else target.upper()
    try:
        core.engine.execute(f"DESCRIBE {quoted};")
    except KsqlError as error:
        unknown = KsqlError(
            f"Cannot insert values into an unknown stream/table: {target}", error_code=BAD_STATEMENT
        )
        raise unknown from error


class _LineReader:
    """Newline-delimited records from a streamed request body."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._buffer = b""
        self._done = False

    async def _more(self) -> bool:
        if self._done:
            return False
        message: Message = await self._receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        self._buffer += message.get("body", b"")
        if not message.get("more_body", False):
            self._done = True
        return True

    async def next_line(self) -> bytes | None:
        """The next line (the last one may lack its newline); None at the end of the body."""
        while b"\n" not in self._buffer:
            if not await self._more():
                line, self._buffer = self._buffer, b""
                return line if line.strip() else None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    async def next_lines(self) -> list[bytes] | None:
        """Every complete line available now (waiting for at least one); None at the end."""
        while b"\n" not in self._buffer:
            if not await self._more():
                line, self._buffer = self._buffer, b""
                return [line] if line.strip() else None
        *lines, self._buffer = self._buffer.split(b"\n")
        return lines


async def inserts_stream(request: Request) -> Response:
    """``POST /inserts-stream`` over HTTP/2 or HTTP/1.1 (ksqlDB itself requires HTTP/2 here and
    answers HTTP/1.1 with 40004; we accept both)."""
    try:
        media = negotiate(request, (DELIMITED, JSON))
    except NotAcceptable:
        return Response(status_code=406)
    return InsertsStreamResponse(core_of(request), media or DELIMITED)
