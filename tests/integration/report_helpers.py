"""A run with metrics and report on the session's real stack, as the DAG tasks chain the steps.

Until the migrations land (ksql/), the tests create the CONTRACTS.md objects they need over
the REST API: the source stream, the Germany and Munich streams and the per-country table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay.bench.ksql_filter import STREAM
from replay.pipeline import steps
from replay.pipeline.context import RunContext
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, KsqlSettings, MetricsSettings
from tests.integration.ksql_helpers import ksql

SOURCE_TOPIC = "meetup_events"
OBJECTS = (
    "CREATE STREAM IF NOT EXISTS MEETUP_EVENTS_GERMANY AS SELECT * FROM MEETUP_EVENTS WHERE `group`->country = 'de';",
    "CREATE STREAM IF NOT EXISTS MEETUP_EVENTS_MUNICH AS SELECT * FROM MEETUP_EVENTS "
    "WHERE `group`->city IN ('München', 'Munich', 'Munchen');",
    "CREATE TABLE IF NOT EXISTS EVENTS_PER_COUNTRY AS SELECT `group`->country AS country, COUNT(*) AS events "
    "FROM MEETUP_EVENTS GROUP BY `group`->country;",
)


def create_objects(ksql_url: str) -> None:
    """The source stream and the sinks the cross-checks know, unless they exist."""
    listed = ksql(ksql_url, "SHOW STREAMS;")[0]["streams"]
    if not any(s["name"] == "MEETUP_EVENTS" for s in listed):
        stream = STREAM.format(name="MEETUP_EVENTS", topic=SOURCE_TOPIC, partitions=1)
        ksql(ksql_url, stream)
    for statement in OBJECTS:
        ksql(ksql_url, statement, {"ksql.streams.auto.offset.reset": "earliest"})


@dataclass
class RunResult:
    """One run: its context and what each step returned."""

    ctx: RunContext
    metrics_started: dict[str, Any]
    replay: dict[str, Any]
    metrics_stopped: dict[str, Any]
    report: dict[str, Any]


def run_with_report(
    run_id: str,
    dump: Path,
    *,
    rate: float,
    bootstrap: str,
    ksql_url: str,
    broker_metrics_url: str,
    limit: int | None = None,
    metrics: MetricsSettings | None = None,
    after_replay: Callable[[], None] | None = None,
) -> RunResult:
    """validate → start_metrics → replay → stop_metrics → reconcile → build_report."""
    ctx = RunContext(
        run_id=run_id, kafka=KafkaSettings(bootstrap_servers=bootstrap), ksql=KsqlSettings(url=ksql_url)
    )
    ctx.write_manifest({"dump": str(dump), "topic": SOURCE_TOPIC, "rate": rate})
    steps.validate(ctx, dump, progress=False)
    started = steps.start_metrics(
        ctx, topic=SOURCE_TOPIC, settings=metrics or MetricsSettings(broker_url=broker_metrics_url)
    )
    try:
        replayed = steps.replay(
            ctx,
            steps.ReplayStep(dump=dump, topic=SOURCE_TOPIC, pacing=Pacing.at_rate(rate), limit=limit),
            progress=False,
        )
        if after_replay is not None:
            after_replay()  # e.g. migrations applied after the replay
    finally:
        stopped = steps.stop_metrics(ctx)
    steps.reconcile(ctx)
    report = steps.build_report(ctx)
    return RunResult(ctx, started, replayed, stopped, report)
