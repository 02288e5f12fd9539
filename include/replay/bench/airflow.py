"""Trigger to report through a running Airflow: the full reference dump, unthrottled.

With the stack up (the session's broker, a ksql server and Airflow's four components, started
before the clock runs) and the dump present, one ``meetup_replay`` run is triggered over the
REST API; the figures are the wall time from the trigger to the run's success and each task's
duration as Airflow recorded it, for a first run (on a fresh ksql server: the migrations are
applied and their queries catch up) and a second one (the queries already running read it
live). The goal of issue 13 is at most 60 s from trigger to report.
``--quick`` uses a 20,000-event dump.
"""

from __future__ import annotations

import time
from typing import Any

from replay.airflow.api import AirflowApi
from replay.airflow.local import admin_password, components, start_all
from replay.airflow.settings import AirflowStackSettings
from replay.bench import BenchContext
from replay.bench.broker import shared_broker
from replay.dump.generator import DEFAULT_EVENTS, generate_dump
from replay.errors import StackError
from replay.settings import StackSettings
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports

GOAL_S = 60.0


def run(ctx: BenchContext) -> dict[str, Any]:
    """Start ksql + Airflow on the session broker, trigger one full run, time it."""
    broker = shared_broker(ctx)
    events = 20_000 if ctx.quick else DEFAULT_EVENTS
    base = ctx.work_dir / "airflow-bench"
    var = base / "var"
    dump = var / "dumps" / "bench.jsonl"
    generate_dump(dump, events=events, progress=False)

    ksql_port, api_port = find_free_ports(2)
    ksql = KsqlServer(
        KsqlServerConfig(
            state_dir=base / "ksql", port=ksql_port, bootstrap_servers=broker.config.bootstrap_servers
        )
    )
    ksql.start(timeout_s=120)
    ctx.resources.callback(ksql.stop)
    settings = AirflowStackSettings(home=base / "airflow", api_port=api_port, start_timeout_s=180)
    stack = StackSettings(
        kafka_port=broker.config.kafka_port,
        jmx_exporter_port=broker.config.jmx_exporter_port,
        ksql_port=ksql_port,
    )
    env = {"REPLAY_VAR_DIR": str(var), "REPLAY_REPORTS_DIR": str(var / "reports")}
    services = components(settings, stack, env)
    began = time.monotonic()
    for service in services:
        ctx.resources.callback(service.stop)
    start_all(services, timeout_s=180)
    airflow_start_s = time.monotonic() - began
    password = admin_password(settings)
    if password is None:
        raise StackError("the api-server wrote no admin password", hint=f"see {settings.home}/logs")
    api = AirflowApi(settings.api_url, settings.admin_user, password).login()
    api.wait_for_dag("meetup_replay", timeout_s=180)
    api.unpause("meetup_replay")

    first = _timed_run(api, {"dump": str(dump), "topic": "meetup_events"})
    # The same again: the KSQL objects are in place now, so its queries read the replay live.
    second = _timed_run(api, {"dump": str(dump), "topic": "meetup_events"})
    return {
        "events": events,
        "airflow_start_s": round(airflow_start_s, 1),
        "goal_s": GOAL_S,
        "first_run": first,
        "second_run": second,
        "within_goal": first["within_goal"] and second["within_goal"],
        "parallelism": settings.parallelism,
    }


def _timed_run(api: AirflowApi, conf: dict[str, Any]) -> dict[str, Any]:
    """Trigger one run of ``meetup_replay`` and follow it; its wall time and each task's."""
    triggered = time.monotonic()
    run_id = api.trigger("meetup_replay", conf)["dag_run_id"]
    finished = api.follow("meetup_replay", run_id, timeout_s=1800, poll_s=0.5)
    trigger_to_done_s = time.monotonic() - triggered
    tasks = {
        ti["task_id"]: (ti["state"], ti.get("duration")) for ti in api.task_instances("meetup_replay", run_id)
    }
    return {
        "run_id": run_id,
        "run_state": finished["state"],
        "note": finished.get("note"),
        "trigger_to_finished_s": round(trigger_to_done_s, 1),
        "within_goal": trigger_to_done_s <= GOAL_S,
        "tasks_s": {
            name: round(d, 1) if isinstance(d, int | float) else None for name, (_, d) in tasks.items()
        },
        "task_states": {name: state for name, (state, _) in tasks.items()},
    }
