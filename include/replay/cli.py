"""The ``replay`` command line.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its sub-commands and sets ``func`` (called with the parsed namespace, returns an exit code).
Library errors (:class:`replay.errors.ReplayError`) become one line on stderr and a non-zero
exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from replay import __version__
from replay.errors import ReplayError

# Modules that contribute command groups, in the order `replay --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "replay.stack.cli",
    "replay.dump.cli",
    "replay.validate.cli",
    "replay.produce.cli",
    "replay.pipeline.cli",
    "replay.migrate.cli",
    "replay.metrics.cli",
    "replay.report.cli",
    "replay.airflow.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="replay",
        description="Validate a Meetup event dump and replay it into Apache Kafka, measured.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``replay`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except ReplayError as error:
        print(f"replay: error: {error.one_line()}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("replay: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
