"""What runs on the ksqlDB server: persistent queries, their sink topics, which sinks are tables.

Read over ksqlDB's REST API (``SHOW QUERIES; SHOW TABLES;``), as any client would; the
collector asks every few seconds, since the migrations may create queries during the run.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

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


def sinks(settings: KsqlSettings, source_topic: str | None = None) -> list[SinkInfo]:
    """Every persistent query's sink topics with the sink's kind — with ``source_topic``, only
    the queries downstream of it (reading a stream or table over that topic, or over another
    sink of such a query): a shared server also runs queries that have nothing to do with the run.
    """
    entities = ksql_statement(settings, "SHOW QUERIES; SHOW STREAMS; SHOW TABLES;")
    sources: dict[str, str] = {}
    tables: dict[str, bool] = {}
    queries: list[dict[str, Any]] = []
    for entity in entities:
        kind = entity.get("@type")
        if kind == "tables":
            tables = {t["name"]: bool(t.get("isWindowed")) for t in entity.get("tables", [])}
            sources.update({t["name"]: t.get("topic", "") for t in entity.get("tables", [])})
        elif kind == "streams":
            sources.update({t["name"]: t.get("topic", "") for t in entity.get("streams", [])})
        elif kind == "queries":
            queries = [
                q for q in entity.get("queries", []) if q.get("queryType", "PERSISTENT") == "PERSISTENT"
            ]
    if source_topic is not None:
        queries = _downstream(
            settings, queries, [name for name, topic in sources.items() if topic == source_topic]
        )
    out = []
    for query in queries:
        for sink, topic in zip(query.get("sinks", []), query.get("sinkKafkaTopics", []), strict=False):
            kind = "table" if sink in tables else "stream"
            out.append(SinkInfo(str(query.get("id")), sink, topic, kind, tables.get(sink, False)))
    return out


def _downstream(
    settings: KsqlSettings, queries: list[dict[str, Any]], roots: list[str]
) -> list[dict[str, Any]]:
    """The queries reading ``roots`` (``DESCRIBE``'s readQueries), and those reading their
    sinks, and so on."""
    by_id = {str(q.get("id")): q for q in queries}
    found: dict[str, dict[str, Any]] = {}
    frontier, seen = list(roots), set(roots)
    while frontier:
        described = ksql_statement(settings, " ".join(f"DESCRIBE `{name}`;" for name in frontier))
        frontier = []
        for entity in described:
            for reader in (entity.get("sourceDescription") or {}).get("readQueries") or []:
                query_id = str(reader.get("id"))
                if query_id in found or query_id not in by_id:
                    continue
                found[query_id] = by_id[query_id]
                for sink in by_id[query_id].get("sinks", []):
                    if sink not in seen:
                        seen.add(sink)
                        frontier.append(sink)
    return list(found.values())


def _lags(settings: KsqlSettings, source_topic: str | None) -> dict[str, float] | None:
    """Every persistent query's consumer lag from the server's /metrics (None: no answer)."""
    try:
        response = requests.get(settings.url.rstrip("/") + "/metrics", auth=_auth(settings), timeout=5)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    lags: dict[str, float] = {}
    running: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        if family.name == "ksql_query_consumer_lag":
            for sample in family.samples:
                lags[sample.labels.get("query_id", "")] = sample.value
        elif family.name == "ksql_query_state":
            running |= {
                s.labels.get("query_id", "") for s in family.samples if s.labels.get("state") == "RUNNING"
            }
    # A query the server lists, whose lag is not known yet (it is starting, or has not
    # fetched), is not caught up; only the queries downstream of the run's topic count.
    listed = {sink.query_id for sink in sinks(settings, source_topic)}
    if source_topic is None:
        listed |= running | set(lags)
    return {query: lags.get(query, math.inf) for query in listed}


def wait_queries_caught_up(
    settings: KsqlSettings, *, timeout_s: float, source_topic: str | None = None, settle_s: float = 2.0
) -> bool:
    """Wait until every persistent query reports zero lag on two looks ``settle_s`` apart (then
    its last output has had a commit interval to become visible); False on timeout or when the
    server does not answer."""
    deadline = time.monotonic() + timeout_s
    idle_since: float | None = None
    while time.monotonic() < deadline:
        lags = _lags(settings, source_topic)
        if lags is None:
            return False
        if all(v == 0 for v in lags.values()):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle_s:
                return True
        else:
            idle_since = None
        time.sleep(0.5)
    log.warning("persistent queries still lag after %.0f s: %s", timeout_s, _lags(settings, source_topic))
    return False
