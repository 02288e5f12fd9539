"""``replay metrics collect | stop | status``: a run's collector process by hand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from replay.metrics.collector import collect
from replay.metrics.control import running_pid, stop_collector


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay metrics``."""
    parser = subparsers.add_parser(
        "metrics",
        help="a run's metric collector and latency probes (started by `replay run` and the DAG)",
        description="The collector scrapes the broker, the ksql server and the replay every second and "
        "runs the end-to-end latency probes; its files go to <run dir>/metrics/ (docs/metrics.md).",
    )
    sub = parser.add_subparsers(dest="metrics_command", metavar="COMMAND", required=True)
    run = sub.add_parser(
        "collect", help="run the collector in the foreground (start_metrics runs this detached)"
    )
    run.add_argument("--run-dir", type=Path, required=True, help="the run folder (var/runs/<run id>)")
    run.set_defaults(func=_collect)
    stop = sub.add_parser("stop", help="stop a run's collector (final scrape, files flushed)")
    stop.add_argument("run_dir", type=Path)
    stop.add_argument("--timeout", type=float, default=60.0, help="seconds before SIGKILL (default 60)")
    stop.set_defaults(func=_stop)
    status = sub.add_parser("status", help="is a run's collector running")
    status.add_argument("run_dir", type=Path)
    status.set_defaults(func=_status)


def _collect(args: argparse.Namespace) -> int:
    collect(args.run_dir / "metrics")
    return 0


def _stop(args: argparse.Namespace) -> int:
    print(json.dumps(stop_collector(args.run_dir / "metrics", timeout_s=args.timeout), indent=2))
    return 0


def _status(args: argparse.Namespace) -> int:
    pid = running_pid(args.run_dir / "metrics")
    print(f"collector {'running, pid ' + str(pid) if pid else 'not running'}")
    return 0 if pid else 1
