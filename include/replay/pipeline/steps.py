"""The steps of a run, each one library call: ``replay run`` chains them, each DAG task calls one.

Every step takes the run's :class:`~replay.pipeline.context.RunContext`, writes its outputs
into the run folder and returns a small JSON-ready dict (small enough for an Airflow XCom).
Every step is safe to repeat: validation rewrites its outputs, the replay resumes exactly once
under the same run id (its checkpoint is in Kafka), the reconciliation only reads.

Order (``docs/pipeline.md``): check the stack → validate → replay → apply the migrations →
wait for the persistent queries to drain → build the report; the metric collector runs from
before the replay until after the drain.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from replay.dump.generator import DEFAULT_EVENTS, DEFAULT_SEED, default_dump_path, generate_dump
from replay.errors import ConfigError, ReconciliationError, ReplayError, StackError
from replay.pipeline.context import RunContext
from replay.produce import ProduceOptions, produce
from replay.produce.options import SUMMARY_FILE
from replay.produce.pacing import Pacing
from replay.settings import MetricsSettings, ProduceSettings, StackSettings

log = logging.getLogger(__name__)

VALIDATION_FILE = "validation.json"


# -- check the stack -------------------------------------------------------------------------------


def check_kafka(ctx: RunContext, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """Kafka answers a metadata request: its cluster id and broker count, else :class:`StackError`."""
    admin = AdminClient(ctx.kafka.client_config())
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as error:
        raise StackError(
            f"Kafka at {ctx.kafka.bootstrap_servers} did not answer within {timeout_s:.0f} s: "
            f"{error.args[0].str()}",
            hint="start the stack (`make up`) or fix the kafka_default connection / REPLAY_KAFKA_BOOTSTRAP_SERVERS",
        ) from error
    return {
        "bootstrap_servers": ctx.kafka.bootstrap_servers,
        "cluster_id": metadata.cluster_id,
        "brokers": len(metadata.brokers),
    }


def check_ksql(ctx: RunContext) -> dict[str, Any]:
    """The ksqlDB server answers ``GET /info`` as ksqlDB does: its version and service id."""
    url = ctx.ksql.url.rstrip("/") + "/info"
    auth = None
    if ctx.ksql.username is not None:
        password = ctx.ksql.password.get_secret_value() if ctx.ksql.password else ""
        auth = (ctx.ksql.username, password)
    hint = "start the stack (`make up`) or fix the ksqldb_default connection / REPLAY_KSQL_URL"
    try:
        response = requests.get(url, timeout=min(ctx.ksql.timeout_s, 10.0), auth=auth)
    except requests.RequestException as error:
        raise StackError(f"the ksqlDB server at {ctx.ksql.url} did not answer: {error}", hint=hint) from error
    if response.status_code in (401, 403):
        raise StackError(
            f"the ksqlDB server at {ctx.ksql.url} refused the credentials (HTTP {response.status_code})",
            hint="set the login of the ksqldb_default connection / REPLAY_KSQL_USERNAME and _PASSWORD",
        )
    try:
        info = response.json()["KsqlServerInfo"]
    except (ValueError, KeyError, TypeError) as error:
        raise StackError(
            f"{url} answered HTTP {response.status_code} but not as a ksqlDB server does", hint=hint
        ) from error
    if info.get("serverStatus") not in (None, "RUNNING"):
        raise StackError(
            f"the ksqlDB server at {ctx.ksql.url} is {info.get('serverStatus')}, not RUNNING",
            hint="wait until it has started (it replays its command topic first), then retry",
        )
    return {"url": ctx.ksql.url, "version": info.get("version"), "service_id": info.get("ksqlServiceId")}


def check_stack(ctx: RunContext, *, with_ksql: bool = True) -> dict[str, Any]:
    """Kafka (and the ksqlDB server) reachable, or one :class:`StackError` saying which is not."""
    result: dict[str, Any] = {"kafka": check_kafka(ctx)}
    if with_ksql:
        result["ksql"] = check_ksql(ctx)
    log.info("stack reachable: %s", json.dumps(result))
    return result


# -- the dump --------------------------------------------------------------------------------------


def ensure_dump(
    dump: Path | None, *, events: int = DEFAULT_EVENTS, seed: int = DEFAULT_SEED, progress: bool = True
) -> Path:
    """The dump to replay: ``dump`` as given (it must exist), else the default one, generated
    when missing."""
    if dump is not None:
        if not dump.exists():
            raise ConfigError(f"dump {dump} does not exist", hint="pass an existing file, or leave it out")
        return dump
    path = default_dump_path()
    if path.is_file():
        log.info("dump %s exists; using it (delete it to generate a fresh one)", path)
        return path
    log.info("no dump at %s: generating %d events (seed %d)", path, events, seed)
    generate_dump(path, events=events, seed=seed, progress=progress)
    return path


# -- validate --------------------------------------------------------------------------------------


def validate(
    ctx: RunContext,
    dump: Path,
    *,
    policy: str = "quarantine",
    max_invalid_pct: float = 1.0,
    progress: bool = True,
) -> dict[str, Any]:
    """great-expectations over the dump; ``validation.json``, quarantine and Data Docs in the run
    folder. Raises :class:`replay.errors.DumpValidationError` when the policy fails the dump."""
    # Validation pulls in pandas and great-expectations: import it only when a run needs it.
    from replay.validate import validate_dump

    if policy not in ("quarantine", "fail"):
        raise ConfigError(f"unknown validation policy {policy!r}", hint="use 'quarantine' or 'fail'")
    result = validate_dump(
        dump,
        ctx.run_dir,
        policy="fail" if policy == "fail" else "quarantine",
        max_invalid_pct=max_invalid_pct,
        progress=progress,
    )
    log.info("validation: %s", result.verdict_line())
    document = result.to_json()
    return {k: document[k] for k in ("read", "valid", "quarantined", "invalid_pct", "passed", "policy")}


# -- replay ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayStep:
    """What the replay step is asked to do (the DAG's params map onto it)."""

    dump: Path
    topic: str
    pacing: Pacing
    partitions: int | None = None  # None: REPLAY_PRODUCE_PARTITIONS (default 1)
    skip: int = 0
    limit: int | None = None
    dlq: bool = True
    reset: bool = False
    metrics: bool = True  # serve the replay's /metrics for the run's collector


TOPICS_FILE = "topics.json"


def _produce_settings(partitions: int | None) -> ProduceSettings:
    return ProduceSettings() if partitions is None else ProduceSettings(partitions=partitions)


def prepare_topics(
    ctx: RunContext, topic: str, *, partitions: int | None = None, dlq: bool = True, reset: bool = False
) -> dict[str, Any]:
    """Create the replay's topic (and ``<topic>.dlq``) as the replay would, before anything reads it.

    The migrations declare ``MEETUP_EVENTS`` over the topic without ``PARTITIONS`` (the replay
    owns its partitions and retention), so when they are applied before the replay the topic
    must exist first. ``reset`` deletes and recreates the topics ONCE per run: ``topics.json``
    in the run folder records that it happened, so a retried task never deletes what an
    earlier attempt of the same run already replayed (and its queries already read).
    """
    from replay.produce.topics import TopicAdmin, data_topic_spec

    marker = ctx.run_dir / TOPICS_FILE
    already_reset = marker.is_file() and json.loads(marker.read_text(encoding="utf-8")).get("reset", False)
    if reset and already_reset:
        log.info("topics of run %s were reset by an earlier attempt; not resetting again", ctx.run_id)
    do_reset = reset and not already_reset
    settings = _produce_settings(partitions)
    admin = AdminClient(ctx.kafka.client_config())
    topics = TopicAdmin(admin, bootstrap=ctx.kafka.bootstrap_servers)
    names = [topic, f"{topic}.dlq"] if dlq else [topic]
    states = {}
    for name in names:
        spec = data_topic_spec(
            name,
            settings.partitions if name == topic else 1,
            settings.replication_factor,
            settings.retention_ms,
        )
        states[name] = topics.ensure(spec, reset=do_reset).describe()
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    document = {"topics": states, "reset": reset and (do_reset or already_reset)}
    marker.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    for name, state in states.items():
        for warning in state["warnings"]:
            log.warning("topic %s: %s", name, warning)
    return {
        name: {"partitions": state["partitions"], "created": state["created"]}
        for name, state in states.items()
    }


def replay(ctx: RunContext, step: ReplayStep, *, progress: bool = True) -> dict[str, Any]:
    """The paced exactly-once replay of the validated dump; ``produce-summary.json`` in the run
    folder. Run it again with the same run id and it continues after the last commit.

    ``step.reset`` goes through :func:`prepare_topics`, so it happens once per run: a retried
    replay resumes from its checkpoint instead of starting over on an emptied topic.
    """
    from replay.validate import load_quarantine

    if step.reset:
        prepare_topics(ctx, step.topic, partitions=step.partitions, dlq=step.dlq, reset=True)
    settings = _produce_settings(step.partitions)
    summary = produce(
        ProduceOptions(
            path=step.dump,
            topic=step.topic,
            pacing=step.pacing,
            run_id=ctx.run_id,
            skip=step.skip,
            limit=step.limit,
            quarantine=load_quarantine(ctx.run_dir),
            validated=True,
            dlq=step.dlq,
            reset=False,
            progress="auto" if progress else "log",
            settings=settings,
            kafka=ctx.kafka,
            metrics_dir=ctx.run_dir / "metrics" if step.metrics else None,
        )
    )
    return {
        "status": summary["status"],
        "counts": summary["counts"],
        "rate": {k: summary["rate"][k] for k in ("target_per_s", "achieved_per_s")},
    }


# -- reconcile -------------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ReconciliationError(
            f"{what} is missing: {path}", hint="run the earlier steps of this run first"
        )
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def reconciliation(validation: dict[str, Any], replay_summary: dict[str, Any]) -> dict[str, Any]:
    """Records read = valid + quarantined, and every valid record in the replay's range committed.

    With ``--skip``/``--limit`` the replay covers a range of the dump: ``in_range`` counts the
    source records it looked at, and the records outside the range are neither sent nor lost.
    """
    counts = dict(replay_summary["counts"])
    totals = replay_summary.get("run_totals")
    if totals:
        # A resumed replay's counts cover its last attempt; run_totals add up every attempt.
        counts.update(committed=totals["records"], quarantined=totals["quarantined"], dlq=totals["dlq"])
        counts.update(invalid=totals["invalid"], blank=totals["blank"])
    read = validation["read"]
    in_range = counts["committed"] + counts["quarantined"] + counts["invalid"] + counts["blank"]
    options = replay_summary.get("options") or {}
    # Without --skip/--limit the replay was asked for the whole dump: fewer records is a loss.
    asked_all = bool(options) and not options.get("skip") and options.get("limit") is None
    full_range = in_range == read or asked_all
    return {
        "read": read,
        "valid": validation["valid"],
        "quarantined": validation["quarantined"],
        "sent": counts["committed"],
        "replay_in_range": in_range,
        "replay_quarantined": counts["quarantined"],
        "replay_skipped_other": counts["invalid"] + counts["blank"],
        "dlq": counts["dlq"],
        "full_range": full_range,
        "reconciled": (
            read == validation["valid"] + validation["quarantined"]
            and in_range <= read
            and (not full_range or validation["valid"] == counts["committed"])
        ),
    }


def reconcile(ctx: RunContext) -> dict[str, Any]:
    """Check the counts of validation and replay against each other; :class:`ReconciliationError`
    when they disagree (a bug, never bad input)."""
    result = reconciliation(
        _read_json(ctx.run_dir / VALIDATION_FILE, "the validation summary"),
        _read_json(ctx.run_dir / SUMMARY_FILE, "the replay summary"),
    )
    if not result["reconciled"]:
        raise ReconciliationError(
            f"run {ctx.run_id} does not reconcile: {result}",
            hint=f"compare validation.json and produce-summary.json in {ctx.run_dir}; this is a bug, please report it",
        )
    return result


# -- apply the KSQL migrations ---------------------------------------------------------------------

MIGRATIONS_FILE = "migrations.json"
DRAIN_FILE = "drain.json"


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def apply_migrations(
    ctx: RunContext, target: str | int = "latest", project_dir: Path | None = None
) -> dict[str, Any]:
    """Apply the KSQL migrations of ``project_dir`` (default ``ksql/``) to the run's ksqlDB
    server, up to ``target`` ("latest" or a version); ``migrations.json`` in the run folder.

    The server and credentials are the context's (the ``ksqldb_default`` connection in Airflow),
    not the properties file's. Safe to repeat: applied versions are skipped, a failed one is
    retried, and a retry of this run may take over a lock its killed attempt left.
    """
    from replay.migrate import ApplyResult, Target, apply, load_config
    from replay.migrate.config import CONFIG_FILE_NAME, DEFAULT_CONFIG_FILE

    config_file = project_dir / CONFIG_FILE_NAME if project_dir is not None else DEFAULT_CONFIG_FILE
    config = load_config(config_file, ksql=ctx.ksql)
    if target == "latest":
        chosen = Target("all")
    elif isinstance(target, int) and not isinstance(target, bool) and target > 0:
        chosen = Target("until", target)
    else:
        raise ConfigError(
            f"invalid migrations target {target!r}", hint="use 'latest' or a version number >= 1"
        )
    result = ApplyResult.begin(config.server_url, chosen)
    document: dict[str, Any] = {
        "schema": "replay.migrations/1",
        "run_id": ctx.run_id,
        "project": str(config_file),
    }
    try:
        apply(config, chosen, owner=f"run {ctx.run_id}", result=result)
    except ReplayError as error:
        _write_json(
            ctx.run_dir / MIGRATIONS_FILE, {**document, **result.to_json(), "error": error.one_line()}
        )
        raise
    _write_json(ctx.run_dir / MIGRATIONS_FILE, {**document, **result.to_json(), "error": None})
    applied = [v.version for v in result.versions if v.state == "MIGRATED"]
    log.info("migrations: applied %s; current version %s", applied or "none", result.current)
    return {
        "applied": applied,
        "current_version": result.current,
        "initialized_metadata": result.initialized_metadata,
        "seconds": round((result.finished_ms - result.started_ms) / 1000, 3),
        "server_version": result.server_version,
    }


# -- wait for the persistent queries to drain ------------------------------------------------------


def _replay_finished_ms(ctx: RunContext) -> int | None:
    """When the replay's last commit happened (``produce-summary.json``), if this run replayed."""
    from datetime import datetime

    path = ctx.run_dir / SUMMARY_FILE
    if not path.is_file():
        return None
    finished = json.loads(path.read_text(encoding="utf-8")).get("timing", {}).get("finished_at")
    if not finished:
        return None
    return int(datetime.fromisoformat(str(finished).replace("Z", "+00:00")).timestamp() * 1000)


def wait_for_drain(ctx: RunContext, timeout_s: float = 600.0, *, interval_s: float = 1.0) -> dict[str, Any]:
    """Wait until every persistent query on the server has consumed its sources to the end;
    ``drain.json`` (per query: topics, lag over time, when it drained, drain seconds after the
    replay's end). Raises :class:`replay.errors.DrainTimeoutError` naming the queries still
    behind after ``timeout_s`` (``drain.json`` is written first)."""
    from replay.migrate.client import KsqlClient
    from replay.pipeline import drain

    password = ctx.ksql.password.get_secret_value() if ctx.ksql.password is not None else None
    with KsqlClient(
        ctx.ksql.url, username=ctx.ksql.username, password=password, timeout_s=ctx.ksql.timeout_s
    ) as client:
        server = client.info()
        queries = drain.persistent_queries(client, server.service_id)
    started_ms = int(time.time() * 1000)
    reader = drain.LagReader(AdminClient(ctx.kafka.client_config()), ctx.kafka.client_config())
    try:
        drained = (
            drain.wait_drained(queries, reader, timeout_s=timeout_s, interval_s=interval_s)
            if queries
            else True
        )
    finally:
        reader.close()
    finished_ms = int(time.time() * 1000)
    replay_end = _replay_finished_ms(ctx)
    document = {
        "schema": "replay.drain/1",
        "run_id": ctx.run_id,
        "server": {"url": ctx.ksql.url, "version": server.version, "service_id": server.service_id},
        "started_at_ms": started_ms,
        "finished_at_ms": finished_ms,
        "replay_finished_at_ms": replay_end,
        "timeout_s": timeout_s,
        "drained": drained,
        "queries": [drain.query_json(q, replay_end, started_ms) for q in queries],
    }
    _write_json(ctx.run_dir / DRAIN_FILE, document)
    if not drained:
        raise drain.timeout_error(queries, timeout_s)
    slowest = max(queries, key=lambda q: q.drained_at_ms or 0, default=None)
    return {
        "drained": True,
        "queries": len(queries),
        "seconds": round((finished_ms - started_ms) / 1000, 3),
        "slowest": slowest.id if slowest is not None else None,
        "drain_s_after_replay": round(((slowest.drained_at_ms or finished_ms) - replay_end) / 1000, 3)
        if slowest is not None and replay_end
        else None,
    }


# -- metrics and the report (replay.metrics, replay.report) ----------------------------------------


def start_metrics(
    ctx: RunContext, *, topic: str | None = None, settings: MetricsSettings | None = None
) -> dict[str, Any]:
    """Start the run's metric collector and latency probes as a detached process (returns once
    it has noted where the run's records begin); a running one is left alone."""
    from replay.metrics.collector import CollectorConfig
    from replay.metrics.control import start_collector

    settings = settings or MetricsSettings()
    manifest = ctx.read_manifest() or {}
    topic = topic or manifest.get("params", {}).get("topic") or "meetup_events"
    created = manifest.get("created_at_ms")
    config = CollectorConfig(
        run_id=ctx.run_id,
        source_topic=topic,
        bootstrap_servers=ctx.kafka.bootstrap_servers,
        security_protocol=ctx.kafka.security_protocol,
        sasl_mechanism=ctx.kafka.sasl_mechanism,
        sasl_username=ctx.kafka.sasl_username,
        ksql_url=ctx.ksql.url,
        ksql_username=ctx.ksql.username,
        broker_url=settings.broker_url or StackSettings().jmx_exporter_url,
        prometheus_url=settings.prometheus_url,
        interval_s=settings.interval_s,
        deadline_epoch_s=time.time() + settings.max_run_s,
        nice=settings.nice,
        intended_sample_every=settings.intended_sample_every,
        # The run's records are the ones produced after it began (a retry keeps the start).
        window_start_ms=int(created) if created else int(time.time() * 1000),
    )
    secrets = {}
    if ctx.kafka.sasl_password is not None:
        secrets["REPLAY_KAFKA_SASL_PASSWORD"] = ctx.kafka.sasl_password.get_secret_value()
    if ctx.ksql.password is not None:
        secrets["REPLAY_KSQL_PASSWORD"] = ctx.ksql.password.get_secret_value()
    started = start_collector(
        ctx.run_dir / "metrics", config, secrets=secrets, timeout_s=settings.start_timeout_s
    )
    return {**started, "topic": topic, "mode": "prometheus" if settings.prometheus_url else "scrape"}


def stop_metrics(
    ctx: RunContext, *, timeout_s: float | None = None, queries_idle_s: float = 60.0
) -> dict[str, Any]:
    """Stop the collector: final scrape, probes read to the end, files flushed. Safe to repeat.

    First waits (at most ``queries_idle_s``) until no persistent query has consumer lag, so the
    sinks hold the run's records when the probes read their end (wait_for_drain, where it
    runs before, has done that already and this returns at once)."""
    from replay.metrics.catalog import wait_queries_caught_up
    from replay.metrics.control import stop_collector

    if queries_idle_s > 0:
        config = ctx.run_dir / "metrics" / "collector.json"
        topic = json.loads(config.read_text(encoding="utf-8"))["source_topic"] if config.is_file() else None
        wait_queries_caught_up(ctx.ksql, timeout_s=queries_idle_s, source_topic=topic)
    timeout = timeout_s if timeout_s is not None else MetricsSettings().stop_timeout_s
    result = stop_collector(ctx.run_dir / "metrics", timeout_s=timeout)
    keys = ("reason", "mode", "scrapes", "failed_scrapes", "snapshots", "topics", "was_running", "incomplete")
    return {k: result[k] for k in keys if k in result}


def build_report(ctx: RunContext, *, thresholds: list[str] | None = None) -> dict[str, Any]:
    """``report.json``, ``report.html`` and ``summary.md`` in ``ctx.report_dir``, and the index
    of all reports; raises :class:`replay.errors.ThresholdError` AFTER writing when a limit
    fails (default limits: cross-checks equal, reconciliation exact)."""
    from replay.report.build import build

    result: dict[str, Any] = build(ctx.run_dir, ctx.report_dir, thresholds=thresholds, pipeline=ctx.pipeline)
    return result
