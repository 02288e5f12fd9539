"""``replay stack``: fetch the Kafka runtime, start, stop and inspect the embedded stack."""

from __future__ import annotations

import argparse
import json

from replay.settings import StackSettings
from replay.stack import manager
from replay.stack.runtime import ensure_runtime


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay stack ...``."""
    parser = subparsers.add_parser(
        "stack",
        help="the embedded stack (Kafka broker, ksql server)",
        description="Start, stop and inspect the embedded stack. Ports and folders come from "
        "REPLAY_STACK_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    commands.add_parser("up", help="start every service (no-op for running ones)").set_defaults(func=_up)
    commands.add_parser("down", help="stop every service, leaving no process behind").set_defaults(func=_down)
    status = commands.add_parser("status", help="each service, its pid and addresses (exit 3 if any is down)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    commands.add_parser("fetch", help="fetch the pinned Kafka jars (cached)").set_defaults(func=_fetch)


def _up(args: argparse.Namespace) -> int:
    for item in manager.up(StackSettings()):
        print(item.line())
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = manager.down(StackSettings())
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    items = manager.status(StackSettings())
    if args.json:
        payload = [
            {
                "name": i.name,
                "running": i.running,
                "pid": i.pid,
                "endpoints": i.endpoints,
                "uptime_s": i.uptime_s,
            }
            for i in items
        ]
        print(json.dumps(payload, indent=2))
    else:
        for item in items:
            print(item.line())
    return 0 if all(item.running for item in items) else 3


def _fetch(args: argparse.Namespace) -> int:
    runtime = ensure_runtime(StackSettings().kafka_runtime_dir)
    print(f"Kafka {runtime.kafka_version} runtime ready in {runtime.home}")
    return 0
