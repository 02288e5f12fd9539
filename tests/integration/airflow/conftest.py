"""A real Airflow for the tests that need a running one: api-server, scheduler, dag-processor
and triggerer started as ``make run`` starts them (replay.airflow.local), on a free port, in a
temporary home and var folder, on the session's broker and ksql server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from replay.airflow.api import AirflowApi
from replay.airflow.local import admin_password, components
from replay.airflow.settings import AirflowStackSettings
from replay.settings import StackSettings
from replay.stack.broker import KafkaBroker
from replay.stack.ksql import KsqlServer
from replay.stack.process import find_free_ports


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
    stack = StackSettings(kafka_port=kafka_broker.config.kafka_port, ksql_port=ksql_server.config.port)
    var = base / "var"
    (var / "dumps").mkdir(parents=True)
    extra_env = {
        "REPLAY_VAR_DIR": str(var),
        "REPLAY_REPORTS_DIR": str(var / "reports"),
        "REPLAY_DAG_RETRY_DELAY_S": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    }
    services = components(settings, stack, extra_env)
    started = []
    try:
        for service in services:
            service.start(timeout_s=180)
            started.append(service)
        password = admin_password(settings)
        assert password, f"no generated admin password in {settings.home}"
        yield LiveAirflow(settings, var, password)
    finally:
        for service in reversed(started):
            service.stop(timeout_s=30)
        leftovers = [s.name for s in services if s.running_pid() is not None]
        assert not leftovers, leftovers
