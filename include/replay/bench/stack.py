"""Broker start time (first start incl. formatting, and a restart) and the idle broker's RSS."""

from __future__ import annotations

import time
from typing import Any

import psutil

from replay.bench import BenchContext
from replay.bench.broker import new_broker

IDLE_SETTLE_S = 10.0


def _rss_mb(pid: int) -> float:
    """RSS of the broker JVM (the pid is the java process itself)."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def run(ctx: BenchContext) -> dict[str, Any]:
    """Start a fresh broker twice and sample its memory when idle."""
    broker = new_broker(ctx.work_dir / "stack-bench")
    began = time.monotonic()
    broker.start(timeout_s=120)
    first_start_s = time.monotonic() - began
    try:
        broker.stop()
        began = time.monotonic()
        pid = broker.start(timeout_s=120)
        restart_s = time.monotonic() - began
        time.sleep(IDLE_SETTLE_S)
        idle_rss_mb = _rss_mb(pid)
    finally:
        broker.stop()
    return {
        "kafka_version": broker.runtime.kafka_version,
        "heap": broker.config.heap,
        "first_start_s_incl_format": round(first_start_s, 2),
        "restart_s": round(restart_s, 2),
        "idle_rss_mb_after_10s": round(idle_rss_mb, 1),
    }
