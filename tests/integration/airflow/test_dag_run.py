"""``dag.test()`` of meetup_replay end to end on the real broker and ksql server.

One run on a small generated dump with malformed records: every task succeeds, the counts
reconcile, the run's note and its asset event carry the key figures — and the SASL password and
the ksqlDB password set in the connections appear nowhere: not in the task logs, the XComs,
the note, the run folder or the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from replay.dump.generator import generate_dump
from replay.stack.broker import KafkaBroker
from tests.conftest import consume_committed
from tests.integration.airflow.conftest import KsqlProject, write_ksql_project

SASL_PASSWORD = "sasl-Pa55-9f1c0e"
KSQL_PASSWORD = "ksql-Pa55-4b7d2a"
SECRETS = (SASL_PASSWORD, KSQL_PASSWORD)
EVENTS = 3000
EXPECTED_TASKS = [
    "check_stack",
    "validate",
    "prepare_topics",
    "start_metrics",
    "migrate_before_replay",
    "replay",
]
EXPECTED_TASKS += ["apply_migrations", "wait_for_drain", "stop_metrics", "reconcile", "build_report"]


@pytest.fixture
def replay_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    bootstrap_servers: str,
    ksql_url: str,
    airflow_db: Path,
) -> Path:
    """A run folder root of its own, and connections that carry credentials."""
    var = tmp_path / "var"
    monkeypatch.setenv("REPLAY_VAR_DIR", str(var))
    monkeypatch.delenv("REPLAY_REPORTS_DIR", raising=False)
    # PLAINTEXT: librdkafka ignores the SASL settings, so the real broker accepts the client
    # while the password still travels through every layer the test scans.
    kafka = {
        "conn_type": "kafka",
        "extra": {
            "bootstrap.servers": bootstrap_servers,
            "security.protocol": "PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "replay",
            "sasl.password": SASL_PASSWORD,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps(kafka))
    host_port = ksql_url.removeprefix("http://")
    monkeypatch.setenv("AIRFLOW_CONN_KSQLDB_DEFAULT", f"http://replay:{KSQL_PASSWORD}@{host_port}")
    monkeypatch.setenv("REPLAY_DAG_RETRY_DELAY_S", "1")
    monkeypatch.setenv("REPLAY_METRICS_BROKER_URL", kafka_broker.config.metrics_url)
    return var


@pytest.fixture
def ksql_project(tmp_path: Path, topic_name: str, monkeypatch: pytest.MonkeyPatch) -> KsqlProject:
    project = write_ksql_project(tmp_path / "ksql", topic_name)
    monkeypatch.setenv("REPLAY_DAG_MIGRATIONS_DIR", str(project.path))
    return project


def _xcoms(dag_id: str, run_id: str) -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
        ).all()
        return [(row.task_id, XComModel.deserialize_value(row)) for row in rows]


def _asset_events(dag_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == f"replay-run.{dag_id}")
        ).all()
    return [dict(row[0]) for row in rows]


def _note(dag_id: str, run_id: str) -> str | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
        note: str | None = run.note
        return note


def _files_text(*roots: Path) -> str:
    chunks = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_dag_test_runs_every_task_reconciles_and_leaks_no_secret(
    replay_env: Path,
    ksql_project: KsqlProject,
    topic_name: str,
    bootstrap_servers: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow_env import AIRFLOW_HOME, PROJECT_ROOT

    dump = replay_env / "dumps" / "small.jsonl"
    generated = generate_dump(dump, events=EVENTS, seed=5, invalid_fraction=0.004, progress=False)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["meetup_replay"]
    run = dag.test(
        run_conf={
            "dump": str(dump),
            "topic": topic_name,
            "partitions": 2,
            "pacing": "rate",
            "rate": 20000,
        },
        use_executor=False,
    )
    out, err = capfd.readouterr()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    expected = dict.fromkeys(EXPECTED_TASKS, "success") | {"migrate_before_replay": "skipped"}
    assert states == expected, (states, err[-3000:])
    assert run.state == "success"

    xcoms = dict(_xcoms(dag.dag_id, run.run_id))
    reconciled = xcoms["reconcile"]
    assert reconciled["reconciled"] is True and reconciled["read"] == EVENTS
    assert reconciled["sent"] == reconciled["valid"] == EVENTS - reconciled["quarantined"]
    assert reconciled["quarantined"] > 0, generated
    replayed = consume_committed(bootstrap_servers, topic_name)
    assert len(replayed) == reconciled["sent"]
    # Every quarantined record reached the DLQ, an oversized one truncated to fit.
    assert len(consume_committed(bootstrap_servers, f"{topic_name}.dlq")) == reconciled["quarantined"]
    assert xcoms["check_stack"]["kafka"]["brokers"] == 1
    assert xcoms["replay"]["rate"]["target_per_s"] == 20000

    note = _note(dag.dag_id, run.run_id)
    assert note is not None and note.startswith("success: ")
    assert (
        f"{reconciled['sent']:,} events" in note and "cross-checks ok" in note and "validation passed" in note
    )
    extras = _asset_events(dag.dag_id)
    assert extras and extras[-1]["events"] == reconciled["sent"] and extras[-1]["cross_checks"] == "ok"

    assert xcoms["apply_migrations"]["applied"] == [1, 2]
    assert xcoms["wait_for_drain"]["drained"] is True, xcoms["wait_for_drain"]
    german = sum(1 for r in replayed if json.loads(r.value or b"{}").get("group", {}).get("country") == "de")
    assert len(consume_committed(bootstrap_servers, ksql_project.german_stream)) == german > 0

    run_folder = replay_env / "runs" / run.run_id
    assert (run_folder / "run.json").is_file() and (run_folder / "produce-summary.json").is_file()
    report_dir = replay_env / "reports" / "meetup_replay" / run.run_id
    assert {"report.json", "report.html", "summary.md"} <= {p.name for p in report_dir.iterdir()}
    report = json.loads((report_dir / "report.json").read_text())
    assert report["reconciliation"]["sent"] == reconciled["sent"] and report["status"] == "passed"
    assert extras[-1]["has_report"] is True and xcoms["stop_metrics"]["was_running"] is True
    scanned = "\n".join(
        [
            out,
            err,
            json.dumps(list(xcoms.values()), default=str),
            note,
            _files_text(replay_env / "runs", replay_env / "reports", AIRFLOW_HOME / "logs"),
        ]
    )
    assert "sasl.username" in scanned or "replay" in scanned  # the scan sees the run's output
    for secret in SECRETS:
        assert secret not in scanned
