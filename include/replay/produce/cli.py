"""``replay produce PATH --topic T``: the paced, exactly-once replay from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from replay.errors import ConfigError
from replay.paths import run_dir
from replay.produce import produce
from replay.produce.options import ProduceOptions, new_run_id
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, ProduceSettings

log = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.jsonl"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay produce``."""
    defaults = ProduceSettings()
    parser = subparsers.add_parser(
        "produce",
        help="replay a dump into a Kafka topic: paced, exactly once, measured",
        description="Send the records of a dump (JSON Lines or a JSON array, optionally gzip) to a Kafka "
        "topic at a chosen pace, exactly once (transactions with a checkpoint; a restart with the same "
        "--run-id continues where the committed data ends), and write a JSON summary of what happened. "
        "Kafka is reached through REPLAY_KAFKA_* (see README); defaults come from REPLAY_PRODUCE_*.",
    )
    parser.add_argument("path", type=Path, help="the dump")
    parser.add_argument("--topic", required=True, help="the topic to replay into (created when absent)")
    parser.add_argument(
        "--run-id", default=None, help="the run id (default: a fresh one); reuse it to resume"
    )
    pace = parser.add_mutually_exclusive_group(required=True)
    pace.add_argument(
        "--rate", type=float, metavar="N", help="N events per second on the schedule start + i/N"
    )
    pace.add_argument(
        "--speedup",
        type=float,
        metavar="K",
        help="the original spacing of --timestamp-field divided by K (1 = real time)",
    )
    pace.add_argument("--max", action="store_true", help="unthrottled: as fast as the broker takes it")
    parser.add_argument(
        "--timestamp-field", default="mtime", help="epoch-ms field for --speedup (dotted path; default mtime)"
    )
    parser.add_argument(
        "--max-gap",
        type=float,
        metavar="SECONDS",
        help="with --speedup: cap every idle stretch at this many seconds",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="replay at most N source records (after --skip)"
    )
    parser.add_argument("--skip", type=int, default=0, metavar="N", help="start at source record N (0-based)")
    parser.add_argument(
        "--value-format",
        choices=("raw", "study"),
        default="raw",
        help="raw: the original bytes (default); study: json.dumps(indent=4, sort_keys=True) as the study did",
    )
    parser.add_argument(
        "--quarantine",
        type=Path,
        help=f"{QUARANTINE_FILE} of `replay validate`, or its --out-dir (default: {QUARANTINE_FILE} in the "
        "run folder var/runs/<run id>, when present)",
    )
    parser.add_argument("--no-quarantine", action="store_true", help="ignore any quarantine file")
    parser.add_argument(
        "--dlq", action="store_true", help="send quarantined records to <topic>.dlq with the reason"
    )
    parser.add_argument(
        "--reset", action="store_true", help="delete and recreate the topic (and its DLQ) first"
    )
    parser.add_argument("--partitions", type=int, default=defaults.partitions, help="for a new topic")
    parser.add_argument(
        "--replication-factor", type=int, default=defaults.replication_factor, help="for a new topic"
    )
    parser.add_argument(
        "--retention-ms",
        type=int,
        default=defaults.retention_ms,
        help="retention.ms of a new topic (default 7 days; -1 keeps the data forever)",
    )
    parser.add_argument(
        "--commit-interval-ms",
        type=int,
        default=defaults.commit_interval_ms,
        help="how often a transaction (with its checkpoint) is committed",
    )
    parser.add_argument("--linger-ms", type=float, default=defaults.linger_ms, help="producer linger.ms")
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="producer batch.size (bytes)"
    )
    parser.add_argument(
        "--compression",
        default=defaults.compression_type,
        help="producer compression.type (none, lz4, zstd, ...)",
    )
    parser.add_argument(
        "--broker-timeout",
        type=float,
        default=defaults.broker_timeout_s,
        metavar="SECONDS",
        help="give up when no commit succeeds for this long (broker down)",
    )
    parser.add_argument(
        "--summary", type=Path, help="where to write the JSON summary (default: the run folder)"
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="auto: a bar on a terminal, a log line every few seconds otherwise",
    )
    parser.add_argument(
        "--metrics-dir",
        type=Path,
        default=None,
        help="serve the replay's counters and histograms on /metrics (a free loopback port, or "
        "REPLAY_METRICS_REPLAY_PORT) and announce its URL in this folder (replay run does this)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(func=_produce)


def pacing_from_args(args: argparse.Namespace) -> Pacing:
    """The pacing chosen by ``--rate`` / ``--speedup`` (with ``--max-gap``) / neither (unthrottled)."""
    if args.rate is not None:
        pacing = Pacing.at_rate(args.rate)
    elif args.speedup is not None:
        field = getattr(args, "timestamp_field", "mtime")
        pacing = Pacing.sped_up(args.speedup, timestamp_field=field, max_gap_s=args.max_gap)
    else:
        pacing = Pacing.unthrottled()
    if args.max_gap is not None and pacing.mode != "speedup":
        raise ConfigError("--max-gap only applies to --speedup", hint="drop --max-gap or use --speedup")
    return pacing


def _quarantine(args: argparse.Namespace, run_id: str) -> dict[int, list[str]] | None:
    """The validation's quarantine, or None when the dump was not validated (or it is ignored)."""
    if args.no_quarantine:
        return None
    path: Path | None = args.quarantine
    if path is None:
        candidate = run_dir(run_id) / QUARANTINE_FILE
        if not candidate.is_file():
            return None
        path = candidate
    # Imported here: replay.validate.quarantine pulls in pandas (about 3 s) through its prechecks.
    from replay.validate import load_quarantine

    quarantine = load_quarantine(path)  # a missing or damaged file is an InputError
    log.info("quarantine %s: %d records will not be replayed", path, len(quarantine))
    return quarantine


def options_from_args(args: argparse.Namespace) -> ProduceOptions:
    """The library options for parsed ``replay produce`` arguments."""
    run_id = args.run_id or new_run_id()
    quarantine = _quarantine(args, run_id)
    settings = ProduceSettings(
        partitions=args.partitions,
        replication_factor=args.replication_factor,
        retention_ms=args.retention_ms,
        commit_interval_ms=args.commit_interval_ms,
        linger_ms=args.linger_ms,
        batch_size=args.batch_size,
        compression_type=args.compression,
        broker_timeout_s=args.broker_timeout,
    )
    return ProduceOptions(
        path=args.path,
        topic=args.topic,
        pacing=pacing_from_args(args),
        run_id=run_id,
        value_format=args.value_format,
        skip=args.skip,
        limit=args.limit,
        quarantine=quarantine or {},
        validated=quarantine is not None,
        dlq=args.dlq,
        reset=args.reset,
        summary_path=args.summary,
        metrics_dir=args.metrics_dir,
        progress=args.progress,
        settings=settings,
        kafka=KafkaSettings(),
    )


def _install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT/SIGTERM end the replay cleanly (commit, summary); a second one exits at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("signal %d: stopping after committing what was sent (again to abort)", signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _produce(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    stop = threading.Event()
    _install_stop_handlers(stop)
    log.info("run id %s", options.run_id)
    # produce() logs what was and was not delivered (also on failure); --json adds the summary.
    summary: dict[str, Any] = produce(options, stop=stop)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0
