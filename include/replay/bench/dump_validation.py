"""Benchmark: generate the full Meetup dump, validate it and a dump 10x larger.

Targets (issue 4): the full 142,502-event dump generates "well under a minute" and validates
in at most 20 s with at most 1 GB peak RSS; the 10x dump's peak RSS stays within 1.2x of the
1x peak (memory does not grow with the dump).

Each step runs in a fresh Python process (``python -m replay.bench.dump_validation STEP ...``)
so that peak RSS belongs to that step alone: the child reports its own ``ru_maxrss`` and that
of its reaped children (the great-expectations worker process), and the parent times the whole
process. Python's bytecode cache is allowed in the children (this sandbox sets
PYTHONDONTWRITEBYTECODE, which would otherwise recompile great-expectations' ~1,500 modules,
~10 s, on every start); the import cost is reported separately.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from replay.bench import BenchContext
from replay.errors import ReplayError

FULL_EVENTS = 142_502
TARGET_VALIDATE_S = 20.0
TARGET_RSS_MB = 1024.0
TARGET_RSS_RATIO = 1.2
_TIMEOUT_S = 3_600


def _peak_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)  # Linux reports KiB


def _child(step: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run inside the child process; prints one JSON line of figures."""
    started = time.monotonic()
    if step == "generate":
        from replay.dump.generator import generate_dump

        imported = time.monotonic()
        dump = generate_dump(args["path"], events=args["events"], seed=args["seed"], progress=False)
        figures: dict[str, Any] = {"records": dump.records, "bytes": dump.bytes}
    else:
        from replay.validate import validate_dump

        imported = time.monotonic()
        result = validate_dump(args["path"], args["out"], progress=False, parallel=args.get("parallel"))
        figures = {"read": result.read, "valid": result.valid, "quarantined": result.quarantined}
    done = time.monotonic()
    main_mb, worker_mb = _peak_mb(resource.RUSAGE_SELF), _peak_mb(resource.RUSAGE_CHILDREN)
    return figures | {
        "import_s": round(imported - started, 2),
        "work_s": round(done - imported, 2),
        "rss_main_mb": main_mb,
        "rss_worker_mb": worker_mb,
        "rss_total_mb": round(main_mb + worker_mb, 1),
    }


def _spawn(step: str, args: dict[str, Any]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "replay.bench.dump_validation", step, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=_TIMEOUT_S,
        check=False,
    )
    wall = round(time.monotonic() - started, 2)
    if done.returncode != 0:
        raise ReplayError(
            f"benchmark step {step} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}",
            hint="run the step by hand: python -m replay.bench.dump_validation " + step,
        )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures | {"process_wall_s": wall}


def run(ctx: BenchContext) -> dict[str, Any]:
    """Generate 1x and 10x dumps into the bench work dir and validate each in a fresh process."""
    events = FULL_EVENTS // 10 if ctx.quick else FULL_EVENTS
    one, ten = ctx.work_dir / "dump-1x.jsonl", ctx.work_dir / "dump-10x.jsonl"
    load_before = os.getloadavg()
    # Warm the bytecode cache so that the first measured step does not pay for compiling.
    _spawn(
        "validate", {"path": str(_tiny(ctx.work_dir)), "out": str(ctx.work_dir / "warm"), "parallel": False}
    )
    generate_1x = _spawn("generate", {"path": str(one), "events": events, "seed": 20150307})
    generate_10x = _spawn("generate", {"path": str(ten), "events": 10 * events, "seed": 20150308})
    # Both sizes with the worker backend (what dumps from 64 MiB on use), so they compare.
    validate_1x = _spawn("validate", {"path": str(one), "out": str(ctx.work_dir / "v1"), "parallel": True})
    validate_10x = _spawn("validate", {"path": str(ten), "out": str(ctx.work_dir / "v10"), "parallel": True})
    ratio = round(validate_10x["rss_total_mb"] / validate_1x["rss_total_mb"], 3)
    for dump in (one, ten):
        dump.unlink()
    return {
        "events_1x": events,
        "events_10x": 10 * events,
        "quick": ctx.quick,
        "generate_1x": generate_1x,
        "generate_10x": generate_10x,
        "validate_1x": validate_1x,
        "validate_10x": validate_10x,
        "rss_ratio_10x_to_1x": ratio,
        "targets": {
            "validate_1x_s": TARGET_VALIDATE_S,
            "rss_1x_mb": TARGET_RSS_MB,
            "rss_ratio": TARGET_RSS_RATIO,
        },
        "meets_targets": {
            "validate_1x_s": validate_1x["work_s"] <= TARGET_VALIDATE_S,
            "validate_1x_process_s": validate_1x["process_wall_s"] <= TARGET_VALIDATE_S,
            "rss_1x_mb": validate_1x["rss_total_mb"] <= TARGET_RSS_MB,
            "rss_ratio": ratio <= TARGET_RSS_RATIO,
            "generate_1x_under_60_s": generate_1x["process_wall_s"] < 60.0,
        },
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def _tiny(folder: Path) -> Path:
    from replay.dump.generator import generate_dump

    return generate_dump(folder / "warm.jsonl", events=200, seed=1, progress=False).path


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], json.loads(sys.argv[2]))))
