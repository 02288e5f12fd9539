"""Benchmarks run by ``make bench`` (``python -m replay.bench``).

Each benchmark is a module listed in :data:`BENCHMARKS` with a function
``run(ctx: BenchContext) -> dict[str, Any]`` that returns JSON-ready figures. Peers (for example
``kafka-producer-perf-test`` from the same Kafka jars) run in the same session on the same broker,
and comparisons are reported as ratios. Results go to ``var/bench/<name>.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.paths import var_dir

# Benchmark modules, in the order `make bench` runs them.
BENCHMARKS: tuple[str, ...] = (
    "replay.bench.stack",
    "replay.bench.dump_validation",
    "replay.bench.produce",
    "replay.bench.ksql_filter",
    "replay.bench.ksql_http",
    "replay.bench.ksql_migrations",
    "replay.bench.metrics_overhead",
    "replay.bench.airflow",
)


@dataclass
class BenchContext:
    """Shared resources for one `make bench` session (work dir, lazily started services)."""

    work_dir: Path
    quick: bool = False
    resources: ExitStack = field(default_factory=ExitStack)
    cache: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, factory: Callable[[], Any]) -> Any:
        """Build a resource once per session (e.g. the broker, a generated dump) and reuse it."""
        if key not in self.cache:
            self.cache[key] = factory()
        return self.cache[key]


def results_dir() -> Path:
    """Where benchmark results are written."""
    return var_dir() / "bench"


def write_result(name: str, figures: dict[str, Any]) -> Path:
    """Write one benchmark's figures with the machine it ran on and when."""
    out = results_dir() / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "figures": figures,
    }
    out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def iter_selected(names: list[str] | None) -> Iterator[str]:
    """The benchmark modules to run: all, or those whose short name was asked for."""
    for module in BENCHMARKS:
        short = module.rsplit(".", 1)[-1]
        if not names or short in names:
            yield module
