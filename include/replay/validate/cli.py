"""``replay validate PATH``: exit 0 when the dump passes, non-zero with a one-line reason if not."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.errors import DumpValidationError
from replay.paths import run_dir
from replay.validate.policy import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_INVALID_PCT,
    DEFAULT_MAX_RECORD_BYTES,
    POLICIES,
)

if TYPE_CHECKING:
    from replay.validate.runner import ValidationResult


def _percent(text: str) -> float:
    value = float(text.rstrip("%"))
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"must be a percentage in 0..100, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``validate`` command."""
    parser = subparsers.add_parser(
        "validate",
        help="validate a dump with the great-expectations suite; quarantine bad records",
        description=(
            "Validate a Meetup dump against the expectation suite. Writes validation.json, "
            "quarantine.jsonl, verdicts.csv and GX Data Docs into --out-dir. Exit 0 when the dump "
            "passes the policy, 6 when it does not, 5 for unreadable input."
        ),
    )
    parser.add_argument("path", type=Path, help="the dump (JSON Lines or JSON array, optionally .gz)")
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="quarantine",
        help="quarantine: pass with up to --max-invalid %% bad records set aside (default); "
        "fail: any bad record fails",
    )
    parser.add_argument(
        "--max-invalid",
        type=_percent,
        default=DEFAULT_MAX_INVALID_PCT,
        metavar="PCT",
        help=f"most invalid records allowed, in percent (default {DEFAULT_MAX_INVALID_PCT:g})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="also write the summary JSON here (- for stdout)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default var/runs/validate-<UTC time>)",
    )
    parser.add_argument(
        "--max-record-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_RECORD_BYTES,
        metavar="N",
        help=f"largest record the replay can send (default {DEFAULT_MAX_RECORD_BYTES:,}: Kafka's "
        "message.max.bytes less room for the key, headers and framing)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help="records per GX batch",
    )
    parser.add_argument("--no-data-docs", action="store_true", help="skip building GX Data Docs")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=_validate)


def _write_json(result: ValidationResult, target: Path | None) -> None:
    if target is None:
        return
    text = json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
    if str(target) == "-":
        sys.stdout.write(text)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _validate(args: argparse.Namespace) -> int:
    # pandas and great-expectations load here, not when the parser is built (~3 s).
    from replay.validate.runner import ValidationResult, validate_dump

    out_dir = args.out_dir or run_dir(time.strftime("validate-%Y%m%dT%H%M%SZ", time.gmtime()))
    try:
        result = validate_dump(
            args.path,
            out_dir,
            policy=args.policy,
            max_invalid_pct=args.max_invalid,
            max_record_bytes=args.max_record_bytes,
            chunk_size=args.chunk_size,
            data_docs=not args.no_data_docs,
            progress=not args.quiet,
        )
    except DumpValidationError as error:
        failed = error.result
        if isinstance(failed, ValidationResult):
            _write_json(failed, args.json)
        raise
    _write_json(result, args.json)
    if str(args.json) != "-":
        print(f"{result.dump}: {result.verdict_line()}; outputs in {result.out_dir}")
    return 0
