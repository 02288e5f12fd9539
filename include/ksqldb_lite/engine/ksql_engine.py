"""The engine: KSQL statements in, ksqlDB REST entities out; queries run over a topic driver.

This is the API the REST layer calls. It does everything but HTTP:

* :meth:`KsqlEngine.execute` — the body of ``POST /ksql``: returns the JSON-ready entity list
  (``currentStatus``, ``streams``, ``tables``, ``queries``, ``sourceDescription``,
  ``kafka_topics``, ``properties``, …) or raises a :class:`~ksqldb_lite.errors.KsqlError`
  whose ``http_status`` and ``to_entity()`` are the error response.
* :meth:`KsqlEngine.execute_query` — the body of ``POST /query`` and ``/query-stream``:
  returns a :class:`~ksqldb_lite.execution.queries.PushQuery` (``EMIT CHANGES``) or, for pull queries,
  a :class:`~ksqldb_lite.execution.queries.PullQueryResult`.
* :meth:`KsqlEngine.insert_row` — one row of ``POST /inserts-stream``.
* :meth:`KsqlEngine.command_status`, :meth:`KsqlEngine.server_info`,
  :meth:`KsqlEngine.persistent_queries` — ``/status``, ``/info`` and ``/metrics``.

The engine is not thread-safe: the REST layer must serialize calls (one lock around each
call is enough; push-query rows are read from the handle without the lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ksqldb_lite.engine.commandlog import CommandLog, InMemoryCommandLog
from ksqldb_lite.engine.executor import Executor
from ksqldb_lite.execution.driver import QueryCounters, TopicDriver
from ksqldb_lite.execution.queries import PullQueryResult, PushQuery
from ksqldb_lite.schema.logical import MetaStore

DEFAULT_SERVICE_ID = "default_"


class KsqlEngine:
    """A ksqlDB-compatible engine over a topic driver.

    ``properties`` are the server's configuration (what ksqlDB reads from
    ``ksql-server.properties``), e.g. ``ksql.service.id`` (default ``default_``),
    ``ksql.output.topic.name.prefix``, ``ksql.persistence.default.format.key`` (``KAFKA``),
    ``ksql.persistence.default.format.value``, ``ksql.persistence.wrap.single.values``,
    ``ksql.streams.auto.offset.reset`` (``latest``), ``ksql.streams.processing.guarantee``
    (``at_least_once``), ``ksql.fail.on.deserialization.error`` (``false``),
    ``ksql.logging.processing.stream.auto.create`` / ``…topic.auto.create`` (``false``).

    ``command_log`` receives every successful state-changing statement; :meth:`start`
    replays it. Without one, an in-memory log is used (nothing survives a restart).
    """

    def __init__(
        self,
        driver: TopicDriver,
        properties: Mapping[str, Any] | None = None,
        command_log: CommandLog | None = None,
    ) -> None:
        self.driver = driver
        self.command_log: CommandLog = command_log if command_log is not None else InMemoryCommandLog()
        self._executor = Executor(driver, dict(properties or {}), self.command_log)

    @property
    def service_id(self) -> str:
        """``ksql.service.id`` (prefix of consumer groups, internal and processing-log topics)."""
        return self._executor.service_id

    @property
    def metastore(self) -> MetaStore:
        """The streams and tables (read-only use: DESCRIBE-like introspection, tests)."""
        return self._executor.metastore

    def start(self) -> None:
        """Replay the command log (rebuilding streams, tables and persistent queries, which
        resume from their committed offsets), then create the processing log if configured.
        Call once before anything else."""
        self._executor.start()

    def execute(
        self,
        ksql: str,
        streams_properties: Mapping[str, Any] | None = None,
        session_variables: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Run the statements of one ``POST /ksql`` request.

        Statements are separated by ``;``. Every statement is parsed and validated against a
        sandbox copy of the metastore first; if one fails, none runs and the error names it.
        Then they run in order. ``SET``/``UNSET``/``DEFINE``/``UNDEFINE`` apply to the
        following statements of the same request; ``${name}`` is replaced by the variable
        from ``session_variables`` or an earlier ``DEFINE``. SET, UNSET, DEFINE, UNDEFINE and
        INSERT VALUES add no entity.

        Raises :class:`~ksqldb_lite.errors.KsqlStatementError` (40001; 40002 for a SELECT or
        PRINT) carrying ``statement_text`` and the entities of statements already run.
        """
        return self._executor.execute(ksql, dict(streams_properties or {}), dict(session_variables or {}))

    def execute_query(
        self,
        sql: str,
        streams_properties: Mapping[str, Any] | None = None,
        session_variables: Mapping[str, Any] | None = None,
    ) -> PushQuery | PullQueryResult:
        """Start one ``SELECT`` (``POST /query``, ``/query-stream``).

        ``SELECT … FROM stream EMIT CHANGES [LIMIT n]`` returns a running
        :class:`PushQuery` (query id ``transient_<SOURCE>_<random>``), which starts at
        ``auto.offset.reset`` (default ``latest``; the request may set ``earliest``).
        Pull queries (no EMIT CHANGES) return a :class:`PullQueryResult`. Anything else
        raises :class:`~ksqldb_lite.errors.KsqlStatementError`.
        """
        return self._executor.execute_query(
            sql, dict(streams_properties or {}), dict(session_variables or {})
        )

    def insert_row(self, target: str, row: Mapping[str, Any]) -> None:
        """Insert one JSON row into stream ``target`` (``/inserts-stream``); column names are
        matched like ksqlDB (exact, then upper case). Raises KsqlStatementError when the
        target is unknown or a value does not fit its column."""
        self._executor.insert_row(target, row)

    def command_status(self, command_id: str) -> dict[str, Any] | None:
        """``{"status", "message", "queryId"}`` of a command (``/status/{type}/{entity}/{action}``)
        or None when unknown."""
        return self._executor.command_status(command_id)

    def command_statuses(self) -> dict[str, str]:
        """Every known command id → status (``GET /status``)."""
        return self._executor.command_statuses()

    @property
    def command_sequence_number(self) -> int:
        """Sequence number of the last command run (-1 when none)."""
        return self._executor.last_sequence

    def persistent_queries(self) -> list[dict[str, Any]]:
        """For ``/metrics``: one dict per persistent query with ``id``, ``sinks``,
        ``sinkKafkaTopics``, ``state`` and ``counters`` (a :class:`QueryCounters`)."""
        return self._executor.query_metrics()

    def query_counters(self, query_id: str) -> QueryCounters | None:
        """The driver's counters of one query."""
        return self.driver.query_counters(query_id)

    def server_info(self) -> dict[str, Any]:
        """The ``KsqlServerInfo`` object of ``GET /info`` (without ``kafkaClusterId``, which
        the REST layer fills from the broker)."""
        return self._executor.server_info()

    def close(self) -> None:
        """Stop every query (their consumer groups keep their offsets) and the driver."""
        self._executor.close()
