"""``replay run`` (what ``make run`` calls): the whole job on the embedded stack."""

from __future__ import annotations

import argparse
from pathlib import Path

from replay.dump.generator import DEFAULT_EVENTS, DEFAULT_SEED, default_dump_path
from replay.pipeline.run import DEFAULT_TOPIC, PipelineOptions, new_pipeline_run_id, run_pipeline
from replay.produce.cli import pacing_from_args
from replay.produce.options import check_run_id


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay run``."""
    parser = subparsers.add_parser(
        "run",
        help="the whole job: start the stack, generate/validate the dump, replay it, apply the KSQL migrations, drain, reconcile",
        description="Start the embedded stack (Kafka broker and ksql server; no-op when running), "
        f"generate the default dump when it is missing ({default_dump_path()}), validate it with "
        "great-expectations, replay the valid records into the topic exactly once (quarantined ones "
        "to <topic>.dlq), apply the KSQL migrations (ksql/) and wait until every persistent query has caught up, "
        "and check that every record read was committed or quarantined. Outputs "
        "go to var/runs/<run id>/. The stack keeps running afterwards (make down stops it).",
    )
    parser.add_argument("--dump", type=Path, default=None, help="the dump to replay (default: generated)")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="size of a generated default dump")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of a generated default dump")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help=f"target topic (default {DEFAULT_TOPIC})")
    parser.add_argument("--run-id", default=None, help="run id (default: run-<UTC time>-<random>)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, metavar="N", help="N events per second")
    pace.add_argument("--speedup", type=float, metavar="K", help="original mtime spacing divided by K")
    parser.add_argument("--max-gap", type=float, metavar="SECONDS", help="with --speedup: cap idle stretches")
    parser.add_argument("--policy", choices=("quarantine", "fail"), default="quarantine")
    parser.add_argument("--max-invalid", type=float, default=1.0, metavar="PCT", help="default 1 %%")
    parser.add_argument(
        "--no-dlq", action="store_true", help="do not send quarantined records to <topic>.dlq"
    )
    parser.add_argument("--reset-topic", action="store_true", help="delete and recreate the topic first")
    parser.add_argument(
        "--external",
        action="store_true",
        help="do not start the embedded stack; reach Kafka through REPLAY_KAFKA_* and ksqlDB through REPLAY_KSQL_*",
    )
    parser.add_argument(
        "--no-migrations",
        action="store_true",
        help="skip the KSQL migrations and the drain (and the ksql server with --external)",
    )
    parser.add_argument(
        "--migrate-first",
        action="store_true",
        help="apply the migrations before the replay instead of after it",
    )
    parser.add_argument(
        "--migrations",
        type=Path,
        default=None,
        metavar="DIR",
        help="migrations project folder (default ksql/)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="how long the persistent queries may take to catch up (default 600 s)",
    )
    parser.add_argument("--down", action="store_true", help="stop the services this run started, at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--no-metrics", action="store_true", help="no metric collector, latency probes or report"
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=None,
        metavar="LIMIT",
        help="a limit of the report, e.g. 'rate_pct>=98' (repeatable; default: crosschecks, reconciliation)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    options = PipelineOptions(
        dump=args.dump,
        events=args.events,
        seed=args.seed,
        topic=args.topic,
        pacing=pacing_from_args(args),
        run_id=check_run_id(args.run_id or new_pipeline_run_id()),
        policy=args.policy,
        max_invalid_pct=args.max_invalid,
        dlq=not args.no_dlq,
        reset_topic=args.reset_topic,
        embedded_stack=not args.external,
        stop_stack=args.down,
        progress=not args.quiet,
        metrics=not args.no_metrics,
        thresholds=tuple(args.threshold) if args.threshold else None,
        migrations=not args.no_migrations,
        migrate_before_replay=args.migrate_first,
        migrations_dir=args.migrations,
        drain_timeout_s=args.drain_timeout,
    )
    result = run_pipeline(options)
    rec = result.reconciliation
    rate = result.replay["rate"]["achieved_per_s"]
    print(f"run {result.run_id}: {result.dump}")
    print(
        f"  read {rec['read']:,} = committed {rec['sent']:,} to {result.topic} "
        f"+ quarantined {rec['quarantined']:,} (dlq {rec['dlq']:,}): reconciled"
    )
    print(
        "  steps: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.steps_s.items())
        + (f"; replay rate {rate:,.0f} events/s" if rate else "")
    )
    if result.migrations is not None:
        applied = result.migrations["applied"]
        print(
            f"  migrations: {'applied ' + ', '.join(map(str, applied)) if applied else 'none pending'}; "
            f"current version {result.migrations['current_version']} (ksqlDB {result.migrations['server_version']})"
        )
    if result.drain is not None:
        after = result.drain.get("drain_s_after_replay")
        print(
            f"  drain: {result.drain['queries']} persistent queries caught up"
            + (
                f", {after:.1f} s after the replay's end (slowest {result.drain['slowest']})"
                if after is not None
                else ""
            )
        )
    outputs = "run-summary.json, validation.json, data_docs/, produce-summary.json"
    if result.migrations is not None:
        outputs += ", migrations.json, drain.json"
    print(f"  outputs: {result.out_dir} ({outputs})")
    if result.report:
        print(f"  report: {result.report['html']} ({result.report['status']})")
    if result.stack.get("embedded") and not args.down:
        services = result.stack.get("services", {})
        # The address a client uses: the broker's bootstrap, the server's URL.
        where = ", ".join(
            f"{name} {ep.get('bootstrap') or ep.get('url') or ' '.join(ep.values())}"
            for name, ep in services.items()
        )
        print(f"  stack still running ({where}); `make down` stops it")
    return 0
