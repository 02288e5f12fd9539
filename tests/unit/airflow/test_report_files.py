"""The reports app serves files inside the report root and nothing else (path checks only; the
authentication of every route is tested against a real api-server in
tests/integration/airflow/test_live_airflow.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from replay.airflow.ui.app import create_app
from replay.airflow.ui.index import UnsafePathError, list_runs, resolve_report_file

RUN = "manual__2026-12-02T10:00:00+00:00"
# fastapi.testclient warns that it still uses httpx; that is FastAPI's business, not this test's.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "reports"
    report = root / "meetup_replay" / RUN
    report.mkdir(parents=True)
    (report / "report.html").write_text("<html>the report</html>")
    (report / "report.json").write_text(
        json.dumps({"run_id": RUN, "pipeline": "meetup_replay", "validation": {"passed": True}})
    )
    (report / "plots").mkdir()
    (report / "plots" / "rate.svg").write_text("<svg/>")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    (report / "escape.txt").symlink_to(secret)
    (report / "escape-dir").symlink_to(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    return {"root": root, "report": report, "secret": secret, "runs": runs}


@pytest.fixture
def client(tree: dict[str, Path]) -> Any:
    from fastapi.testclient import TestClient

    app = create_app(
        tree["root"], runs_folder=tree["runs"], auth=lambda: [lambda: None], states=lambda keys: {}
    )
    return TestClient(app)


def test_files_inside_the_root_are_served(client: Any) -> None:
    base = f"/runs/meetup_replay/{RUN.replace(':', '%3A').replace('+', '%2B')}"
    assert client.get(f"{base}/").text == "<html>the report</html>"
    assert client.get(f"{base}/plots/rate.svg").text == "<svg/>"


@pytest.mark.parametrize(
    "path",
    [
        "/runs/meetup_replay/..%2F..%2F/secret.txt",
        "/runs/meetup_replay/%2e%2e/%2e%2e",
        "/runs/%2e%2e/%2e%2e/secret.txt",
        "/runs/meetup_replay/" + RUN + "/..%2F..%2F..%2Fsecret.txt",
        "/runs/meetup_replay/" + RUN + "/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/runs/meetup_replay/" + RUN + "/%252e%252e/%252e%252e/secret.txt",
        "/runs/meetup_replay/" + RUN + "/%2Fetc%2Fpasswd",
        "/runs/meetup_replay/" + RUN + "//etc/passwd",
        "/runs/meetup_replay/" + RUN + "/escape.txt",
        "/runs/meetup_replay/" + RUN + "/escape-dir/secret.txt",
        "/runs/meetup_replay/" + RUN + "/plots%5C..%5C..%5Creport.json",
        "/runs/meetup_replay/" + RUN + "/plots/%00",
    ],
)
def test_nothing_outside_the_root_is_served(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 307), (path, response.status_code)
    assert "TOP-SECRET" not in response.text and "root:" not in response.text


def test_resolve_refuses_each_kind(tree: dict[str, Path]) -> None:
    root = tree["root"]
    for parts in [
        ("..", "secret.txt"),
        ("meetup_replay", RUN, "../../../secret.txt"),
        ("/etc/passwd",),
        ("meetup_replay", RUN, "escape.txt"),
        ("meetup_replay", RUN, "escape-dir/secret.txt"),
        ("meetup_replay", RUN, "missing.html"),
        ("meetup_replay", RUN, "a\x00b"),
        ("meetup_replay", RUN, "plots"),  # a folder is not a file
    ]:
        with pytest.raises(UnsafePathError):
            resolve_report_file(root, *parts)
    assert resolve_report_file(root, "meetup_replay", RUN, "plots/rate.svg").read_text() == "<svg/>"


def test_the_list_reads_reports_and_run_folders_and_skips_cli_runs(
    tree: dict[str, Path], client: Any
) -> None:
    folder = tree["runs"] / "scheduled__2026-12-01T00:00:00+00:00"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"pipeline": "meetup_replay_scheduled", "created_at_ms": 1}))
    cli = tree["runs"] / "run-20261201T000000Z-abcdef"
    cli.mkdir()
    (cli / "run.json").write_text(json.dumps({"pipeline": "cli"}))
    entries = list_runs(tree["root"], tree["runs"])
    assert {(e.dag_id, e.run_id, e.has_report) for e in entries} == {
        ("meetup_replay", RUN, True),
        ("meetup_replay_scheduled", "scheduled__2026-12-01T00:00:00+00:00", False),
    }
    rows = client.get("/api/runs").json()
    assert {row["validation"] for row in rows} == {"passed", "n/a"}
    page = client.get("/").text
    assert "Replay reports" in page and RUN in page
