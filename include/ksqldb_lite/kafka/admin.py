"""Topic administration over librdkafka's AdminClient, with the driver's error type.

Creating and deleting topics is asynchronous on the broker: a created topic may be missing from
metadata for a moment, and a deleted one may linger. Both calls here wait until metadata agrees,
so the engine can use a topic right after creating it and re-create one right after deleting it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from ksqldb_lite.errors import DriverError
from ksqldb_lite.execution.driver import TopicDescription
from ksqldb_lite.kafka.config import KafkaClientSettings

log = logging.getLogger(__name__)

# How long an admin request may take before the driver gives up (the broker is local or near).
REQUEST_TIMEOUT_S = 30.0
# How long to wait for metadata to reflect a create/delete.
PROPAGATION_TIMEOUT_S = 30.0


def _kafka_error(error: BaseException) -> KafkaError | None:
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        return error.args[0]
    return None


class TopicAdmin:
    """Describe, create, delete and list topics; every failure is a :class:`DriverError`."""

    def __init__(self, settings: KafkaClientSettings) -> None:
        self._settings = settings
        self._admin = AdminClient(settings.admin_config())

    @property
    def client(self) -> AdminClient:
        """The underlying AdminClient (consumer-group and cluster calls)."""
        return self._admin

    def _metadata(self, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        try:
            return self._admin.list_topics(timeout=timeout_s)
        except KafkaException as error:
            raise DriverError(
                f"Could not reach Kafka at {self._settings.bootstrap_servers}: {error}"
            ) from error

    def cluster_id(self, timeout_s: float = 10.0) -> str | None:
        """The Kafka cluster id (``/info``), or None when the broker does not answer."""
        try:
            metadata = self._admin.list_topics(timeout=timeout_s)
        except KafkaException as error:
            log.warning("cannot read the Kafka cluster id: %s", error)
            return None
        cluster_id = metadata.cluster_id
        return str(cluster_id) if cluster_id is not None else None

    def reachable(self, timeout_s: float = 5.0) -> bool:
        """True when a metadata request returns at least one broker."""
        try:
            metadata = self._admin.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def describe(self, name: str, with_config: bool = True) -> TopicDescription | None:
        """The topic, or None. ``config`` holds the settings made for this topic (not defaults)."""
        try:
            metadata = self._admin.list_topics(topic=name, timeout=REQUEST_TIMEOUT_S)
        except KafkaException as error:
            raise DriverError(f"Could not describe topic {name}: {error}") from error
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        first = topic.partitions[min(topic.partitions)]
        config = self._topic_config(name) if with_config else {}
        return TopicDescription(name, len(topic.partitions), len(first.replicas), config)

    def _topic_config(self, name: str) -> dict[str, str]:
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        try:
            result = self._admin.describe_configs([resource])[resource].result(timeout=REQUEST_TIMEOUT_S)
        except KafkaException as error:
            raise DriverError(f"Could not read the configuration of topic {name}: {error}") from error
        return {
            key: str(entry.value)
            for key, entry in result.items()
            if not entry.is_default and entry.value is not None
        }

    def create(
        self, name: str, partitions: int, replicas: int, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        """Create a topic (an existing one is returned as is) and wait until it is visible."""
        new_topic = NewTopic(
            name, num_partitions=partitions, replication_factor=replicas, config=dict(config or {})
        )
        future = self._admin.create_topics([new_topic], request_timeout=REQUEST_TIMEOUT_S)[name]
        try:
            future.result(timeout=REQUEST_TIMEOUT_S)
        except KafkaException as error:
            kafka_error = _kafka_error(error)
            if kafka_error is None or kafka_error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                reason = kafka_error.str() if kafka_error is not None else str(error)
                raise DriverError(f"Could not create topic {name}: {reason}") from error
        deadline = time.monotonic() + PROPAGATION_TIMEOUT_S
        while True:
            description = self.describe(name)
            if description is not None:
                return description
            if time.monotonic() > deadline:
                raise DriverError(f"Topic {name} was created but does not show in the metadata")
            time.sleep(0.05)

    def delete(self, name: str) -> None:
        """Delete a topic (no-op when missing) and wait until metadata no longer lists it."""
        future = self._admin.delete_topics([name], request_timeout=REQUEST_TIMEOUT_S)[name]
        try:
            future.result(timeout=REQUEST_TIMEOUT_S)
        except KafkaException as error:
            kafka_error = _kafka_error(error)
            if kafka_error is not None and kafka_error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return
            raise DriverError(f"Could not delete topic {name}: {error}") from error
        deadline = time.monotonic() + PROPAGATION_TIMEOUT_S
        while name in self._metadata().topics:
            if time.monotonic() > deadline:
                raise DriverError(f"Topic {name} was deleted but still shows in the metadata")
            time.sleep(0.05)

    def list(self) -> list[TopicDescription]:
        """Every topic with its partition and replica counts (no configs), sorted by name."""
        result = []
        for name, topic in sorted(self._metadata().topics.items()):
            if topic.error is not None or not topic.partitions:
                continue
            first = topic.partitions[min(topic.partitions)]
            result.append(TopicDescription(name, len(topic.partitions), len(first.replicas), {}))
        return result

    def partitions(self, name: str) -> int:
        """The partition count of a topic (0 when it does not exist)."""
        description = self.describe(name, with_config=False)
        return description.partitions if description is not None else 0
