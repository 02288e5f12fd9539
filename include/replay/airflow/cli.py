"""``replay airflow run | demo``: what ``make run`` and ``make demo`` call."""

from __future__ import annotations

import argparse
import json
from typing import Any

from replay.errors import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay airflow ...``."""
    parser = subparsers.add_parser(
        "airflow",
        help="the replay DAG through Airflow (make run / make demo)",
        description="Run the meetup_replay DAG through a local Airflow started beside the embedded "
        "stack (run), or headless with `airflow dags test` (demo). Settings: REPLAY_AIRFLOW_* "
        "(see docs/airflow.md).",
    )
    commands = parser.add_subparsers(dest="airflow_command", metavar="ACTION", required=True)
    run = commands.add_parser(
        "run", help="start stack + Airflow, trigger meetup_replay once, follow it, leave all running"
    )
    run.add_argument("--conf", default="{}", help='the run\'s params as JSON, e.g. \'{"pacing": "rate"}\'')
    run.set_defaults(func=_run)
    demo = commands.add_parser("demo", help="meetup_replay with `airflow dags test` on the embedded stack")
    demo.add_argument("--conf", default="{}", help="the run's params as JSON")
    demo.set_defaults(func=_demo)


def _conf(text: str) -> dict[str, Any]:
    try:
        conf = json.loads(text)
    except ValueError as error:
        raise ConfigError(
            f"--conf is not JSON: {error}", hint='e.g. --conf \'{"pacing": "rate", "rate": 2000}\''
        ) from error
    if not isinstance(conf, dict):
        raise ConfigError("--conf must be a JSON object", hint='e.g. --conf \'{"topic": "meetup_events"}\'')
    return conf


def _run(args: argparse.Namespace) -> int:
    from replay.airflow.runs import run_in_airflow

    run_in_airflow(_conf(args.conf), say=lambda line: print(line, flush=True))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from replay.airflow.runs import demo

    demo(_conf(args.conf), say=lambda line: print(line, flush=True))
    return 0
