"""The DAG-run note: a one-line summary of a finished replay run (a listener of the UI plugin).

Why a listener and not the task: in Airflow 3.3 a task talks to the Execution API only, and
the Task SDK offers no call that changes its own DAG run (``airflow.sdk.api.client`` can trigger
a run *with* a note, nothing more); the public REST API (``PATCH /api/v2/dags/{dag}/dagRuns/
{run}?update_mask=note``) would need a user's credentials inside the worker. The scheduler,
which owns the metadata DB, calls ``on_dag_run_success`` / ``on_dag_run_failed`` with the
DagRun row in its session when it marks the run finished (``dag.test`` does the same), so the
note is written there, in the same transaction, from the run's own files.

Only runs of the replay DAGs get a note: those whose run folder's ``run.json`` names the DAG.
A note someone already wrote is kept; the summary goes below it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl

from replay.airflow.figures import run_figures
from replay.errors import ReplayError
from replay.paths import reports_dir, run_dir
from replay.pipeline.context import RunContext

log = logging.getLogger(__name__)


def summary_for(dag_id: str, run_id: str) -> str | None:
    """The note line of a replay run, None when ``run_id`` is not a run of ``dag_id``."""
    folder = run_dir(run_id)
    try:
        ctx = RunContext(run_id=run_id, pipeline=dag_id, report_root=reports_dir())
    except ReplayError:  # not a run id the replay accepts: not one of its runs
        return None
    manifest = ctx.read_manifest() if folder.is_dir() else None
    if manifest is None or manifest.get("pipeline") != dag_id:
        return None
    report_dir = manifest.get("report_dir")
    figures = run_figures(folder, Path(report_dir) if report_dir else ctx.report_dir)
    return figures.note_line()


def _set_note(dag_run: Any, line: str) -> None:
    existing = dag_run.note
    if existing and line in existing:
        return
    dag_run.note = f"{existing}\n{line}" if existing else line


def _annotate(dag_run: Any, state: str) -> None:
    from sqlalchemy.orm import object_session

    line = summary_for(dag_run.dag_id, dag_run.run_id)
    if line is None:
        return
    line = f"{state}: {line}"
    if object_session(dag_run) is not None:
        # The scheduler: its session commits the note with the run's new state.
        _set_note(dag_run, line)
    else:
        # dag.test hands over a detached row: write the note in a session of our own.
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id)
            ).one()
            _set_note(row, line)
    log.info("note of %s/%s: %s", dag_run.dag_id, dag_run.run_id, line)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    """Write the run's summary into its note."""
    _annotate(dag_run, "success")


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    """Write what the run got done into its note."""
    _annotate(dag_run, "failed")
