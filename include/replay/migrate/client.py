"""A small ksqlDB REST client over HTTP/1.1 (``requests``): ``/info``, ``/ksql``, ``/query``.

Only endpoints and shapes ksqlDB itself has (``ksqldb-rest-app``), so the runner works against
Confluent's server, behind an HTTP/1.1 proxy, and against the project's own server alike. Every
failure becomes one typed error: :class:`KsqlUnavailableError` (down, not ready, or something
that is not ksqlDB answering), :class:`KsqlAuthError` (credentials refused),
:class:`KsqlStatementError` (the server refused a statement: its code and message).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import requests

from replay.errors import KsqlAuthError, KsqlStatementError, KsqlUnavailableError

MEDIA_TYPE = "application/vnd.ksql.v1+json"
SERVER_HINT = (
    "start the server (`make up`), or fix ksql.server.url / the ksqldb_default connection / REPLAY_KSQL_URL"
)
Row = dict[str, Any]


@dataclass(frozen=True)
class ServerInfo:
    """``GET /info``: ``KsqlServerInfo``."""

    version: str
    service_id: str
    kafka_cluster_id: str | None
    status: str | None


def column_names(schema: str) -> list[str]:
    """Column names of a ``/query`` header schema such as ``\\`K\\` STRING, \\`V\\` STRUCT<\\`A\\` INT>``."""
    names: list[str] = []
    depth, i, n = 0, 0, len(schema)
    expect_name = True
    while i < n:
        char = schema[i]
        if expect_name and char == "`":
            close = i + 1
            while True:
                close = schema.index("`", close)
                if schema.startswith("``", close):
                    close += 2
                    continue
                break
            names.append(schema[i + 1 : close].replace("``", "`"))
            i, expect_name = close + 1, False
            continue
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            expect_name = True
        i += 1
    return names


class KsqlClient:
    """One server: its URL, optional basic-auth credentials and a request timeout."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 30.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()
        if username is not None:
            self._session.auth = (username, password or "")
        self._session.headers.update({"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE, **(headers or {})})

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> KsqlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any
    ) -> requests.Response:
        data = json.dumps(body).encode() if body is not None else None
        try:
            response = self._session.request(method, self.url + path, data=data, timeout=self.timeout_s, **kw)
        except requests.Timeout as error:
            raise KsqlUnavailableError(
                f"the ksqlDB server at {self.url} did not answer {path} within {self.timeout_s:.0f} s",
                hint="check that it is running and not overloaded (REPLAY_KSQL_TIMEOUT_S raises the limit)",
            ) from error
        except requests.ConnectionError as error:
            reason = (
                "connection refused" if "refused" in str(error).lower() else str(error).split("(")[0].strip()
            )
            raise KsqlUnavailableError(
                f"the ksqlDB server at {self.url} is not reachable: {reason}", hint=SERVER_HINT
            ) from error
        except requests.RequestException as error:
            raise KsqlUnavailableError(
                f"request to {self.url}{path} failed: {error}", hint=SERVER_HINT
            ) from error
        if response.status_code in (401, 403):
            raise KsqlAuthError(
                f"the ksqlDB server at {self.url} refused the credentials (HTTP {response.status_code})",
                hint="set ksql.auth.basic.username/password, or the login of the ksqldb_default connection",
            )
        return response

    def _not_ksqldb(self, response: requests.Response, path: str) -> KsqlUnavailableError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        head = " ".join(response.text[:80].split())
        return KsqlUnavailableError(
            f"{self.url}{path} answered HTTP {response.status_code} ({kind}: {head!r}), not as a ksqlDB server does",
            hint=f"is {self.url} a ksqlDB server? {SERVER_HINT}",
        )

    def _error(self, response: requests.Response, path: str, statement: str) -> Exception:
        try:
            body = response.json()
        except ValueError:
            return self._not_ksqldb(response, path)
        if not isinstance(body, dict) or "message" not in body:
            return self._not_ksqldb(response, path)
        code = body.get("error_code")
        message = str(body["message"])
        if response.status_code == 503:
            return KsqlUnavailableError(
                f"the ksqlDB server at {self.url} is not ready: {message}",
                hint="wait until it has started (it replays its command topic first), then retry",
            )
        return KsqlStatementError(
            f"the ksqlDB server refused {' '.join(statement.split())[:200]!r}: {message} (HTTP {response.status_code}, error {code})",
            status=response.status_code,
            error_code=code if isinstance(code, int) else None,
            server_message=message,
            statement=statement,
            hint="fix the statement; the server's message says why",
        )

    # -- endpoints ---------------------------------------------------------------------------------

    def info(self) -> ServerInfo:
        """``GET /info``; :class:`KsqlUnavailableError` unless a ksqlDB server answers RUNNING."""
        response = self._request("GET", "/info")
        if response.status_code != 200:
            raise self._error(response, "/info", "GET /info")
        try:
            info = response.json()["KsqlServerInfo"]
            version = str(info["version"])
        except (ValueError, KeyError, TypeError) as error:
            raise self._not_ksqldb(response, "/info") from error
        status = info.get("serverStatus")
        if status not in (None, "RUNNING"):
            raise KsqlUnavailableError(
                f"the ksqlDB server at {self.url} is {status}, not RUNNING",
                hint="wait until it has started, then retry",
            )
        return ServerInfo(
            version=version,
            service_id=str(info.get("ksqlServiceId", "")),
            kafka_cluster_id=info.get("kafkaClusterId"),
            status=status,
        )

    def execute(self, sql: str, properties: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """``POST /ksql``: the entities of the response; :class:`KsqlStatementError` on refusal."""
        body = {"ksql": sql, "streamsProperties": properties or {}}
        response = self._request("POST", "/ksql", body)
        if response.status_code != 200:
            raise self._error(response, "/ksql", sql)
        try:
            entities = response.json()
        except ValueError as error:
            raise self._not_ksqldb(response, "/ksql") from error
        if not isinstance(entities, list):
            raise self._not_ksqldb(response, "/ksql")
        return entities

    def pull(self, sql: str) -> list[Row]:
        """A pull query on ``POST /query``: its rows as dicts keyed by column name."""
        response = self._request("POST", "/query", {"ksql": sql, "streamsProperties": {}})
        if response.status_code != 200:
            raise self._error(response, "/query", sql)
        try:
            items = response.json()
        except ValueError as error:
            raise self._not_ksqldb(response, "/query") from error
        if not isinstance(items, list):
            raise self._not_ksqldb(response, "/query")
        names: list[str] = []
        rows: list[Row] = []
        for item in items:
            names = self._absorb(item, names, rows, sql)
        return rows

    def _absorb(self, item: Any, names: list[str], rows: list[Row], sql: str) -> list[str]:
        """One element of a ``/query`` response: a header sets the names, a row is appended."""
        if not isinstance(item, dict):
            return names
        if "header" in item:
            return column_names(str(item["header"].get("schema", "")))
        if "row" in item:
            columns = item["row"].get("columns") or []
            rows.append(dict(zip(names, columns, strict=False)))
        elif "errorMessage" in item:
            error = item["errorMessage"] if isinstance(item["errorMessage"], dict) else {}
            message = str(error.get("message", item["errorMessage"]))
            raise KsqlStatementError(
                f"the query {' '.join(sql.split())[:200]!r} failed: {message}",
                status=200,
                error_code=error.get("error_code"),
                server_message=message,
                statement=sql,
            )
        return names

    def push(
        self,
        sql: str,
        *,
        properties: dict[str, str] | None = None,
        until: Callable[[Row], bool],
        timeout_s: float | None = None,
    ) -> list[Row]:
        """A push query on ``POST /query`` read until a row satisfies ``until`` (that row
        included), then closed. :class:`KsqlUnavailableError` when no such row comes in time."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        body = {"ksql": sql, "streamsProperties": properties or {}}
        response = self._request("POST", "/query", body, stream=True)
        with closing(response):
            if response.status_code != 200:
                response.content  # noqa: B018 - read the error body before closing
                raise self._error(response, "/query", sql)
            names: list[str] = []
            rows: list[Row] = []
            for item in self._stream_items(response, deadline):
                seen = len(rows)
                names = self._absorb(item, names, rows, sql)
                if len(rows) > seen and until(rows[-1]):
                    return rows
                if isinstance(item, dict) and "finalMessage" in item:
                    break
        raise KsqlUnavailableError(
            f"the push query {' '.join(sql.split())[:120]!r} did not deliver the expected row "
            f"within {timeout_s or self.timeout_s:.0f} s",
            hint="check the server's log; the metadata stream's topic may be unreadable",
        )

    @staticmethod
    def _stream_items(response: requests.Response, deadline: float) -> Iterator[Any]:
        """The JSON elements of a chunked ``/query`` response, one per line (ksqlDB's framing:
        ``[`` header ``,`` rows ``,`` … ``]``; a bare newline keeps the connection alive)."""
        # A chunked response hands each chunk over as it arrives; without chunking a big read
        # would wait for bytes that may come much later, so read byte by byte then.
        chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        for raw in response.iter_lines(chunk_size=8192 if chunked else 1):
            if time.monotonic() > deadline:
                return
            line = raw.decode("utf-8").strip()
            if line.startswith("["):
                line = line[1:]
            line = line.rstrip(",").rstrip("]").rstrip(",")
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue
