"""``GET /metrics``: Prometheus text format, read from the engine at scrape time.

Per persistent query (labels ``ksql_service_id``, ``query_id``):

* ``ksql_query_messages_consumed_total`` — records read from the source topics;
* ``ksql_query_messages_produced_total`` — records acknowledged by the sink topic;
* ``ksql_query_processing_errors_total`` — records skipped and logged to the processing log;
* ``ksql_query_consumer_lag`` — end offsets minus positions, summed over partitions (absent
  until known);
* ``ksql_query_state`` — 1 for the query's current state (label ``state``: RUNNING, ERROR).

Server-wide: ``ksql_server_state`` (label ``state``), ``ksql_persistent_queries``,
``ksql_push_queries_active``. ksqlDB exposes comparable figures over JMX only; these names are
this server's own (docs/ksqldb-lite-server.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ksqldb_lite.execution.driver import QueryCounters
from ksqldb_lite.rest.core import ServerCore, ServerState


class KsqlCollector(Collector):
    """Collects the figures above from a :class:`ServerCore` on every scrape."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def collect(self) -> Iterator[Metric]:
        """One metric family per figure."""
        core = self.core
        service = core.engine.service_id
        labels = ["ksql_service_id", "query_id"]
        consumed = CounterMetricFamily(
            "ksql_query_messages_consumed", "Records read by a persistent query.", labels=labels
        )
        produced = CounterMetricFamily(
            "ksql_query_messages_produced",
            "Records a persistent query wrote and had acknowledged.",
            labels=labels,
        )
        errors = CounterMetricFamily(
            "ksql_query_processing_errors",
            "Records a persistent query skipped (written to the processing log).",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "ksql_query_consumer_lag",
            "End offsets minus the query's positions, all partitions.",
            labels=labels,
        )
        state = GaugeMetricFamily(
            "ksql_query_state", "1 for the state a persistent query is in.", labels=[*labels, "state"]
        )
        queries = core.locked(core.engine.persistent_queries) if core.state is ServerState.READY else []
        for query in queries:
            query_id = str(query.get("id"))
            counters = query.get("counters")
            if not isinstance(counters, QueryCounters):
                continue
            values = [service, query_id]
            consumed.add_metric(values, counters.messages_consumed)
            produced.add_metric(values, counters.messages_produced)
            errors.add_metric(values, counters.processing_errors)
            if counters.consumer_lag is not None:
                lag.add_metric(values, counters.consumer_lag)
            state.add_metric([*values, str(query.get("state") or counters.state)], 1)
        yield from (consumed, produced, errors, lag, state)

        server = GaugeMetricFamily("ksql_server_state", "1 for the server's current state.", labels=["state"])
        server.add_metric([core.state.value], 1)
        yield server
        yield GaugeMetricFamily("ksql_persistent_queries", "Persistent queries running.", value=len(queries))
        yield GaugeMetricFamily(
            "ksql_push_queries_active", "Push queries streaming.", value=len(core.push_queries)
        )


def metrics_registry(core: ServerCore) -> CollectorRegistry:
    """A registry of its own (not the process-global one) holding the server's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KsqlCollector(core))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(registry)
