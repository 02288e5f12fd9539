"""The "Replay reports" FastAPI app that the UI plugin mounts at ``/replay-reports``.

Routes (every one behind Airflow's authentication: 401 without a token, and the run routes
also check that the user may read the DAG's runs):

- ``GET /replay-reports/`` — the runs list (the navigation entry's page);
- ``GET /replay-reports/api/runs`` — the same as JSON;
- ``GET /replay-reports/runs/{dag_id}/{run_id}/`` — the run's ``report.html`` (the DAG-run
  tab), or a summary of what its run folder has when the report is not built yet;
- ``GET /replay-reports/runs/{dag_id}/{run_id}/{path}`` — another file of that report (plots).

HTML is rendered with Jinja2 (autoescaping on); files go through
:func:`replay.airflow.ui.index.resolve_report_file` only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from replay.airflow.figures import RunFigures
from replay.airflow.ui.index import RunEntry, UnsafePathError, list_runs, resolve_report_file
from replay.paths import reports_dir

log = logging.getLogger(__name__)

URL_PREFIX = "/replay-reports"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.2rem; color: #1f2933; }
 table { border-collapse: collapse; font-size: 0.8rem; }
 th, td { border-bottom: 1px solid #d9dee3; padding: 0.35rem 0.6rem; text-align: left; white-space: nowrap; }
 th { background: #f3f5f7; } td.run { white-space: normal; word-break: break-all; max-width: 16rem; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .ok { color: #137333; } .bad { color: #b3261e; } .muted { color: #6b7785; }
</style></head><body>
<h2>{{ title }}</h2>
{% block body %}{% endblock %}
</body></html>"""

_INDEX = """{% extends "page" %}{% block body %}
<p class="muted">Reports under {{ root }} · {{ runs|length }} run(s) · newest first</p>
{% if not runs %}<p>No replay runs yet. Trigger the <b>meetup_replay</b> DAG.</p>{% else %}
<table><thead><tr><th>date (UTC)</th><th>DAG</th><th>run</th><th>status</th><th>events</th>
<th>target rate</th><th>achieved rate</th><th>e2e p99 (ms)</th><th>validation</th><th>cross-checks</th>
<th>thresholds</th><th>report</th></tr></thead><tbody>
{% for row in runs %}<tr>
<td>{{ row.date }}</td><td>{{ row.dag_id }}</td><td class="run">{{ row.run_id }}</td><td>{{ row.status }}</td>
<td class="num">{{ row.events }}</td><td class="num">{{ row.target_rate }}</td>
<td class="num">{{ row.achieved_rate }}</td><td class="num">{{ row.e2e_p99 }}</td>
<td class="{{ row.validation_class }}">{{ row.validation }}</td>
<td class="{{ row.cross_class }}">{{ row.cross_checks }}</td>
<td class="{{ row.threshold_class }}">{{ row.thresholds }}</td>
<td><a href="{{ row.href }}" target="_top">{{ 'report' if row.has_report else 'run summary' }}</a></td>
</tr>{% endfor %}</tbody></table>{% endif %}
{% endblock %}"""

_PENDING = """{% extends "page" %}{% block body %}
<p>This run has no report.json yet (the report step writes it at the end of a run). What its run
folder has so far:</p>
<table><tbody>{% for name, value in figures %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}
</tbody></table>{% endblock %}"""


def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.DictLoader({"page": _PAGE, "index": _INDEX, "pending": _PENDING}),
        autoescape=True,
    )
    return env


def run_href(dag_id: str, run_id: str) -> str:
    """The URL of a run's report page (absolute path on the api-server)."""
    return f"{URL_PREFIX}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}/"


def _fmt(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _verdict_class(value: str | None, good: tuple[str, ...]) -> str:
    if value is None:
        return "muted"
    return "ok" if value in good else "bad"


def _row(entry: RunEntry, state: str | None) -> dict[str, Any]:
    f = entry.figures
    failed = [name for name, verdict in f.thresholds.items() if verdict != "pass"]
    thresholds = "none set" if not f.thresholds else ("failed: " + ", ".join(failed) if failed else "pass")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(f.created_at_ms / 1000))
        if f.created_at_ms
        else "n/a",
        "dag_id": entry.dag_id,
        "run_id": entry.run_id,
        "status": state or f.status or "n/a",
        "events": _fmt(f.events),
        "target_rate": _fmt(f.target_rate) if f.target_rate else "unthrottled" if f.achieved_rate else "n/a",
        "achieved_rate": _fmt(f.achieved_rate),
        "e2e_p99": _fmt(f.e2e_p99_ms, 1),
        "validation": f.validation or "n/a",
        "validation_class": _verdict_class(f.validation, ("passed",)),
        "cross_checks": f.cross_checks or "n/a",
        "cross_class": _verdict_class(f.cross_checks, ("ok",)),
        "thresholds": thresholds,
        "threshold_class": "muted" if not f.thresholds else ("bad" if failed else "ok"),
        "has_report": entry.has_report,
        "href": run_href(entry.dag_id, entry.run_id),
    }


def dag_run_states(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The DAG runs' states from Airflow's metadata DB (the api-server may read it)."""
    wanted = set(keys)
    if not wanted:
        return {}
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with create_session() as session:
            rows = session.execute(
                select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(
                    DagRun.dag_id.in_({dag for dag, _ in wanted})
                )
            ).all()
    except SQLAlchemyError as error:
        log.warning("cannot read DAG run states: %s", error)
        return {}
    return {(row[0], row[1]): str(row[2]) for row in rows if (row[0], row[1]) in wanted}


def _figure_rows(f: RunFigures) -> list[tuple[str, str]]:
    return [
        ("events committed", _fmt(f.events)),
        ("records read", _fmt(f.read)),
        ("quarantined", _fmt(f.quarantined)),
        ("target rate (events/s)", _fmt(f.target_rate) if f.target_rate else "unthrottled"),
        ("achieved rate (events/s)", _fmt(f.achieved_rate)),
        ("validation", f.validation or "n/a"),
        ("cross-checks", f.cross_checks or "n/a"),
        ("summary", f.note_line()),
    ]


def create_app(
    report_root: Path | None = None,
    *,
    runs_folder: Path | None = None,
    auth: Callable[[], list[Any]] | None = None,
    states: Callable[[Iterable[tuple[str, str]]], dict[tuple[str, str], str]] = dag_run_states,
) -> Any:
    """The FastAPI app. ``auth`` returns the dependencies that guard each route kind (Airflow's
    own by default); tests of the path checks pass their own."""
    from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

    templates = _templates()
    root_of: Callable[[], Path] = (lambda: report_root) if report_root else reports_dir
    guards = auth() if auth else airflow_guards()
    app = FastAPI(title="Replay reports", docs_url=None, redoc_url=None, openapi_url=None)
    router = APIRouter(dependencies=[Depends(guards[0])])
    run_router = APIRouter(dependencies=[Depends(guard) for guard in guards])

    def _rows() -> list[dict[str, Any]]:
        entries = list_runs(root_of(), runs_folder)
        found = states((e.dag_id, e.run_id) for e in entries)
        return [_row(e, found.get((e.dag_id, e.run_id))) for e in entries]

    @router.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        html = templates.get_template("index").render(title="Replay reports", runs=_rows(), root=root_of())
        return HTMLResponse(html)

    @router.get("/api/runs")
    def runs_json() -> JSONResponse:
        return JSONResponse(_rows())

    @run_router.get("/runs/{dag_id}/{run_id}")
    def run_redirect(dag_id: str, run_id: str, request: Request) -> RedirectResponse:
        return RedirectResponse(run_href(dag_id, run_id))

    @run_router.get("/runs/{dag_id}/{run_id}/", response_class=HTMLResponse)
    def run_page(dag_id: str, run_id: str) -> Any:
        root = root_of()
        try:
            return FileResponse(resolve_report_file(root, dag_id, run_id, "report.html"))
        except UnsafePathError:
            pass
        entry = next(
            (e for e in list_runs(root, runs_folder) if (e.dag_id, e.run_id) == (dag_id, run_id)), None
        )
        if entry is None:
            raise HTTPException(status_code=404, detail=f"no replay run {run_id} of {dag_id}")
        html = templates.get_template("pending").render(
            title=f"{dag_id} · {run_id}", figures=_figure_rows(entry.figures)
        )
        return HTMLResponse(html)

    @run_router.get("/runs/{dag_id}/{run_id}/{path:path}")
    def run_file(dag_id: str, run_id: str, path: str) -> FileResponse:
        try:
            return FileResponse(resolve_report_file(root_of(), dag_id, run_id, path))
        except UnsafePathError as error:
            raise HTTPException(status_code=404, detail=error.message) from None

    app.include_router(router)
    app.include_router(run_router)
    return app


def airflow_guards() -> list[Any]:
    """Airflow's auth dependencies: any logged-in user for the list, DAG-run read access for a run.

    Imported here, not at module level: the security module costs about a second and only the
    api-server needs it (the scheduler and the workers load the plugin too).
    """
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag, requires_authenticated

    return [requires_authenticated(), requires_access_dag("GET", DagAccessEntity.RUN)]
