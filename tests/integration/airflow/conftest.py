"""A real Airflow for the tests that need a running one: api-server, scheduler, dag-processor
and triggerer started as ``make run`` starts them (replay.airflow.local), on a free port, in a
temporary home and var folder, on the session's broker and ksql server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from replay.airflow.api import AirflowApi
from replay.airflow.local import admin_password, components, start_all
from replay.airflow.settings import AirflowStackSettings
from replay.settings import StackSettings
from replay.stack.broker import KafkaBroker
from replay.stack.ksql import KsqlServer
from replay.stack.process import find_free_ports


@dataclass(frozen=True)
class KsqlProject:
    """A KSQL migrations project of a test: its folder and the names it creates."""

    path: Path
    suffix: str

    @property
    def german_stream(self) -> str:
        return f"DE_{self.suffix}"


def write_ksql_project(folder: Path, topic: str | None) -> KsqlProject:
    """A migrations project with metadata names of its own (the session's ksql server is shared):
    a source stream over ``topic`` and a persistent query keeping the German events, or (topic
    None) no migration at all."""
    suffix = uuid.uuid4().hex[:8].upper()
    (folder / "migrations").mkdir(parents=True)
    (folder / "ksql-migrations.properties").write_text(
        "ksql.server.url=http://127.0.0.1:9\n"  # the ksqldb_default connection wins over the file
        f"ksql.migrations.stream.name=AF_EVENTS_{suffix}\nksql.migrations.table.name=AF_VERSIONS_{suffix}\n"
    )
    if topic is not None:
        (folder / "migrations" / "V000001__source.sql").write_text(
            f"CREATE STREAM SRC_{suffix} (id STRING, `group` STRUCT<country STRING>) "
            f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');\n"
        )
        (folder / "migrations" / "V000002__germany.sql").write_text(
            "SET 'auto.offset.reset'='earliest';\n"
            f"CREATE STREAM DE_{suffix} AS SELECT * FROM SRC_{suffix} WHERE `group`->country = 'de';\n"
        )
    return KsqlProject(folder, suffix)


@dataclass
class LiveAirflow:
    """A running Airflow and where its files are."""

    settings: AirflowStackSettings
    var: Path
    password: str

    @property
    def url(self) -> str:
        return self.settings.api_url

    def api(self) -> AirflowApi:
        """A logged-in REST client."""
        return AirflowApi(self.url, self.settings.admin_user, self.password).login()


@pytest.fixture(scope="session")
def live_airflow(
    kafka_broker: KafkaBroker, ksql_server: KsqlServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAirflow]:
    """Airflow's four components, stopped (process groups and all) at the end of the session."""
    base = tmp_path_factory.mktemp("live-airflow")
    (port,) = find_free_ports(1)
    settings = AirflowStackSettings(home=base / "airflow", api_port=port, start_timeout_s=180)
    stack = StackSettings(
        kafka_port=kafka_broker.config.kafka_port,
        jmx_exporter_port=kafka_broker.config.jmx_exporter_port,
        ksql_port=ksql_server.config.port,
    )
    var = base / "var"
    (var / "dumps").mkdir(parents=True)
    project = write_ksql_project(base / "ksql", None)
    extra_env = {
        "REPLAY_DAG_MIGRATIONS_DIR": str(project.path),
        "REPLAY_VAR_DIR": str(var),
        "REPLAY_REPORTS_DIR": str(var / "reports"),
        "REPLAY_DAG_RETRY_DELAY_S": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    }
    services = components(settings, stack, extra_env)
    groups: list[int] = []
    try:
        groups = start_all(services, timeout_s=180)  # each leads its own process group
        password = admin_password(settings)
        assert password, f"no generated admin password in {settings.home}"
        yield LiveAirflow(settings, var, password)
    finally:
        _make_down(settings, base, groups)
        for service in services:  # only does something when `make down` left one running
            service.stop(timeout_s=30)


def _make_down(settings: AirflowStackSettings, base: Path, groups: list[int]) -> None:
    """What ``make down`` runs (``replay stack down``), then: no process of any group is left."""
    env = dict(
        os.environ,
        REPLAY_AIRFLOW_HOME=str(settings.home),
        REPLAY_AIRFLOW_API_PORT=str(settings.api_port),
        REPLAY_STACK_STATE_DIR=str(base / "stack"),  # no broker of its own: the session's stays up
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "replay"), "stack", "down"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert name in done.stdout, done.stdout
    left = [pgid for pgid in groups if _group_alive(pgid)]
    assert not left, f"process groups still alive after `replay stack down`: {left}"
    assert not list((settings.home / "run").glob("*.pid")), "pid files left behind"


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # the leader is our child: reap its zombie first
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
