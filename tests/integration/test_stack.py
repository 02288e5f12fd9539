"""The embedded stack against a real broker: CLI up/status/down, traffic, metrics, errors."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from replay.errors import PortInUseError
from replay.settings import StackSettings
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.prereqs import require_java
from replay.stack.process import find_free_ports, process_cmdline, read_pid_file
from replay.stack.runtime import ensure_runtime

REPLAY = [sys.executable, "-m", "replay.cli"]


def _stack_env(tmp_path: Path) -> dict[str, str]:
    kafka, controller, jmx, ksql = find_free_ports(4)
    env = dict(os.environ)
    env.update(
        REPLAY_STACK_STATE_DIR=str(tmp_path / "stack"),
        REPLAY_STACK_KAFKA_PORT=str(kafka),
        REPLAY_STACK_CONTROLLER_PORT=str(controller),
        REPLAY_STACK_JMX_EXPORTER_PORT=str(jmx),
        REPLAY_STACK_KSQL_PORT=str(ksql),
        REPLAY_STACK_BROKER_HEAP="384m",
    )
    return env


def _replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REPLAY, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = _stack_env(tmp_path)
    try:
        yield env
    finally:
        _replay(env, "stack", "down")


def test_cli_up_status_down_leaves_no_process(stack_env: dict[str, str]) -> None:
    state_dir = Path(stack_env["REPLAY_STACK_STATE_DIR"])
    up = _replay(stack_env, "stack", "up")
    assert up.returncode == 0, up.stderr
    assert re.search(
        rf"kafka\s+running\s+pid \d+\s+bootstrap 127\.0\.0\.1:{stack_env['REPLAY_STACK_KAFKA_PORT']}",
        up.stdout,
    )

    info = read_pid_file(state_dir / "kafka" / "kafka.pid")
    assert info is not None
    assert "kafka.Kafka" in (process_cmdline(info.pid) or "")

    again = _replay(stack_env, "stack", "up")  # idempotent: same pid, nothing restarted
    assert again.returncode == 0, again.stderr
    assert f"pid {info.pid}" in again.stdout

    status = _replay(stack_env, "stack", "status")
    assert status.returncode == 0
    assert f"pid {info.pid}" in status.stdout

    down = _replay(stack_env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert re.search(r"stopped: .*\bkafka\b", down.stdout), down.stdout
    assert process_cmdline(info.pid) is None, "the broker process is still there after down"
    assert not (state_dir / "kafka" / "kafka.pid").exists()

    after = _replay(stack_env, "stack", "status")
    assert after.returncode == 3
    assert re.search(r"kafka\s+stopped", after.stdout)


def test_busy_port_is_a_clear_error_not_a_hang(stack_env: dict[str, str]) -> None:
    port = int(stack_env["REPLAY_STACK_KAFKA_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        began = time.monotonic()
        result = _replay(stack_env, "stack", "up")
    assert time.monotonic() - began < 30
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "REPLAY_STACK_KAFKA_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_check_raises_typed_error(tmp_path: Path) -> None:
    kafka, controller, jmx = find_free_ports(3)
    broker = KafkaBroker(
        BrokerConfig(tmp_path, kafka, controller, jmx),
        ensure_runtime(StackSettings().kafka_runtime_dir),
        require_java(),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", jmx))
        squatter.listen(1)
        with pytest.raises(PortInUseError, match=f"port {jmx}"):
            broker.start(timeout_s=10)
    assert broker.running_pid() is None


def test_stale_pid_file_is_reported_and_removed(stack_env: dict[str, str]) -> None:
    pid_file = Path(stack_env["REPLAY_STACK_STATE_DIR"]) / "kafka" / "kafka.pid"
    pid_file.parent.mkdir(parents=True)
    # Our own pid: alive, but certainly not this broker.
    pid_file.write_text(f'{{"pid": {os.getpid()}, "marker": "-Dreplay.stack.home=x", "started_at": 0}}\n')
    result = _replay(stack_env, "stack", "status")
    assert result.returncode == 3
    assert "stale pid file" in result.stderr
    assert not pid_file.exists()


def test_missing_java_says_what_to_install(stack_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(stack_env)
    env.pop("JAVA_HOME", None)
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env["PATH"] = str(empty_bin)  # no java, no mvn; the runtime is already cached
    result = _replay(env, "stack", "up")
    assert result.returncode == 3, result.stderr
    assert "java was not found on PATH" in result.stderr
    assert "apt-get install openjdk-17-jre-headless" in result.stderr


def test_old_java_is_refused(stack_env: dict[str, str], tmp_path: Path) -> None:
    fake_home = tmp_path / "jdk8"
    (fake_home / "bin").mkdir(parents=True)
    fake_java = fake_home / "bin" / "java"
    fake_java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_392\"' >&2\n")
    fake_java.chmod(0o755)
    result = _replay({**stack_env, "JAVA_HOME": str(fake_home)}, "stack", "up")
    assert result.returncode == 3
    assert "is Java 8; Kafka 4 needs Java 17+" in result.stderr


def test_missing_maven_says_what_to_install(stack_env: dict[str, str], tmp_path: Path) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env = {
        **stack_env,
        "PATH": str(empty_bin),
        "REPLAY_STACK_KAFKA_RUNTIME_DIR": str(tmp_path / "no-runtime"),
    }
    result = _replay(env, "stack", "fetch")
    assert result.returncode == 3
    assert "mvn was not found on PATH" in result.stderr
    assert "apt-get install maven" in result.stderr


def test_produce_consume_round_trip(bootstrap_servers: str, topic_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)])[topic_name].result(30)
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all"})
    sent = {f"key-{i}": f"value-{i}".encode() for i in range(500)}
    for key, value in sent.items():
        producer.produce(topic_name, key=key.encode(), value=value)
    assert producer.flush(30) == 0
    producer.close()

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"g-{topic_name}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic_name])
    received: dict[str, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1.0):
                assert message.error() is None, message.error()
                raw_key, raw_value = message.key(), message.value()
                assert raw_key is not None and raw_value is not None
                received[raw_key.decode()] = raw_value
    finally:
        consumer.close()
    assert received == sent


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def test_metrics_endpoint_exposes_broker_metrics_after_traffic(
    kafka_broker: KafkaBroker, bootstrap_servers: str, topic_name: str
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)])[topic_name].result(30)
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for i in range(200):
        producer.produce(topic_name, value=b"x" * 100, key=str(i).encode())
    assert producer.flush(30) == 0
    producer.close()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"m-{topic_name}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic_name])
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 200 and time.monotonic() < deadline:
        seen += len(consumer.consume(200, timeout=1.0))
    consumer.close()
    assert seen == 200

    samples = _samples(_scrape(kafka_broker.config.metrics_url))

    def value(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        assert key in samples, f"metric {name}{labels} missing from the exporter output"
        return samples[key]

    assert value("kafka_server_brokertopicmetrics_messagesin_total", topic=topic_name) == 200
    assert value("kafka_server_brokertopicmetrics_bytesin_total", topic=topic_name) > 200 * 100
    assert value("kafka_server_brokertopicmetrics_bytesout_total", topic=topic_name) > 200 * 100
    assert value("kafka_log_log_size", topic=topic_name, partition="0") > 200 * 100
    for request in ("Produce", "Fetch"):
        for quantile in ("0.50", "0.99", "0.999"):
            assert value("kafka_network_requestmetrics_totaltimems", request=request, quantile=quantile) >= 0
        assert value("kafka_network_requestmetrics_totaltimems_count", request=request) > 0
    assert value("kafka_server_replicamanager_underreplicatedpartitions") == 0


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    result = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return result
