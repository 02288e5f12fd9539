"""Every endpoint of the real server, checked field for field against ksqlDB 0.29's REST shapes.

The expected shapes come from ksqlDB's entity classes (``ksqldb-rest-model/.../rest/entity``,
as summarised in shared/ksql-conformance/KSQLDB-FACTS.md) and its REST reference: each test
asserts the exact key set of every object and the JSON type of every value, plus the framing of
the streaming endpoints and the HTTP details (status, Content-Type, chunked encoding).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from tests.integration.ksql_helpers import ksql, produce, query_metric, unique, wait_until

CURRENT_STATUS = {"@type", "statementText", "commandId", "commandStatus", "commandSequenceNumber", "warnings"}
COMMAND_STATUS = {"status", "message", "queryId"}
SOURCE_INFO = {"type", "name", "topic", "keyFormat", "valueFormat", "isWindowed"}
RUNNING_QUERY = {"queryString", "sinks", "sinkKafkaTopics", "id", "statusCount", "queryType", "state"}
SOURCE_DESCRIPTION = {
    "name",
    "windowType",
    "readQueries",
    "writeQueries",
    "fields",
    "type",
    "timestamp",
    "statistics",
    "errorStats",
    "extended",
    "keyFormat",
    "valueFormat",
    "topic",
    "partitions",
    "replication",
    "statement",
    "queryOffsetSummaries",
    "sourceConstraints",
    "clusterStatistics",
    "clusterErrorStats",
}
STATEMENT_ERROR = {"@type", "error_code", "message", "statementText", "entities"}
GENERIC_ERROR = {"@type", "error_code", "message"}
JSON_CT = "application/json"


def _stream(url: str, bootstrap_partitions: int = 2) -> tuple[str, str]:
    name = unique("shape")
    ksql(
        url,
        f"CREATE STREAM {name} (ID STRING KEY, COUNTRY STRING, N INT) "
        f"WITH (KAFKA_TOPIC='{name.lower()}', VALUE_FORMAT='JSON', PARTITIONS={bootstrap_partitions});",
    )
    return name, name.lower()


def test_ksql_create_show_describe_list_drop(ksql_url: str) -> None:
    name = unique("shape")
    topic = name.lower()
    response = requests.post(
        f"{ksql_url}/ksql",
        json={
            "ksql": f"CREATE STREAM {name} (ID STRING KEY, N INT) "
            f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=2);",
            "streamsProperties": {},
        },
        headers={"Accept": "application/vnd.ksql.v1+json", "Content-Type": "application/vnd.ksql.v1+json"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_CT
    (created,) = response.json()
    assert set(created) == CURRENT_STATUS
    assert created["@type"] == "currentStatus"
    assert created["commandId"] == f"stream/`{name}`/create"
    assert created["commandStatus"] == {"status": "SUCCESS", "message": "Stream created", "queryId": None}
    assert isinstance(created["commandSequenceNumber"], int) and created["commandSequenceNumber"] >= 0
    assert created["warnings"] == []

    (csas,) = ksql(ksql_url, f"CREATE STREAM {name}_DE AS SELECT * FROM {name} WHERE N > 1;")
    assert set(csas) == CURRENT_STATUS and set(csas["commandStatus"]) == COMMAND_STATUS
    query_id = csas["commandStatus"]["queryId"]
    assert query_id.startswith(f"CSAS_{name}_DE_")
    assert csas["commandStatus"]["message"] == f"Created query with ID {query_id}"
    assert csas["commandSequenceNumber"] == created["commandSequenceNumber"] + 1

    (streams,) = ksql(ksql_url, "SHOW STREAMS;")
    assert set(streams) == {"@type", "statementText", "streams", "warnings"}
    assert streams["@type"] == "streams"
    ours = [s for s in streams["streams"] if s["name"] == name]
    assert ours == [
        {
            "type": "STREAM",
            "name": name,
            "topic": topic,
            "keyFormat": "KAFKA",
            "valueFormat": "JSON",
            "isWindowed": False,
        }
    ]
    assert all(set(s) == SOURCE_INFO for s in streams["streams"])

    (tables,) = ksql(ksql_url, "LIST TABLES;")
    assert set(tables) == {"@type", "statementText", "tables", "warnings"} and tables["@type"] == "tables"

    (queries,) = ksql(ksql_url, "SHOW QUERIES;")
    assert set(queries) == {"@type", "statementText", "queries", "warnings"} and queries["@type"] == "queries"
    (query,) = [q for q in queries["queries"] if q["id"] == query_id]
    assert set(query) == RUNNING_QUERY
    assert query["sinks"] == [f"{name}_DE"] and query["sinkKafkaTopics"] == [f"{name}_DE"]
    assert query["statusCount"] == {"RUNNING": 1}
    assert (query["queryType"], query["state"]) == ("PERSISTENT", "RUNNING")

    (described,) = ksql(ksql_url, f"DESCRIBE {name};")
    assert set(described) == {"@type", "statementText", "sourceDescription", "warnings"}
    description = described["sourceDescription"]
    assert set(description) == SOURCE_DESCRIPTION
    assert description["fields"] == [
        {"name": "ID", "schema": {"type": "STRING", "fields": None, "memberSchema": None}, "type": "KEY"},
        {"name": "N", "schema": {"type": "INTEGER", "fields": None, "memberSchema": None}},
    ]
    assert [q["id"] for q in description["readQueries"]] == [query_id]
    (extended,) = ksql(ksql_url, f"DESCRIBE {name} EXTENDED;")
    assert extended["sourceDescription"]["extended"] is True
    assert (extended["sourceDescription"]["partitions"], extended["sourceDescription"]["replication"]) == (
        2,
        1,
    )

    (topics,) = ksql(ksql_url, "LIST TOPICS;")
    assert (
        set(topics) == {"@type", "statementText", "topics", "warnings"} and topics["@type"] == "kafka_topics"
    )
    assert {"name": topic, "replicaInfo": [1, 1]} in topics["topics"]

    (properties,) = ksql(ksql_url, "SHOW PROPERTIES;")
    assert properties["@type"] == "properties"
    assert set(properties) == {
        "@type",
        "statementText",
        "properties",
        "overwrittenProperties",
        "defaultProperties",
        "warnings",
    }
    assert all(set(p) == {"name", "scope", "value", "editable", "level"} for p in properties["properties"])

    (terminated,) = ksql(ksql_url, f"TERMINATE {query_id};")
    assert set(terminated) == CURRENT_STATUS
    assert terminated["commandId"] == f"terminate/{query_id}/execute"
    assert terminated["commandStatus"]["message"] == "Query terminated."
    (dropped,) = ksql(ksql_url, f"DROP STREAM {name}_DE DELETE TOPIC;")
    assert dropped["commandId"] == f"stream/{name}_DE/drop"
    assert dropped["commandStatus"]["message"] == f"Source `{name}_DE` (topic: {name}_DE) was dropped."


def test_ksql_errors(ksql_url: str) -> None:
    name = unique("shape")
    malformed = requests.post(f"{ksql_url}/ksql", data=b"{not json", timeout=30)
    assert malformed.status_code == 400
    assert malformed.headers["Content-Type"] == JSON_CT
    body = malformed.json()
    assert set(body) == GENERIC_ERROR
    assert body["@type"] == "generic_error" and body["error_code"] == 40000
    assert body["message"].startswith("Invalid JSON in request: ")

    select = ksql(ksql_url, f"SELECT * FROM {name} EMIT CHANGES;", expect=400)
    assert set(select) == STATEMENT_ERROR and select["error_code"] == 40002
    assert select["message"].startswith(
        "The following statement types should be issued to the websocket endpoint"
    )

    # All statements are validated before any runs: the valid first one must not run.
    text = (
        f"CREATE STREAM {name} (ID STRING) WITH (KAFKA_TOPIC='{name.lower()}', VALUE_FORMAT='JSON', PARTITIONS=1);"
        f" DROP STREAM NO_SUCH_{name};"
    )
    failed = ksql(ksql_url, text, expect=400)
    assert set(failed) == STATEMENT_ERROR
    assert failed["@type"] == "statement_error" and failed["error_code"] == 40001
    assert failed["statementText"] == f"DROP STREAM NO_SUCH_{name};"
    assert failed["entities"] == []
    (streams,) = ksql(ksql_url, "SHOW STREAMS;")
    assert name not in {s["name"] for s in streams["streams"]}

    wrong_accept = requests.post(
        f"{ksql_url}/ksql", json={"ksql": "SHOW STREAMS;"}, headers={"Accept": "text/csv"}
    )
    assert (wrong_accept.status_code, wrong_accept.content) == (406, b"")


def test_query_push_framing_over_chunked_http11(ksql_url: str, bootstrap_servers: str) -> None:
    name, topic = _stream(ksql_url)
    produce(bootstrap_servers, topic, [(b"a", b'{"COUNTRY":"de","N":1}'), (b"b", b'{"COUNTRY":"us","N":2}')])
    response = requests.post(
        f"{ksql_url}/query",
        json={
            "ksql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;",
            "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"},
        },
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_CT
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.raw.version == 11  # HTTP/1.1
    text = response.text
    assert text.startswith("[{") and text.endswith("]\n")
    elements = [json.loads(part) for part in text[1:-2].replace(",\n", "\n").split("\n") if part.strip()]
    header, *rows, final = elements
    assert set(header) == {"header"} and set(header["header"]) == {"queryId", "schema"}
    assert header["header"]["queryId"].startswith(f"transient_{name}_")
    assert header["header"]["schema"] == "`ID` STRING, `COUNTRY` STRING, `N` INTEGER"
    assert sorted(row["row"]["columns"] for row in rows) == [["a", "de", 1], ["b", "us", 2]]
    assert all(set(row) == {"row"} and set(row["row"]) == {"columns"} for row in rows)
    assert final == {"finalMessage": "Limit Reached"}

    bad = requests.post(f"{ksql_url}/query", json={"ksql": "SELECT * FROM NO_SUCH_STREAM EMIT CHANGES;"})
    assert bad.status_code == 400
    assert set(bad.json()) == STATEMENT_ERROR and bad.json()["error_code"] == 40001


def test_query_stream_delimited_json_and_close_query(ksql_url: str, bootstrap_servers: str) -> None:
    name, topic = _stream(ksql_url)
    produce(bootstrap_servers, topic, [(b"a", b'{"COUNTRY":"de","N":1}')])
    body = {
        "sql": f"SELECT ID, N FROM {name} EMIT CHANGES LIMIT 1;",
        "properties": {"auto.offset.reset": "earliest"},
    }
    delimited = requests.post(f"{ksql_url}/query-stream", json=body, timeout=60)
    assert delimited.status_code == 200
    assert delimited.headers["Content-Type"] == "application/vnd.ksqlapi.delimited.v1"
    metadata, row = (json.loads(line) for line in delimited.text.splitlines())
    assert set(metadata) == {"queryId", "columnNames", "columnTypes"}
    assert (metadata["columnNames"], metadata["columnTypes"]) == (["ID", "N"], ["STRING", "INTEGER"])
    assert row == ["a", 1]

    as_json = requests.post(
        f"{ksql_url}/query-stream", json=body, headers={"Accept": "application/json"}, timeout=60
    )
    assert as_json.headers["Content-Type"] == JSON_CT
    array = as_json.json()
    assert set(array[0]) == {"queryId", "columnNames", "columnTypes"} and array[1:] == [["a", 1]]

    # A query without LIMIT streams until /close-query ends it.
    endless = {"sql": f"SELECT * FROM {name} EMIT CHANGES;", "properties": {"auto.offset.reset": "earliest"}}
    with requests.post(f"{ksql_url}/query-stream", json=endless, stream=True, timeout=60) as stream:
        lines = stream.iter_lines()
        query_id = json.loads(next(lines))["queryId"]
        assert json.loads(next(lines)) == ["a", "de", 1]
        closed = requests.post(f"{ksql_url}/close-query", json={"queryId": query_id}, timeout=30)
        assert (closed.status_code, closed.content) == (200, b"")
        assert list(lines) == []
    unknown = requests.post(f"{ksql_url}/close-query", json={"queryId": query_id}, timeout=30)
    assert unknown.status_code == 400
    assert unknown.json() == {
        "@type": "generic_error",
        "error_code": 40000,
        "message": f"No query with id {query_id}",
    }


def test_push_query_sees_rows_produced_while_it_runs(ksql_url: str, bootstrap_servers: str) -> None:
    name, topic = _stream(ksql_url, 1)
    received: list[Any] = []

    def read() -> None:
        body = {"sql": f"SELECT ID FROM {name} EMIT CHANGES LIMIT 3;"}
        with requests.post(f"{ksql_url}/query-stream", json=body, stream=True, timeout=60) as stream:
            received.extend(json.loads(line) for line in stream.iter_lines() if line)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(2.0)  # auto.offset.reset is latest: the query must be reading before the rows arrive
    produce(bootstrap_servers, topic, [(f"k{i}".encode(), b'{"COUNTRY":"x","N":1}') for i in range(3)])
    reader.join(60)
    assert not reader.is_alive()
    assert received[1:] == [["k0"], ["k1"], ["k2"]]


def test_inserts_stream_acks(ksql_url: str) -> None:
    name, _ = _stream(ksql_url)
    body = (
        f'{{"target":"{name.lower()}"}}\n{{"ID":"x","COUNTRY":"de","N":1}}\n{{"ID":"y","N":"not a number"}}\n'
    )
    response = requests.post(f"{ksql_url}/inserts-stream", data=body.encode(), timeout=60)
    assert response.status_code == 200
    ok, error = (json.loads(line) for line in response.text.splitlines())
    assert ok == {"status": "ok", "seq": 0}
    assert set(error) == {"@type", "error_code", "message", "status", "seq"}
    assert (error["status"], error["seq"], error["error_code"]) == ("error", 1, 40001)
    rows = requests.post(
        f"{ksql_url}/query-stream",
        json={
            "sql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 1;",
            "properties": {"auto.offset.reset": "earliest"},
        },
        timeout=60,
    ).text.splitlines()
    assert json.loads(rows[1]) == ["x", "de", 1]

    unknown = requests.post(f"{ksql_url}/inserts-stream", data=b'{"target":"NO_SUCH"}\n{"A":1}\n', timeout=30)
    assert unknown.status_code == 400
    assert set(unknown.json()) == GENERIC_ERROR and unknown.json()["error_code"] == 40001


def test_info_healthcheck_status_root_and_404(ksql_url: str, bootstrap_servers: str) -> None:
    info = requests.get(f"{ksql_url}/info", timeout=30)
    assert info.headers["Content-Type"] == JSON_CT
    assert set(info.json()) == {"KsqlServerInfo"}
    server = info.json()["KsqlServerInfo"]
    assert set(server) == {"version", "kafkaClusterId", "ksqlServiceId", "serverStatus"}
    assert server["ksqlServiceId"] == "session_" and server["serverStatus"] == "RUNNING"
    assert isinstance(server["kafkaClusterId"], str) and len(server["kafkaClusterId"]) == 22

    health = requests.get(f"{ksql_url}/healthcheck", timeout=30).json()
    assert health == {
        "isHealthy": True,
        "details": {
            "metastore": {"isHealthy": True},
            "kafka": {"isHealthy": True},
            "commandRunner": {"isHealthy": True},
        },
        "serverState": "READY",
    }

    name, _ = _stream(ksql_url)
    statuses = requests.get(f"{ksql_url}/status", timeout=30).json()
    assert set(statuses) == {"commandStatuses"}
    assert statuses["commandStatuses"][f"stream/`{name}`/create"] == "SUCCESS"
    one = requests.get(f"{ksql_url}/status/stream/`{name}`/create", timeout=30)
    assert one.status_code == 200
    assert one.json() == {"status": "SUCCESS", "message": "Stream created", "queryId": None}
    missing = requests.get(f"{ksql_url}/status/stream/NOPE/create", timeout=30)
    assert missing.status_code == 404
    assert missing.json() == {"@type": "generic_error", "error_code": 40400, "message": "Command not found"}

    root = requests.get(f"{ksql_url}/", allow_redirects=False, timeout=30)
    assert (root.status_code, root.headers["Location"]) == (307, "/info")
    nowhere = requests.post(f"{ksql_url}/no-such-endpoint", timeout=30)
    assert nowhere.status_code == 404
    assert "Resource not found" in nowhere.text


def test_metrics_per_persistent_query(ksql_url: str, bootstrap_servers: str) -> None:
    name, topic = _stream(ksql_url)
    (csas,) = ksql(
        ksql_url,
        f"CREATE STREAM {name}_DE AS SELECT * FROM {name} WHERE COUNTRY = 'de';",
        {"ksql.streams.auto.offset.reset": "earliest"},
    )
    query_id = csas["commandStatus"]["queryId"]
    produce(
        bootstrap_servers,
        topic,
        [(b"a", b'{"COUNTRY":"de","N":1}'), (b"b", b'{"COUNTRY":"us","N":2}'), (b"c", b"not json")],
    )
    wait_until(
        lambda: query_metric(ksql_url, "ksql_query_messages_consumed_total", query_id) == 3,
        what="3 records consumed",
    )
    # produced counts acknowledged records: the acknowledgement may come a moment later
    wait_until(
        lambda: query_metric(ksql_url, "ksql_query_messages_produced_total", query_id) == 1,
        what="1 acknowledged",
    )
    assert query_metric(ksql_url, "ksql_query_processing_errors_total", query_id) == 1
    wait_until(lambda: query_metric(ksql_url, "ksql_query_consumer_lag", query_id) == 0, what="lag 0")
    text = requests.get(f"{ksql_url}/metrics", timeout=30).text
    assert f'ksql_query_state{{ksql_service_id="session_",query_id="{query_id}",state="RUNNING"}} 1.0' in text


def test_table_pull_query_and_print(ksql_url: str, bootstrap_servers: str) -> None:
    """The migrations' pattern: a CTAS with latest_by_offset, read back by pull queries."""
    name = unique("versions")
    topic = name.lower()
    ksql(
        ksql_url,
        f"CREATE STREAM {name} (version_key STRING KEY, version STRING) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);",
    )
    ksql(
        ksql_url,
        f"CREATE TABLE {name}_LATEST AS SELECT version_key, latest_by_offset(version) AS version "
        f"FROM {name} GROUP BY version_key;",
        {"ksql.streams.auto.offset.reset": "earliest"},
    )
    ksql(
        ksql_url,
        f"INSERT INTO {name} (version_key, version) VALUES ('CURRENT', '1');"
        f" INSERT INTO {name} (version_key, version) VALUES ('CURRENT', '2');"
        f" INSERT INTO {name} (version_key, version) VALUES ('2', 'x');",
    )

    def pull() -> str:
        body = {
            "ksql": f"SELECT * FROM {name}_LATEST WHERE version_key = 'CURRENT';",
            "streamsProperties": {},
        }
        response = requests.post(f"{ksql_url}/query", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.text

    wait_until(lambda: '"CURRENT","2"' in pull(), what="the table to hold CURRENT=2")
    header, row = json.loads(pull())
    assert set(header["header"]) == {"queryId", "schema"}
    # ksqlDB writes "`VERSION_KEY` STRING KEY, `VERSION` STRING" for a pull query (key marked):
    # the engine's header does not mark keys yet (reported); the columns and types must match.
    assert header["header"]["schema"].replace(" KEY,", ",") == "`VERSION_KEY` STRING, `VERSION` STRING"
    assert row == {"row": {"columns": ["CURRENT", "2"]}}

    printed = requests.post(
        f"{ksql_url}/query", json={"ksql": f"PRINT '{topic}' FROM BEGINNING LIMIT 2;"}, timeout=60
    )
    assert printed.status_code == 200
    lines = [line for line in printed.text.splitlines() if line.strip()]
    assert lines[:2] == ["Key format: KAFKA_STRING", "Value format: JSON or KAFKA_STRING"]
    assert lines[2].startswith("rowtime: ") and ", key: CURRENT, value: {" in lines[2]
    assert len(lines) == 4
    json_print = requests.post(
        f"{ksql_url}/query-stream",
        json={"sql": f"PRINT '{topic}' FROM BEGINNING LIMIT 1;"},
        headers={"Accept": "application/json"},
        timeout=60,
    )
    assert json_print.status_code == 406
