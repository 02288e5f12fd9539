"""A small client of Airflow's REST API (``/api/v2``) for ``make run``, the bench and the tests.

It logs in with ``POST /auth/token`` and sends the token as a Bearer header; the password is
never logged. Errors become :class:`~replay.errors.StackError` with the HTTP status and what
Airflow said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from replay.errors import StackError

FINISHED_RUN_STATES = frozenset({"success", "failed"})


@dataclass
class AirflowApi:
    """An authenticated session on one api-server."""

    base_url: str
    username: str
    password: str = field(repr=False)
    timeout_s: float = 30.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def login(self) -> AirflowApi:
        """Fetch a token (SimpleAuthManager: 201 with ``access_token``)."""
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout_s,
        )
        if response.status_code not in (200, 201):
            raise StackError(
                f"Airflow at {self.base_url} refused the login of {self.username!r} (HTTP {response.status_code})",
                hint="check the admin password in var/airflow/simple_auth_manager_passwords.json.generated",
            )
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return self

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """One API call; a status outside ``ok`` is a StackError."""
        response = self.session.request(method, f"{self.base_url}{path}", timeout=self.timeout_s, **kwargs)
        if response.status_code not in ok:
            raise StackError(
                f"Airflow answered HTTP {response.status_code} to {method} {path}: {response.text[:500]}",
                hint="see the api-server log under var/airflow/logs/",
            )
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.session.get(f"{self.base_url}/api/v2/dags/{dag_id}", timeout=self.timeout_s)
            if response.status_code == 200:
                document: dict[str, Any] = response.json()
                return document
            if time.monotonic() > deadline:
                raise StackError(
                    f"DAG {dag_id} did not appear in Airflow within {timeout_s:.0f} s (HTTP {response.status_code})",
                    hint="look for import errors: GET /api/v2/importErrors or the dag-processor log",
                )
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        """New DAGs are paused at creation: a run of a paused DAG stays queued."""
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """A manual run; a conf that breaks a Param is a StackError with Airflow's message (HTTP 400)."""
        document: dict[str, Any] = self.request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            ok=(200, 201),
            json={"logical_date": None, "conf": conf or {}},
        )
        return document

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The DAG run (state, note, dates)."""
        document: dict[str, Any] = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
        )
        return document

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances."""
        document = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        )
        items: list[dict[str, Any]] = document["task_instances"]
        return items

    def follow(
        self,
        dag_id: str,
        run_id: str,
        *,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        timeout_s: float = 3600.0,
        poll_s: float = 1.0,
    ) -> dict[str, Any]:
        """Poll until the run finishes; ``on_change`` gets each task instance whose state changed."""
        seen: dict[str, tuple[str | None, int]] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            for ti in self.task_instances(dag_id, run_id):
                key = (ti.get("state"), int(ti.get("try_number") or 0))
                if seen.get(ti["task_id"]) != key:
                    seen[ti["task_id"]] = key
                    if on_change is not None:
                        on_change(ti)
            run = self.dag_run(dag_id, run_id)
            if run.get("state") in FINISHED_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise StackError(
                    f"run {run_id} of {dag_id} did not finish within {timeout_s:.0f} s",
                    hint="follow it in the Airflow UI",
                )
            time.sleep(poll_s)
