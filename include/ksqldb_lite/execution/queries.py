"""Handles of queries run through ``/query`` and ``/query-stream``: push (and, later, pull).

A :class:`PushQuery` is what :meth:`ksqldb_lite.engine.ksql_engine.KsqlEngine.execute_query` returns for
``SELECT … EMIT CHANGES [LIMIT n]``. Its processor runs inside the topic driver (possibly on a
driver thread) and puts rows into a thread-safe queue; the REST layer reads them with
:meth:`PushQuery.poll` and must call :meth:`PushQuery.close` when the client goes away.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ksqldb_lite.errors import KsqlError

Row = list[Any]

LIMIT_REACHED = "Limit Reached"
QUERY_COMPLETED = "Query Completed"


@dataclass(frozen=True)
class QueryHeader:
    """Column names and types of a query result, as ksqlDB reports them."""

    query_id: str
    column_names: tuple[str, ...]
    column_types: tuple[str, ...]
    # Indices of key columns: pull queries mark them ``KEY`` in the ``/query`` schema string.
    key_columns: frozenset[int] = frozenset()

    @property
    def schema(self) -> str:
        """The ``/query`` header schema string, e.g. ``\\`K\\` STRING KEY, \\`ID\\` INTEGER``."""
        return ", ".join(
            f"`{n}` {t}{' KEY' if i in self.key_columns else ''}"
            for i, (n, t) in enumerate(zip(self.column_names, self.column_types, strict=True))
        )

    def query_header(self) -> dict[str, Any]:
        """The first element of a ``/query`` response: ``{"header": {"queryId", "schema"}}``."""
        return {"header": {"queryId": self.query_id, "schema": self.schema}}

    def query_stream_metadata(self) -> dict[str, Any]:
        """The metadata line of ``/query-stream``: ``{"queryId", "columnNames", "columnTypes"}``."""
        return {
            "queryId": self.query_id,
            "columnNames": list(self.column_names),
            "columnTypes": list(self.column_types),
        }


@dataclass
class PushQuery:
    """A running transient push query.

    Rows arrive in :attr:`_rows` from the processor; ``None`` in the queue marks the end.
    """

    header: QueryHeader
    limit: int | None
    _stop: Callable[[], None]
    _rows: queue.Queue[Row | None] = field(default_factory=queue.Queue)
    _emitted: int = 0
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    final_message: str | None = None
    error: KsqlError | None = None

    @property
    def query_id(self) -> str:
        """``transient_<SOURCE>_<random>``."""
        return self.header.query_id

    @property
    def done(self) -> bool:
        """True once the limit was reached, the query failed, or it was closed."""
        return self._closed

    def offer(self, row: Row) -> None:
        """Called by the query's processor for each result row (thread-safe)."""
        stop = False
        with self._lock:
            if self._closed:
                return
            self._rows.put(row)
            self._emitted += 1
            if self.limit is not None and self._emitted >= self.limit:
                self.final_message = LIMIT_REACHED
                stop = self._finish()
        if stop:
            self._stop()

    def poll(self, timeout: float | None = None, max_rows: int = 1000) -> list[Row] | None:
        """Rows available now (waiting up to ``timeout`` seconds for the first one).

        Returns an empty list on timeout (the REST layer then sends a keep-alive newline) and
        None when the query is finished and every row was taken (then send
        :attr:`final_message`, if any, and end the response).
        """
        rows: list[Row] = []
        try:
            first = self._rows.get(timeout=timeout) if timeout != 0 else self._rows.get_nowait()
        except queue.Empty:
            return rows
        if first is None:
            self._rows.put(None)  # keep the end marker for later polls
            return None
        rows.append(first)
        while len(rows) < max_rows:
            try:
                row = self._rows.get_nowait()
            except queue.Empty:
                break
            if row is None:
                self._rows.put(None)
                break
            rows.append(row)
        return rows

    def fail(self, error: KsqlError) -> None:
        """End the query with an error (sent as ``{"errorMessage": …}`` mid-stream)."""
        with self._lock:
            self.error = error
            stop = self._finish()
        if stop:
            self._stop()

    def close(self) -> None:
        """Stop the query (client went away, or ``/close-query``); idempotent."""
        with self._lock:
            stop = self._finish()
        if stop:
            self._stop()

    def _finish(self) -> bool:
        """Mark the end (under the lock); True the first time. The driver is stopped by the
        caller after releasing the lock, so a driver thread blocked in :meth:`offer` is never
        waited for while holding it."""
        if self._closed:
            return False
        self._closed = True
        self._rows.put(None)
        return True


@dataclass
class PrintTopic(PushQuery):
    """A running ``PRINT 'topic'``: every row is ``[line]``, a record as ksqlDB prints it
    (``rowtime: 2021/05/21 10:58:33.227 Z, key: 1, value: {"A":1}, partition: 0``); send
    :attr:`format_lines` first. ``/query`` answers PRINT with plain text lines, not JSON."""

    format_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullQueryResult:
    """The complete answer of a pull query (tables, tier 2): header and rows, no final message."""

    header: QueryHeader
    rows: list[Row]
