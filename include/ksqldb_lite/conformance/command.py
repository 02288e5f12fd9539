"""``ksqldb-lite conformance DIR...``: run QTT files, one line per failing variant, then the totals
per case and per variant.

By default the cases run in memory; with ``--bootstrap-servers`` each one runs end to end on
that Kafka broker (see :mod:`ksqldb_lite.conformance.broker`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``conformance`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "conformance", help="run ksqlDB query-validation test files against the engine"
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="DIR", help="directories or .json files")
    parser.add_argument(
        "-k", "--filter", dest="pattern", default=None, help="only cases whose name contains this"
    )
    parser.add_argument(
        "--cases",
        type=Path,
        default=None,
        metavar="FILE",
        help="only the cases listed in FILE ('file.json :: case name' per line); "
        "'broker' means the committed list of cases that also run on a real broker",
    )
    parser.add_argument(
        "--bootstrap-servers",
        default=None,
        metavar="HOST:PORT",
        help="run each case end to end on this Kafka broker instead of in memory "
        "(the case's topics must not exist there; they are deleted afterwards)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with --bootstrap-servers: how long a case may take to process its inputs (default 30)",
    )
    parser.add_argument(
        "--write-baseline",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the pass counts (per case and per variant) and the failing variants to FILE (JSON)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the cases; exit 0 when all passed, 1 otherwise."""
    from ksqldb_lite.conformance.runner import (
        Backend,
        broker_cases_path,
        read_case_list,
        run_paths,
        write_baseline,
    )

    only = None
    if args.cases is not None:
        path = broker_cases_path() if str(args.cases) == "broker" else args.cases
        if not path.is_file():
            print(f"ksqldb-lite: error: case list {path} does not exist", file=sys.stderr)
            return 2
        only = set(read_case_list(path))
    backend: Backend | None = None
    if args.bootstrap_servers is not None:
        from ksqldb_lite.conformance.broker import KafkaBackend

        if not getattr(args, "verbose", False):
            # every case starts and stops its queries: their INFO lines would drown the report
            logging.getLogger("ksqldb_lite.kafka").setLevel(logging.WARNING)
        backend = KafkaBackend(args.bootstrap_servers, timeout_s=args.timeout)
    summary = run_paths(args.paths, pattern=args.pattern, out=sys.stdout, backend=backend, only=only)
    if args.write_baseline is not None:
        write_baseline(summary, args.write_baseline)
    return 0 if summary.failed == 0 else 1
