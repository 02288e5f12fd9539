"""``replay run`` (``make run`` before Airflow): the steps of a run chained in one process.

The order and the steps are those of the DAG (:mod:`replay.pipeline.steps`); this module adds
starting the embedded stack, the default dump, and ``run-summary.json``. A run whose counts do
not reconcile is an error, never a quiet success.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from replay.dump.generator import DEFAULT_EVENTS, DEFAULT_SEED
from replay.errors import ConfigError, ReconciliationError, ReplayError, ThresholdError
from replay.pipeline import steps
from replay.pipeline.context import RunContext
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, KsqlSettings, MetricsSettings, StackSettings

log = logging.getLogger(__name__)

RUN_SUMMARY_FILE = "run-summary.json"
DEFAULT_TOPIC = "meetup_events"

T = TypeVar("T")


def new_pipeline_run_id() -> str:
    """A fresh run id for ``replay run``: UTC time plus a random suffix."""
    return f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class PipelineOptions:
    """One end-to-end run. ``dump=None`` uses (and if needed generates) the default dump."""

    dump: Path | None = None
    events: int = DEFAULT_EVENTS  # only used when the default dump has to be generated
    seed: int = DEFAULT_SEED
    topic: str = DEFAULT_TOPIC
    pacing: Pacing = field(default_factory=Pacing.unthrottled)
    run_id: str = field(default_factory=new_pipeline_run_id)
    policy: str = "quarantine"
    max_invalid_pct: float = 1.0
    dlq: bool = True
    reset_topic: bool = False
    embedded_stack: bool = True  # start the embedded stack; False: use REPLAY_KAFKA_* as given
    stop_stack: bool = False  # stop the services this run started, at the end
    progress: bool = True
    stack: StackSettings = field(default_factory=StackSettings)
    migrations: bool = True  # apply the KSQL migrations (ksql/) and wait for the queries to drain
    migrate_before_replay: bool = False  # apply them before the replay instead of after it
    migrations_dir: Path | None = None  # a migrations project (default ksql/)
    migrations_target: str | int = "latest"
    drain_timeout_s: float = 600.0
    metrics: bool = True  # the collector and latency probes around the replay, and the report
    thresholds: tuple[str, ...] | None = None  # the report's limits (None: the defaults)


@dataclass
class PipelineResult:
    """What ``replay run`` did, as written to ``run-summary.json``."""

    run_id: str
    out_dir: Path
    dump: Path
    topic: str
    validation: dict[str, Any]
    replay: dict[str, Any]
    reconciliation: dict[str, Any]
    stack: dict[str, Any]
    steps_s: dict[str, float]
    migrations: dict[str, Any] | None = None
    drain: dict[str, Any] | None = None
    report: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``run-summary.json`` document."""
        return {
            "schema": "replay.run.summary/3",
            "run_id": self.run_id,
            "dump": str(self.dump),
            "topic": self.topic,
            "out_dir": str(self.out_dir),
            "reconciliation": self.reconciliation,
            "steps_s": {k: round(v, 3) for k, v in self.steps_s.items()},
            "stack": self.stack,
            "validation": self.validation,
            "replay": {**self.replay, "summary": str(self.out_dir / "produce-summary.json")},
            "migrations": self.migrations,
            "drain": self.drain,
            "report": self.report,
        }


def _start_stack(options: PipelineOptions) -> tuple[RunContext, dict[str, Any], list[str]]:
    """Bring the embedded stack up; returns the run's context, the endpoints and who was started."""
    from replay.stack import manager

    if not options.embedded_stack:
        ctx = RunContext(run_id=options.run_id)
        return ctx, {"embedded": False, "bootstrap_servers": ctx.kafka.bootstrap_servers}, []
    before = {item.name for item in manager.status(options.stack) if item.running}
    statuses = manager.up(options.stack)
    started = [item.name for item in statuses if item.name not in before]
    endpoints = {item.name: item.endpoints for item in statuses}
    log.info("stack up (%s)", ", ".join(f"{s.name} pid {s.pid}" for s in statuses))
    ctx = RunContext(
        run_id=options.run_id,
        kafka=KafkaSettings(bootstrap_servers=options.stack.bootstrap_servers),
        ksql=KsqlSettings(url=options.stack.ksql_url),
    )
    return ctx, {"embedded": True, "services": endpoints, "started_by_run": started}, started


def run_pipeline(options: PipelineOptions) -> PipelineResult:
    """Stack up, dump, validate, replay, reconcile; writes ``run-summary.json`` in the run folder.

    Raises the step's own error when a step fails (validation over its threshold raises
    :class:`replay.errors.DumpValidationError`), and :class:`replay.errors.ReconciliationError`
    when the counts of the steps disagree.
    """
    timings: dict[str, float] = {}

    def timed(name: str, call: Callable[[], T]) -> T:
        begin = time.monotonic()
        try:
            return call()
        finally:
            timings[name] = time.monotonic() - begin

    started: list[str] = []
    try:
        ctx, stack_info, started = timed("stack", lambda: _start_stack(options))
        # The ksql server is needed for the migrations (an external one: REPLAY_KSQL_URL).
        if options.migrations and options.embedded_stack and not options.stack.with_ksql:
            raise ConfigError(
                "the migrations need the ksql server, but REPLAY_STACK_WITH_KSQL=false leaves it out",
                hint="unset REPLAY_STACK_WITH_KSQL, or pass --no-migrations",
            )
        with_ksql = options.migrations or (options.embedded_stack and options.stack.with_ksql)
        timed("check", lambda: steps.check_stack(ctx, with_ksql=with_ksql))
        dump = timed(
            "dump",
            lambda: steps.ensure_dump(
                options.dump, events=options.events, seed=options.seed, progress=options.progress
            ),
        )
        ctx.write_manifest(
            {
                "dump": str(dump),
                "topic": options.topic,
                "pacing": options.pacing.describe(),
                "policy": options.policy,
                "max_invalid_pct": options.max_invalid_pct,
                "dlq": options.dlq,
                "reset_topic": options.reset_topic,
            }
        )
        validation = timed(
            "validate",
            lambda: steps.validate(
                ctx,
                dump,
                policy=options.policy,
                max_invalid_pct=options.max_invalid_pct,
                progress=options.progress,
            ),
        )
        step = steps.ReplayStep(
            dump=dump,
            topic=options.topic,
            pacing=options.pacing,
            dlq=options.dlq,
            reset=options.reset_topic,
            metrics=options.metrics,
        )

        def migrate() -> dict[str, Any]:
            return steps.apply_migrations(ctx, options.migrations_target, options.migrations_dir)

        # The topic exists (reset once per run) before the migrations may declare a stream on it.
        timed(
            "topics",
            lambda: steps.prepare_topics(ctx, options.topic, dlq=options.dlq, reset=options.reset_topic),
        )
        migrations = None
        if options.migrations and options.migrate_before_replay:
            migrations = timed("migrate", migrate)
        metrics = (
            MetricsSettings(broker_url=options.stack.jmx_exporter_url) if options.embedded_stack else None
        )
        if options.metrics:
            # After the topic exists (the run's records start at its end), before the replay.
            timed("metrics_start", lambda: steps.start_metrics(ctx, topic=options.topic, settings=metrics))
        try:
            replayed = timed("replay", lambda: steps.replay(ctx, step, progress=options.progress))
            if options.migrations and not options.migrate_before_replay:
                migrations = timed("migrate", migrate)
            drained = (
                timed("drain", lambda: steps.wait_for_drain(ctx, options.drain_timeout_s))
                if options.migrations
                else None
            )
        finally:
            # The collector stops after the sinks drained.
            if options.metrics:
                timed("metrics_stop", lambda: steps.stop_metrics(ctx))
    finally:
        if options.stop_stack and started:
            from replay.stack import manager

            manager.down(options.stack)
            log.info("stopped what this run started: %s", ", ".join(started))

    result = PipelineResult(
        run_id=options.run_id,
        out_dir=ctx.run_dir,
        dump=dump,
        topic=options.topic,
        validation=validation,
        replay=replayed,
        reconciliation=steps.reconciliation(
            json.loads((ctx.run_dir / steps.VALIDATION_FILE).read_text(encoding="utf-8")),
            json.loads((ctx.run_dir / "produce-summary.json").read_text(encoding="utf-8")),
        ),
        stack=stack_info,
        steps_s=timings,
        migrations=migrations,
        drain=drained,
    )
    failures: list[ReplayError] = []
    try:
        steps.reconcile(ctx)
    except ReconciliationError as error:
        failures.append(error)  # the report shows the disagreement; raised below
    if options.metrics:
        try:
            result.report = timed("report", lambda: steps.build_report(ctx, thresholds=_limits(options)))
        except ThresholdError as error:  # the report is written; its limits failed
            result.report = {"status": "failed", "html": str(error.report_dir / "report.html")}
            failures.append(error)
    (ctx.run_dir / RUN_SUMMARY_FILE).write_text(
        json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    if failures:
        raise failures[0]
    return result


def _limits(options: PipelineOptions) -> list[str] | None:
    return list(options.thresholds) if options.thresholds is not None else None
