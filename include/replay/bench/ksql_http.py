"""The ksql server's HTTP layer: ``/ksql`` request latency and push-query rows/s, over HTTP/1.1
and (when the server speaks it) HTTP/2 with prior knowledge, as ksqlDB's own clients connect.

* ``/ksql`` latency: ``LIST STREAMS;`` sent one after the other on one kept-alive connection
  (requests over HTTP/1.1; httpx with ``http1=False, http2=True`` over HTTP/2); p50/p90/p99 of
  the client's wall time per request.
* push-query rows/s: a topic pre-loaded with small JSON records; ``SELECT * … EMIT CHANGES
  LIMIT n`` from ``earliest`` on ``/query`` (HTTP/1.1, chunked) and on ``/query-stream``
  (HTTP/2, delimited); rows ÷ seconds from the request to the last row. This includes the
  server's consumer and query processor, i.e. what a client gets, not the framing alone.

The server runs as its own process (``ksqldb-lite serve``) on the session's broker.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import requests
from confluent_kafka import Producer

from replay.bench import BenchContext
from replay.bench.broker import shared_broker
from replay.errors import ReplayError
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports

KSQL_REQUESTS = 300
QUICK_KSQL_REQUESTS = 60
PUSH_ROWS = 100_000
QUICK_PUSH_ROWS = 10_000
ROUNDS = 3


class HttpBenchError(ReplayError):
    """The HTTP benchmark could not run as designed."""


@contextmanager
def _server(ctx: BenchContext, bootstrap: str) -> Iterator[KsqlServer]:
    (port,) = find_free_ports(1)
    config = KsqlServerConfig(
        state_dir=ctx.work_dir / f"ksql-http-{uuid.uuid4().hex[:6]}",
        port=port,
        bootstrap_servers=bootstrap,
        service_id=f"bench_http_{uuid.uuid4().hex[:6]}_",
    )
    server = KsqlServer(config)
    server.start(timeout_s=120)
    try:
        yield server
    finally:
        server.stop(timeout_s=30)


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 3)}


def _load_topic(bootstrap: str, topic: str, rows: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    for i in range(rows):
        while True:
            try:
                producer.produce(topic, b'{"V":%d,"S":"row %d of the bench"}' % (i, i), str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60) != 0:
        raise HttpBenchError(f"could not write {rows} records to {topic}", hint="is the broker up?")


def _time_requests(send: Callable[[], int], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        status = send()
        samples.append(time.perf_counter() - began)
        if status != 200:
            raise HttpBenchError(f"/ksql answered {status}", hint="see the server log")
    return samples


def _h2_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, http1=False, http2=True, timeout=120)


def _speaks_h2(url: str) -> bool:
    try:
        with _h2_client(url) as client:
            return client.get("/info").http_version == "HTTP/2"
    except (httpx.HTTPError, ImportError):
        return False  # ImportError: httpx without the h2 package


def _push_h1(url: str, sql: str, rows: int) -> float:
    body = {"ksql": sql, "streamsProperties": {"auto.offset.reset": "earliest"}}
    began = time.perf_counter()
    seen = 0
    with requests.post(f"{url}/query", json=body, stream=True, timeout=300) as response:
        for line in response.iter_lines():
            if line.startswith(b'{"row"'):
                seen += 1
    elapsed = time.perf_counter() - began
    if seen != rows:
        raise HttpBenchError(f"/query gave {seen} rows, expected {rows}", hint="see the server log")
    return rows / elapsed


def _push_h2(url: str, sql: str, rows: int) -> float:
    body = {"sql": sql, "properties": {"auto.offset.reset": "earliest"}}
    began = time.perf_counter()
    seen = -1  # the first line is the metadata
    with _h2_client(url) as client, client.stream("POST", "/query-stream", json=body) as response:
        for line in response.iter_lines():
            if line:
                seen += 1
    elapsed = time.perf_counter() - began
    if seen != rows:
        raise HttpBenchError(f"/query-stream gave {seen} rows, expected {rows}", hint="see the server log")
    return rows / elapsed


def run(ctx: BenchContext) -> dict[str, Any]:
    """Both figures over HTTP/1.1, and over HTTP/2 when the server speaks it."""
    count = QUICK_KSQL_REQUESTS if ctx.quick else KSQL_REQUESTS
    rows = QUICK_PUSH_ROWS if ctx.quick else PUSH_ROWS
    broker = shared_broker(ctx)
    bootstrap = broker.config.bootstrap_servers
    name = f"HTTP_BENCH_{uuid.uuid4().hex[:6].upper()}"
    topic = name.lower()
    figures: dict[str, Any] = {"ksql_requests": count, "push_rows": rows, "rounds": ROUNDS}
    with _server(ctx, bootstrap) as server:
        url = server.config.url
        create = f"CREATE STREAM {name} (V INT, S STRING) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);"
        if requests.post(f"{url}/ksql", json={"ksql": create}, timeout=60).status_code != 200:
            raise HttpBenchError("could not create the bench stream", hint="see the server log")
        _load_topic(bootstrap, topic, rows)
        sql = f"SELECT * FROM {name} EMIT CHANGES LIMIT {rows};"
        statement = {"ksql": "LIST STREAMS;", "streamsProperties": {}}
        with requests.Session() as session:
            samples = _time_requests(lambda: session.post(f"{url}/ksql", json=statement).status_code, count)
        figures["ksql_http1"] = _percentiles(samples)
        figures["push_http1_rows_per_s"] = [round(_push_h1(url, sql, rows)) for _ in range(ROUNDS)]
        figures["http2"] = _speaks_h2(url)
        if figures["http2"]:
            with _h2_client(url) as client:
                samples = _time_requests(lambda: client.post("/ksql", json=statement).status_code, count)
            figures["ksql_http2"] = _percentiles(samples)
            figures["push_http2_rows_per_s"] = [round(_push_h2(url, sql, rows)) for _ in range(ROUNDS)]
    for key in ("push_http1_rows_per_s", "push_http2_rows_per_s"):
        if key in figures:
            figures[key.replace("rows_per_s", "median_rows_per_s")] = round(statistics.median(figures[key]))
    return figures
