"""One ``apply`` at a time: a lease decided by the order of rows in the metadata stream.

ksql-migrations has no guard: two applies started together both read "version 3 is next" and
both run it. A compare of the table before and after a write cannot settle it (the table is a
last-writer-wins register that other writes reach with a delay), but the metadata stream has
one partition, so every reader sees its rows in one order. The lock uses that:

1. ``acquire`` appends a ``LOCKED`` row under ``version_key = 'APPLY_LOCK'`` with a random token
   and a lease (its expiry in ``completed_on``), then reads the stream's lock rows from the start
   with a push query until it meets its own row;
2. replaying those rows with one rule (:func:`holder_after`) gives the holder at that point, and
   every apply that replays them gets the same answer: exactly one of two racing applies holds
   the lock; the other is refused with the holder's name, start and lease;
3. the holder renews the lease before each statement and writes ``UNLOCKED`` at the end; a holder
   that died frees the lock when its lease runs out, or at once for a retry of the same owner
   (an Airflow task retry passes the run id as owner).

The rows live under a key ksql-migrations never reads (it reads ``CURRENT`` and version
numbers), so both tools keep working on the same metadata; Confluent's tool does not take this
lock, so it is no guard against it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from replay.errors import MigrationLockedError, MigrationStateError
from replay.migrate.metadata import MetadataRow, MetadataStore, format_timestamp, quote_literal

log = logging.getLogger(__name__)

LOCK_KEY = "APPLY_LOCK"
LOCKED = "LOCKED"
UNLOCKED = "UNLOCKED"
# A renewal is written when less than this share of the lease is left.
_RENEW_AT = 0.5
# While the table shows no lock row, the row is written again this often (its query may not
# read yet: it starts at `latest`).
_RESEND_S = 0.5


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock after a sequence of lock rows."""

    token: str
    owner: str
    description: str
    since_ms: int
    expires_ms: int


def lock_row(
    state: str, *, token: str, owner: str, description: str, at_ms: int, lease_ms: int
) -> MetadataRow:
    """A lock row: NAME says who, CHECKSUM is the token, STARTED_ON the time of the row,
    COMPLETED_ON the lease's end, PREVIOUS the owner (empty: none)."""
    return MetadataRow(
        version_key=LOCK_KEY,
        version="0",
        name=description,
        state=state,
        checksum=token,
        started_on=str(at_ms),
        completed_on=str(at_ms + lease_ms if state == LOCKED else at_ms),
        previous=owner,
    )


def holder_after(rows: list[MetadataRow]) -> LockHolder | None:
    """The holder once ``rows`` (lock rows, in stream order) have happened.

    A LOCKED row takes the lock when it is free, when its token already holds it (a renewal),
    when the holder's lease ended before the row was written, or when it comes from the holder's
    owner (a retry of the same task); otherwise it changes nothing. UNLOCKED frees the lock when
    its token holds it. Only values in the rows are used, so every reader agrees.
    """
    holder: LockHolder | None = None
    for row in rows:
        if row.version_key != LOCK_KEY:
            continue
        try:
            at_ms, until_ms = int(row.started_on), int(row.completed_on)
        except ValueError:
            continue
        if row.state == LOCKED:
            same = holder is not None and holder.token == row.checksum
            if (
                holder is None
                or same
                or holder.expires_ms <= at_ms
                or (row.previous != "" and row.previous == holder.owner)
            ):
                since = holder.since_ms if holder is not None and same else at_ms
                holder = LockHolder(row.checksum, row.previous, row.name, since, until_ms)
        elif row.state == UNLOCKED and holder is not None and holder.token == row.checksum:
            holder = None
    return holder


def describe_self(owner: str) -> str:
    """How lock rows name this process (no secrets: program, pid, host, owner)."""
    who = f"replay migrate apply, pid {os.getpid()} on {socket.gethostname()}"
    return f"{who}, {owner}" if owner else who


class ApplyLock:
    """The lock of one apply (use :meth:`acquire`, then :meth:`renew` often, then :meth:`release`)."""

    def __init__(
        self, store: MetadataStore, *, lease_s: float, owner: str = "", timeout_s: float = 30.0
    ) -> None:
        self.store = store
        self.lease_ms = int(lease_s * 1000)
        self.owner = owner
        self.timeout_s = timeout_s
        self.token = uuid.uuid4().hex
        self.description = describe_self(owner)
        self._expires_monotonic: float | None = None
        self._renewed_monotonic = 0.0

    def _write(self, state: str) -> int:
        at_ms = int(time.time() * 1000)
        row = lock_row(
            state,
            token=self.token,
            owner=self.owner,
            description=self.description,
            at_ms=at_ms,
            lease_ms=self.lease_ms,
        )
        begin = time.monotonic()
        self.store.write([row])
        if state == LOCKED:
            # Measured from before the write: the lease in the row cannot end later than this.
            self._expires_monotonic = begin + self.lease_ms / 1000
            self._renewed_monotonic = begin
        return at_ms

    def acquire(self) -> None:
        """Take the lock or raise :class:`MigrationLockedError` naming who holds it."""
        at_ms = self._write(LOCKED)
        rows = self.store.client.push(
            f"SELECT * FROM {self.store.stream} WHERE VERSION_KEY = {quote_literal(LOCK_KEY)} EMIT CHANGES;",
            properties={"auto.offset.reset": "earliest"},
            until=lambda row: row.get("CHECKSUM") == self.token and row.get("STATE") == LOCKED,
            timeout_s=self.timeout_s,
        )
        holder = holder_after([MetadataRow.from_event(row) for row in rows])
        if holder is None or holder.token != self.token:
            self._expires_monotonic = None
            if holder is None:  # cannot happen with the rule above; say so rather than guess
                raise MigrationStateError("the apply lock's rows make no sense", hint="report this as a bug")
            raise MigrationLockedError(
                f"another apply is running: {holder.description} holds the migrations lock since "
                f"{format_timestamp(str(holder.since_ms))} (lease until {format_timestamp(str(holder.expires_ms))})",
                hint="wait for it to finish; if it was killed, run apply again after its lease ends",
            )
        log.debug("apply lock taken (token %s) at %d", self.token, at_ms)
        self._wait_table_sees(at_ms)

    def _wait_table_sees(self, at_ms: int) -> None:
        """Wait until the metadata table shows a lock row at least as new as ours.

        The table's query reads its stream from ``latest`` (as ksql-migrations creates it), so
        right after ``initialize-metadata`` rows can be written before the query reads: they
        never reach the table. A lock row (renewed every 0.5 s until one is seen) costs nothing
        to repeat, unlike a version's row, so this is where we wait.
        """
        deadline = time.monotonic() + self.timeout_s
        resend_at = time.monotonic() + _RESEND_S
        while True:
            rows = self.store.client.pull(
                f"SELECT CHECKSUM, STARTED_ON FROM {self.store.table} WHERE version_key = {quote_literal(LOCK_KEY)};"
            )
            if rows and (
                rows[0].get("CHECKSUM") == self.token or int(str(rows[0].get("STARTED_ON") or 0)) >= at_ms
            ):
                return
            now = time.monotonic()
            if now > deadline:
                raise MigrationStateError(
                    f"the table {self.store.table} does not pick up rows written to {self.store.stream} "
                    f"(waited {self.timeout_s:.0f} s)",
                    hint="check that its query runs (SHOW QUERIES;) and the server's log",
                )
            if now > resend_at:
                self._write(LOCKED)
                resend_at = now + _RESEND_S
            time.sleep(0.05)

    def renew(self) -> None:
        """Extend the lease when half of it has passed; :class:`MigrationLockedError` if it lapsed
        (this process stalled longer than the lease: another apply may have taken over)."""
        if self._expires_monotonic is None:
            raise MigrationLockedError(
                "this apply does not hold the migrations lock", hint="report this as a bug"
            )
        now = time.monotonic()
        if now >= self._expires_monotonic:
            raise MigrationLockedError(
                f"this apply's lease on the migrations lock ran out (it stalled for more than {self.lease_ms / 1000:.0f} s)",
                hint="run apply again; raise the lease (--lease) if the server is that slow",
            )
        if now - self._renewed_monotonic >= _RENEW_AT * self.lease_ms / 1000:
            self._write(LOCKED)

    def release(self) -> None:
        """Give the lock back (best effort: a lease that ends frees it too)."""
        if self._expires_monotonic is None:
            return
        self._expires_monotonic = None
        self._write(UNLOCKED)
