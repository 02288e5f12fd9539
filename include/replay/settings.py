"""Typed settings with environment overrides.

Each settings class reads ``REPLAY_<SECTION>_<FIELD>`` from the environment (for example
``REPLAY_KAFKA_BOOTSTRAP_SERVERS``). Secrets are ``SecretStr``: they print as ``**********`` and
are only unwrapped where a client is built, so they never reach logs or reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from replay.paths import var_dir

LOOPBACK = "127.0.0.1"


class StackSettings(BaseSettings):
    """The embedded stack: a single-node KRaft broker and the ksqlDB-compatible server."""

    model_config = SettingsConfigDict(env_prefix="REPLAY_STACK_", extra="ignore")

    state_dir: Path = Field(default_factory=lambda: var_dir() / "stack")
    kafka_runtime_dir: Path = Field(default_factory=lambda: var_dir() / "kafka")
    kafka_port: int = 9092
    controller_port: int = 9093
    jmx_exporter_port: int = 9404
    ksql_port: int = 8088
    ksql_service_id: str = "default_"
    broker_heap: str = "768m"
    # server.properties on top of the embedded broker's own (README lists where they differ
    # from Kafka's defaults), as JSON: '{"auto.create.topics.enable": "true"}'.
    broker_properties: dict[str, str] = Field(default_factory=dict)
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 30.0
    with_ksql: bool = True
    # Airflow (api-server, scheduler, dag-processor, triggerer) as services of the stack;
    # `make run` turns it on. `down` stops Airflow whatever this says.
    with_airflow: bool = False

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.kafka_port}"

    @property
    def ksql_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ksql_port}"

    @property
    def jmx_exporter_url(self) -> str:
        return f"http://{LOOPBACK}:{self.jmx_exporter_port}/metrics"


class KafkaSettings(BaseSettings):
    """How clients reach Kafka. In Airflow these come from the ``kafka_default`` connection."""

    model_config = SettingsConfigDict(env_prefix="REPLAY_KAFKA_", extra="ignore")

    bootstrap_servers: str = f"{LOOPBACK}:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    client_id: str = "meetup-replay"
    # TLS (security_protocol SSL or SASL_SSL): librdkafka's ssl.* settings of the same names.
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_endpoint_identification_algorithm: str | None = None

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings for a client; the only place the password is unwrapped."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
            if getattr(self, key):
                config[key.replace("_", ".")] = getattr(self, key)
        if self.ssl_endpoint_identification_algorithm is not None:
            config["ssl.endpoint.identification.algorithm"] = self.ssl_endpoint_identification_algorithm
        if self.ssl_key_password is not None:
            config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return config


class KsqlSettings(BaseSettings):
    """How clients reach ksqlDB. In Airflow these come from the ``ksqldb_default`` connection."""

    model_config = SettingsConfigDict(env_prefix="REPLAY_KSQL_", extra="ignore")

    url: str = f"http://{LOOPBACK}:8088"
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 30.0


class ProduceSettings(BaseSettings):
    """Defaults of ``replay produce`` (topics, producer tuning, timeouts); ``REPLAY_PRODUCE_*``."""

    model_config = SettingsConfigDict(env_prefix="REPLAY_PRODUCE_", extra="ignore")

    partitions: int = Field(default=1, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Keep a run's data for a week: the study's 60 s retention deleted its own evidence.
    # -1 keeps it forever.
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)
    checkpoint_topic: str = "replay-checkpoints"
    # One transaction per interval: the checkpoint is written this often, and read_committed
    # consumers see data this much later at most.
    commit_interval_ms: int = Field(default=1000, ge=10)
    linger_ms: float = Field(default=5.0, ge=0)
    batch_size: int = Field(default=1_000_000, ge=1)
    compression_type: str = "none"
    # How long the broker may be unreachable (no commit possible) before the replay gives up.
    broker_timeout_s: float = Field(default=60.0, gt=0)
    stats_interval_ms: int = Field(default=1000, ge=0)
    # A delivery report (and a publishLatency value) for one data record in this many; a
    # successful commit proves the others delivered, and after an abort every resent record
    # reports (docs/replay.md, "Delivery reports"). 1 = a report for every record.
    delivery_report_every: int = Field(default=16, ge=1)
    progress_interval_s: float = Field(default=5.0, gt=0)
    # librdkafka's local queue (queue.buffering.max.kbytes) of a paced replay. It carries the
    # replay through a broker pause without the send loop waiting (128 MB: over a second at
    # 100 MB/s); a commit waits until the broker has caught up (replay.produce.producer).
    # --max uses at most 32 MB (replay.produce.setup.UNTHROTTLED_QUEUE_MB).
    queue_max_mb: int = Field(default=128, ge=1)


class MetricsSettings(BaseSettings):
    """The metric collector and latency probes of a run (``REPLAY_METRICS_*``, docs/metrics.md)."""

    model_config = SettingsConfigDict(env_prefix="REPLAY_METRICS_", extra="ignore")

    # The broker's JMX exporter; None: the embedded stack's (REPLAY_STACK_JMX_EXPORTER_PORT).
    broker_url: str | None = None
    # A Prometheus server that scrapes the broker, the ksql server and the replay (compose):
    # the collector then reads the series from its HTTP API instead of scraping them itself.
    prometheus_url: str | None = None
    # The replay's own /metrics port: 0 picks a free one (announced in the run folder); a
    # Prometheus server needs a fixed one.
    replay_port: int = Field(default=0, ge=0, le=65535)
    interval_s: float = Field(default=1.0, gt=0)
    # The collector exits by itself this long after it started, whatever happens to its run.
    max_run_s: float = Field(default=6 * 3600.0, gt=0)
    start_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=60.0, gt=0)
    # The collector's niceness. 0 by default: a probe starved of CPU reads late and inflates
    # the latency it reports. A higher value makes it yield to the replay on a saturated machine
    # (its probes then lag, and the report shows by how much: probe_max_lag).
    nice: int = Field(default=0, ge=0, le=19)
    # One source record in this many has its replay-intended-us header read (3 µs each).
    intended_sample_every: int = Field(default=16, ge=1)
