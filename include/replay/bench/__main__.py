"""``python -m replay.bench [NAME ...] [--quick]``: run the benchmarks, print and save figures."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from pathlib import Path

from replay.bench import BenchContext, iter_selected, write_result
from replay.errors import ReplayError


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks (all by default) and write var/bench/<name>.json each."""
    parser = argparse.ArgumentParser(prog="python -m replay.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark short names (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        ctx = BenchContext(work_dir=Path(tmp), quick=args.quick)
        with ctx.resources:
            for module_name in iter_selected(args.names):
                short = module_name.rsplit(".", 1)[-1]
                print(f"== {short}", flush=True)
                try:
                    figures = importlib.import_module(module_name).run(ctx)
                except ReplayError as error:
                    print(f"bench {short}: error: {error.one_line()}", file=sys.stderr)
                    return 1
                path = write_result(short, figures)
                print(json.dumps(figures, indent=2, sort_keys=True))
                print(f"-> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
