"""Statement execution behind :class:`ksqldb_lite.engine.ksql_engine.KsqlEngine`.

Every request runs twice: first every statement is validated against a *sandbox* (a copy of
the metastore, the session variables and properties, and a view of the topics that records
what would be created or deleted); only if all pass do they run for real, in order. Both runs
use the same handlers; ``ctx.live`` says whether effects happen (topics created, queries
started, commands logged).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ksqldb_lite.engine import entities as ent
from ksqldb_lite.engine.commandlog import Command, CommandLog
from ksqldb_lite.engine.ddl import (
    build_source,
    check_query_not_reading_itself,
    processing_log_source,
    sink_formats,
)
from ksqldb_lite.engine.properties import Properties
from ksqldb_lite.engine.pull import run_pull_query
from ksqldb_lite.errors import (
    KsqlError,
    KsqlStatementError,
    QueryEndpointError,
    UnsupportedFeatureError,
)
from ksqldb_lite.execution.driver import QuerySpec, TopicDescription, TopicDriver
from ksqldb_lite.execution.queries import PrintTopic, PullQueryResult, PushQuery, QueryHeader
from ksqldb_lite.execution.streams import SinkSpec, print_processor_factory, stream_processor_factory
from ksqldb_lite.execution.tables import aggregate_processor_factory
from ksqldb_lite.execution.values import insert_values_record
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.parser.statements import StatementText, parse_with_variables, split_statements
from ksqldb_lite.planning.aggregation import AggregateAnalyzer, AggregatePlan, is_aggregation
from ksqldb_lite.planning.planner import QueryAnalyzer, QueryPlan
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import DataSource, MetaStore
from ksqldb_lite.serde import formats as serde

log = logging.getLogger(__name__)

DROP_NAMES = {"STREAM": "Stream", "TABLE": "Table"}
# The ksqlDB release whose behaviour the engine follows (clients compare server versions).
KSQLDB_VERSION = "0.29.0"


@dataclass
class _Context:
    """Everything a statement may read or change; a sandbox copy or the live state."""

    metastore: MetaStore
    properties: Properties
    variables: dict[str, str]
    queries: dict[str, ent.QueryInfo]
    live: bool
    created_topics: dict[str, TopicDescription] = field(default_factory=dict)
    deleted_topics: set[str] = field(default_factory=set)
    replay_sequence: int | None = None
    deferred: list[QuerySpec] = field(default_factory=list)


class Executor:
    """See the module docstring; public methods mirror :class:`KsqlEngine`."""

    def __init__(self, driver: TopicDriver, properties: dict[str, Any], command_log: CommandLog) -> None:
        self.driver = driver
        self.server_properties = dict(properties)
        self.command_log = command_log
        self.metastore = MetaStore()
        self.queries: dict[str, ent.QueryInfo] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.last_sequence = -1
        self.service_id = str(properties.get("ksql.service.id", "default_"))
        self._push_queries: dict[str, PushQuery] = {}

    # ------------------------------------------------------------------------------------------
    # lifecycle

    def start(self) -> None:
        """Replay the command log, start the surviving queries, set up the processing log."""
        ctx = self._context(live=True, overrides={}, variables={})
        for sequence, command in self.command_log.read_all():
            ctx.properties = Properties(self.server_properties, dict(command.properties))
            ctx.replay_sequence = sequence
            for piece in split_statements(command.statement):
                statement = parse_with_variables(piece, {})
                self._dispatch(statement, ctx)
            self.last_sequence = sequence
        ctx.replay_sequence = None
        for spec in ctx.deferred:
            if spec.query_id in self.queries:
                self.driver.start_query(spec)
        self._setup_processing_log()

    def close(self) -> None:
        """Stop push queries and the driver."""
        for push in list(self._push_queries.values()):
            push.close()
        self.driver.close()

    def _setup_processing_log(self) -> None:
        props = Properties(self.server_properties, {})
        if not props.boolean("ksql.logging.processing.topic.auto.create"):
            return
        topic = self.processing_log_topic()
        assert topic is not None
        if self.driver.describe_topic(topic) is None:
            self.driver.create_topic(
                topic,
                props.integer("ksql.logging.processing.topic.partitions", 1),
                props.integer("ksql.logging.processing.topic.replication.factor", 1),
            )
        if props.boolean("ksql.logging.processing.stream.auto.create"):
            name = str(props.get("ksql.logging.processing.stream.name") or "KSQL_PROCESSING_LOG")
            if self.metastore.get(name) is None:
                self.metastore.sources[name] = processing_log_source(name, topic)

    def processing_log_topic(self) -> str | None:
        """The processing-log topic, when auto-creation is configured."""
        props = Properties(self.server_properties, {})
        if not props.boolean("ksql.logging.processing.topic.auto.create"):
            return None
        name = props.get("ksql.logging.processing.topic.name")
        return str(name) if name else f"{self.service_id}ksql_processing_log"

    # ------------------------------------------------------------------------------------------
    # requests

    def execute(
        self, ksql: str, overrides: dict[str, Any], variables: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Validate every statement in a sandbox, then run them; see KsqlEngine.execute."""
        pieces = split_statements(ksql)
        session_vars = {str(k): str(v) for k, v in variables.items()}
        sandbox = self._context(live=False, overrides=overrides, variables=dict(session_vars))
        for piece in pieces:
            statement = self._parse(piece, sandbox.variables)
            self._guarded(statement, sandbox, [])
        live = self._context(live=True, overrides=overrides, variables=dict(session_vars))
        results: list[dict[str, Any]] = []
        for piece in pieces:
            statement = self._parse(piece, live.variables)
            entity = self._guarded(statement, live, results)
            if entity is not None:
                results.append(entity)
        return results

    def _parse(self, piece: StatementText, variables: dict[str, str]) -> n.Statement:
        return parse_with_variables(piece, variables)

    def _guarded(
        self, statement: n.Statement, ctx: _Context, done: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        try:
            return self._dispatch(statement, ctx)
        except KsqlStatementError as error:
            raise error.with_statement(statement.text, done) from error
        except KsqlError as error:
            # e.g. the broker refused: ksqlDB answers a statement_error with the server's code
            raise KsqlStatementError(
                error.message, statement.text, error_code=error.error_code, entities=done
            ) from error
        except (ValueError, ArithmeticError, TypeError) as error:
            raise KsqlStatementError(str(error), statement.text, entities=done) from error

    def _context(self, live: bool, overrides: Mapping[str, Any], variables: dict[str, str]) -> _Context:
        if live:
            return _Context(
                self.metastore,
                Properties(self.server_properties, dict(overrides)),
                variables,
                self.queries,
                True,
            )
        return _Context(
            self.metastore.copy(),
            Properties(self.server_properties, dict(overrides)),
            variables,
            dict(self.queries),
            False,
        )

    def _dispatch(self, s: n.Statement, ctx: _Context) -> dict[str, Any] | None:
        if isinstance(s, n.CreateSource):
            return self._create_source(s, ctx)
        if isinstance(s, n.CreateAsSelect):
            return self._create_as_select(s, ctx)
        if isinstance(s, n.InsertInto):
            return self._insert_into(s, ctx)
        if isinstance(s, n.InsertValues):
            self._insert_values(s, ctx)
            return None
        if isinstance(s, n.DropSource):
            return self._drop(s, ctx)
        if isinstance(s, n.Terminate):
            return self._terminate(s, ctx)
        if isinstance(s, n.SetProperty):
            ctx.properties.set(s.name, s.value)
            return None
        if isinstance(s, n.UnsetProperty):
            ctx.properties.unset(s.name)
            return None
        if isinstance(s, n.DefineVariable):
            ctx.variables[s.name] = s.value
            return None
        if isinstance(s, n.UndefineVariable):
            ctx.variables.pop(s.name, None)
            return None
        if isinstance(s, n.ListStatement):
            return self._list(s, ctx)
        if isinstance(s, n.Describe):
            return self._describe(s, ctx)
        if isinstance(s, n.QueryStatement | n.PrintTopic):
            raise QueryEndpointError(s.text)
        if isinstance(s, n.DescribeFunction):
            raise UnsupportedFeatureError("DESCRIBE FUNCTION", s.text)
        if isinstance(s, n.Unsupported):
            raise UnsupportedFeatureError(s.feature, s.text)
        raise UnsupportedFeatureError(type(s).__name__, s.text)

    # ------------------------------------------------------------------------------------------
    # topics

    def _topic(self, ctx: _Context, name: str) -> TopicDescription | None:
        if name in ctx.deleted_topics:
            return None
        if name in ctx.created_topics:
            return ctx.created_topics[name]
        return self.driver.describe_topic(name)

    def _create_topic(
        self, ctx: _Context, name: str, partitions: int, replicas: int, config: dict[str, str]
    ) -> None:
        if ctx.live:
            self.driver.create_topic(name, partitions, replicas, config)
        else:
            ctx.deleted_topics.discard(name)
            ctx.created_topics[name] = TopicDescription(name, partitions, replicas, config)

    # ------------------------------------------------------------------------------------------
    # command log

    def _log(self, ctx: _Context, statement: n.Statement, command_id: str) -> int:
        """Append a state-changing statement to the command log (live), or predict its number."""
        if ctx.replay_sequence is not None:
            return ctx.replay_sequence
        if not ctx.live:
            return self.last_sequence + 1
        sequence = self.command_log.append(Command(statement.text, ctx.properties.overrides(), command_id))
        self.last_sequence = sequence
        return sequence

    def _status(self, command_id: str, message: str, query_id: str | None = None) -> None:
        self.statuses[command_id] = {"status": "SUCCESS", "message": message, "queryId": query_id}

    # ------------------------------------------------------------------------------------------
    # DDL

    def _create_source(self, s: n.CreateSource, ctx: _Context) -> dict[str, Any]:
        existing = ctx.metastore.get(s.name)
        kind_word = "stream" if s.kind == "STREAM" else "table"
        command_id = f"{kind_word}/{t.quote(s.name)}/create"
        if existing is not None and not s.or_replace:
            return self._already_exists(s, kind_word, s.if_not_exists)
        source, topic_plan = build_source(s, ctx.properties, lambda name: self._topic(ctx, name))
        if topic_plan is not None:
            self._create_topic(ctx, *topic_plan)
        sequence = self._log(ctx, s, command_id)
        ctx.metastore.sources[s.name] = source
        message = "Stream created" if s.kind == "STREAM" else "Table created"
        if ctx.live:
            self._status(command_id, message)
        return ent.current_status(s.text, command_id, message, sequence)

    @staticmethod
    def _already_exists(
        s: n.CreateSource | n.CreateAsSelect, kind_word: str, if_not_exists: bool
    ) -> dict[str, Any]:
        """IF NOT EXISTS: a warning entity; otherwise ksqlDB's error."""
        if if_not_exists:
            return ent.warning_entity(
                s.text, f"Cannot add {kind_word} {s.name}: A {kind_word} with the same name already exists."
            )
        raise KsqlStatementError(
            f"Cannot add {kind_word} '{s.name}': A {kind_word} with the same name already exists"
        )

    def _create_as_select(self, s: n.CreateAsSelect, ctx: _Context) -> dict[str, Any]:
        kind_word = "stream" if s.kind == "STREAM" else "table"
        command_id = f"{kind_word}/{t.quote(s.name)}/create"
        existing = ctx.metastore.get(s.name)
        if existing is not None:
            if s.or_replace and not s.if_not_exists:
                raise UnsupportedFeatureError("CREATE OR REPLACE … AS SELECT", s.text)
            return self._already_exists(s, kind_word, s.if_not_exists)
        plan = self._analyze_persistent(s.query, s.name, s.kind, ctx)
        schema = plan.schema()
        partition_null = isinstance(plan, QueryPlan) and plan.partition_by_null
        source_topic = self._topic(ctx, plan.source.topic)
        sink, topic_plan = sink_formats(
            s,
            schema,
            plan.source,
            partition_null,
            ctx.properties,
            source_topic,
            lambda name: self._topic(ctx, name),
        )
        if isinstance(plan, AggregatePlan) and plan.window is not None:
            sink = replace(
                sink, is_windowed=True, window_type=plan.window.kind, window_size_ms=plan.window.size_ms
            )
        if topic_plan is not None:
            self._create_topic(ctx, *topic_plan)
        sequence = self._log(ctx, s, command_id)
        query_id = f"{'CTAS' if s.kind == 'TABLE' else 'CSAS'}_{s.name.upper()}_{sequence}"
        ctx.metastore.sources[s.name] = sink
        return self._created_query(ctx, s, command_id, sequence, query_id, plan, sink)

    def _analyze_persistent(
        self, query: n.Query, sink_name: str, kind: str, ctx: _Context
    ) -> QueryPlan | AggregatePlan:
        """Plan the SELECT of a CREATE … AS SELECT; the result kind must match."""
        source = ctx.metastore.get(query.source.name)
        refuse_windowed_source(source)
        aggregated = is_aggregation(query)
        produces_table = aggregated or (source is not None and source.is_table)
        if kind == "STREAM" and produces_table:
            raise KsqlStatementError(
                "Invalid result type. Your SELECT query produces a TABLE. "
                "Please use CREATE TABLE AS SELECT statement instead."
            )
        if kind == "TABLE" and not produces_table and source is not None:
            raise KsqlStatementError(
                "Invalid result type. Your SELECT query produces a STREAM. "
                "Please use CREATE STREAM AS SELECT statement instead."
            )
        if aggregated:
            return AggregateAnalyzer(ctx.metastore, query, sink_name).analyze()
        table = source is not None and source.is_table
        if table and query.partition_by is not None:
            raise KsqlStatementError(
                "PARTITION BY is not supported for tables: use GROUP BY to change the key"
            )
        plan = QueryAnalyzer(ctx.metastore, query, sink_name, allow_tables=table).analyze()
        check_query_not_reading_itself(plan, sink_name)
        return plan

    def _insert_into(self, s: n.InsertInto, ctx: _Context) -> dict[str, Any]:
        target = ctx.metastore.get(s.target)
        if target is None:
            raise KsqlStatementError(f"{s.target} does not exist.")
        if target.is_table:
            raise KsqlStatementError(
                f"INSERT INTO can only be used to insert into a stream. {target.name} is a table."
            )
        if target.is_source:
            raise KsqlStatementError(f"Cannot insert into read-only stream: {target.name}")
        plan = QueryAnalyzer(ctx.metastore, s.query, s.target).analyze()
        result = plan.schema()
        if [(c.name, c.type, c.namespace) for c in result.columns] != [
            (c.name, c.type, c.namespace) for c in target.schema.columns
        ]:
            raise KsqlStatementError(
                "Incompatible schema between results and sink.\n"
                f"Result schema is {result}\nSink schema is {target.schema}"
            )
        if plan.source.name == target.name:
            raise KsqlStatementError(
                f"Cannot insert into {target.name}: the query reads from the same source."
            )
        command_id = f"stream/{t.quote(target.name)}/create"
        sequence = self._log(ctx, s, command_id)
        query_id = f"INSERTQUERY_{sequence}"
        return self._created_query(ctx, s, command_id, sequence, query_id, plan, target)

    def _created_query(
        self,
        ctx: _Context,
        s: n.Statement,
        command_id: str,
        sequence: int,
        query_id: str,
        plan: QueryPlan | AggregatePlan,
        sink: DataSource,
    ) -> dict[str, Any]:
        """Start a persistent query writing to ``sink``; its currentStatus entity."""
        info = ent.QueryInfo(query_id, s.text, sink.name, sink.topic, (plan.source.name,))
        self._start_persistent(ctx, info, plan, sink)
        message = f"Created query with ID {query_id}"
        if ctx.live:
            self._status(command_id, message, query_id)
        return ent.current_status(s.text, command_id, message, sequence, query_id)

    def _start_persistent(
        self, ctx: _Context, info: ent.QueryInfo, plan: QueryPlan | AggregatePlan, sink: DataSource
    ) -> None:
        ctx.queries[info.query_id] = info
        if not ctx.live:
            return
        sink_spec = SinkSpec(sink.key_format, sink.value_format, sink.schema.key, sink.schema.value)
        factory = (
            aggregate_processor_factory(plan, sink_spec)
            if isinstance(plan, AggregatePlan)
            else stream_processor_factory(plan, sink_spec)
        )
        spec = QuerySpec(
            query_id=info.query_id,
            consumer_group_id=f"_confluent-ksql-{self.service_id}query_{info.query_id}",
            source_topics=(plan.source.topic,),
            sink_topic=sink.topic,
            processor_factory=factory,
            processing_guarantee=ctx.properties.processing_guarantee(),
            auto_offset_reset=ctx.properties.offset_reset(),
            processing_log_topic=self.processing_log_topic(),
            client_properties=ctx.properties.client_properties(),
        )
        info.extra.update(spec=spec, plan=plan, sink=sink_spec)
        if ctx.replay_sequence is not None:
            ctx.deferred.append(spec)
        else:
            self.driver.start_query(spec)

    def _insert_values(self, s: n.InsertValues, ctx: _Context) -> None:
        target = ctx.metastore.get(s.target)
        if target is None:
            raise KsqlStatementError(self._unknown_insert_target(s, ctx))
        if target.is_source:
            raise KsqlStatementError(
                f"Cannot insert values into read-only {target.kind.lower()}: {target.name}"
            )
        record = insert_values_record(target, s)
        if ctx.live:
            self.driver.produce(target.topic, [record])

    def _unknown_insert_target(self, s: n.InsertValues, ctx: _Context) -> str:
        shown = t.quote(s.target)
        message = f"Cannot insert values into an unknown stream/table: {shown}"
        for name in ctx.metastore.sources:
            if name.upper() == s.target.upper() and name != s.target:
                if s.target_quoted:
                    return (
                        f"{message}\nDid you mean {name}? Hint: try removing double quotes from the source "
                        "name."
                    )
                return (
                    f'{message}\nDid you mean "{name}"? Hint: wrap the source name in double quotes to make '
                    "it "
                    "case-sensitive."
                )
        return message

    def _drop(self, s: n.DropSource, ctx: _Context) -> dict[str, Any]:
        kind_word = "stream" if s.kind == "STREAM" else "table"
        command_id = f"{kind_word}/{s.name}/drop"
        source = ctx.metastore.get(s.name)
        if source is None:
            if s.if_exists:
                sequence = self._log(ctx, s, command_id)
                return ent.current_status(s.text, command_id, f"Source `{s.name}` does not exist.", sequence)
            raise KsqlStatementError(f"{DROP_NAMES[s.kind]} {s.name} does not exist.")
        if source.kind != s.kind:
            raise KsqlStatementError(
                f"Incompatible data source type is {source.kind}, but statement was DROP {s.kind}"
            )
        readers = [q for q in ctx.queries.values() if s.name in q.sources and q.sink != s.name]
        writers = [q for q in ctx.queries.values() if q.sink == s.name]
        if readers or len(writers) > 1:
            raise KsqlStatementError(
                f"Cannot drop {s.name}.\n"
                f"The following queries read from this source: [{', '.join(q.query_id for q in readers)}].\n"
                f"The following queries write into this source: [{', '.join(q.query_id for q in writers)}].\n"
                "You need to terminate them before dropping {s.name}.".replace("{s.name}", s.name)
            )
        sequence = self._log(ctx, s, command_id)
        for query in writers:
            self._stop_query(ctx, query.query_id)
        del ctx.metastore.sources[s.name]
        if s.delete_topic:
            if ctx.live:
                self.driver.delete_topic(source.topic)
            else:
                ctx.deleted_topics.add(source.topic)
        message = f"Source `{s.name}` (topic: {source.topic}) was dropped."
        if ctx.live:
            self._status(command_id, message)
        return ent.current_status(s.text, command_id, message, sequence)

    def _terminate(self, s: n.Terminate, ctx: _Context) -> dict[str, Any]:
        if s.query_id is None:
            targets = list(ctx.queries)
            command_id = "terminate/ALL/execute"
        else:
            query_id = s.query_id.upper() if s.query_id.upper() in ctx.queries else s.query_id
            if query_id not in ctx.queries:
                if query_id in self._push_queries:
                    if ctx.live:
                        self._push_queries[query_id].close()
                    return ent.current_status(
                        s.text, f"terminate/{query_id}/execute", "Query terminated.", self.last_sequence
                    )
                raise KsqlStatementError(f"Unknown queryId: {s.query_id}")
            targets = [query_id]
            command_id = f"terminate/{query_id}/execute"
        sequence = self._log(ctx, s, command_id)
        for query_id in targets:
            self._stop_query(ctx, query_id)
        if ctx.live:
            self._status(command_id, "Query terminated.")
        return ent.current_status(s.text, command_id, "Query terminated.", sequence)

    def _stop_query(self, ctx: _Context, query_id: str) -> None:
        ctx.queries.pop(query_id, None)
        if ctx.live and ctx.replay_sequence is None:
            self.driver.stop_query(query_id)

    # ------------------------------------------------------------------------------------------
    # SHOW / DESCRIBE

    def _list(self, s: n.ListStatement, ctx: _Context) -> dict[str, Any]:
        sources = sorted(ctx.metastore.sources.values(), key=lambda src: src.name)
        if s.what in ("STREAMS", "TABLES"):
            kind = "STREAM" if s.what == "STREAMS" else "TABLE"
            if s.extended:
                return ent.describe_list(
                    s.text, [self._description(src, ctx, True) for src in sources if src.kind == kind]
                )
            return ent.sources_list(s.text, sources, kind)
        if s.what == "QUERIES":
            return ent.queries_list(s.text, list(ctx.queries.values()))
        if s.what == "TOPICS":
            if s.extended:
                raise UnsupportedFeatureError("SHOW TOPICS EXTENDED", s.text)
            return ent.topics_list(s.text, self.driver.list_topics(), s.all_topics)
        if s.what == "PROPERTIES":
            props = ctx.properties
            return ent.properties_list(s.text, props.effective(), props.overwritten(), props.defaulted())
        if s.what == "VARIABLES":
            return ent.variables_list(s.text, ctx.variables)
        raise UnsupportedFeatureError(f"SHOW {s.what}", s.text)

    def _description(self, source: DataSource, ctx: _Context, extended: bool) -> dict[str, Any]:
        readers = [q for q in ctx.queries.values() if source.name in q.sources]
        writers = [q for q in ctx.queries.values() if q.sink == source.name]
        statistics = ""
        errors = ""
        if extended:
            consumed = produced = failed = 0
            for query in writers + readers:
                counters = self.driver.query_counters(query.query_id)
                if counters is None:
                    continue
                if query in writers:
                    produced += counters.messages_produced
                if query in readers:
                    consumed += counters.messages_consumed
                    failed += counters.processing_errors
            statistics = f"messages-per-sec: 0 total-messages: {produced + consumed}"
            errors = f"failed-messages: {failed}"
        return ent.source_description(
            source, extended, readers, writers, self._topic(ctx, source.topic), statistics, errors
        )

    def _describe(self, s: n.Describe, ctx: _Context) -> dict[str, Any]:
        if s.name is None:
            sources = sorted(ctx.metastore.sources.values(), key=lambda src: src.name)
            return ent.describe_list(
                s.text, [self._description(src, ctx, s.extended) for src in sources if src.kind == "STREAM"]
            )
        source = ctx.metastore.get(s.name)
        if source is None:
            raise KsqlStatementError(f"Could not find STREAM/TABLE '{s.name}' in the Metastore")
        return ent.describe_entity(s.text, self._description(source, ctx, s.extended))

    # ------------------------------------------------------------------------------------------
    # push queries

    def execute_query(
        self, sql: str, overrides: dict[str, Any], variables: dict[str, Any]
    ) -> PushQuery | PullQueryResult:
        """Start a push query (see KsqlEngine.execute_query)."""
        pieces = split_statements(sql)
        if len(pieces) != 1:
            raise KsqlStatementError("Expected exactly one statement", sql)
        piece = pieces[0]
        statement = parse_with_variables(piece, {str(k): str(v) for k, v in variables.items()})
        if isinstance(statement, n.PrintTopic):
            return self._print_topic(statement, overrides)
        if not isinstance(statement, n.QueryStatement):
            raise KsqlStatementError(
                "The following statement types should be sent to the /ksql endpoint: "
                + type(statement).__name__,
                statement.text,
            )
        query = statement.query
        try:
            if query.emit != "CHANGES":
                props = Properties(self.server_properties, dict(overrides))
                return run_pull_query(statement, self.metastore, self.queries, self.driver, props)
            refuse_windowed_source(self.metastore.get(query.source.name))
            plan: QueryPlan | AggregatePlan
            if is_aggregation(query):
                plan = AggregateAnalyzer(self.metastore, query, None).analyze()
            else:
                plan = QueryAnalyzer(self.metastore, query, None).analyze()
        except KsqlStatementError as error:
            raise error.with_statement(statement.text) from error
        props = Properties(self.server_properties, dict(overrides))
        query_id = f"transient_{plan.source.name}_{random.randrange(10**18, 10**19)}"
        columns = plan.projection
        header = QueryHeader(query_id, tuple(c.name for c in columns), tuple(str(c.type) for c in columns))
        push = PushQuery(header, query.limit, lambda: self._stop_push(query_id))
        factory = (
            aggregate_processor_factory(plan, None, emit_row=push.offer)
            if isinstance(plan, AggregatePlan)
            else stream_processor_factory(plan, None, emit_row=push.offer)
        )
        spec = QuerySpec(
            query_id=query_id,
            consumer_group_id=f"_confluent-ksql-{self.service_id}transient_{query_id}",
            source_topics=(plan.source.topic,),
            sink_topic=None,
            processor_factory=factory,
            auto_offset_reset=props.offset_reset(),
            processing_log_topic=self.processing_log_topic(),
            transient=True,
            client_properties=props.client_properties(),
        )
        self._push_queries[query_id] = push
        self.driver.start_query(spec)
        return push

    def _print_topic(self, statement: n.PrintTopic, overrides: dict[str, Any]) -> PrintTopic:
        """PRINT 'topic' [FROM BEGINNING] [INTERVAL n] [LIMIT n]: records as text lines."""
        topic = statement.topic
        if self.driver.describe_topic(topic) is None:
            raise KsqlStatementError(
                f"Could not find topic '{topic}', or the KSQL user does not have permissions to list the topic. Topic names are case-sensitive.",
                statement.text,
            )
        query_id = f"print_{random.randrange(10**12, 10**13)}"
        header = QueryHeader(query_id, ("LINE",), ("STRING",))
        printer = PrintTopic(
            header,
            statement.limit,
            lambda: self._stop_push(query_id),
            format_lines=("Key format: KAFKA_STRING", "Value format: JSON or KAFKA_STRING"),
        )
        interval = max(statement.interval or 1, 1)
        factory = print_processor_factory(printer.offer, interval)
        spec = QuerySpec(
            query_id=query_id,
            consumer_group_id=f"_confluent-ksql-{self.service_id}print_{query_id}",
            source_topics=(topic,),
            sink_topic=None,
            processor_factory=factory,
            auto_offset_reset="earliest" if statement.from_beginning else "latest",
            transient=True,
        )
        self._push_queries[query_id] = printer
        self.driver.start_query(spec)
        return printer

    def _stop_push(self, query_id: str) -> None:
        self._push_queries.pop(query_id, None)
        self.driver.stop_query(query_id)

    # ------------------------------------------------------------------------------------------
    # other

    def insert_row(self, target: str, row: Mapping[str, Any]) -> None:
        """One row of /inserts-stream."""
        source = self.metastore.get(target) or self.metastore.get(target.upper())
        if source is None:
            raise KsqlStatementError(f"Cannot insert values into an unknown stream/table: {t.quote(target)}")
        from ksqldb_lite.execution.values import json_row_record

        self.driver.produce(source.topic, [json_row_record(source, row)])

    def command_status(self, command_id: str) -> dict[str, Any] | None:
        """Status of one command."""
        return self.statuses.get(command_id)

    def command_statuses(self) -> dict[str, str]:
        """All command statuses."""
        return {cid: status["status"] for cid, status in self.statuses.items()}

    def query_metrics(self) -> list[dict[str, Any]]:
        """Per persistent query: id, sinks, topics, state, counters."""
        out = []
        for query in self.queries.values():
            counters = self.driver.query_counters(query.query_id)
            out.append(
                {
                    "id": query.query_id,
                    "sinks": [query.sink],
                    "sinkKafkaTopics": [query.sink_topic],
                    "state": counters.state if counters else query.state,
                    "counters": counters,
                }
            )
        return out

    def server_info(self) -> dict[str, Any]:
        """KsqlServerInfo (kafkaClusterId is the REST layer's)."""
        return {"version": KSQLDB_VERSION, "ksqlServiceId": self.service_id, "serverStatus": "RUNNING"}


def refuse_windowed_source(source: DataSource | None) -> None:
    """A windowed table's records carry the window in their key; only pull queries read them
    here, anything else is refused rather than answered wrongly."""
    if source is not None and source.is_windowed:
        raise UnsupportedFeatureError("Push and persistent queries that read a windowed table")


__all__ = ["Executor", "refuse_windowed_source", "serde"]
