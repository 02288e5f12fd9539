"""Test-suite wiring: markers, the ../shared gate, and session-wide real services.

Integration tests get a real Kafka broker (KRaft, single node) started from the project's pinned
jars on free loopback ports with its own temporary data folder, torn down at the end, and (on
request) a real ksqlDB-compatible server process on that broker.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from replay.paths import shared_dir
from replay.settings import StackSettings
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.prereqs import require_java
from replay.stack.process import find_free_ports
from replay.stack.runtime import ensure_runtime

TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(TESTS_DIR / "integration"):
            item.add_marker(pytest.mark.integration)
    if shared_dir().is_dir():
        return
    deselected = [item for item in items if item.get_closest_marker("shared")]
    if deselected:
        items[:] = [item for item in items if not item.get_closest_marker("shared")]
        config.hook.pytest_deselected(items=deselected)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        notice = (
            f"NOTICE: {len(deselected)} tests marked 'shared' deselected: {shared_dir()} is absent "
            "(set REPLAY_SHARED_DIR to run them)"
        )
        if reporter is not None:
            reporter.write_line(notice, yellow=True)
        else:
            print(notice)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real broker for the whole session, on free ports, in a temporary folder."""
    kafka_port, controller_port, jmx_port = find_free_ports(3)
    runtime = ensure_runtime(StackSettings().kafka_runtime_dir)
    config = BrokerConfig(
        state_dir=tmp_path_factory.mktemp("kafka"),
        kafka_port=kafka_port,
        controller_port=controller_port,
        jmx_exporter_port=jmx_port,
        heap="512m",
    )
    broker = KafkaBroker(config, runtime, require_java())
    broker.start(timeout_s=120)
    try:
        yield broker
    finally:
        broker.stop(timeout_s=30)


@pytest.fixture(scope="session")
def bootstrap_servers(kafka_broker: KafkaBroker) -> str:
    """``host:port`` of the session broker."""
    return kafka_broker.config.bootstrap_servers


@pytest.fixture(scope="session")
def ksql_server(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KsqlServer]:
    """A real ``ksqldb-lite serve`` process on a free port, on the session broker.

    Its service id ``session_`` keeps its command topic apart from servers tests start themselves.
    """
    (port,) = find_free_ports(1)
    config = KsqlServerConfig(
        state_dir=tmp_path_factory.mktemp("ksql"),
        port=port,
        bootstrap_servers=kafka_broker.config.bootstrap_servers,
        service_id="session_",
    )
    server = KsqlServer(config)
    server.start(timeout_s=120)
    try:
        yield server
    finally:
        server.stop(timeout_s=30)


@pytest.fixture(scope="session")
def ksql_url(ksql_server: KsqlServer) -> str:
    """``http://127.0.0.1:<port>`` of the session ksql server."""
    return ksql_server.config.url


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
    return f"t-{safe}-{uuid.uuid4().hex[:8]}"
