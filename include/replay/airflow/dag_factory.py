"""The replay DAGs: one factory, two DAG files (manual and scheduled).

Each task is a few lines around one step of :mod:`replay.pipeline.steps` — the calls
``replay run`` makes — with a :class:`~replay.pipeline.context.RunContext` whose run id is the
DAG run's id and whose pipeline is the DAG id. That makes a retry safe by construction: the
replay resumes after its last committed transaction under the same run id, and every other step
rewrites its outputs in the same run folder.

A :class:`~replay.errors.ReplayError` ends the task with its one-line message and hint (no
traceback); a :class:`~replay.errors.ConfigError` or a failed validation is not retried, as
retrying cannot fix the input.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from replay.airflow.params import RunParams, param_specs, parse_params
from replay.airflow.settings import DagSettings
from replay.errors import ConfigError, DumpValidationError, ReplayError, ThresholdError
from replay.pipeline.context import RunContext

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Errors a retry cannot fix: the task fails at once instead of retrying.
FINAL_ERRORS: tuple[type[ReplayError], ...] = (ConfigError, DumpValidationError, ThresholdError)

DAG_DOC = """
### Meetup replay

Validates a dump of Meetup events, replays it into Kafka exactly once at the chosen pace and
checks that every record read was committed or quarantined. Each task calls one step of
`replay.pipeline.steps`; the run folder is `var/runs/<run id>/`, the report
`<report root>/<dag id>/<run id>/` (the **Replay reports** page lists them).

A retry is safe: the replay resumes after its last committed transaction under this run's id.
"""


def task_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a library error into one clear line (and no retry when a retry cannot help)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        try:
            return func(*args, **kwargs)
        except FINAL_ERRORS as error:
            log.error("%s", error.one_line())
            raise AirflowFailException(error.one_line()) from None
        except ReplayError as error:
            log.error("%s", error.one_line())
            raise AirflowException(error.one_line()) from None

    return wrapper


def run_context(settings: DagSettings | None = None) -> tuple[RunContext, RunParams]:
    """The running task's RunContext (ids from its DAG run, clients from the connections) and params."""
    from airflow.sdk import get_current_context

    from replay.airflow.connections import kafka_settings, ksql_settings

    settings = settings or DagSettings()
    context = get_current_context()
    params = parse_params(context["params"], settings.dump_roots)
    dag_run = context["dag_run"]
    ctx = RunContext(
        run_id=dag_run.run_id,
        pipeline=dag_run.dag_id,
        kafka=kafka_settings(settings.kafka_conn_id),
        ksql=ksql_settings(settings.ksql_conn_id),
        report_root=params.report_root or settings.report_root,
    )
    return ctx, params


# -- the tasks (each one step) ---------------------------------------------------------------------


@task_errors
def check_stack_task() -> dict[str, Any]:
    """Kafka and the ksql server reachable, with the connection that failed named."""
    from replay.airflow.connections import describe_kafka, describe_ksql
    from replay.pipeline import steps

    ctx, _ = run_context()
    log.info("kafka: %s; ksqlDB: %s", describe_kafka(ctx.kafka), describe_ksql(ctx.ksql))
    return steps.check_stack(ctx, with_ksql=True)


@task_errors
def validate_task() -> dict[str, Any]:
    """The dump (the default one generated when missing), run.json, then great-expectations."""
    from replay.pipeline import steps

    ctx, params = run_context()
    dump = steps.ensure_dump(params.dump, progress=True)
    ctx.write_manifest(params.manifest(dump))
    result = steps.validate(
        ctx, dump, policy=params.validation_policy, max_invalid_pct=params.max_invalid_pct, progress=True
    )
    return {**result, "dump": str(dump)}


@task_errors
def replay_task() -> dict[str, Any]:
    """The exactly-once replay of the dump the validation recorded in run.json; a retry
    continues after the last commit of this run id."""
    from replay.pipeline import steps

    ctx, params = run_context()
    return steps.replay(ctx, params.replay_step(recorded_dump(ctx)), progress=True)


def recorded_dump(ctx: RunContext) -> Path:
    """The dump this run validated (``run.json``), so every task replays the same file."""
    manifest = ctx.read_manifest()
    if manifest is None:
        raise ConfigError(
            f"run {ctx.run_id} has no run.json in {ctx.run_dir}",
            hint="run the validate task of this run first",
        )
    return Path(manifest["params"]["dump"])


@task_errors
def prepare_topics_task() -> dict[str, Any]:
    """Create the replay's topic (and its DLQ) before the migrations may declare a stream on it;
    ``reset_topics`` deletes and recreates them once per run, never again in a retry."""
    from replay.pipeline import steps

    ctx, params = run_context()
    return steps.prepare_topics(
        ctx, params.topic, partitions=params.partitions, dlq=params.dlq, reset=params.reset_topics
    )


@task_errors
def migrate_before_replay_task() -> dict[str, Any]:
    """With ``apply_migrations_before_replay``: create the KSQL objects before the replay, so the
    run measures live KSQL latency. Skipped otherwise (the migrations then follow the replay)."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    from replay.pipeline import steps

    # Decided on the param alone, before reading connections: a skip should cost nothing.
    if not get_current_context()["params"]["apply_migrations_before_replay"]:
        raise AirflowSkipException("apply_migrations_before_replay is off: the migrations follow the replay")
    ctx, params = run_context()
    return steps.apply_migrations(ctx, params.migrations_target, DagSettings().migrations_dir)


@task_errors
def apply_migrations_task() -> dict[str, Any]:
    """The KSQL migrations up to the target; a retry resumes, versions already applied (also
    those applied before the replay) are skipped."""
    from replay.pipeline import steps

    ctx, params = run_context()
    return steps.apply_migrations(ctx, params.migrations_target, DagSettings().migrations_dir)


@task_errors
def wait_for_drain_task() -> dict[str, Any]:
    """Wait until every persistent query has consumed the replayed records (lag 0), with a timeout."""
    from replay.pipeline import steps

    ctx, params = run_context()
    return steps.wait_for_drain(ctx, params.drain_timeout_s)


@task_errors
def start_metrics_task() -> dict[str, Any]:
    """Setup: the run's metric collector and latency probes, a detached process that outlives
    this task (a retry finds it running and leaves it alone)."""
    from replay.pipeline import steps

    ctx, params = run_context()
    return steps.start_metrics(ctx, topic=params.topic)


@task_errors
def stop_metrics_task() -> dict[str, Any]:
    """Teardown: final scrape, probes read to the end, files flushed; runs even when a task
    between the setup and here failed. Safe to repeat."""
    from replay.pipeline import steps

    ctx, _ = run_context()
    return steps.stop_metrics(ctx)


@task_errors
def reconcile_task() -> dict[str, Any]:
    """Records read = committed + quarantined, from the run folder's summaries."""
    from replay.pipeline import steps

    ctx, _ = run_context()
    return steps.reconcile(ctx)


@task_errors
def build_report_task() -> dict[str, Any]:
    """report.json, report.html and summary.md (rebuilt by a retry), the asset event with the
    run's key figures. Runs after a failed reconciliation too: the report shows the disagreement."""
    from airflow.sdk.exceptions import AirflowSkipException

    from replay.airflow.figures import run_figures
    from replay.pipeline import steps
    from replay.produce.options import SUMMARY_FILE
    from replay.report.thresholds import DEFAULT_LIMITS

    ctx, params = run_context()
    if not (ctx.run_dir / SUMMARY_FILE).is_file():
        raise AirflowSkipException("no report: the run stopped before the replay")
    try:
        result = steps.build_report(ctx, thresholds=[*DEFAULT_LIMITS, *params.thresholds])
    except ThresholdError:
        _emit_outlet(ctx)  # the report is written; its limits failed
        raise
    _emit_outlet(ctx)
    log.info("run figures: %s", run_figures(ctx.run_dir, ctx.report_dir).note_line())
    return result


def _emit_outlet(ctx: RunContext) -> None:
    """Put the run's key figures on the outlet asset's event."""
    from airflow.sdk import get_current_context

    from replay.airflow.figures import run_figures

    context = get_current_context()
    asset = run_asset(ctx.pipeline)
    context["outlet_events"][asset].extra = run_figures(ctx.run_dir, ctx.report_dir).asset_extra()


def run_asset(dag_id: str) -> Any:
    """The asset a run of ``dag_id`` updates when it finishes (its run folder and report)."""
    from airflow.sdk import Asset

    return Asset(name=f"replay-run.{dag_id}", uri=f"replay-run://{dag_id}", group="meetup-replay")


# -- the DAG ---------------------------------------------------------------------------------------


def build_replay_dag(dag_id: str, *, schedule: str | None, description: str, tags: list[str]) -> Any:
    """A replay DAG: ``schedule=None`` for the manual one, a cron/preset for the scheduled one.

    New DAGs are paused at creation; the scheduled one runs one run at a time, without catchup.
    """
    from airflow.sdk import DAG, Param, task

    settings = DagSettings()
    default_args = {
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_s),
    }
    params = {
        name: Param(**spec) for name, spec in param_specs(settings.dump_roots, settings.report_root).items()
    }
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=True,
        params=params,
        default_args=default_args,
        tags=tags,
        doc_md=DAG_DOC,
        render_template_as_native_obj=False,
    ) as dag:
        check = task(task_id="check_stack")(check_stack_task)()
        validated = task(task_id="validate")(validate_task)()
        topics = task(task_id="prepare_topics")(prepare_topics_task)()
        early = task(task_id="migrate_before_replay")(migrate_before_replay_task)()
        # Runs after a skipped migrate_before_replay too, never after a failed one.
        replayed = task(task_id="replay", trigger_rule="none_failed")(replay_task)()
        migrated = task(task_id="apply_migrations")(apply_migrations_task)()
        drained = task(task_id="wait_for_drain")(wait_for_drain_task)()
        # The collector covers the replay and the drain, and stops even when one of them fails.
        metrics = task(task_id="start_metrics")(start_metrics_task)().as_setup()
        # as_setup() returns the task's XComArg, which as_teardown accepts (its stub says operators only).
        stopped = task(task_id="stop_metrics")(stop_metrics_task)().as_teardown(setups=cast(Any, metrics))
        reconciled = task(task_id="reconcile")(reconcile_task)()
        report = task(task_id="build_report", trigger_rule="all_done", outlets=[run_asset(dag_id)])(
            build_report_task
        )()
        # Validation (the longest step before the replay, and it needs no stack) starts at once,
        # beside the stack check, the topics, the collector's start and the early migrations.
        # A setup task must be followed by all_success tasks: migrate_before_replay, not the replay.
        check >> topics >> metrics >> early
        [validated, early] >> replayed >> migrated >> drained >> stopped
        # The counts reconcile from the summaries alone: beside the migrations and the drain.
        replayed >> reconciled
        [reconciled, drained, stopped] >> report
    return dag
