"""The whole API over HTTP/2 cleartext with prior knowledge, beside HTTP/1.1 on the same port.

ksqlDB's Java client and the Python clients open ``http://`` URLs with the HTTP/2 connection
preface straight away (no upgrade); these tests do the same with httpx (``http1=False,
http2=True``) against a real server process, and check that HTTP/1.1 clients on the same port
are unaffected, that push queries stream row by row and get keep-alives over HTTP/2 too, and
that SIGTERM ends open HTTP/2 streams cleanly.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import requests

from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports, stop_pid
from tests.integration.ksql_helpers import ksql, unique, wait_until

DELIMITED = "application/vnd.ksqlapi.delimited.v1"


@pytest.fixture
def h2(ksql_url: str) -> Iterator[httpx.Client]:
    """An HTTP/2-only client (prior knowledge: no HTTP/1.1, no upgrade)."""
    with httpx.Client(base_url=ksql_url, http1=False, http2=True, timeout=60) as client:
        yield client


def _stream(url: str, name: str, partitions: int = 1) -> str:
    topic = name.lower()
    ksql(
        url,
        f"CREATE STREAM {name} (K STRING KEY, V INT) WITH (KAFKA_TOPIC='{topic}', "
        f"VALUE_FORMAT='JSON', PARTITIONS={partitions});",
    )
    return topic


def test_info_and_ksql_over_http2(h2: httpx.Client, ksql_url: str) -> None:
    info = h2.get("/info")
    assert info.http_version == "HTTP/2"
    assert info.status_code == 200
    assert info.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"
    name = unique("H2_KSQL")
    created = h2.post(
        "/ksql",
        json={
            "ksql": f"CREATE STREAM {name} (V INT) WITH (KAFKA_TOPIC='{name.lower()}', VALUE_FORMAT='JSON', PARTITIONS=1);"
        },
    )
    assert created.http_version == "HTTP/2"
    assert created.status_code == 200, created.text
    assert created.headers["content-type"].startswith("application/json")
    assert created.json()[0]["commandStatus"]["message"] == "Stream created"
    # errors keep ksqlDB's shapes over HTTP/2
    refused = h2.post(
        "/ksql",
        json={
            "ksql": f"CREATE STREAM {name} (V INT) WITH (KAFKA_TOPIC='x', VALUE_FORMAT='JSON', PARTITIONS=1);"
        },
    )
    assert refused.status_code == 400
    body = refused.json()
    assert body["@type"] == "statement_error" and body["error_code"] == 40001
    assert "already exists" in body["message"]
    bad_json = h2.post("/ksql", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error_code"] == 40000
    missing = h2.get("/nowhere")
    assert missing.status_code == 404 and b"Resource not found" in missing.content
    # the same port still answers HTTP/1.1
    plain = requests.get(f"{ksql_url}/info", timeout=10)
    assert plain.status_code == 200 and plain.raw.version == 11


def test_inserts_stream_then_push_query_stream_over_http2(h2: httpx.Client, ksql_url: str) -> None:
    name = unique("H2_ROWS")
    _stream(ksql_url, name)
    rows = [{"K": f"k{i}", "V": i} for i in range(5)]
    body = json.dumps({"target": name}) + "\n" + "".join(json.dumps(r) + "\n" for r in rows)
    inserted = h2.post("/inserts-stream", content=body.encode())
    assert inserted.http_version == "HTTP/2"
    assert inserted.status_code == 200, inserted.text
    acks = [json.loads(line) for line in inserted.text.splitlines() if line]
    assert acks == [{"status": "ok", "seq": i} for i in range(5)]
    query = {
        "sql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 5;",
        "properties": {"auto.offset.reset": "earliest"},
    }
    with h2.stream("POST", "/query-stream", json=query) as response:
        assert response.http_version == "HTTP/2"
        assert response.headers["content-type"] == DELIMITED
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[0]["columnNames"] == ["K", "V"]
    assert lines[0]["columnTypes"] == ["STRING", "INTEGER"]
    assert sorted(lines[1:]) == sorted([r["K"], r["V"]] for r in rows)
    unknown = h2.post("/inserts-stream", content=b'{"target":"NO_SUCH_STREAM"}\n{"V":1}\n')
    assert unknown.status_code == 400 and unknown.json()["error_code"] == 40001


def _arrived(arrivals: list[tuple[float, bytes]], marker: bytes) -> bool:
    return any(marker in chunk for _, chunk in arrivals)


def test_push_query_streams_row_by_row_with_keepalives_over_http2(
    h2: httpx.Client, ksql_url: str, bootstrap_servers: str
) -> None:
    """Rows inserted while the query runs arrive one by one on the open HTTP/2 stream (not at
    its end); an idle stream gets ksqlDB's keep-alive newline; /close-query ends it."""
    name = unique("H2_LIVE")
    _stream(ksql_url, name)
    arrivals: list[tuple[float, bytes]] = []
    query_id: list[str] = []
    body = {"ksql": f"SELECT * FROM {name} EMIT CHANGES;", "streamsProperties": {}}

    def read() -> None:
        with (
            httpx.Client(base_url=ksql_url, http1=False, http2=True, timeout=60) as client,
            client.stream("POST", "/query", json=body) as response,
        ):
            assert response.http_version == "HTTP/2"
            for chunk in response.iter_raw():
                arrivals.append((time.monotonic(), chunk))
                if not query_id and b'"queryId"' in chunk:
                    query_id.append(json.loads(chunk.lstrip(b"[").rstrip(b",\n"))["header"]["queryId"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: bool(query_id), 30, "the push query's header")
    time.sleep(2.5)  # idle: at least one keep-alive
    sent_at = []
    for i in range(3):
        sent_at.append(time.monotonic())
        ksql(ksql_url, f"INSERT INTO {name} (K, V) VALUES ('k{i}', {i});")
        wait_until(partial(_arrived, arrivals, f'"k{i}"'.encode()), 30, f"row k{i}")
    assert h2.post("/close-query", json={"queryId": query_id[0]}).status_code == 200
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end after /close-query"
    data = b"".join(chunk for _, chunk in arrivals)
    assert b"\n\n" in data or any(chunk == b"\n" for _, chunk in arrivals), "no keep-alive newline"
    rows = [json.loads(line.rstrip(b",")) for line in data.split(b"\n") if line.startswith(b'{"row"')]
    assert [r["row"]["columns"] for r in rows] == [["k0", 0], ["k1", 1], ["k2", 2]]
    # each row arrived before the next was inserted: streamed, not buffered to the end
    for i in range(1, 3):
        first_seen = min(t for t, c in arrivals if f'"k{i - 1}"'.encode() in c)
        assert first_seen < sent_at[i]
    assert data.endswith(b"]\n")


def test_http1_and_http2_clients_share_the_port(h2: httpx.Client, ksql_url: str) -> None:
    """A push query open over HTTP/1.1 while HTTP/2 requests come and go on the same port."""
    name = unique("H2_MIX")
    _stream(ksql_url, name)
    body = {"ksql": f"SELECT * FROM {name} EMIT CHANGES LIMIT 2;", "streamsProperties": {}}
    lines: list[bytes] = []

    def read_h1() -> None:
        with requests.post(f"{ksql_url}/query", json=body, stream=True, timeout=60) as response:
            assert response.raw.version == 11
            lines.extend(line for line in response.iter_lines() if line)

    reader = threading.Thread(target=read_h1, daemon=True)
    reader.start()
    time.sleep(1.5)  # the query starts at latest: let it subscribe before the inserts
    for i in range(2):
        response = h2.post("/ksql", json={"ksql": f"INSERT INTO {name} (K, V) VALUES ('m{i}', {i});"})
        assert response.status_code == 200, response.text
    reader.join(30)
    assert not reader.is_alive()
    assert lines[-1].endswith(b'{"finalMessage":"Limit Reached"}]')
    assert sum(1 for line in lines if b'"row"' in line) == 2


def test_sigterm_ends_open_http2_streams(tmp_path: Path, bootstrap_servers: str) -> None:
    """A server stopped with SIGTERM ends its open HTTP/2 push-query stream (the client sees
    the end of the response, not a reset) and exits with status 0 within seconds."""
    (port,) = find_free_ports(1)
    server = KsqlServer(
        KsqlServerConfig(
            state_dir=tmp_path / "ksql",
            port=port,
            bootstrap_servers=bootstrap_servers,
            service_id=f"h2_term_{uuid.uuid4().hex[:6]}_",
        )
    )
    server.start(timeout_s=120)
    url = server.config.url
    try:
        name = unique("H2_TERM")
        _stream(url, name)
        ended: list[bytes] = []
        body = {"sql": f"SELECT * FROM {name} EMIT CHANGES;", "properties": {}}

        def read() -> None:
            with (
                httpx.Client(base_url=url, http1=False, http2=True, timeout=60) as client,
                client.stream("POST", "/query-stream", json=body) as response,
            ):
                ended.append(b"".join(response.iter_raw()))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(1.5)
        pid = server.running_pid()
        assert pid is not None
        began = time.monotonic()
        # SIGTERM, then wait up to 15 s (stop_pid kills only if that passes)
        killed = stop_pid(pid, timeout_s=15)
        assert not killed, "the server did not stop within 15 s of SIGTERM"
        reader.join(20)
        assert not reader.is_alive(), "the HTTP/2 stream was not ended by SIGTERM"
        assert ended and ended[0].startswith(b'{"queryId"')
        assert time.monotonic() - began < 15
        log_text = server.console_log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in log_text, log_text[-3000:]
    finally:
        server.stop(timeout_s=30)
