"""The ``ksqldb-lite`` command line.

Each command lives in a module listed in :data:`COMMAND_MODULES` with a function
``register(subparsers)`` that adds its sub-command and sets ``func`` (called with the parsed
namespace, returns an exit code). Engine errors (:class:`ksqldb_lite.errors.KsqlError`) become
one line on stderr; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ksqldb_lite import __version__
from ksqldb_lite.errors import KsqlError

# Modules that contribute sub-commands, in the order `ksqldb-lite --help` lists them.
COMMAND_MODULES: tuple[str, ...] = ("ksqldb_lite.conformance.command", "ksqldb_lite.rest.serve")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="ksqldb-lite", description="A ksqlDB-compatible server.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ksqldb-lite`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except KsqlError as error:
        print(f"ksqldb-lite: error: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ksqldb-lite: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
