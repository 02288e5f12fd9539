"""Test-suite wiring: markers, the ../shared gate, and session-wide real services.

Integration tests get a real Kafka broker (KRaft, single node) started from the project's pinned
jars on free loopback ports with its own temporary data folder, torn down at the end, and (on
request) a real ksqlDB-compatible server process on that broker.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tests.airflow_env  # Airflow's test configuration, before any module imports Airflow
from replay.paths import shared_dir
from replay.settings import StackSettings
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.prereqs import require_java
from replay.stack.process import find_free_ports
from replay.stack.runtime import ensure_runtime

TESTS_DIR = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.is_relative_to(TESTS_DIR / "integration"):
            item.add_marker(pytest.mark.integration)
        # `make test` runs two xdist workers (--dist loadgroup): a module runs whole on one worker
        # (its module-scoped services start once), and every Airflow test on the same worker
        # (they share one session-wide live Airflow).
        airflow = path.is_relative_to(TESTS_DIR / "integration" / "airflow")
        item.add_marker(
            pytest.mark.xdist_group("airflow" if airflow else path.relative_to(TESTS_DIR).as_posix())
        )
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
def airflow_db() -> Path:
    """A migrated, empty Airflow metadata DB (SQLite in the session's Airflow home)."""
    from airflow.utils import db

    db.initdb()
    return tests.airflow_env.AIRFLOW_HOME / "airflow.db"


@pytest.fixture(scope="session")
def ksql_url(ksql_server: KsqlServer) -> str:
    """``http://127.0.0.1:<port>`` of the session ksql server."""
    return ksql_server.config.url


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60]
    return f"t-{safe}-{uuid.uuid4().hex[:8]}"


# -- replay produce: synthetic dumps ---------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def write_meetup_dump(
    path: Path,
    count: int,
    *,
    seed: int = 7,
    start_mtime_ms: int = 1_425_700_000_000,
    gaps_ms: list[int] | None = None,
    repeat_every: int = 10,
) -> list[dict[str, object]]:
    """Write ``count`` Meetup-shaped events as JSON Lines; returns them in file order.

    Ids are numeric strings or 12 letters (as in the real stream), every ``repeat_every``-th
    event re-sends an earlier id with a newer ``mtime`` (an edit), and ``mtime`` advances by
    ``gaps_ms[i]`` (default 1–400 ms) so ``--speedup`` has spacing to reproduce.
    """
    import json
    import random

    rng = random.Random(seed)
    events: list[dict[str, object]] = []
    mtime = start_mtime_ms
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            if i and gaps_ms is None:
                mtime += rng.randint(1, 400)
            elif i and gaps_ms is not None:
                mtime += gaps_ms[i - 1]
            if repeat_every and i % repeat_every == repeat_every - 1 and events:
                event_id = str(events[rng.randrange(len(events))]["id"])
            elif rng.random() < 0.43:
                event_id = "".join(rng.choice(_LETTERS) for _ in range(12))
            else:
                event_id = str(200_000_000 + i)
            event: dict[str, object] = {
                "utc_offset": -18_000_000,
                "rsvp_limit": 0,
                "venue_visibility": "public",
                "visibility": "public",
                "maybe_rsvp_count": 0,
                "description": "<p>" + " ".join("word" for _ in range(rng.randint(20, 600))) + "<\\/p>",
                "mtime": mtime,
                "event_url": f"https://www.meetup.com/group-{i % 97}/events/{200_000_000 + i}/",
                "yes_rsvp_count": rng.randint(0, 20),
                "payment_required": "0",
                "name": f"Event number {i}",
                "id": event_id,
                "time": mtime + 86_400_000,
                "group": {"join_mode": "open", "country": "de", "city": "München", "id": 1000 + i % 97},
                "status": "upcoming",
            }
            events.append(event)
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    return events


@dataclass(frozen=True)
class Consumed:
    """One record as a read_committed consumer saw it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp_ms: int


def _header_dict(headers: object) -> dict[str, str]:
    """Consumed headers (a list of (name, bytes) pairs) as text."""
    assert headers is None or isinstance(headers, list)
    out: dict[str, str] = {}
    for name, value in headers or []:
        out[name] = value.decode() if isinstance(value, bytes) else str(value or "")
    return out


def consume_committed(bootstrap: str, topic: str, *, timeout_s: float = 60.0) -> list[Consumed]:
    """Every committed record of ``topic`` (isolation.level=read_committed), up to its end."""
    from confluent_kafka import Consumer, KafkaError

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.subscribe([topic])
        out: list[Consumed] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(at_end) < partitions:
            assert time.monotonic() < deadline, (
                f"{topic}: only {len(at_end)}/{partitions} partitions read to the end"
            )
            for message in consumer.consume(num_messages=2000, timeout=0.5):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    at_end.add(message.partition() or 0)
                    continue
                at_end.discard(message.partition() or 0)
                out.append(
                    Consumed(
                        partition=message.partition() or 0,
                        offset=message.offset() or 0,
                        key=message.key(),
                        value=message.value(),
                        headers=_header_dict(message.headers()),
                        timestamp_ms=message.timestamp()[1],
                    )
                )
        return out
    finally:
        consumer.close()
