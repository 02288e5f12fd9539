"""The Kafka side of ksqldb-lite: the topic driver, the command log on a command topic.

:class:`KafkaTopicDriver` implements :class:`ksqldb_lite.execution.driver.TopicDriver` with
confluent-kafka (a consumer group per persistent query, transactions under
``exactly_once_v2``); :class:`KafkaCommandLog` implements :class:`ksqldb_lite.engine.commandlog.CommandLog`
on ksqlDB's ``_confluent-ksql-<service id>_command_topic``.
"""

from ksqldb_lite.kafka.commandlog import KafkaCommandLog, command_topic_name
from ksqldb_lite.kafka.config import KafkaClientSettings
from ksqldb_lite.kafka.driver import KafkaTopicDriver

__all__ = ["KafkaClientSettings", "KafkaCommandLog", "KafkaTopicDriver", "command_topic_name"]
