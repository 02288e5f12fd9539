"""Broker start time (first start incl. formatting, and a restart) and the idle broker's RSS."""

from __future__ import annotations

import time
from typing import Any

import psutil

from replay.bench import BenchContext
from replay.settings import StackSettings
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.prereqs import require_java
from replay.stack.process import find_free_ports
from replay.stack.runtime import ensure_runtime

IDLE_SETTLE_S = 10.0


def _rss_mb(pid: int) -> float:
    """RSS of the broker JVM (the pid is the java process itself)."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def run(ctx: BenchContext) -> dict[str, Any]:
    """Start a fresh broker twice and sample its memory when idle."""
    settings = StackSettings()
    kafka, controller, jmx = find_free_ports(3)
    config = BrokerConfig(
        state_dir=ctx.work_dir / "stack-bench",
        kafka_port=kafka,
        controller_port=controller,
        jmx_exporter_port=jmx,
        heap=settings.broker_heap,
    )
    broker = KafkaBroker(config, ensure_runtime(settings.kafka_runtime_dir), require_java())
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
        "heap": settings.broker_heap,
        "first_start_s_incl_format": round(first_start_s, 2),
        "restart_s": round(restart_s, 2),
        "idle_rss_mb_after_10s": round(idle_rss_mb, 1),
    }
