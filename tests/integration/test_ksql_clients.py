"""Third-party ksqlDB clients from PyPI against the real server: what a user would point at it.

* ``ksql-python-ng`` (``ksql.KSQLAPI``): ``/info`` and ``/ksql`` over HTTP/1.1, ``/query`` over
  HTTP/1.1 (chunked), ``/query-stream`` with ``use_http2=True`` and ``/inserts-stream`` (always
  HTTP/2 with prior knowledge), ``/close-query``.
* ``ksqldb`` (``ksqldb.KSQLdbClient``): ``/ksql`` over HTTP/1.1 (requests), ``/query-stream``
  and ``/inserts-stream`` over HTTP/2 (httpx ``http1=False, http2=True``).

Every row a client reads back is checked against what was inserted. Both libraries are test
dependencies only (requirements.in, dev section).

ksql-python-ng 0.29.0.1 passes ``cert=`` to httpx's module-level ``get``/``stream``/``request``,
which httpx 0.28 (our lock) no longer accepts, so its HTTP/1.1 calls fail before they reach any
server. The ``ng_client`` fixture drops that one argument when it is None (the default: no
client certificate); nothing else of the library is touched.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import ksql.api
import pytest
from ksql import KSQLAPI
from ksql.errors import KSQLError
from ksqldb import KSQLdbClient

from tests.integration.ksql_helpers import unique, wait_until

# ksql-python-ng's own deprecation (it posts /close-query with httpx's data=<bytes>), not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


class _HttpxWithoutNullCert:
    """httpx as ksql-python-ng calls it, minus the ``cert=None`` httpx 0.28 refuses."""

    def __getattr__(self, name: str) -> Any:
        target = getattr(httpx, name)
        if name not in ("get", "stream", "request"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("cert", "given") is None:
                del kwargs["cert"]
            return target(*args, **kwargs)

        return call


@pytest.fixture
def ng_client(ksql_url: str, monkeypatch: pytest.MonkeyPatch) -> KSQLAPI:
    """A ksql-python-ng client of the session server (it calls /info on creation)."""
    monkeypatch.setattr(ksql.api, "httpx", _HttpxWithoutNullCert())
    return KSQLAPI(ksql_url, timeout=60)


def _rows(chunks: list[str]) -> list[Any]:
    """JSON values of a streamed answer, whichever way the client cut it into chunks: the
    delimited format (one JSON value per line) or the /query framing (``[{…},``, ``{…},``,
    ``{…}]``)."""
    out = []
    for line in "".join(chunks).splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(json.loads(line.removeprefix("[").removesuffix(",").removesuffix("]")))
    return out


def _create_stream(client: KSQLAPI, name: str) -> None:
    (created,) = client.ksql(
        f"CREATE STREAM {name} (ID STRING KEY, CITY STRING, N INT) "
        f"WITH (KAFKA_TOPIC='{name.lower()}', VALUE_FORMAT='JSON', PARTITIONS=2);"
    )
    assert created["commandStatus"]["message"] == "Stream created"


def test_ksql_python_ng_over_http1_and_http2(ng_client: KSQLAPI) -> None:
    client = ng_client
    assert client.get_ksql_version() == "0.29.0"
    name = unique("CLIENT_NG")
    _create_stream(client, name)
    assert name in [s["name"] for s in client.ksql("SHOW STREAMS;")[0]["streams"]]

    rows = [{"ID": f"e{i}", "CITY": "München" if i % 2 else "Berlin", "N": i} for i in range(6)]
    acks = client.inserts_stream(name, rows)  # HTTP/2, prior knowledge
    assert acks == [{"status": "ok", "seq": i} for i in range(6)]
    expected = sorted([r["ID"], r["CITY"], r["N"]] for r in rows)

    # /query over HTTP/1.1: the old API's framing
    old = _rows(list(client.query(f"SELECT * FROM {name} EMIT CHANGES LIMIT 6;", stream_properties=EARLIEST)))
    assert old[0]["header"]["schema"] == "`ID` STRING, `CITY` STRING, `N` INTEGER"  # push: no KEY marks
    assert sorted(r["row"]["columns"] for r in old if "row" in r) == expected
    assert old[-1] == {"finalMessage": "Limit Reached"}

    # /query-stream over HTTP/2: the delimited format
    new = _rows(
        list(
            client.query(
                f"SELECT * FROM {name} EMIT CHANGES LIMIT 6;", stream_properties=EARLIEST, use_http2=True
            )
        )
    )
    assert new[0]["columnNames"] == ["ID", "CITY", "N"]
    assert sorted(new[1:]) == expected

    # a table and a pull query by key over HTTP/2
    table = f"{name}_BY_CITY"
    client.ksql(
        f"CREATE TABLE {table} AS SELECT CITY, COUNT(*) AS EVENTS FROM {name} GROUP BY CITY;", EARLIEST
    )

    def pulled() -> list[Any]:
        sql = f"SELECT * FROM {table} WHERE CITY = 'München';"
        return _rows(list(client.query(sql, use_http2=True)))[1:]

    wait_until(lambda: pulled() == [["München", 3]], 60, "the pull query to see 3 München events")
    # an error keeps ksqlDB's shape through the client
    duplicate = f"CREATE STREAM {name} (X INT) WITH (KAFKA_TOPIC='x', VALUE_FORMAT='JSON', PARTITIONS=1);"
    with pytest.raises(KSQLError, match="already exists") as refused:
        client.ksql(duplicate)
    assert refused.value.error_code == 40001


def test_ksql_python_ng_close_query_ends_a_push_query(ng_client: KSQLAPI) -> None:
    client = ng_client
    name = unique("CLIENT_CLOSE")
    _create_stream(client, name)
    seen: list[str] = []

    def read() -> None:
        # earliest: the row inserted below is seen even if it lands before the query's
        # consumer has its first position
        sql = f"SELECT * FROM {name} EMIT CHANGES;"
        for chunk in client.query(sql, stream_properties=EARLIEST, use_http2=True):
            seen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: bool(seen), 30, "the query-stream metadata")
    query_id = _rows(seen)[0]["queryId"]
    client.inserts_stream(name, [{"ID": "x", "CITY": "Munich", "N": 1}])
    wait_until(lambda: len(_rows(seen)) == 2, 30, "the inserted row on the open stream")
    assert _rows(seen)[1] == ["x", "Munich", 1]
    assert client.close_query(query_id) is True
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end after /close-query"
    assert client.close_query(query_id) is False  # unknown now: 400


def test_ksqldb_client_over_http2(ksql_url: str) -> None:
    client = KSQLdbClient(ksql_url)
    name = unique("CLIENT_KSQLDB")
    client.ksql(
        f"CREATE STREAM {name} (ID STRING KEY, CITY STRING, N INT) "
        f"WITH (KAFKA_TOPIC='{name.lower()}', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
    assert "ksql.service.id" in client.get_properties() or client.get_properties()
    rows = [{"ID": f"k{i}", "CITY": "Munchen", "N": i * 10} for i in range(4)]
    assert client.inserts_stream(name, rows) == [{"status": "ok", "seq": i} for i in range(4)]

    async def push() -> list[Any]:
        out = []
        sql = f"SELECT * FROM {name} EMIT CHANGES LIMIT 4;"
        async for item in client.query_async(
            sql, stream_properties={"auto.offset.reset": "earliest"}, timeout=60
        ):
            out.append(item)
        return out

    got = asyncio.run(push())
    assert got[0]["columnNames"] == ["ID", "CITY", "N"]
    assert got[0]["columnTypes"] == ["STRING", "STRING", "INTEGER"]
    assert sorted(got[1:]) == sorted([r["ID"], r["CITY"], r["N"]] for r in rows)

    table = f"{name}_TOTALS"
    client.ksql(f"CREATE TABLE {table} AS SELECT ID, SUM(N) AS TOTAL FROM {name} GROUP BY ID;", EARLIEST)

    def pulled() -> list[Any]:
        return list(client.query_sync(f"SELECT * FROM {table} WHERE ID = 'k3';", timeout=30))

    wait_until(lambda: pulled()[1:] == [["k3", 30]], 60, "the pull query over HTTP/2")
    assert pulled()[0]["columnNames"] == ["ID", "TOTAL"]
