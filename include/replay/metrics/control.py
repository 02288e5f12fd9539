"""Start and stop a run's collector process; its pid file lives in the run folder.

The collector is detached (its own session), so it outlives the task that starts it — an
Airflow task is a process of its own under the LocalExecutor — and a Ctrl-C of ``replay run``
does not hit it. Stopping sends SIGTERM (final scrape, probes read to the end, files flushed)
and SIGKILLs after a timeout; both calls are safe to repeat. The collector also exits by itself
once its deadline passes, so nothing is left behind when no one stops it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from replay.errors import MetricsError
from replay.metrics.collector import READY_FILE, RESULT_FILE, CollectorConfig
from replay.stack import process

log = logging.getLogger(__name__)

PID_FILE = "collector.pid"
LOG_FILE = "collector.log"


def _marker(metrics_dir: Path) -> str:
    # The command line holds the run folder: a pid reused by another program is not ours.
    return f"metrics collect --run-dir {metrics_dir.parent}"


def running_pid(metrics_dir: Path) -> int | None:
    """The collector's pid while it runs; a stale pid file is removed."""
    info = process.read_pid_file(metrics_dir / PID_FILE)
    if info is None:
        return None
    if process.is_ours(info):
        return info.pid
    log.info("removing the stale collector pid file (pid %d is gone)", info.pid)
    (metrics_dir / PID_FILE).unlink(missing_ok=True)
    return None


def start_collector(
    metrics_dir: Path, config: CollectorConfig, *, secrets: dict[str, str], timeout_s: float = 60.0
) -> dict[str, Any]:
    """Start the collector (unless it runs) and wait until it has noted where the run begins.

    ``secrets`` go into the child's environment only (e.g. ``REPLAY_KAFKA_SASL_PASSWORD``).
    """
    pid = running_pid(metrics_dir)
    if pid is not None:
        log.info("collector already running (pid %d)", pid)
        return {"pid": pid, "already_running": True}
    config.write(metrics_dir)
    (metrics_dir / RESULT_FILE).unlink(missing_ok=True)
    command = [sys.executable, "-m", "replay.cli", "metrics", "collect", "--run-dir", str(metrics_dir.parent)]
    env = {**os.environ, **secrets}
    child = process.start_detached(command, log_file=metrics_dir / LOG_FILE, env=env)
    process.write_pid_file(
        metrics_dir / PID_FILE, process.PidInfo(child.pid, _marker(metrics_dir), time.time())
    )
    deadline = time.monotonic() + timeout_s
    ready = metrics_dir / READY_FILE
    while time.monotonic() < deadline:
        if child.poll() is not None:
            (metrics_dir / PID_FILE).unlink(missing_ok=True)
            raise MetricsError(
                f"the metric collector exited at start (code {child.returncode}):\n"
                f"{process.tail(metrics_dir / LOG_FILE, 15)}",
                hint=f"see {metrics_dir / LOG_FILE}; check that Kafka and the metric endpoints are reachable",
            )
        try:
            document = json.loads(ready.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            document = {}
        if document.get("pid") == child.pid and document.get("collector_ready"):
            log.info("collector started (pid %d), log %s", child.pid, metrics_dir / LOG_FILE)
            return {"pid": child.pid, "already_running": False}
        time.sleep(0.1)
    process.stop_pid(child.pid, timeout_s=5)
    (metrics_dir / PID_FILE).unlink(missing_ok=True)
    raise MetricsError(
        f"the metric collector did not get ready within {timeout_s:.0f} s:\n{process.tail(metrics_dir / LOG_FILE, 15)}",
        hint="a slow broker or ksql server: raise REPLAY_METRICS_START_TIMEOUT_S, or see the collector log",
    )


def stop_collector(metrics_dir: Path, *, timeout_s: float = 60.0) -> dict[str, Any]:
    """SIGTERM the collector and wait for its files (SIGKILL after ``timeout_s``); returns its
    result document. Safe to repeat: a stopped collector's result is read again."""
    pid = running_pid(metrics_dir)
    killed = False
    if pid is not None:
        killed = process.stop_pid(pid, timeout_s)
        if killed:
            log.warning("the collector did not finish within %.0f s and was killed", timeout_s)
        (metrics_dir / PID_FILE).unlink(missing_ok=True)
    try:
        result: dict[str, Any] = json.loads((metrics_dir / RESULT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if pid is None and not (metrics_dir / READY_FILE).is_file():
            raise MetricsError(
                f"no metric collector ran for this run ({metrics_dir})",
                hint="start it with the start_metrics step before the replay",
            ) from None
        result = {"reason": "killed" if killed else "gone", "incomplete": True}
    result["was_running"] = pid is not None
    return result
