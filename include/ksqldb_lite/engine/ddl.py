"""Turning CREATE statements into metastore sources: WITH properties, formats and topics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ksqldb_lite.engine.properties import Properties
from ksqldb_lite.errors import KsqlStatementError, UnsupportedFeatureError
from ksqldb_lite.execution.driver import TopicDescription
from ksqldb_lite.parser import nodes as n
from ksqldb_lite.planning.planner import QueryPlan, check_key_type
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import (
    KEY,
    SYSTEM_COLUMN_NAMES,
    VALUE,
    Column,
    DataSource,
    Format,
    LogicalSchema,
    TimestampColumn,
)
from ksqldb_lite.serde import formats as serde

TopicLookup = Callable[[str], TopicDescription | None]
# (name, partitions, replicas, config) of a topic to create
TopicPlan = tuple[str, int, int, dict[str, str]]

KNOWN_PROPERTIES = {
    "KAFKA_TOPIC",
    "VALUE_FORMAT",
    "KEY_FORMAT",
    "FORMAT",
    "PARTITIONS",
    "REPLICAS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "WRAP_SINGLE_VALUE",
    "VALUE_DELIMITER",
    "KEY_DELIMITER",
    "KEY_SCHEMA_ID",
    "VALUE_SCHEMA_ID",
    "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME",
    "VALUE_AVRO_SCHEMA_FULL_NAME",
    "RETENTION_MS",
    "CLEANUP_POLICY",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
    "SOURCE_CONNECTOR",
}
_UNSUPPORTED_PROPERTIES = {
    "KEY_SCHEMA_ID": "KEY_SCHEMA_ID (Schema Registry)",
    "VALUE_SCHEMA_ID": "VALUE_SCHEMA_ID (Schema Registry)",
    "KEY_SCHEMA_FULL_NAME": "KEY_SCHEMA_FULL_NAME (Schema Registry)",
    "VALUE_SCHEMA_FULL_NAME": "VALUE_SCHEMA_FULL_NAME (Schema Registry)",
    "VALUE_AVRO_SCHEMA_FULL_NAME": "VALUE_AVRO_SCHEMA_FULL_NAME (Schema Registry)",
    "WINDOW_TYPE": "Windowed sources (WINDOW_TYPE)",
    "WINDOW_SIZE": "Windowed sources (WINDOW_SIZE)",
    "SOURCE_CONNECTOR": "SOURCE_CONNECTOR",
    "VALUE_DELIMITER": "VALUE_DELIMITER (DELIMITED format)",
    "KEY_DELIMITER": "KEY_DELIMITER (DELIMITED format)",
    "TIMESTAMP_FORMAT": "TIMESTAMP_FORMAT",
}


def _check_properties(props: dict[str, object]) -> None:
    unknown = sorted(k for k in props if k not in KNOWN_PROPERTIES)
    if unknown:
        raise KsqlStatementError(f"Invalid config variable(s) in the WITH clause: {','.join(unknown)}")
    for key, feature in _UNSUPPORTED_PROPERTIES.items():
        if key in props:
            raise UnsupportedFeatureError(feature)


def _format_name(value: object) -> str:
    return str(value).strip().upper()


def _wrap_single(props: dict[str, object], config: Properties, value_columns: int) -> bool | None:
    if "WRAP_SINGLE_VALUE" in props:
        explicit = props["WRAP_SINGLE_VALUE"]
        return bool(explicit) if isinstance(explicit, bool) else str(explicit).lower() == "true"
    if value_columns == 1 and config.is_set("ksql.persistence.wrap.single.values"):
        configured = config.get("ksql.persistence.wrap.single.values")
        if configured is not None:
            return str(configured).lower() == "true" if not isinstance(configured, bool) else configured
    return None


def _positive_int(props: dict[str, object], name: str) -> int | None:
    if name not in props:
        return None
    value = props[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise KsqlStatementError(f"Invalid value for {name}: {value}. It must be a positive integer.")
    return value


def _check_existing_topic(existing: TopicDescription, partitions: int | None, replicas: int | None) -> None:
    """A statement's PARTITIONS/REPLICAS must match an existing topic."""
    if (partitions is not None and partitions != existing.partitions) or (
        replicas is not None and replicas != existing.replicas
    ):
        raise KsqlStatementError(
            f"A Kafka topic with the name '{existing.name}' already exists, with different "
            "partition/replica configuration than required. "
            f"KSQL expects {partitions or existing.partitions} partitions (topic "
            f"has {existing.partitions}), and {replicas or existing.replicas} replication factor (topic has "
            f"{existing.replicas})."
        )


def build_source(
    s: n.CreateSource, config: Properties, topics: TopicLookup
) -> tuple[DataSource, TopicPlan | None]:
    """A stream from ``CREATE STREAM … (columns) WITH (…)`` and the topic to create, if any."""
    props = dict(s.properties)
    _check_properties(props)
    keys: list[Column] = []
    values: list[Column] = []
    seen: set[str] = set()
    for element in s.elements:
        if element.name in SYSTEM_COLUMN_NAMES:
            raise KsqlStatementError(
                f"'{element.name}' is a reserved column name. You cannot use it as a name for a column."
            )
        if element.name in seen:
            raise KsqlStatementError(f"Duplicate column names: {t.quote(element.name)}")
        seen.add(element.name)
        if element.constraint in ("HEADERS", "HEADER"):
            raise UnsupportedFeatureError("HEADER columns")
        if element.constraint == "PRIMARY KEY" and s.kind == "STREAM":
            raise KsqlStatementError(
                f"Line: {element.line}, Col: {element.column}: Column {t.quote(element.name)} is a "
                "'PRIMARY KEY' column: please use 'KEY' for streams."
            )
        if element.constraint == "KEY" and s.kind == "TABLE":
            raise KsqlStatementError(
                f"Line: {element.line}, Col: {element.column}: Column {t.quote(element.name)} is a "
                "'KEY' column: please use 'PRIMARY KEY' for tables."
            )
        if element.constraint in ("KEY", "PRIMARY KEY"):
            check_key_type(element.name, element.type)
            keys.append(Column(element.name, element.type, KEY))
        else:
            values.append(Column(element.name, element.type, VALUE))
    if not s.elements:
        raise UnsupportedFeatureError("Schema inference (CREATE without columns needs a Schema Registry)")
    if s.kind == "TABLE" and not keys:
        raise KsqlStatementError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
    if "KAFKA_TOPIC" not in props:
        raise KsqlStatementError('Missing required property "KAFKA_TOPIC" which has no default value.')
    topic_name = str(props["KAFKA_TOPIC"])
    key_format, value_format = _formats(props, config, keys, values)
    serde.validate_format(key_format, keys, is_key=True)
    serde.validate_format(value_format, values, is_key=False)
    timestamp = _timestamp_column(props, keys + values)
    partitions = _positive_int(props, "PARTITIONS")
    replicas = _positive_int(props, "REPLICAS")
    existing = topics(topic_name)
    topic_plan: TopicPlan | None = None
    kind_word = "stream" if s.kind == "STREAM" else "table"
    if existing is None:
        if partitions is None:
            raise KsqlStatementError(
                f"Topic '{topic_name}' does not exist. If you want to create a new topic for the {kind_word} "
                "please re-run the statement providing the required 'PARTITIONS' configuration in the WITH "
                f"clause (and optionally 'REPLICAS'). For example: CREATE {s.kind} {s.name} (ID INT) WITH "
                f"(KAFKA_TOPIC='{topic_name}', PARTITIONS=2, REPLICAS=1, FORMAT='JSON');"
            )
        topic_plan = (topic_name, partitions, replicas or 1, {})
        topic_partitions, topic_replicas = partitions, replicas or 1
    else:
        _check_existing_topic(existing, partitions, replicas)
        topic_partitions, topic_replicas = existing.partitions, existing.replicas
    source = DataSource(
        name=s.name,
        kind=s.kind,
        schema=LogicalSchema(tuple(keys), tuple(values)),
        topic=topic_name,
        key_format=key_format,
        value_format=value_format,
        sql=s.text,
        timestamp=timestamp,
        is_source=s.is_source,
        partitions=topic_partitions,
        replicas=topic_replicas,
    )
    return source, topic_plan


def _formats(
    props: dict[str, object], config: Properties, keys: list[Column], values: list[Column]
) -> tuple[Format, Format]:
    if "FORMAT" in props and ("KEY_FORMAT" in props or "VALUE_FORMAT" in props):
        raise KsqlStatementError(
            "Cannot supply both 'FORMAT' and 'KEY_FORMAT'/'VALUE_FORMAT' properties, as 'FORMAT' sets both "
            "key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
        )
    value_name = props.get(
        "VALUE_FORMAT", props.get("FORMAT", config.get("ksql.persistence.default.format.value"))
    )
    if value_name is None:
        raise KsqlStatementError(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one or "
            "set a "
            "default via the 'ksql.persistence.default.format.value' config."
        )
    key_name = props.get("KEY_FORMAT", props.get("FORMAT"))
    if key_name is None:
        key_name = config.get("ksql.persistence.default.format.key") if keys else "NONE"
    value_format = Format(_format_name(value_name), _wrap_single(props, config, len(values)))
    return Format(_format_name(key_name)), value_format


def _timestamp_column(props: dict[str, object], columns: list[Column]) -> TimestampColumn | None:
    if "TIMESTAMP" not in props:
        return None
    name = str(props["TIMESTAMP"]).upper() if props["TIMESTAMP"] else ""
    for column in columns:
        if column.name in (name, str(props["TIMESTAMP"])):
            if column.type.base is not t.BaseType.BIGINT:
                raise UnsupportedFeatureError(
                    f"TIMESTAMP column of type {column.type} (only BIGINT is supported)"
                )
            # ksqlDB then takes ROWTIME, windows and output timestamps from the column; the
            # runtime here always uses the record's own timestamp: refused, not ignored.
            raise UnsupportedFeatureError("TIMESTAMP (a column as the record timestamp)")
    raise KsqlStatementError(
        f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'"
    )


def sink_formats(
    s: n.CreateAsSelect,
    schema: LogicalSchema,
    source: DataSource,
    partition_by_null: bool,
    config: Properties,
    source_topic: TopicDescription | None,
    topics: TopicLookup,
) -> tuple[DataSource, TopicPlan | None]:
    """The sink of a CREATE … AS SELECT and the topic to create, if any."""
    props = dict(s.properties)
    _check_properties(props)
    if "TIMESTAMP" in props:
        raise UnsupportedFeatureError("TIMESTAMP in the WITH clause of CREATE … AS SELECT")
    if "FORMAT" in props and ("KEY_FORMAT" in props or "VALUE_FORMAT" in props):
        raise KsqlStatementError(
            "Cannot supply both 'FORMAT' and 'KEY_FORMAT'/'VALUE_FORMAT' properties, as 'FORMAT' sets both "
            "key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
        )
    value_name = _format_name(props.get("VALUE_FORMAT", props.get("FORMAT", source.value_format.name)))
    if partition_by_null:
        key_name = "NONE"
    else:
        key_name = _format_name(props.get("KEY_FORMAT", props.get("FORMAT", source.key_format.name)))
        if key_name == "NONE" and schema.key and "KEY_FORMAT" not in props and "FORMAT" not in props:
            key_name = _format_name(config.get("ksql.persistence.default.format.key") or "KAFKA")
    if not schema.key and "KEY_FORMAT" not in props and "FORMAT" not in props:
        key_name = "NONE"
    key_format = Format(key_name)
    value_format = Format(value_name, _wrap_single(props, config, len(schema.value)))
    serde.validate_format(key_format, schema.key, is_key=True)
    serde.validate_format(value_format, schema.value, is_key=False)
    for column in schema.key:
        check_key_type(column.name, column.type)
    prefix = str(config.get("ksql.output.topic.name.prefix") or "")
    topic_name = str(props["KAFKA_TOPIC"]) if "KAFKA_TOPIC" in props else prefix + s.name
    partitions = _positive_int(props, "PARTITIONS")
    replicas = _positive_int(props, "REPLICAS")
    existing = topics(topic_name)
    topic_plan: TopicPlan | None = None
    if existing is None:
        partitions = partitions or (source_topic.partitions if source_topic else source.partitions)
        replicas = replicas or (source_topic.replicas if source_topic else source.replicas)
        policy = "compact" if s.kind == "TABLE" else "delete"
        topic_plan = (topic_name, partitions, replicas, {"cleanup.policy": policy})
    else:
        _check_existing_topic(existing, partitions, replicas)
        partitions, replicas = existing.partitions, existing.replicas
    sink = DataSource(
        name=s.name,
        kind=s.kind,
        schema=schema,
        topic=topic_name,
        key_format=key_format,
        value_format=value_format,
        sql=s.text,
        partitions=partitions,
        replicas=replicas or 1,
    )
    return sink, topic_plan


def check_query_not_reading_itself(plan: QueryPlan, sink_name: str) -> None:
    """A CSAS cannot read from its own sink."""
    if plan.source.name == sink_name:
        raise KsqlStatementError(f"Cannot create {sink_name}: the query reads from it.")


PROCESSING_LOG_SCHEMA = (
    "LOGGER STRING, LEVEL STRING, TIME BIGINT, MESSAGE STRUCT<TYPE INT, "
    "DESERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE STRING, RECORDB64 STRING, CAUSE ARRAY<STRING>, "
    "`topic` STRING>, RECORDPROCESSINGERROR STRUCT<ERRORMESSAGE STRING, RECORD STRING, CAUSE ARRAY<STRING>>, "
    "PRODUCTIONERROR STRUCT<ERRORMESSAGE STRING>, SERIALIZATIONERROR STRUCT<TARGET STRING, ERRORMESSAGE "
    "STRING, "
    "RECORD STRING, CAUSE ARRAY<STRING>, `topic` STRING>, KAFKASTREAMSTHREADERROR STRUCT<ERRORMESSAGE "
    "STRING, "
    "THREADNAME STRING, CAUSE ARRAY<STRING>>>"
)


def processing_log_source(name: str, topic: str) -> DataSource:
    """The KSQL_PROCESSING_LOG stream over the processing-log topic."""
    from ksqldb_lite.parser.statements import parse

    statement = parse(
        f"CREATE STREAM {name} ({PROCESSING_LOG_SCHEMA}) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
    )[0]
    assert isinstance(statement, n.CreateSource)
    columns = tuple(Column(e.name, e.type, VALUE) for e in statement.elements)
    return DataSource(
        name=name,
        kind="STREAM",
        schema=LogicalSchema((), columns),
        topic=topic,
        key_format=Format("NONE"),
        value_format=Format("JSON"),
        sql=statement.text,
    )


__all__: list[Any] = [
    "build_source",
    "check_query_not_reading_itself",
    "processing_log_source",
    "sink_formats",
]
