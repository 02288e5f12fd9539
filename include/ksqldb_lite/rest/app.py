"""The ASGI application: ksqlDB's routes, in ksqlDB's order of checks.

Every request passes, as in ksqlDB's ``ServerVerticle``: basic authentication (when
configured), then the server-state check (503 while recovering or shutting down), then routing.
An unknown path gets Vert.x's default ``404`` (an HTML "Resource not found" page), a known path
with another method ``405`` without a body.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from ksqldb_lite.rest import endpoints, streaming
from ksqldb_lite.rest.auth import BasicAuth, BasicAuthMiddleware
from ksqldb_lite.rest.core import (
    NOT_READY_CODE,
    SHUT_DOWN_CODE,
    SHUTTING_DOWN_CODE,
    ServerCore,
    ServerState,
)
from ksqldb_lite.rest.http import generic_error_response
from ksqldb_lite.rest.metrics import metrics_registry, render

log = logging.getLogger(__name__)

NOT_FOUND_PAGE = b"<html><body><h1>Resource not found</h1></body></html>"
INTERNAL_ERROR_MESSAGE = (
    "The server encountered an internal error when processing the query. "
    "Please consult the server logs for more information."
)
# Paths answered whatever the server state (ksqlDB: the /chc probes; ours: /metrics).
STATELESS_PATHS = frozenset({"/chc/live", "/chc/ready", "/metrics"})


class ServerStateMiddleware:
    """Refuses requests unless the server is READY, with ksqlDB's 503 errors."""

    def __init__(self, app: ASGIApp, core: ServerCore) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.core.state
        if scope["type"] != "http" or state is ServerState.READY or scope["path"] in STATELESS_PATHS:
            await self.app(scope, receive, send)
            return
        if state is ServerState.INITIALIZING:
            response = generic_error_response(503, NOT_READY_CODE, self.core.not_ready_message)
        elif state is ServerState.TERMINATING:
            response = generic_error_response(503, SHUTTING_DOWN_CODE, "The server is shutting down")
        else:
            response = generic_error_response(503, SHUT_DOWN_CODE, "The server is shut down")
        await response(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return Response(NOT_FOUND_PAGE, 404, media_type="text/html; charset=utf-8")
    return Response(status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error answering %s %s", request.method, request.url.path, exc_info=exc)
    return generic_error_response(500, 50000, INTERNAL_ERROR_MESSAGE)


def create_app(
    core: ServerCore, auth: BasicAuth | None = None, lifespan: Lifespan[Starlette] | None = None
) -> Starlette:
    """The ASGI app over a server core. Recovery and shutdown are the caller's (``lifespan``;
    see :mod:`ksqldb_lite.rest.serve`)."""
    registry = metrics_registry(core)

    async def metrics(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(render, registry)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [
        Route("/", endpoints.root, methods=["GET"]),
        Route("/ksql", endpoints.ksql, methods=["POST"]),
        Route("/ksql/terminate", endpoints.terminate, methods=["POST"]),
        Route("/query", streaming.query, methods=["POST"]),
        Route("/query-stream", streaming.query_stream, methods=["POST"]),
        Route("/inserts-stream", streaming.inserts_stream, methods=["POST"]),
        Route("/close-query", endpoints.close_query, methods=["POST"]),
        Route("/info", endpoints.info, methods=["GET"]),
        Route("/healthcheck", endpoints.healthcheck, methods=["GET"]),
        Route("/status", endpoints.all_statuses, methods=["GET"]),
        Route("/status/{type}/{entity}/{action}", endpoints.status, methods=["GET"]),
        Route("/chc/live", endpoints.liveness, methods=["GET"]),
        Route("/chc/ready", endpoints.liveness, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    middleware = [Middleware(ServerStateMiddleware, core=core)]
    if auth is not None:
        middleware.insert(0, Middleware(BasicAuthMiddleware, auth=auth))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.core = core
    return app
