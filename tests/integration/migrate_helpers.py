"""Small migration projects for the runner's integration tests.

Each project gets its own metadata stream/table names and its own source topic, so tests share
the session's server without seeing each other's history.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from replay.migrate.config import MigrationConfig, load_config


@dataclass(frozen=True)
class Project:
    """A project folder in tmp_path: its config file, migrations folder and unique names."""

    root: Path
    suffix: str
    stream: str
    table: str
    topic: str

    @property
    def config_file(self) -> Path:
        return self.root / "ksql-migrations.properties"

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    def config(self) -> MigrationConfig:
        return load_config(self.config_file)

    def write(self, name: str, text: str) -> Path:
        path = self.migrations / name
        path.write_text(text, encoding="utf-8")
        return path

    def write_standard(self) -> None:
        """Three versions: a source stream, a filter (SET earliest), a count per key."""
        s = self.suffix
        self.write(
            "V000001__create_source.sql",
            f"-- the source\nDEFINE topic = '{self.topic}';\n"
            f"CREATE STREAM SRC_{s} (ID STRING KEY, COUNTRY STRING) "
            "WITH (KAFKA_TOPIC='${topic}', VALUE_FORMAT='JSON', PARTITIONS=1);\n",
        )
        self.write(
            "V000002__germany.sql",
            "SET 'auto.offset.reset'='earliest';\n"
            f"CREATE STREAM DE_{s} AS SELECT * FROM SRC_{s} WHERE COUNTRY = 'de';\n",
        )
        self.write(
            "V000003__per_country.sql",
            "SET 'auto.offset.reset'='earliest';\n"
            f"CREATE TABLE PER_COUNTRY_{s} AS SELECT COUNTRY, COUNT(*) AS N FROM SRC_{s} GROUP BY COUNTRY;\n",
        )


def new_project(tmp_path: Path, url: str, *, name: str = "proj") -> Project:
    """A project pointing at ``url`` with metadata names no other test uses."""
    suffix = uuid.uuid4().hex[:8].upper()
    project = Project(
        root=tmp_path / name,
        suffix=suffix,
        stream=f"MIG_EVENTS_{suffix}",
        table=f"MIG_VERSIONS_{suffix}",
        topic=f"mig-src-{suffix.lower()}",
    )
    project.migrations.mkdir(parents=True)
    project.config_file.write_text(
        f"ksql.server.url={url}\n"
        f"ksql.migrations.stream.name={project.stream}\n"
        f"ksql.migrations.table.name={project.table}\n",
        encoding="utf-8",
    )
    return project


def read_values(bootstrap: str, topic: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Every record of a one-partition topic as (key text, JSON value), read to its end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"mig-read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        out: list[tuple[str | None, dict[str, Any]]] = []
        while len(out) < high - low:
            message = consumer.poll(5)
            assert message is not None, f"{topic}: read {len(out)} of {high - low} records"
            assert message.error() is None, message.error()
            key = message.key()
            value = message.value()
            assert value is not None
            out.append((key.decode() if key is not None else None, json.loads(value)))
        return out
    finally:
        consumer.close()
