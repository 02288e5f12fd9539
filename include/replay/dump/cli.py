"""``replay dump generate`` and ``replay dump inspect``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from replay.dump.generator import DEFAULT_EVENTS, DEFAULT_SEED, default_dump_path, generate_dump
from replay.errors import ConfigError


def _positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``dump`` command group."""
    dump = subparsers.add_parser("dump", help="generate or inspect a Meetup event dump")
    commands = dump.add_subparsers(dest="dump_command", metavar="SUBCOMMAND", required=True)

    generate = commands.add_parser(
        "generate",
        help="write a realistic, seeded dump (JSON Lines; .gz when the path ends in .gz)",
        description="Write a realistic Meetup open_events dump, deterministic for a seed.",
    )
    generate.add_argument(
        "--events",
        type=_positive_int,
        default=DEFAULT_EVENTS,
        help=f"records to write (default {DEFAULT_EVENTS:,})",
    )
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"RNG seed (default {DEFAULT_SEED})")
    generate.add_argument(
        "--out", type=Path, default=None, help=f"output path (default {default_dump_path()})"
    )
    generate.add_argument(
        "--invalid-fraction",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="share of malformed records of named kinds, listed in <out>.manifest.json (default 0)",
    )
    generate.add_argument("--quiet", action="store_true", help="no progress output")
    generate.set_defaults(func=_generate)

    inspect = commands.add_parser(
        "inspect",
        help="counts, bytes, id forms, countries, time range, duplicates of a dump",
        description="Read a dump once and print what to check before replaying it.",
    )
    inspect.add_argument("path", type=Path, help="the dump (JSON Lines or JSON array, optionally .gz)")
    inspect.add_argument("--top", type=_positive_int, default=10, help="countries to list (default 10)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    inspect.add_argument("--quiet", action="store_true", help="no progress output")
    inspect.set_defaults(func=_inspect)


def _generate(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else default_dump_path()
    if out.exists() and out.is_dir():
        raise ConfigError(
            f"--out is a directory: {out}", hint="pass a file path such as var/dumps/dump.jsonl"
        )
    result = generate_dump(
        out,
        events=args.events,
        seed=args.seed,
        invalid_fraction=args.invalid_fraction,
        progress=not args.quiet,
    )
    malformed = sum(result.malformed.values())
    print(
        f"wrote {result.path}: {result.records:,} records ({malformed:,} malformed), "
        f"{result.bytes / 1e6:,.1f} MB in {result.elapsed_s:.1f} s; manifest {result.manifest}"
    )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from replay.dump.inspect import inspect_dump, render_text  # numpy: loaded only when inspecting

    inspection = inspect_dump(args.path, top=args.top, progress=not args.quiet)
    if args.json:
        json.dump(inspection.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(render_text(inspection))
    return 0
