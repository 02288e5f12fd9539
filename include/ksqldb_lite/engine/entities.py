"""ksqlDB REST entities as JSON-ready dicts (``ksqldb-rest-model/.../rest/entity``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ksqldb_lite.execution.driver import TopicDescription
from ksqldb_lite.schema import types as t
from ksqldb_lite.schema.logical import DataSource


@dataclass
class QueryInfo:
    """A persistent query the engine runs."""

    query_id: str
    statement: str
    sink: str
    sink_topic: str
    sources: tuple[str, ...]
    state: str = "RUNNING"
    query_type: str = "PERSISTENT"
    extra: dict[str, Any] = field(default_factory=dict)

    def running_query(self) -> dict[str, Any]:
        """The RunningQuery entity (SHOW QUERIES, DESCRIBE's read/write queries)."""
        return {
            "queryString": self.statement,
            "sinks": [self.sink],
            "sinkKafkaTopics": [self.sink_topic],
            "id": self.query_id,
            "statusCount": {self.state: 1},
            "queryType": self.query_type,
            "state": self.state,
        }


def current_status(
    statement_text: str, command_id: str, message: str, sequence: int, query_id: str | None = None
) -> dict[str, Any]:
    """The ``currentStatus`` entity of CREATE / DROP / TERMINATE / INSERT INTO."""
    return {
        "@type": "currentStatus",
        "statementText": statement_text,
        "commandId": command_id,
        "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
        "commandSequenceNumber": sequence,
        "warnings": [],
    }


def warning_entity(statement_text: str, message: str) -> dict[str, Any]:
    """A warning instead of a result (e.g. CREATE … IF NOT EXISTS on an existing source)."""
    return {"@type": "warning_entity", "statementText": statement_text, "message": message, "warnings": []}


def source_info(source: DataSource) -> dict[str, Any]:
    """One element of SHOW STREAMS / SHOW TABLES."""
    return {
        "type": source.kind,
        "name": source.name,
        "topic": source.topic,
        "keyFormat": source.key_format.name,
        "valueFormat": source.value_format.name,
        "isWindowed": source.is_windowed,
    }


def sources_list(statement_text: str, sources: Sequence[DataSource], kind: str) -> dict[str, Any]:
    """SHOW STREAMS (``streams``) / SHOW TABLES (``tables``)."""
    key = "streams" if kind == "STREAM" else "tables"
    return {
        "@type": key,
        "statementText": statement_text,
        key: [source_info(s) for s in sources if s.kind == kind],
        "warnings": [],
    }


def queries_list(statement_text: str, queries: Sequence[QueryInfo]) -> dict[str, Any]:
    """SHOW QUERIES."""
    return {
        "@type": "queries",
        "statementText": statement_text,
        "queries": [q.running_query() for q in queries],
        "warnings": [],
    }


def topics_list(statement_text: str, topics: Sequence[TopicDescription], show_all: bool) -> dict[str, Any]:
    """LIST TOPICS (internal topics only with ALL)."""
    visible = [tp for tp in topics if show_all or not tp.name.startswith("_")]
    return {
        "@type": "kafka_topics",
        "statementText": statement_text,
        "topics": [{"name": tp.name, "replicaInfo": [tp.replicas] * tp.partitions} for tp in visible],
        "warnings": [],
    }


def properties_list(
    statement_text: str, effective: dict[str, Any], overwritten: Sequence[str], defaults: Sequence[str]
) -> dict[str, Any]:
    """SHOW PROPERTIES."""
    return {
        "@type": "properties",
        "statementText": statement_text,
        "properties": [
            {
                "name": name,
                "scope": "KSQL"
                if name.startswith("ksql.") and not name.startswith("ksql.streams.")
                else "STREAMS",
                "value": None if value is None else str(value),
                "editable": True,
                "level": "SERVER",
            }
            for name, value in sorted(effective.items())
        ],
        "overwrittenProperties": sorted(overwritten),
        "defaultProperties": sorted(defaults),
        "warnings": [],
    }


def variables_list(statement_text: str, variables: dict[str, str]) -> dict[str, Any]:
    """SHOW VARIABLES."""
    return {
        "@type": "variables",
        "statementText": statement_text,
        "variables": [{"name": k, "value": v} for k, v in variables.items()],
        "warnings": [],
    }


def schema_info(sql_type: t.SqlType) -> dict[str, Any]:
    """SchemaInfo of a column type."""
    info: dict[str, Any] = {"type": sql_type.base.name, "fields": None, "memberSchema": None}
    if isinstance(sql_type, t.Struct):
        info["fields"] = [{"name": name, "schema": schema_info(ftype)} for name, ftype in sql_type.fields]
    elif isinstance(sql_type, t.Array):
        info["memberSchema"] = schema_info(sql_type.element)
    elif isinstance(sql_type, t.Map):
        info["memberSchema"] = schema_info(sql_type.value)
    elif isinstance(sql_type, t.Decimal):
        info["parameters"] = {"precision": sql_type.precision, "scale": sql_type.scale}
    return info


def source_description(
    source: DataSource,
    extended: bool,
    read_queries: Sequence[QueryInfo],
    write_queries: Sequence[QueryInfo],
    topic: TopicDescription | None,
    statistics: str = "",
    error_stats: str = "",
) -> dict[str, Any]:
    """The ``sourceDescription`` object of DESCRIBE."""
    fields: list[dict[str, Any]] = []
    for column in source.schema.columns:
        entry: dict[str, Any] = {"name": column.name, "schema": schema_info(column.type)}
        if column.is_key:
            entry["type"] = "KEY"
        fields.append(entry)
    return {
        "name": source.name,
        "windowType": source.window_type,
        "readQueries": [q.running_query() for q in read_queries],
        "writeQueries": [q.running_query() for q in write_queries],
        "fields": fields,
        "type": source.kind,
        "timestamp": source.timestamp.column if source.timestamp else "",
        "statistics": statistics if extended else "",
        "errorStats": error_stats if extended else "",
        "extended": extended,
        "keyFormat": source.key_format.name,
        "valueFormat": source.value_format.name,
        "topic": source.topic,
        "partitions": topic.partitions if (extended and topic) else 0,
        "replication": topic.replicas if (extended and topic) else 0,
        "statement": source.sql,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
        "clusterStatistics": [],
        "clusterErrorStats": [],
    }


def describe_entity(statement_text: str, description: dict[str, Any]) -> dict[str, Any]:
    """DESCRIBE [EXTENDED]."""
    return {
        "@type": "sourceDescription",
        "statementText": statement_text,
        "sourceDescription": description,
        "warnings": [],
    }


def describe_list(statement_text: str, descriptions: list[dict[str, Any]]) -> dict[str, Any]:
    """DESCRIBE STREAMS / SHOW STREAMS EXTENDED."""
    return {
        "@type": "source_descriptions",
        "statementText": statement_text,
        "sourceDescriptions": descriptions,
        "warnings": [],
    }
