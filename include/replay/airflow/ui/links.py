"""The "Run report" extra link on every task of a replay DAG run."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from replay.airflow.ui.app import run_href
from replay.paths import run_dir


def is_replay_run(dag_id: str, run_id: str) -> bool:
    """True when the run folder of ``run_id`` belongs to a run of ``dag_id``."""
    import json

    try:
        manifest = json.loads((run_dir(run_id) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("pipeline") == dag_id


class ReportLink(BaseOperatorLink):
    """Links a task instance of a replay DAG to its run's report page (empty for other DAGs)."""

    name = "Run report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The report page of the task's DAG run."""
        if not is_replay_run(ti_key.dag_id, ti_key.run_id):
            return ""
        return run_href(ti_key.dag_id, ti_key.run_id)
