"""Everything one replay needs to know, as one typed value (the CLI and the DAG build it)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from replay.errors import ConfigError
from replay.paths import run_dir
from replay.produce.pacing import Pacing
from replay.produce.records import ValueFormat
from replay.settings import KafkaSettings, ProduceSettings

# Path-safe (it names the run folder) and wide enough for Airflow run ids such as
# "manual__2024-05-01T10:00:00+00:00".
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$")
# Kafka's own rule for topic names (the DLQ adds ".dlq", so keep room for it).
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,245}$")

SUMMARY_FILE = "produce-summary.json"

ProgressMode = Literal["auto", "bar", "log", "none"]


def new_run_id() -> str:
    """A fresh run id: UTC time plus a random suffix."""
    return f"produce-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def check_run_id(run_id: str) -> str:
    """The run id if it is usable as a folder name and transactional id, else a ConfigError."""
    if not _RUN_ID.match(run_id):
        raise ConfigError(
            f"run id {run_id!r} is not usable",
            hint="use letters, digits and . _ : + - (at most 200 characters, starting with a letter or digit)",
        )
    return run_id


def check_topic(topic: str) -> str:
    """The topic name if Kafka accepts it, else a ConfigError."""
    if not _TOPIC.match(topic) or topic in {".", ".."}:
        raise ConfigError(
            f"topic name {topic!r} is not valid",
            hint="use letters, digits, '.', '_' and '-' (at most 245 characters)",
        )
    return topic


@dataclass(frozen=True)
class ProduceOptions:
    """One replay of a dump into a topic.

    ``skip`` and ``limit`` count *source records* (dump lines, empty ones included): the replay
    covers indices ``skip .. skip+limit-1``. ``quarantine`` maps record indices to the reasons
    validation gave (:func:`replay.validate.load_quarantine`); pass ``validated=True`` with it.
    ``producer_config`` overrides
    librdkafka settings (tuning; the exactly-once settings cannot be overridden).
    """

    path: Path
    topic: str
    pacing: Pacing
    run_id: str = field(default_factory=new_run_id)
    value_format: ValueFormat = "raw"
    skip: int = 0
    limit: int | None = None
    quarantine: Mapping[int, Sequence[str]] = field(default_factory=dict)
    # True when the dump passed `replay validate` (``quarantine`` is its verdict): records not
    # quarantined are JSON objects with a string id, so keys are found by a byte scan.
    validated: bool = False
    dlq: bool = False
    reset: bool = False
    summary_path: Path | None = None
    progress: ProgressMode = "auto"  # auto: a bar on a TTY, log lines otherwise
    settings: ProduceSettings = field(default_factory=ProduceSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    producer_config: Mapping[str, Any] = field(default_factory=dict)
    # Serve the replay's counters and histograms on /metrics (a free loopback port) and
    # announce the URL in this folder (replay.metrics.exporter); None: no endpoint.
    metrics_dir: Path | None = None

    def __post_init__(self) -> None:
        check_run_id(self.run_id)
        check_topic(self.topic)
        if self.skip < 0:
            raise ConfigError("--skip must be >= 0", hint="it counts records from the start of the dump")
        if self.limit is not None and self.limit < 0:
            raise ConfigError("--limit must be >= 0", hint="it counts records after --skip")
        if self.value_format not in ("raw", "study"):
            raise ConfigError(f"unknown value format {self.value_format!r}", hint="use raw or study")
        if self.topic == self.settings.checkpoint_topic:
            raise ConfigError(f"{self.topic!r} is the checkpoint topic", hint="replay into another topic")

    @property
    def end_index(self) -> int | None:
        """The first source index *not* to replay, None for the end of the dump."""
        return None if self.limit is None else self.skip + self.limit

    @property
    def dlq_topic(self) -> str:
        """Where quarantined records go with ``dlq``."""
        return f"{self.topic}.dlq"

    def summary_file(self) -> Path:
        """Where the JSON summary is written."""
        return self.summary_path or run_dir(self.run_id) / SUMMARY_FILE
