"""ksqlDB's request/response endpoints: ``/ksql``, ``/ksql/terminate``, ``/info``,
``/healthcheck``, ``/status``, ``/status/{type}/{entity}/{action}``, ``/close-query``, ``/``.

Shapes and codes follow ksqlDB 0.29 (``ServerVerticle``, ``OldApiUtils``, the resources in
``rest/server/resources`` and the entities in ``ksqldb-rest-model``); the streaming endpoints
are in :mod:`ksqldb_lite.rest.streaming`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ksqldb_lite.errors import NOT_FOUND, SERVER_ERROR, KsqlError
from ksqldb_lite.rest.core import ServerCore, ServerState
from ksqldb_lite.rest.http import (
    JSON,
    KSQL_V1_JSON,
    BadRequest,
    NotAcceptable,
    error_response,
    field_map,
    field_str,
    generic_error_response,
    json_response,
    negotiate,
    read_object,
)

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

OLD_API_TYPES = (KSQL_V1_JSON, JSON)
COMMAND_TYPES = frozenset({"topic", "stream", "table", "cluster", "pause", "resume", "terminate", "type"})
COMMAND_ACTIONS = frozenset({"create", "drop", "execute", "terminate", "alter"})
TERMINATE_CLUSTER_TEXT = "TERMINATE CLUSTER;"
TERMINATE_CLUSTER_ID = "cluster/TerminateCluster/terminate"


def core_of(request: Request) -> ServerCore:
    """The server core the app was built with."""
    core: ServerCore = request.app.state.core
    return core


def old_api(handler: Endpoint) -> Endpoint:
    """ksqlDB's request handling around an endpoint: Accept negotiation (406), engine errors as
    their REST entities, anything unexpected as ``500``/50000 (logged with its traceback)."""

    async def wrapped(request: Request) -> Response:
        try:
            negotiate(request, OLD_API_TYPES)
            return await handler(request)
        except NotAcceptable:
            return Response(status_code=406)
        except KsqlError as error:
            return error_response(error)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@old_api
async def ksql(request: Request) -> Response:
    """``POST /ksql``: run statements, answer the entity list (or the first error)."""
    core = core_of(request)
    body = await read_object(request)
    text = field_str(body, "ksql")
    properties = field_map(body, "streamsProperties")
    variables = field_map(body, "sessionVariables")
    field_map(body, "requestProperties")
    try:
        entities = await core.call(core.engine.execute, text, properties, variables)
    except KsqlError:
        raise
    except Exception as error:
        log.exception("unexpected failure running a /ksql request")
        return json_response(
            {
                "@type": "statement_error",
                "error_code": SERVER_ERROR,
                "message": str(error) or type(error).__name__,
                "statementText": text,
                "entities": [],
            },
            500,
        )
    return json_response(entities)


@old_api
async def terminate(request: Request) -> Response:
    """``POST /ksql/terminate``: terminate the cluster; the work goes on after the answer."""
    core = core_of(request)
    body = await read_object(request)
    patterns = body.get("deleteTopicList") or []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise BadRequest("Invalid JSON in request: deleteTopicList must be a list of strings")
    sequence = core.engine.command_sequence_number + 1
    core.state = ServerState.TERMINATING  # refuse other requests from now on
    entity = {
        "@type": "currentStatus",
        "statementText": TERMINATE_CLUSTER_TEXT,
        "commandId": TERMINATE_CLUSTER_ID,
        "commandStatus": {
            "status": "QUEUED",
            "message": "Statement written to command topic",
            "queryId": None,
        },
        "commandSequenceNumber": sequence,
        "warnings": [],
    }
    response = json_response([entity])
    response.background = BackgroundTask(_terminate, core, patterns)
    return response


async def _terminate(core: ServerCore, patterns: list[str]) -> None:
    try:
        await anyio.to_thread.run_sync(core.terminate_cluster, patterns)
    except Exception:
        log.exception("terminating the cluster failed")
        core.state = ServerState.TERMINATED


@old_api
async def info(request: Request) -> Response:
    """``GET /info``: ``{"KsqlServerInfo": {version, kafkaClusterId, ksqlServiceId, serverStatus}}``."""
    core = core_of(request)
    server = await core.call(core.engine.server_info)
    cluster_id = await anyio.to_thread.run_sync(core.cluster_id)
    body: dict[str, Any] = {
        "version": server.get("version"),
        "kafkaClusterId": cluster_id,
        "ksqlServiceId": server.get("ksqlServiceId", core.engine.service_id),
        "serverStatus": server.get("serverStatus", "RUNNING"),
    }
    return json_response({"KsqlServerInfo": body})


@old_api
async def healthcheck(request: Request) -> Response:
    """``GET /healthcheck``: ``{isHealthy, details: {metastore, kafka, commandRunner}, serverState}``."""
    core = core_of(request)
    return json_response(await anyio.to_thread.run_sync(core.health))


@old_api
async def all_statuses(request: Request) -> Response:
    """``GET /status``: ``{"commandStatuses": {command id: status}}``."""
    core = core_of(request)
    return json_response({"commandStatuses": await core.call(core.engine.command_statuses)})


@old_api
async def status(request: Request) -> Response:
    """``GET /status/{type}/{entity}/{action}``: ``{status, message, queryId}`` or 404/40400."""
    core = core_of(request)
    kind = request.path_params["type"].lower()
    action = request.path_params["action"].lower()
    if kind not in COMMAND_TYPES or action not in COMMAND_ACTIONS:
        # ksqlDB parses both into enums and fails with the enum's message.
        bad = kind if kind not in COMMAND_TYPES else action
        return generic_error_response(500, SERVER_ERROR, f"No enum constant {bad.upper()}")
    command_id = f"{kind}/{request.path_params['entity']}/{action}"
    found = await core.call(core.engine.command_status, command_id)
    if found is None:
        return generic_error_response(404, NOT_FOUND, "Command not found")
    return json_response(found)


async def close_query(request: Request) -> Response:
    """``POST /close-query``: end a push query by id; ``400``/40000 when there is none."""
    core = core_of(request)
    try:
        body = await read_object(request, required=("queryId",))
    except KsqlError as error:
        return error_response(error)
    query_id = str(body["queryId"])
    query = core.push_queries.pop(query_id, None)
    if query is None:
        return error_response(BadRequest(f"No query with id {query_id}"))
    await core.call(query.close)
    return Response(status_code=200)


async def root(request: Request) -> Response:
    """``GET /``: ksqlDB keeps the old API's redirect to ``/info``."""
    return RedirectResponse("/info", status_code=307)


async def liveness(request: Request) -> Response:
    """``GET /chc/live`` and ``/chc/ready``: an empty JSON object, before any state check."""
    return json_response({})
