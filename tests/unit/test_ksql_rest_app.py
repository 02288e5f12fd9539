"""The REST layer's HTTP behaviour: framing, errors, negotiation, server states, auth, metrics.

The engine here is a stand-in that returns fixed entities and real :class:`PushQuery` handles,
so these tests pin down what the REST layer itself writes, byte for byte where ksqlDB's framing
matters. Statement semantics are the engine's and are tested against the real engine and server
in tests/integration/test_ksql_rest_shapes.py.
"""

from __future__ import annotations

import base64
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import KsqlError, KsqlStatementError, QueryEndpointError
from ksqldb_lite.execution.driver import QueryCounters
from ksqldb_lite.execution.queries import PullQueryResult, PushQuery, QueryHeader
from ksqldb_lite.rest import ServerCore, ServerState, create_app
from ksqldb_lite.rest.auth import BasicAuth

with warnings.catch_warnings():  # starlette would like httpx2; httpx is what the lock has
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

HEADER = QueryHeader("transient_S_123", ("ID", "NAME"), ("STRING", "STRING"))
CREATED = {
    "@type": "currentStatus",
    "statementText": "CREATE STREAM S (ID STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');",
    "commandId": "stream/`S`/create",
    "commandStatus": {"status": "SUCCESS", "message": "Stream created", "queryId": None},
    "commandSequenceNumber": 0,
    "warnings": [],
}


class StandInEngine:
    """Answers like the engine would for a few fixed statements."""

    service_id = "test_"
    command_sequence_number = 0

    def __init__(self) -> None:
        self.rows: list[list[Any]] = [["1", "a"], ["2", "b"], ["3", "c"]]
        self.inserted: list[tuple[str, dict[str, Any]]] = []
        self.closed = threading.Event()
        self.push: PushQuery | None = None
        self.counters = QueryCounters(
            messages_consumed=10, messages_produced=4, processing_errors=1, consumer_lag=2
        )

    def execute(self, ksql: str, props: Mapping[str, Any] | None = None, variables: Any = None) -> list[Any]:
        if ksql.startswith("SELECT"):
            raise QueryEndpointError(ksql)
        if ksql.startswith("CREATE"):
            return [CREATED]
        if ksql.startswith("BOOM"):
            raise RuntimeError("the executor broke")
        if ksql.startswith("DESCRIBE S") or ksql.startswith("list"):
            return []
        raise KsqlStatementError("line 1:1: Syntax Error", ksql)

    def execute_query(self, sql: str, props: Mapping[str, Any] | None = None, variables: Any = None) -> Any:
        if "WHERE" in sql:
            return PullQueryResult(QueryHeader("query_1", ("ID",), ("STRING",)), [["1"], ["2"]])
        if "EMIT CHANGES" not in sql:
            raise KsqlStatementError("Missing EMIT CHANGES", sql)
        limit = 2 if "LIMIT 2" in sql else None
        self.push = PushQuery(HEADER, limit, self.closed.set)
        if "FAIL" in sql:
            self.push.fail(KsqlError("the query failed", error_code=50000))
            return self.push
        for row in self.rows:
            self.push.offer(row)
        return self.push

    def insert_row(self, target: str, row: Mapping[str, Any]) -> None:
        if "bad" in row:
            raise KsqlStatementError("Failed to insert values into 'S': bad value", "")
        self.inserted.append((target, dict(row)))

    def command_status(self, command_id: str) -> dict[str, Any] | None:
        if command_id == "stream/`S`/create":
            return {"status": "SUCCESS", "message": "Stream created", "queryId": None}
        return None

    def command_statuses(self) -> dict[str, str]:
        return {"stream/`S`/create": "SUCCESS"}

    def persistent_queries(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "CSAS_T_1",
                "sinks": ["T"],
                "sinkKafkaTopics": ["T"],
                "state": "RUNNING",
                "counters": self.counters,
            }
        ]

    def server_info(self) -> dict[str, Any]:
        return {"version": "0.29.0", "ksqlServiceId": self.service_id, "serverStatus": "RUNNING"}

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class StaticCluster:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def cluster_id(self) -> str | None:
        return "cluster-1"

    def kafka_healthy(self) -> bool:
        return True

    def delete_topics(self, names: Any) -> None:
        self.deleted.extend(names)

    def topic_names(self) -> list[str]:
        return [
            "T",
            "other",
            "_confluent-ksql-test_query_CSAS_T_1-agg-changelog",
            "_confluent-ksql-test__command_topic",
        ]


@pytest.fixture
def engine() -> StandInEngine:
    return StandInEngine()


@pytest.fixture
def core(engine: StandInEngine) -> ServerCore:
    core = ServerCore(
        cast(KsqlEngine, engine), StaticCluster(), managed_topics=["_confluent-ksql-test__command_topic"]
    )
    core.state = ServerState.READY
    return core


@pytest.fixture
def client(core: ServerCore) -> Iterator[TestClient]:
    with TestClient(create_app(core), base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_root_redirects_to_info(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/info"


def test_unknown_path_wrong_method_and_unacceptable_type(client: TestClient) -> None:
    missing = client.post("/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    assert missing.text == "<html><body><h1>Resource not found</h1></body></html>"
    wrong = client.get("/ksql")
    assert (wrong.status_code, wrong.content) == (405, b"")
    refused = client.post("/query-stream", headers={"Accept": "blahblah"}, content=b"{}")
    assert (refused.status_code, refused.content) == (406, b"")


def test_ksql_returns_the_entity_list_as_application_json(client: TestClient) -> None:
    response = client.post(
        "/ksql",
        json={"ksql": "CREATE STREAM S (ID STRING) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');"},
        headers={"Accept": "application/vnd.ksql.v1+json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [CREATED]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"{bad", 400, {"@type": "generic_error", "error_code": 40000}),
        (b"[1]", 400, {"@type": "generic_error", "error_code": 40000}),
        (b'{"ksql": "SELECT * FROM S;"}', 400, {"@type": "statement_error", "error_code": 40002}),
        (b'{"ksql": "NONSENSE;"}', 400, {"@type": "statement_error", "error_code": 40001}),
        (b'{"ksql": "BOOM;"}', 500, {"@type": "statement_error", "error_code": 50000}),
    ],
)
def test_ksql_errors_have_ksqldb_shapes(
    client: TestClient, body: bytes, status: int, expected: dict[str, Any]
) -> None:
    response = client.post("/ksql", content=body)
    assert response.status_code == status
    error = response.json()
    assert {key: error[key] for key in expected} == expected
    if error["@type"] == "statement_error":
        assert set(error) == {"@type", "error_code", "message", "statementText", "entities"}
        assert error["entities"] == []
    else:
        assert set(error) == {"@type", "error_code", "message"}
        assert error["message"].startswith("Invalid JSON in request: ")


def test_query_streams_header_rows_and_final_message(client: TestClient, engine: StandInEngine) -> None:
    response = client.post("/query", json={"ksql": "SELECT * FROM S EMIT CHANGES LIMIT 2;"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == (
        b'[{"header":{"queryId":"transient_S_123","schema":"`ID` STRING, `NAME` STRING"}},\n'
        b'{"row":{"columns":["1","a"]}},\n'
        b'{"row":{"columns":["2","b"]}},\n'
        b'{"finalMessage":"Limit Reached"}]\n'
    )
    assert engine.closed.is_set()


def test_query_error_mid_stream(client: TestClient) -> None:
    response = client.post("/query", json={"ksql": "SELECT * FROM FAIL EMIT CHANGES;"})
    assert response.content == (
        b'[{"header":{"queryId":"transient_S_123","schema":"`ID` STRING, `NAME` STRING"}},\n'
        b'\n{"errorMessage":{"@type":"generic_error","error_code":50000,"message":"the query failed"}},\n'
    )


def test_query_refuses_an_empty_statement_and_bad_statements(client: TestClient) -> None:
    empty = client.post("/query", json={"ksql": "  "})
    assert empty.status_code == 400
    assert empty.json() == {
        "@type": "generic_error",
        "error_code": 40000,
        "message": '"ksql" field must be populated',
    }
    bad = client.post("/query", json={"ksql": "SELECT * FROM S;"})
    assert bad.status_code == 400
    assert bad.json()["@type"] == "statement_error"


def test_pull_query_on_query_endpoint(client: TestClient) -> None:
    response = client.post("/query", json={"ksql": "SELECT * FROM T WHERE ID='1';"})
    assert response.content == (
        b'[{"header":{"queryId":"query_1","schema":"`ID` STRING"}},\n{"row":{"columns":["1"]}},\n{"row":{"columns":["2"]}}]'
    )


def test_query_stream_delimited_is_the_default(client: TestClient) -> None:
    response = client.post("/query-stream", json={"sql": "SELECT * FROM S EMIT CHANGES LIMIT 2;"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.ksqlapi.delimited.v1"
    assert response.content == (
        b'{"queryId":"transient_S_123","columnNames":["ID","NAME"],"columnTypes":["STRING","STRING"]}\n'
        b'["1","a"]\n["2","b"]\n'
    )


def test_query_stream_json_array(client: TestClient) -> None:
    response = client.post(
        "/query-stream",
        json={"sql": "SELECT * FROM S EMIT CHANGES LIMIT 2;"},
        headers={"Accept": "application/json"},
    )
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content) == [
        {"queryId": "transient_S_123", "columnNames": ["ID", "NAME"], "columnTypes": ["STRING", "STRING"]},
        ["1", "a"],
        ["2", "b"],
    ]


def test_query_stream_requires_sql(client: TestClient) -> None:
    response = client.post("/query-stream", json={"properties": {}})
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid JSON in request: Missing required creator property 'sql'"


def test_push_query_without_limit_runs_until_closed(
    client: TestClient, core: ServerCore, engine: StandInEngine
) -> None:
    with client.stream("POST", "/query-stream", json={"sql": "SELECT * FROM S EMIT CHANGES;"}) as response:
        lines = response.iter_lines()
        assert orjson.loads(next(lines))["queryId"] == "transient_S_123"
        assert [orjson.loads(next(lines)) for _ in range(3)] == engine.rows
        assert list(core.push_queries) == ["transient_S_123"]
        closed = client.post("/close-query", json={"queryId": "transient_S_123"})
        assert (closed.status_code, closed.content) == (200, b"")
        assert list(lines) == []  # the stream ended
    assert engine.closed.is_set()
    again = client.post("/close-query", json={"queryId": "transient_S_123"})
    assert again.status_code == 400
    assert again.json() == {
        "@type": "generic_error",
        "error_code": 40000,
        "message": "No query with id transient_S_123",
    }


def test_inserts_stream_acks_each_row_and_stops_at_the_first_error(
    client: TestClient, engine: StandInEngine
) -> None:
    body = b'{"target":"S"}\n{"ID":"1"}\n{"ID":"2"}\n'
    response = client.post("/inserts-stream", content=body)
    assert response.status_code == 200
    assert response.content == b'{"status":"ok","seq":0}\n{"status":"ok","seq":1}\n'
    assert engine.inserted == [("S", {"ID": "1"}), ("S", {"ID": "2"})]

    failing = client.post("/inserts-stream", content=b'{"target":"S"}\n{"ID":"3"}\n{"bad":1}\n{"ID":"4"}\n')
    acks = [orjson.loads(line) for line in failing.content.splitlines()]
    assert acks == [
        {"status": "ok", "seq": 0},
        {
            "@type": "InsertError",
            "error_code": 40001,
            "message": "Failed to insert values into 'S': bad value",
            "status": "error",
            "seq": 1,
        },
    ]
    assert ("S", {"ID": "4"}) not in engine.inserted

    broken = client.post(
        "/inserts-stream", content=b'{"target":"S"}\n{not json\n', headers={"Accept": "application/json"}
    )
    assert orjson.loads(broken.content) == [
        {
            "@type": "InsertError",
            "error_code": 40000,
            "message": "Invalid JSON in inserts stream",
            "status": "error",
            "seq": 0,
        }
    ]


def test_inserts_stream_refuses_an_unknown_target_before_streaming(client: TestClient) -> None:
    response = client.post("/inserts-stream", content=b'{"target":"nope"}\n{"ID":"1"}\n')
    assert response.status_code == 400
    assert response.json() == {
        "@type": "generic_error",
        "error_code": 40001,
        "message": "Cannot insert values into an unknown stream/table: nope",
    }


def test_info_healthcheck_and_statuses(client: TestClient) -> None:
    assert client.get("/info").json() == {
        "KsqlServerInfo": {
            "version": "0.29.0",
            "kafkaClusterId": "cluster-1",
            "ksqlServiceId": "test_",
            "serverStatus": "RUNNING",
        }
    }
    assert client.get("/healthcheck").json() == {
        "isHealthy": True,
        "details": {
            "metastore": {"isHealthy": True},
            "kafka": {"isHealthy": True},
            "commandRunner": {"isHealthy": True},
        },
        "serverState": "READY",
    }
    assert client.get("/status").json() == {"commandStatuses": {"stream/`S`/create": "SUCCESS"}}
    found = client.get("/status/STREAM/%60S%60/create")
    assert found.json() == {"status": "SUCCESS", "message": "Stream created", "queryId": None}
    missing = client.get("/status/stream/X/create")
    assert missing.status_code == 404
    assert missing.json() == {"@type": "generic_error", "error_code": 40400, "message": "Command not found"}


@pytest.mark.parametrize(
    ("state", "code", "message"),
    [
        (ServerState.INITIALIZING, 50302, "KSQL is not yet ready to serve requests."),
        (ServerState.TERMINATING, 50303, "The server is shutting down"),
        (ServerState.TERMINATED, 50304, "The server is shut down"),
    ],
)
def test_requests_are_refused_unless_ready(
    client: TestClient, core: ServerCore, state: ServerState, code: int, message: str
) -> None:
    core.state = state
    for response in (
        client.get("/info"),
        client.post("/ksql", json={"ksql": "SHOW STREAMS;"}),
        client.get("/nope"),
    ):
        assert response.status_code == 503
        assert response.json() == {"@type": "generic_error", "error_code": code, "message": message}
    assert client.get("/chc/live").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_terminate_answers_queued_then_deletes_sinks_and_internal_topics(
    client: TestClient, core: ServerCore
) -> None:
    response = client.post("/ksql/terminate", json={"deleteTopicList": ["T.*"]})
    assert response.status_code == 200
    assert response.json() == [
        {
            "@type": "currentStatus",
            "statementText": "TERMINATE CLUSTER;",
            "commandId": "cluster/TerminateCluster/terminate",
            "commandStatus": {
                "status": "QUEUED",
                "message": "Statement written to command topic",
                "queryId": None,
            },
            "commandSequenceNumber": 1,
            "warnings": [],
        }
    ]
    assert core.state is ServerState.TERMINATED  # the background task ran after the response
    assert sorted(cast(StaticCluster, core.cluster).deleted) == [
        "T",
        "_confluent-ksql-test__command_topic",
        "_confluent-ksql-test_query_CSAS_T_1-agg-changelog",
    ]
    after = client.post("/ksql", json={"ksql": "SHOW STREAMS;"})
    assert after.json()["error_code"] == 50304


def test_metrics_per_persistent_query(client: TestClient) -> None:
    text = client.get("/metrics").text
    labels = 'ksql_service_id="test_",query_id="CSAS_T_1"'
    assert f"ksql_query_messages_consumed_total{{{labels}}} 10.0" in text
    assert f"ksql_query_messages_produced_total{{{labels}}} 4.0" in text
    assert f"ksql_query_processing_errors_total{{{labels}}} 1.0" in text
    assert f"ksql_query_consumer_lag{{{labels}}} 2.0" in text
    assert f'ksql_query_state{{{labels},state="RUNNING"}} 1.0' in text
    assert 'ksql_server_state{state="READY"} 1.0' in text


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth(core: ServerCore, tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# users\nfred: letmein,admin\nbarney: MD5:0d107d09f5bbe40cade3de5c71e9e9b7,user\n")
    auth = BasicAuth.from_file(users, roles=["admin", "user"], skip_paths=["/chc/live"])
    with TestClient(create_app(core, auth), base_url="http://127.0.0.1") as client:
        missing = client.get("/info")
        assert missing.status_code == 401
        assert missing.json() == {"@type": "generic_error", "error_code": 40100, "message": "Unauthorized"}
        assert missing.headers["www-authenticate"] == 'Basic realm="KsqlServer-Props"'
        assert client.get("/info", headers=_basic("fred", "wrong")).status_code == 401
        assert client.get("/info", headers=_basic("fred", "letmein")).status_code == 200
        assert client.get("/info", headers=_basic("barney", "letmein")).status_code == 200  # MD5 of letmein
        assert client.get("/chc/live").status_code == 200
    only_admins = BasicAuth.from_file(users, roles=["admin"])
    with TestClient(create_app(core, only_admins), base_url="http://127.0.0.1") as client:
        forbidden = client.get("/info", headers=_basic("barney", "letmein"))
        assert forbidden.status_code == 403
        assert forbidden.json()["error_code"] == 40300
