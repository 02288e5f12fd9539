"""A run with metrics and report on the session's real stack, as the DAG tasks chain the steps:
topics → migrations (the project's ksql/, V000001..V000006) → validate → start_metrics → replay →
wait_for_drain → stop_metrics → reconcile → build_report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay.pipeline import steps
from replay.pipeline.context import RunContext
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, KsqlSettings, MetricsSettings

SOURCE_TOPIC = "meetup_events"


@dataclass
class RunResult:
    """One run: its context and what each step returned."""

    ctx: RunContext
    migrations: dict[str, Any]
    metrics_started: dict[str, Any]
    replay: dict[str, Any]
    drain: dict[str, Any]
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
    steps.prepare_topics(ctx, SOURCE_TOPIC)
    migrations = steps.apply_migrations(ctx)  # a no-op once an earlier run applied them
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
            after_replay()  # e.g. a query created after the replay
        drain = steps.wait_for_drain(ctx, 180.0)
    finally:
        stopped = steps.stop_metrics(ctx)
    steps.reconcile(ctx)
    report = steps.build_report(ctx)
    return RunResult(ctx, migrations, started, replayed, drain, stopped, report)
