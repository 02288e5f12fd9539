"""Topics of a replay: create when absent, recreate on ``--reset``, warn when settings differ.

The data topic (and ``<topic>.dlq``) get the requested partitions, replication factor and a
retention that keeps the run's data (7 days by default, ``-1`` forever; the study's 60 s
retention deleted its own evidence). An existing topic is used as it is, but every setting
that differs from the request becomes a warning in the log and in the run's summary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from replay.produce.errors import ProduceError, TopicError, classify

log = logging.getLogger(__name__)

_ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicSpec:
    """What a topic should look like."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class TopicState:
    """A topic as the replay found (or made) it."""

    name: str
    topic_id: str | None
    partitions: int
    replication_factor: int
    created: bool = False
    reset: bool = False
    warnings: list[str] = field(default_factory=list)
    max_message_bytes: int | None = None  # the largest record batch the topic accepts

    def describe(self) -> dict[str, Any]:
        """The topic as it appears in the summary."""
        return {
            "name": self.name,
            "topic_id": self.topic_id,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "created": self.created,
            "reset": self.reset,
            "warnings": list(self.warnings),
            "max_message_bytes": self.max_message_bytes,
        }


def data_topic_spec(name: str, partitions: int, replication_factor: int, retention_ms: int) -> TopicSpec:
    """A data (or DLQ) topic: deletion by retention, never compaction (it would drop edits)."""
    return TopicSpec(
        name,
        partitions,
        replication_factor,
        {"cleanup.policy": "delete", "retention.ms": str(retention_ms), "retention.bytes": "-1"},
    )


def checkpoint_topic_spec(name: str, replication_factor: int) -> TopicSpec:
    """The checkpoint topic: one partition, compacted, small segments so compaction keeps up."""
    return TopicSpec(
        name,
        1,
        replication_factor,
        {
            "cleanup.policy": "compact",
            "segment.ms": str(3600 * 1000),
            "min.cleanable.dirty.ratio": "0.1",
        },
    )


class TopicAdmin:
    """Topic operations with bounded waits and typed errors."""

    def __init__(self, admin: AdminClient, *, bootstrap: str, timeout_s: float = _ADMIN_TIMEOUT_S) -> None:
        self.admin = admin
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s

    def _fail(self, error: KafkaException, doing: str, topic: str) -> ProduceError:
        kafka_error: KafkaError = error.args[0]
        return classify(kafka_error, doing=doing, bootstrap=self.bootstrap, topic=topic, txn_id="-")

    def exists(self, name: str) -> bool:
        """True when the broker knows the topic."""
        try:
            metadata = self.admin.list_topics(topic=name, timeout=self.timeout_s)
        except KafkaException as error:
            raise self._fail(error, f"listing topic {name!r}", name) from error
        topic = metadata.topics.get(name)
        if topic is None or (
            topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        ):
            return False
        if topic.error is not None:
            raise self._fail(KafkaException(topic.error), f"looking up topic {name!r}", name)
        return True

    def ensure(self, spec: TopicSpec, *, reset: bool = False) -> TopicState:
        """Create the topic when absent (or after deleting it, with ``reset``); describe it."""
        created = False
        if reset and self.exists(spec.name):
            self.delete(spec.name)
        if not self.exists(spec.name):
            created = self._create(spec)
        state = self.describe(spec.name)
        state.created = created
        state.reset = reset
        actual = self.configs(spec.name)
        if "max.message.bytes" in actual:
            state.max_message_bytes = int(actual["max.message.bytes"])
        if not created:
            state.warnings = self._differences(spec, state, actual)
            for warning in state.warnings:
                log.warning("%s", warning)
        return state

    def _create(self, spec: TopicSpec) -> bool:
        new = NewTopic(spec.name, spec.partitions, spec.replication_factor, config=dict(spec.config))
        deadline = time.monotonic() + self.timeout_s
        while True:
            future = self.admin.create_topics([new], operation_timeout=self.timeout_s)[spec.name]
            try:
                future.result()
            except KafkaException as error:
                code = error.args[0].code()
                if code == KafkaError.TOPIC_ALREADY_EXISTS:
                    if self.exists(spec.name):
                        return False  # created concurrently by someone else
                    # still being deleted (after --reset): wait and try again
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                if code == KafkaError.INVALID_REPLICATION_FACTOR:
                    raise TopicError(
                        f"cannot create topic {spec.name!r} with replication factor {spec.replication_factor}: "
                        f"{error.args[0].str()}",
                        hint="use --replication-factor no larger than the number of brokers",
                    ) from error
                raise self._fail(error, f"creating topic {spec.name!r}", spec.name) from error
            log.info(
                "created topic %s (%d partitions, replication %d, %s)",
                spec.name,
                spec.partitions,
                spec.replication_factor,
                ", ".join(f"{k}={v}" for k, v in spec.config.items()),
            )
            self._wait_visible(spec.name)
            return True

    def _wait_visible(self, name: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self.exists(name):
            if time.monotonic() > deadline:
                raise TopicError(
                    f"topic {name!r} was created but did not appear in metadata within {self.timeout_s:.0f} s",
                    hint="check the broker log",
                )
            time.sleep(0.1)

    def delete(self, name: str) -> None:
        """Delete a topic and wait until it is gone."""
        future = self.admin.delete_topics([name], operation_timeout=self.timeout_s)[name]
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise self._fail(error, f"deleting topic {name!r}", name) from error
        deadline = time.monotonic() + self.timeout_s
        while self.exists(name):
            if time.monotonic() > deadline:
                raise TopicError(
                    f"topic {name!r} is still listed {self.timeout_s:.0f} s after its deletion",
                    hint="check the broker log; delete.topic.enable must be true",
                )
            time.sleep(0.1)
        log.info("deleted topic %s", name)

    def describe(self, name: str) -> TopicState:
        """Partitions, replication factor and id of an existing topic."""
        futures = self.admin.describe_topics(TopicCollection([name]), request_timeout=self.timeout_s)
        try:
            description = futures[name].result()
        except KafkaException as error:
            raise self._fail(error, f"describing topic {name!r}", name) from error
        partitions = description.partitions
        replication = min((len(p.replicas) for p in partitions), default=0)
        topic_id = str(description.topic_id) if description.topic_id is not None else None
        return TopicState(name, topic_id, len(partitions), replication)

    def configs(self, name: str) -> dict[str, str]:
        """The topic's effective configuration."""
        resource = ConfigResource(ResourceType.TOPIC, name)
        try:
            entries = self.admin.describe_configs([resource], request_timeout=self.timeout_s)[
                resource
            ].result()
        except KafkaException as error:
            raise self._fail(error, f"describing the configuration of topic {name!r}", name) from error
        return {key: entry.value for key, entry in entries.items() if entry.value is not None}

    def _differences(self, spec: TopicSpec, state: TopicState, actual: dict[str, str]) -> list[str]:
        """One warning per setting of an existing topic that differs from the request."""
        out: list[str] = []
        prefix = f"topic {spec.name!r} exists with"
        if state.partitions != spec.partitions:
            out.append(
                f"{prefix} {state.partitions} partitions, not the {spec.partitions} requested "
                "(pass --reset to recreate it)"
            )
        if state.replication_factor != spec.replication_factor:
            out.append(
                f"{prefix} replication factor {state.replication_factor}, not the "
                f"{spec.replication_factor} requested (pass --reset to recreate it)"
            )
        for key, wanted in spec.config.items():
            have = actual.get(key)
            if have == wanted:
                continue
            note = ""
            if key == "retention.ms" and have is not None and _shorter_retention(have, wanted):
                note = ": records may be deleted before the run's report is built"
            elif key == "cleanup.policy" and have is not None and "compact" in have:
                note = ": compaction keeps only the newest event per id, counts will not match the dump"
            out.append(f"{prefix} {key}={have}, not {wanted} as requested{note}")
        return out


def _shorter_retention(have: str, wanted: str) -> bool:
    """True when retention ``have`` keeps data for less time than ``wanted`` (-1 = forever)."""
    h, w = int(have), int(wanted)
    if h < 0:
        return False
    return w < 0 or h < w
