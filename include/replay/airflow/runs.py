"""``make run`` and ``make demo``: the replay DAG through a running Airflow, or headless.

- :func:`run_in_airflow` starts the embedded stack with Airflow, generates the default dump if
  it is missing, unpauses and triggers ``meetup_replay`` through the REST API, prints one line
  per task state change, then the UI URL, the login and the report URL. Everything keeps
  running (``make down`` stops it).
- :func:`demo` runs the same DAG with ``airflow dags test`` (no api-server, no scheduler) on the
  embedded stack and prints each task's wall time.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay.airflow.api import AirflowApi
from replay.airflow.local import admin_password, airflow_bin, airflow_env, migrate_db
from replay.airflow.settings import AirflowStackSettings
from replay.airflow.ui.app import run_href
from replay.errors import ReplayError, StackError
from replay.paths import reports_dir, var_dir
from replay.settings import StackSettings

DAG_ID = "meetup_replay"
Printer = Callable[[str], None]


class RunFailedError(ReplayError):
    """The DAG run ended in a state other than success."""

    exit_code = 16


@dataclass(frozen=True)
class TaskTiming:
    """One task's outcome and wall time."""

    task_id: str
    state: str | None
    duration_s: float | None
    try_number: int


def _start_stack(stack: StackSettings, say: Printer) -> None:
    from replay.stack import manager

    for item in manager.up(stack):
        say(item.line())


def _ensure_default_dump(say: Printer) -> Path:
    from replay.pipeline.steps import ensure_dump

    path = ensure_dump(None, progress=sys.stderr.isatty())
    say(f"dump: {path}")
    return path


def _ti_line(ti: dict[str, Any]) -> str:
    state = ti.get("state") or "none"
    duration = ti.get("duration")
    took = (
        f" in {duration:.1f} s"
        if isinstance(duration, int | float) and state in ("success", "failed")
        else ""
    )
    tries = int(ti.get("try_number") or 0)
    attempt = f" (try {tries})" if tries > 1 else ""
    return f"  task {ti['task_id']:<22} {state}{took}{attempt}"


def run_in_airflow(conf: dict[str, Any] | None = None, *, say: Printer = print) -> dict[str, Any]:
    """Stack + Airflow up, trigger ``meetup_replay`` once, follow it; returns the finished run."""
    stack = StackSettings(with_airflow=True)
    settings = AirflowStackSettings()
    _start_stack(stack, say)
    _ensure_default_dump(say)
    password = admin_password(settings)
    if password is None:
        raise StackError(
            f"no admin password in {settings.home}",
            hint="the api-server writes it on its first start; see its log",
        )
    api = AirflowApi(settings.api_url, settings.admin_user, password).login()
    api.wait_for_dag(DAG_ID)
    api.unpause(DAG_ID)
    run = api.trigger(DAG_ID, conf)
    run_id = run["dag_run_id"]
    say(f"triggered {DAG_ID} run {run_id}")
    began = time.monotonic()
    finished = api.follow(DAG_ID, run_id, on_change=lambda ti: say(_ti_line(ti)) if ti.get("state") else None)
    say(
        f"run {finished['state']} in {time.monotonic() - began:.1f} s"
        + (f": {finished['note']}" if finished.get("note") else "")
    )
    say(f"Airflow UI:  {settings.api_url}  (login {settings.admin_user} / {password})")
    say(f"report:      {settings.api_url}{run_href(DAG_ID, run_id)}")
    say(f"run folder:  {var_dir() / 'runs' / run_id}")
    say(_report_line(reports_dir() / DAG_ID / run_id))
    say("everything keeps running; `make down` stops the stack and Airflow")
    if finished["state"] != "success":
        raise RunFailedError(
            f"run {run_id} of {DAG_ID} ended {finished['state']}",
            hint=f"open {settings.api_url}/dags/{DAG_ID} and read the failed task's log",
        )
    return finished


def _report_line(report_dir: Path) -> str:
    if (report_dir / "report.html").is_file():
        return f"report files: {report_dir}"
    return f"report files: none in {report_dir} (no report step has run for this run)"


# -- make demo -------------------------------------------------------------------------------------

_SHOW = re.compile(r"\[DAG TEST\] (start|end) task|progress job=|validate .*%|ERROR|Marking run")


def task_timings(db: Path, dag_id: str) -> tuple[str, list[TaskTiming]]:
    """The newest run of ``dag_id`` in the SQLite metadata DB and its tasks' wall times."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if row is None:
            raise StackError(f"no run of {dag_id} in {db}", hint="did `airflow dags test` start?")
        run_id = str(row[0])
        rows = connection.execute(
            "SELECT task_id, state, duration, try_number FROM task_instance WHERE dag_id = ? AND run_id = ? "
            "ORDER BY start_date",
            (dag_id, run_id),
        ).fetchall()
    return run_id, [TaskTiming(r[0], r[1], r[2], int(r[3] or 0)) for r in rows]


def demo(conf: dict[str, Any] | None = None, *, say: Printer = print) -> tuple[str, list[TaskTiming], float]:
    """``airflow dags test meetup_replay`` on the embedded stack; returns run id, task timings, wall s."""
    stack = StackSettings()
    settings = AirflowStackSettings(home=var_dir() / "airflow-demo")
    _start_stack(stack, say)
    _ensure_default_dump(say)
    env = {**os.environ, **airflow_env(settings, stack)}
    migrate_db(settings, env)
    log_file = settings.home / "logs" / f"dags-test-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [str(airflow_bin()), "dags", "test", DAG_ID, "-c", json.dumps(conf or {})]
    say(f"$ airflow dags test {DAG_ID}   (full log: {log_file})")
    began = time.monotonic()
    with log_file.open("w", encoding="utf-8") as out:
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert child.stdout is not None
        for line in child.stdout:
            out.write(line)
            if _SHOW.search(line):
                say("  " + line.rstrip()[-200:])
        code = child.wait()
    wall = time.monotonic() - began
    run_id, timings = task_timings(settings.home / "airflow.db", DAG_ID)
    for timing in timings:
        took = "n/a" if timing.duration_s is None else f"{timing.duration_s:6.1f} s"
        say(f"  {timing.task_id:<22} {timing.state or 'none':<8} {took}")
    say(f"airflow dags test: exit {code}, {wall:.1f} s wall in total; run {run_id}")
    say(f"run folder: {var_dir() / 'runs' / run_id}")
    say(_report_line(reports_dir() / DAG_ID / run_id))
    say("the stack (broker, ksql server) is still running for the next run; `make down` stops it")
    if code != 0:
        raise RunFailedError(f"airflow dags test {DAG_ID} exited {code}", hint=f"read {log_file}")
    return run_id, timings, wall
