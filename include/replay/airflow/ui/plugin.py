"""What ``plugins/replay_reports.py`` registers with Airflow.

The FastAPI app is built on first use of ``fastapi_apps`` (only the api-server asks for it), so
the scheduler, the DAG processor and the task processes, which load plugins too, never pay for
FastAPI and Airflow's security module.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from replay.airflow import notes
from replay.airflow.ui.app import URL_PREFIX
from replay.airflow.ui.links import ReportLink

NAV_VIEW = {
    "name": "Replay reports",
    "href": "replay-reports/",
    "destination": "nav",
    "url_route": "replay-reports",
    "category": "browse",
}
RUN_TAB = {
    "name": "Replay report",
    "href": "replay-reports/runs/{DAG_ID}/{RUN_ID}/",
    "destination": "dag_run",
    "url_route": "replay-report",
}


class ReplayReportsPlugin(AirflowPlugin):
    """The "Replay reports" page, the DAG-run tab, the task link and the run-note listener."""

    name = "replay_reports"
    # Airflow reads these as plain class attributes of its plugin classes.
    external_views = [NAV_VIEW, RUN_TAB]  # noqa: RUF012
    global_operator_extra_links = [ReportLink()]  # noqa: RUF012
    listeners = [notes]  # noqa: RUF012
    _apps: ClassVar[list[dict[str, Any]] | None] = None

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The reports app, built once when the api-server asks."""
        if ReplayReportsPlugin._apps is None:
            from replay.airflow.ui.app import create_app

            ReplayReportsPlugin._apps = [
                {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Replay reports"}
            ]
        return ReplayReportsPlugin._apps
