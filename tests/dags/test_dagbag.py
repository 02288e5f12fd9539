"""The DAG files import cleanly and declare what the issue asks: tasks, params, schedules."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from tests.airflow_env import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
EXPECTED_TASKS = [
    "check_stack",
    "validate",
    "prepare_topics",
    "start_metrics",
    "migrate_before_replay",
    "replay",
    "apply_migrations",
    "wait_for_drain",
    "stop_metrics",
    "reconcile",
    "build_report",
]


def _dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_the_dagbag_imports_without_errors_or_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = _dagbag()
    assert bag.import_errors == {}
    ours = [w for w in caught if str(PROJECT_ROOT) in str(w.filename)]
    assert ours == [], [f"{w.filename}:{w.lineno}: {w.message}" for w in ours]
    assert sorted(bag.dags) == ["meetup_replay", "meetup_replay_scheduled"]
    for dag_id in bag.dags:
        assert bag.dag_warnings == set() or all(w.dag_id != dag_id for w in bag.dag_warnings)


def test_the_manual_dag_runs_the_steps_in_order() -> None:
    dag = _dagbag().dags["meetup_replay"]
    assert dag.schedule is None and not dag.timetable.can_be_scheduled
    assert [t.task_id for t in dag.topological_sort()] == EXPECTED_TASKS
    for task in dag.tasks:
        assert task.retries >= 1, f"{task.task_id} must be retried (a retry resumes the run)"
    assert dag.max_active_runs == 1 and not dag.catchup
    report = dag.get_task("build_report")
    assert [asset.name for asset in report.outlets] == ["replay-run.meetup_replay"]
    # The collector is a setup/teardown pair around the replay and the drain.
    start, stop = dag.get_task("start_metrics"), dag.get_task("stop_metrics")
    assert start.is_setup and stop.is_teardown and start.task_id in stop.upstream_task_ids
    assert {"replay", "wait_for_drain"} <= set(start.get_flat_relative_ids(upstream=False))
    assert report.trigger_rule == "all_done"  # a report also for a run whose reconciliation failed
    # Validation starts at once, beside the stack check, the topics, the collector's start and
    # the early migrations; the replay waits for both branches.
    assert dag.get_task("validate").upstream_task_ids == set()
    assert dag.get_task("prepare_topics").upstream_task_ids == {"check_stack"}
    assert dag.get_task("replay").upstream_task_ids == {"validate", "migrate_before_replay"}
    # Reconciliation needs only the summaries: it runs beside the migrations and the drain.
    assert dag.get_task("reconcile").upstream_task_ids == {"replay"}
    assert dag.get_task("build_report").upstream_task_ids == {"reconcile", "wait_for_drain", "stop_metrics"}


def test_the_scheduled_dag_runs_daily_by_default_one_run_at_a_time_paused_at_creation() -> None:
    dag = _dagbag().dags["meetup_replay_scheduled"]
    assert dag.schedule == "@daily" and dag.timetable.expression == "0 0 * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is True
    assert [t.task_id for t in dag.topological_sort()] == EXPECTED_TASKS
    manual = _dagbag().dags["meetup_replay"]
    assert dag.params.dump() == manual.params.dump()


def test_the_schedule_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_DAG_SCHEDULE", "*/30 * * * *")
    dag = _dagbag().dags["meetup_replay_scheduled"]
    assert dag.schedule == "*/30 * * * *" and dag.timetable.expression == "*/30 * * * *"


def test_every_param_has_a_title_a_description_and_a_valid_default() -> None:
    dag = _dagbag().dags["meetup_replay"]
    schema = dag.params.dump()
    for name, param in dag.params.items():
        assert param.schema.get("title"), name
        assert param.description, name
    dag.params.validate()  # the defaults themselves are valid
    assert set(schema) >= {
        "dump", "topic", "partitions", "pacing", "rate", "speedup", "max_gap_s", "limit", "skip",
        "validation_policy", "max_invalid_pct", "reset_topics", "migrations_target",
        "apply_migrations_before_replay", "min_rate_pct", "max_e2e_p99_ms", "thresholds", "report_root",
    }  # fmt: skip
    assert dag.params["pacing"] == "unthrottled"
