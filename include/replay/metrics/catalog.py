"""What runs on the ksqlDB server: persistent queries, their sink topics, which sinks are tables.

Read over ksqlDB's REST API (``SHOW QUERIES; SHOW TABLES;``), as any client would; the
collector asks every few seconds, since the migrations may create queries during the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

from replay.settings import KsqlSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkInfo:
    """One sink topic of a persistent query."""

    query_id: str
    sink: str
    topic: str
    kind: str  # "stream" or "table"
    windowed: bool


def _auth(settings: KsqlSettings) -> tuple[str, str] | None:
    if settings.username is None:
        return None
    return settings.username, settings.password.get_secret_value() if settings.password else ""


def ksql_statement(settings: KsqlSettings, text: str, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """POST one statement list to ``/ksql``; the entities, or [] when the server does not answer."""
    try:
        response = requests.post(
            settings.url.rstrip("/") + "/ksql",
            json={"ksql": text, "streamsProperties": {}},
            headers={"Accept": "application/vnd.ksql.v1+json"},
            auth=_auth(settings),
            timeout=timeout_s,
        )
    except requests.RequestException as error:
        log.debug("ksql %r: %s", text, error)
        return []
    if response.status_code != 200:
        log.debug("ksql %r: HTTP %d %s", text, response.status_code, response.text[:200])
        return []
    body = response.json()
    return body if isinstance(body, list) else []


def sinks(settings: KsqlSettings) -> list[SinkInfo]:
    """Every persistent query's sink topics, with the sink's kind."""
    entities = ksql_statement(settings, "SHOW QUERIES; SHOW TABLES;")
    tables: dict[str, bool] = {}
    queries: list[dict[str, Any]] = []
    for entity in entities:
        if entity.get("@type") == "tables":
            tables = {t["name"]: bool(t.get("isWindowed")) for t in entity.get("tables", [])}
        elif entity.get("@type") == "queries":
            queries = entity.get("queries", [])
    out = []
    for query in queries:
        for sink, topic in zip(query.get("sinks", []), query.get("sinkKafkaTopics", []), strict=False):
            kind = "table" if sink in tables else "stream"
            out.append(SinkInfo(str(query.get("id")), sink, topic, kind, tables.get(sink, False)))
    return out
