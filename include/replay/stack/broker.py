"""A real single-node Apache Kafka broker in KRaft combined mode (broker + controller).

Bound to 127.0.0.1 only. The state folder holds ``config/`` (server.properties, log4j2, JMX
exporter rules), ``data/`` (the KRaft log dirs, formatted once with a cluster id kept in
``cluster.id``), ``logs/`` and the pid file. Starting an existing state folder keeps the data,
which is what a restart after ``kill -9`` needs.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from replay.errors import StackError
from replay.settings import LOOPBACK
from replay.stack import process
from replay.stack.runtime import KafkaRuntime

log = logging.getLogger(__name__)

# librdkafka logs every refused connection while the broker boots; keep that out of the console.
_quiet_client_logger = logging.getLogger("replay.stack.rdkafka")
_quiet_client_logger.propagate = False


@dataclass(frozen=True)
class BrokerConfig:
    """Where the broker keeps its state and which loopback ports it binds."""

    state_dir: Path
    kafka_port: int
    controller_port: int
    jmx_exporter_port: int
    heap: str = "768m"
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.kafka_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.jmx_exporter_port}/metrics"


def server_properties(config: BrokerConfig, data_dir: Path) -> dict[str, str]:
    """The broker's settings: single node, loopback only, sized for a 2-core dev machine."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOOPBACK}:{config.controller_port}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{config.kafka_port},CONTROLLER://{LOOPBACK}:{config.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{config.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # Internal topics on one node: replication 1, few partitions so they are created fast.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Consumer groups start at once instead of waiting 3 s for more members.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created on purpose (replay, ksql) with the settings a run needs.
        "auto.create.topics.enable": "false",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.retention.hours": "168",
    }
    props.update(config.overrides)
    return props


def _render_properties(props: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _new_cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, URL-safe base64 without padding (22 characters).
    # Like Kafka's Uuid.randomUuid, never one starting with "-": kafka-storage's argument
    # parser would read it as an option ("--cluster-id: expected one argument").
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker(process.ManagedProcess):
    """Formats, starts, checks and stops the embedded broker."""

    name = "kafka"
    label = "the Kafka broker"

    def __init__(self, config: BrokerConfig, runtime: KafkaRuntime, java: Path) -> None:
        self.config = config
        self.runtime = runtime
        self.java = java
        self.state_dir = config.state_dir
        self.config_dir = self.state_dir / "config"
        self.data_dir = self.state_dir / "data"
        self.log_dir = self.state_dir / "logs"
        self.pid_file = self.state_dir / "kafka.pid"
        self.console_log = self.log_dir / "kafka.out"
        # The data dir identifies *this* broker's process among all java processes.
        self.marker = f"-Dreplay.stack.home={self.state_dir}"

    # -- files -------------------------------------------------------------------------------

    def _write_config(self) -> Path:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        props_path = self.config_dir / "server.properties"
        props_path.write_text(_render_properties(server_properties(self.config, self.data_dir)), "utf-8")
        res = resources.files("replay.stack.resources")
        for name in ("log4j2.properties", "jmx-exporter.yaml"):
            (self.config_dir / name).write_text(res.joinpath(name).read_text(encoding="utf-8"), "utf-8")
        return props_path

    def _cluster_id(self) -> str:
        path = self.state_dir / "cluster.id"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
        cluster_id = _new_cluster_id()
        path.write_text(cluster_id + "\n", encoding="utf-8")
        return cluster_id

    def _format_storage(self, props_path: Path) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.java),
            f"-Dlog4j2.configurationFile={self.config_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            self.runtime.classpath,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            self._cluster_id(),
            "--config",
            str(props_path),
            "--ignore-formatted",
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise StackError(
                f"formatting the KRaft storage in {self.data_dir} failed: "
                f"{(completed.stderr or completed.stdout).strip()[-2000:]}",
                hint=f"delete {self.data_dir} to start from an empty broker, or inspect the error above",
            )

    def _command(self, props_path: Path) -> list[str]:
        agent = self.runtime.jmx_exporter_agent
        exporter = f"{LOOPBACK}:{self.config.jmx_exporter_port}:{self.config_dir / 'jmx-exporter.yaml'}"
        return [
            str(self.java),
            f"-Xms{self.config.heap}",
            f"-Xmx{self.config.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            # As kafka-server-start.sh does: pauses are in the log when latency needs explaining.
            f"-Xlog:gc*:file={self.log_dir / 'gc.log'}:time,uptime,level,tags:filecount=4,filesize=20M",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.config_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            self.marker,
            f"-javaagent:{agent}={exporter}",
            "-cp",
            self.runtime.classpath,
            "kafka.Kafka",
            str(props_path),
        ]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 60.0) -> int:
        """Start the broker (no-op if it already runs) and wait until it answers metadata."""
        pid = self.running_pid()
        if pid is not None:
            return pid
        process.require_free_ports(
            "the Kafka broker",
            {
                "REPLAY_STACK_KAFKA_PORT": self.config.kafka_port,
                "REPLAY_STACK_CONTROLLER_PORT": self.config.controller_port,
                "REPLAY_STACK_JMX_EXPORTER_PORT": self.config.jmx_exporter_port,
            },
        )
        props_path = self._write_config()
        self._format_storage(props_path)
        return self.launch(
            self._command(props_path), self.console_log, lambda child: self.wait_ready(timeout_s, child)
        )

    def wait_ready(self, timeout_s: float, child: subprocess.Popen[bytes] | None = None) -> None:
        """Wait until the broker answers a metadata request; on failure show the log's tail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                raise StackError(
                    f"the Kafka broker exited with code {child.returncode} while starting; "
                    f"last lines of {self.log_dir / 'server.log'}:\n{self._log_tail()}",
                    hint="fix the cause shown above, then run `replay stack up` again",
                )
            if self.answers_metadata(timeout_s=1.0):
                return
            time.sleep(0.2)
        raise StackError(
            f"the Kafka broker did not answer on {self.config.bootstrap_servers} within {timeout_s:.0f} s; "
            f"last lines of its log:\n{self._log_tail()}",
            hint="raise REPLAY_STACK_START_TIMEOUT_S on a slow machine, or read the log above",
        )

    def answers_metadata(self, timeout_s: float = 1.0) -> bool:
        """True when a metadata request returns this broker."""
        if not process.wait_port_open(self.config.kafka_port, timeout_s=0.2):
            return False
        client_config: dict[str, Any] = {
            "bootstrap.servers": self.config.bootstrap_servers,
            "logger": _quiet_client_logger,
        }
        admin = AdminClient(client_config)
        try:
            metadata = admin.list_topics(timeout=timeout_s)
        except Exception as error:  # noqa: BLE001 - any client error means "not ready yet"
            log.debug("broker not ready yet: %s", error)
            return False
        return bool(metadata.brokers)

    def _log_tail(self) -> str:
        server_log = self.log_dir / "server.log"
        text = process.tail(server_log)
        console = process.tail(self.console_log, lines=10)
        return text if console == "(no log written)" else f"{text}\n--- console ---\n{console}"

    def endpoints(self) -> dict[str, str]:
        """Where the broker can be reached, for ``status``."""
        return {
            "bootstrap": self.config.bootstrap_servers,
            "controller": f"{LOOPBACK}:{self.config.controller_port}",
            "metrics": self.config.metrics_url,
        }
