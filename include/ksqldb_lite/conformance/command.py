"""``ksqldb-lite conformance DIR...``: run QTT files, one line per failing case, then a total."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``conformance`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "conformance", help="run ksqlDB query-validation test files against the engine"
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="DIR", help="directories or .json files")
    parser.add_argument("-k", dest="pattern", default=None, help="only cases whose name contains this")
    parser.add_argument(
        "--write-baseline",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the pass count and the failing cases to FILE (JSON)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the cases; exit 0 when all passed, 1 otherwise."""
    from ksqldb_lite.conformance.runner import run_paths, write_baseline

    summary = run_paths(args.paths, pattern=args.pattern, out=sys.stdout)
    if args.write_baseline is not None:
        write_baseline(summary, args.write_baseline)
    return 0 if summary.failed == 0 else 1
