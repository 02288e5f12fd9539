"""The server behind the REST layer: the engine, its lock, the server state, open push queries.

The engine is not thread-safe, and most of its calls block (Kafka admin requests, producing):
every call runs on a worker thread under one lock (:meth:`ServerCore.call`), so the event loop
keeps serving streams while a statement runs.

The server state follows ksqlDB's ``ServerState``: INITIALIZING while the command log is
replayed (requests get 503 / 50302), READY, then TERMINATING / TERMINATED after
``/ksql/terminate`` or at shutdown (503 / 50303, 50304).
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar

import anyio.to_thread

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import KsqlError
from ksqldb_lite.execution.queries import PushQuery

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

NOT_READY_CODE = 50302
SHUTTING_DOWN_CODE = 50303
SHUT_DOWN_CODE = 50304
NOT_READY_MESSAGE = "KSQL is not yet ready to serve requests."
HEALTHCHECK_CACHE_S = 5.0


class ServerState(enum.Enum):
    """ksqlDB's server states."""

    INITIALIZING = "INITIALIZING"
    READY = "READY"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"


class ClusterInfo(Protocol):
    """What the REST layer asks of the Kafka cluster (``/info``, ``/healthcheck``, terminate)."""

    def cluster_id(self) -> str | None:
        """The Kafka cluster id, None when unreachable."""
        ...

    def kafka_healthy(self) -> bool:
        """True when the cluster answers (ksqlDB: the command topic can be described)."""
        ...

    def delete_topics(self, names: Sequence[str]) -> None:
        """Delete topics (missing ones are ignored)."""
        ...

    def topic_names(self) -> list[str]:
        """Every topic name."""
        ...


class ServerCore:
    """The engine plus everything the endpoints share; see the module docstring.

    ``managed_topics`` are the topics ``/ksql/terminate`` deletes besides the sinks it is asked
    to delete (ksqlDB: the command topic and the processing-log topic); ``internal_prefix`` is
    the prefix of the queries' internal topics (``_confluent-ksql-<service id>query_``, as
    their consumer groups and changelogs are named).
    """

    def __init__(
        self,
        engine: KsqlEngine,
        cluster: ClusterInfo,
        *,
        managed_topics: Sequence[str] = (),
        internal_prefix: str | None = None,
    ) -> None:
        self.engine = engine
        self.cluster = cluster
        self.managed_topics = list(managed_topics)
        self.internal_prefix = internal_prefix or f"_confluent-ksql-{engine.service_id}query_"
        self.state = ServerState.INITIALIZING
        self.not_ready_message = NOT_READY_MESSAGE
        self.push_queries: dict[str, PushQuery] = {}
        self._lock = threading.Lock()
        self._cluster_id: str | None = None
        self._health: tuple[float, dict[str, Any]] | None = None

    # -- engine access ---------------------------------------------------------------------
    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on a worker thread holding the engine lock."""
        return await anyio.to_thread.run_sync(functools.partial(self.locked, fn, *args, **kwargs))

    def locked(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on this thread holding the engine lock."""
        with self._lock:
            return fn(*args, **kwargs)

    # -- lifecycle -------------------------------------------------------------------------
    def recover(self) -> None:
        """Replay the command log (blocking), then become READY. On failure the server stays
        INITIALIZING and every request is told why; the error is re-raised for the caller."""
        began = time.monotonic()
        try:
            self.locked(self.engine.start)
        except Exception as error:
            reason = error.message if isinstance(error, KsqlError) else f"{type(error).__name__}: {error}"
            self.not_ready_message = f"{NOT_READY_MESSAGE} Recovering from the command topic failed: {reason}"
            raise
        self.state = ServerState.READY
        log.info("server ready: command log replayed in %.1f s", time.monotonic() - began)

    def register_push_query(self, query: PushQuery) -> None:
        """Remember a running push query (for ``/close-query`` and shutdown)."""
        self.push_queries[query.query_id] = query

    def forget_push_query(self, query: PushQuery) -> None:
        """Forget a push query that ended."""
        if self.push_queries.get(query.query_id) is query:
            del self.push_queries[query.query_id]

    def close_push_queries(self) -> None:
        """End every push query (their responses then finish)."""
        for query in list(self.push_queries.values()):
            self.locked(query.close)
        self.push_queries.clear()

    def begin_shutdown(self) -> None:
        """Refuse new requests and end the push-query streams (called when a stop is asked)."""
        if self.state in (ServerState.READY, ServerState.INITIALIZING):
            self.state = ServerState.TERMINATING
        self.close_push_queries()

    def close(self) -> None:
        """Stop every query (they commit and keep their offsets) and the clients."""
        self.begin_shutdown()
        self.locked(self.engine.close)
        self.state = ServerState.TERMINATED

    # -- cluster facts -----------------------------------------------------------------------
    def cluster_id(self) -> str | None:
        """The Kafka cluster id, read once (like ksqlDB, memoized)."""
        if self._cluster_id is None:
            self._cluster_id = self.cluster.cluster_id()
        return self._cluster_id

    def health(self) -> dict[str, Any]:
        """The ``/healthcheck`` body, computed at most every few seconds (ksqlDB caches it too)."""
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < HEALTHCHECK_CACHE_S:
            return self._health[1]
        try:
            self.locked(self.engine.execute, "list streams; list tables; list queries;")
            metastore = True
        except KsqlError as error:
            log.warning("health check: listing the metastore failed: %s", error.message)
            metastore = False
        kafka = self.cluster.kafka_healthy()
        runner = self.state is ServerState.READY
        body = {
            "isHealthy": metastore and kafka and runner,
            "details": {
                "metastore": {"isHealthy": metastore},
                "kafka": {"isHealthy": kafka},
                "commandRunner": {"isHealthy": runner},
            },
            "serverState": self.state.value,
        }
        self._health = (now, body)
        return body

    # -- /ksql/terminate ---------------------------------------------------------------------
    def terminate_cluster(self, delete_topic_patterns: Sequence[str]) -> None:
        """ksqlDB's cluster termination: stop every query, delete the sink topics whose names
        match a pattern, the queries' internal topics and the managed topics; then refuse
        every request (50304) until the process is restarted."""
        patterns = [re.compile(pattern) for pattern in delete_topic_patterns]
        self.state = ServerState.TERMINATING
        self.close_push_queries()
        sinks: set[str] = set()
        for query in self.locked(self.engine.persistent_queries):
            sinks.update(str(topic) for topic in query.get("sinkKafkaTopics", []))
        self.locked(self.engine.close)
        doomed = {topic for topic in sinks if any(p.fullmatch(topic) for p in patterns)}
        existing = self.cluster.topic_names()
        doomed.update(name for name in existing if name.startswith(self.internal_prefix))
        doomed.update(self.managed_topics)
        self.cluster.delete_topics(sorted(name for name in doomed if name in existing))
        self.state = ServerState.TERMINATED
        log.info("cluster terminated; deleted topics: %s", ", ".join(sorted(doomed)) or "(none)")
