"""``ksqldb-lite serve``: the server on Kafka, answering ksqlDB's REST API.

Start-up: read the configuration, wait for Kafka, make sure the command topic exists, open the
HTTP listener (requests get 503 / 50302 meanwhile) and replay the command topic — every stream,
table and persistent query comes back and resumes from its committed offsets. Then READY.

Shutdown (SIGTERM, SIGINT): new requests get 503 / 50303, push-query streams end, every
persistent query commits what it processed (an exactly-once query commits its transaction) and
closes. If the replay fails the server logs why and exits with status 1.

HTTP: Hypercorn (on uvloop) serves the Starlette app on one plain-text port in HTTP/1.1 and in
HTTP/2 (prior knowledge or an h2c upgrade), as ksqlDB serves its API; see
:func:`hypercorn_config` and docs/ksqldb-lite-server.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import anyio
import anyio.to_thread
import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.typing import ASGIFramework
from starlette.applications import Starlette

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import DriverError, KsqlError
from ksqldb_lite.kafka import KafkaClientSettings, KafkaCommandLog, KafkaTopicDriver, command_topic_name
from ksqldb_lite.kafka.admin import TopicAdmin
from ksqldb_lite.rest.app import create_app
from ksqldb_lite.rest.config import ConfigError, ServerConfig
from ksqldb_lite.rest.core import ServerCore, ServerState

log = logging.getLogger(__name__)

SHUTDOWN_COMPLETE = "shutdown complete"
STREAMS_END_S = 3.0
IDLE_TIMEOUT_KEY = "ksql.idle.connection.timeout.seconds"
IDLE_TIMEOUT_S = 24 * 3600


class KafkaClusterInfo:
    """The REST layer's view of the cluster (:class:`ksqldb_lite.rest.core.ClusterInfo`)."""

    def __init__(self, admin: TopicAdmin, command_topic: str) -> None:
        self.admin = admin
        self.command_topic = command_topic

    def cluster_id(self) -> str | None:
        """The Kafka cluster id."""
        return self.admin.cluster_id()

    def kafka_healthy(self) -> bool:
        """ksqlDB's check: the command topic can be described."""
        try:
            self.admin.describe(self.command_topic, with_config=False)
        except DriverError:
            return False
        return True

    def delete_topics(self, names: Sequence[str]) -> None:
        """Delete topics one by one (missing ones are ignored)."""
        for name in names:
            self.admin.delete(name)

    def topic_names(self) -> list[str]:
        """Every topic name."""
        return [topic.name for topic in self.admin.list()]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ksqldb-lite serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the ksqlDB-compatible server",
        description="Serve ksqlDB's REST API over Kafka. Settings come from a ksql-server.properties "
        "file (--config) and --set KEY=VALUE overrides; see docs/ksqldb-lite-server.md.",
    )
    parser.add_argument("-c", "--config", type=Path, help="a ksql-server.properties file")
    parser.add_argument("--listeners", help="http://HOST:PORT to listen on (default http://127.0.0.1:8088)")
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (default 127.0.0.1:9092)")
    parser.add_argument("--service-id", help="ksql.service.id (default default_)")
    parser.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any server property (repeatable)",
    )
    parser.add_argument(
        "--kafka-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="how long to wait for Kafka at start (60)",
    )
    parser.set_defaults(func=_serve)


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item}: expected KEY=VALUE")
        overrides[key.strip()] = value.strip()
    if args.listeners:
        overrides["listeners"] = args.listeners
    if args.bootstrap_servers:
        overrides["bootstrap.servers"] = args.bootstrap_servers
    if args.service_id:
        overrides["ksql.service.id"] = args.service_id
    return overrides


def _serve(args: argparse.Namespace) -> int:
    config = ServerConfig.load(args.config, _overrides(args))
    return run_server(config, kafka_timeout_s=args.kafka_timeout)


def wait_for_kafka(admin: TopicAdmin, bootstrap: str, timeout_s: float) -> None:
    """Wait until the cluster answers, or raise a DriverError that says what to do."""
    deadline = time.monotonic() + timeout_s
    while not admin.reachable(timeout_s=2.0):
        if time.monotonic() > deadline:
            raise DriverError(
                f"Kafka at {bootstrap} did not answer within {timeout_s:.0f} s; start the broker "
                "(replay stack up) or point bootstrap.servers at a running one"
            )
        time.sleep(0.5)


class _Stopper:
    """Asks the HTTP server to stop (SIGTERM, SIGINT, a failed recovery), telling the core first
    so that push-query streams end at once instead of holding the graceful shutdown."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.event = asyncio.Event()
        self.recovery_failed = False

    def stop(self) -> None:
        if self.core.state in (ServerState.READY, ServerState.INITIALIZING):
            self.core.state = ServerState.TERMINATING
        self.event.set()

    async def wait(self) -> None:
        """Hypercorn's shutdown trigger: returns when a stop was asked and the push-query
        streams have ended (they notice the state within 50 ms). Hypercorn's shutdown sends
        HTTP/2 clients a GOAWAY, which they take as the end of every open stream: the streams
        must be finished before it, so their clients see complete responses."""
        await self.event.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAMS_END_S
        while self.core.push_queries and loop.time() < deadline:
            await asyncio.sleep(0.02)


def hypercorn_config(config: ServerConfig) -> HypercornConfig:
    """One plain-text listener that speaks HTTP/1.1 and HTTP/2, as ksqlDB's Vert.x server does:
    a connection that opens with the HTTP/2 preface (prior knowledge, what ksqlDB's Java client
    and the Python clients send on ``http://`` URLs) is served as HTTP/2, an ``Upgrade: h2c``
    request is upgraded, anything else is HTTP/1.1."""
    hyper = HypercornConfig()
    hyper.bind = [f"{config.host}:{config.port}"]
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("ksqldb_lite.rest.http_server")
    hyper.graceful_timeout = 5.0
    # ksqlDB closes a connection without traffic either way after
    # ksql.idle.connection.timeout.seconds (one day); Hypercorn's default is 5 s.
    idle = config.properties.get(IDLE_TIMEOUT_KEY, str(IDLE_TIMEOUT_S))
    try:
        hyper.keep_alive_timeout = float(idle)
    except ValueError:
        raise ConfigError(f"{IDLE_TIMEOUT_KEY}={idle}: expected a number of seconds") from None
    return hyper


def run_server(config: ServerConfig, kafka_timeout_s: float = 60.0) -> int:
    """Run until stopped; 0 after a clean stop, 1 when recovery failed."""
    properties = config.properties
    settings = KafkaClientSettings.from_properties(properties, client_id=f"ksqldb-lite-{config.service_id}")
    driver = KafkaTopicDriver(settings, config.instance_id)
    wait_for_kafka(driver.admin, settings.bootstrap_servers, kafka_timeout_s)
    replicas = int(properties.get("ksql.internal.topic.replicas", "1"))
    command_log = KafkaCommandLog(settings, driver.admin, command_topic_name(config.service_id), replicas)
    command_log.ensure_topic()
    engine = KsqlEngine(driver, properties, command_log)
    managed = [command_log.topic]
    if config.processing_log_topic is not None:
        managed.append(config.processing_log_topic)
    core = ServerCore(engine, KafkaClusterInfo(driver.admin, command_log.topic), managed_topics=managed)
    stopper: _Stopper | None = None

    async def recover() -> None:
        assert stopper is not None
        try:
            await anyio.to_thread.run_sync(core.recover)
            # What start-up built (the parser, the recovered queries) lives as long as the
            # server: move it out of the collector's sight, so that a full collection never
            # walks it while a query is forwarding records (a pause of tens of milliseconds).
            gc.freeze()
        except Exception as error:
            reason = error.message if isinstance(error, KsqlError) else repr(error)
            log.error(
                "recovering from the command topic %s failed: %s", command_log.topic, reason, exc_info=True
            )
            stopper.recovery_failed = True
            stopper.stop()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(recover)
            yield
            group.cancel_scope.cancel()
        await anyio.to_thread.run_sync(core.close)
        command_log.close()
        log.info("%s: every query committed and closed", SHUTDOWN_COMPLETE)

    app = create_app(core, config.auth, lifespan=lifespan)

    async def main() -> None:
        nonlocal stopper
        stopper = _Stopper(core)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopper.stop)
        # Starlette's ASGI types and Hypercorn's describe the same protocol in different terms.
        framework = cast(ASGIFramework, app)
        await serve(framework, hypercorn_config(config), shutdown_trigger=stopper.wait)

    log.info(
        "ksqldb-lite serving %s:%d (HTTP/1.1 and HTTP/2) for service id %s on Kafka %s",
        config.host,
        config.port,
        config.service_id,
        settings.bootstrap_servers,
    )
    uvloop.run(main())
    assert stopper is not None
    return 1 if stopper.recovery_failed else 0
