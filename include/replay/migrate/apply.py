"""``apply``: run the pending migration files in order, recording each in the metadata.

Per version, as ksql-migrations' ``ApplyMigrationCommand``: write RUNNING (``CURRENT`` and the
version), send its statements one by one (SET/UNSET properties with each), write MIGRATED; on a
refused statement write ERROR with ``Failed to execute sql: <statement>. Error: <server's
error>`` and stop — the next apply starts that version again from its first statement.

Beyond the tool: the metadata is created when missing (and said so); every file to apply is
parsed before anything is sent, so a typo or a forbidden statement stops the run before it
starts; the applied files are validated first (edited, missing, gap); one apply at a time
(:mod:`replay.migrate.lock`); each state write is read back from the table before going on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from replay.errors import KsqlStatementError, MigrationFailedError, MigrationFileError, MigrationStateError
from replay.migrate import history
from replay.migrate.config import MigrationConfig
from replay.migrate.files import MigrationFile, checksum_of, discover
from replay.migrate.lock import ApplyLock
from replay.migrate.metadata import NONE_VERSION, MetadataRow, MigrationState, now_ms, version_rows
from replay.migrate.parser import Command, plan_file
from replay.migrate.session import MigrationSession, Report

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 120.0


@dataclass(frozen=True)
class Target:
    """Which versions to apply: ``all``, ``next``, ``until`` N or exactly ``version`` N."""

    kind: str = "all"
    version: int | None = None

    def describe(self) -> str:
        return self.kind if self.version is None else f"{self.kind} {self.version}"


@dataclass(frozen=True)
class Planned:
    """A file to apply, read once: its bytes give both the statements and the checksum."""

    file: MigrationFile
    checksum: str
    commands: list[Command]


@dataclass
class VersionOutcome:
    """What happened to one version."""

    version: int
    name: str
    file: str
    state: str
    seconds: float
    statements: int
    started_on: str = ""
    completed_on: str = ""
    error: str | None = None

    def line(self) -> str:
        """The progress line: version, name, state, seconds."""
        return f"V{self.version:06d} {self.name}: {self.state} ({self.statements} statements, {self.seconds:.2f} s)"


@dataclass
class ApplyResult:
    """An apply: the server, whether it created the metadata, and each version's outcome."""

    server_url: str
    server_version: str
    service_id: str
    target: str
    dry_run: bool
    initialized_metadata: bool
    previous: str
    current: str
    started_ms: int
    finished_ms: int = 0
    versions: list[VersionOutcome] = field(default_factory=list)

    @classmethod
    def begin(cls, server_url: str, target: Target, *, dry_run: bool = False) -> ApplyResult:
        """An empty result, started now (the server's version is filled in once it answers)."""
        return cls(
            server_url=server_url,
            server_version="",
            service_id="",
            target=target.describe(),
            dry_run=dry_run,
            initialized_metadata=False,
            previous=NONE_VERSION,
            current=NONE_VERSION,
            started_ms=int(time.time() * 1000),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "server": {"url": self.server_url, "version": self.server_version, "service_id": self.service_id},
            "target": self.target,
            "dry_run": self.dry_run,
            "initialized_metadata": self.initialized_metadata,
            "previous_version": self.previous,
            "current_version": self.current,
            "started_at_ms": self.started_ms,
            "finished_at_ms": self.finished_ms,
            "seconds": round((self.finished_ms - self.started_ms) / 1000, 3),
            "versions": [vars(outcome) for outcome in self.versions],
        }


def select(files: list[MigrationFile], previous: str, target: Target) -> list[MigrationFile]:
    """The files ``target`` applies after ``previous`` (``loadMigrationsToApply``)."""
    minimum = 1 if previous == NONE_VERSION else int(previous) + 1
    if target.kind == "version":
        chosen = [migration for migration in files if migration.version == target.version]
        if not chosen:
            raise MigrationFileError(
                f"no migration file with version {target.version} exists",
                hint="list the files with `replay migrate info`",
            )
        if chosen[0].version < minimum:
            raise MigrationStateError(
                f"version {target.version} is not newer than the last version migrated ({previous})",
                hint="a version is applied once; put a change into a new version",
            )
        return chosen
    eligible = [
        m
        for m in files
        if m.version >= minimum and (target.kind != "until" or m.version <= (target.version or 0))
    ]
    if target.kind == "next":
        if not eligible:
            raise MigrationStateError(
                f"no eligible migrations found after version {previous}", hint="nothing to apply"
            )
        return eligible[:1]
    return eligible


def plan(files: list[MigrationFile], defines: Mapping[str, str]) -> list[Planned]:
    """Read and parse every file to apply, before anything is sent."""
    planned: list[Planned] = []
    for migration in files:
        data = migration.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MigrationFileError(
                f"{migration.label} is not UTF-8 text: {error}", hint="save it as UTF-8"
            ) from error
        commands = plan_file(text, source=migration.label, defines=defines)
        planned.append(Planned(migration, checksum_of(data), commands))
    return planned


def error_reason(statement_text: str, error: KsqlStatementError) -> str:
    """``Failed to execute sql: <statement>. Error: <error>`` with the error worded as ksqlDB's
    Java client words a refusal (ksql-migrations stores what that client reports)."""
    code = error.error_code if error.error_code is not None else 0
    return (
        f"Failed to execute sql: {statement_text}. Error: Received {error.status} response from server: "
        f"{error.server_message}. Error code: {code}"
    )


class _Runner:
    """Applies planned versions on one session while holding the lock."""

    def __init__(self, session: MigrationSession, lock: ApplyLock, report: Report) -> None:
        self.session = session
        self.store = session.store
        self.lock = lock
        self.report = report

    def _write_and_confirm(self, rows: tuple[MetadataRow, MetadataRow]) -> None:
        self.store.write(rows)
        version_row = rows[1]
        deadline = time.monotonic() + self.session.config.timeout_s
        while True:
            info = self.store.info(version_row.version_key)
            if info is not None and (info.state.value, info.started_on) == (
                version_row.state,
                version_row.started_on,
            ):
                return
            if time.monotonic() > deadline:
                raise MigrationStateError(
                    f"{self.store.table} did not show version {version_row.version_key} as {version_row.state} "
                    f"within {self.session.config.timeout_s:.0f} s",
                    hint="check that the table's query runs (SHOW QUERIES;) and the server's log",
                )
            time.sleep(0.05)

    def run(self, item: Planned, previous: str, outcomes: list[VersionOutcome]) -> None:
        """Apply one version; its outcome is appended to ``outcomes`` (a failed one too)."""
        migration = item.file
        leftover = self.store.info(migration.version)
        if leftover is not None and leftover.state is MigrationState.RUNNING:
            self.report(
                f"V{migration.version:06d} was left RUNNING by an apply that stopped (started "
                f"{leftover.started_on}); applying it again from its first statement"
            )
        elif leftover is not None and leftover.state is MigrationState.ERROR:
            self.report(
                f"V{migration.version:06d} failed last time; applying it again from its first statement"
            )
        begin = time.monotonic()
        started = now_ms()

        def rows(state: MigrationState, reason: str | None = None) -> tuple[MetadataRow, MetadataRow]:
            return version_rows(
                version=migration.version,
                name=migration.name,
                state=state,
                checksum=item.checksum,
                started_on=started,
                previous=previous,
                error_reason=reason,
            )

        def finish(state: MigrationState, reason: str | None = None) -> None:
            written = rows(state, reason)
            self._write_and_confirm(written)
            outcome = VersionOutcome(
                migration.version,
                migration.name,
                migration.label,
                state.value,
                time.monotonic() - begin,
                len(item.commands),
                started,
                written[0].completed_on,
                reason,
            )
            outcomes.append(outcome)
            self.report(outcome.line())

        self.lock.renew()
        self.store.write(rows(MigrationState.RUNNING))
        for command in item.commands:
            self.lock.renew()
            try:
                self.session.client.execute(command.sql, command.properties)
            except KsqlStatementError as error:
                finish(MigrationState.ERROR, error_reason(command.statement.text, error))
                raise MigrationFailedError(
                    f"{migration.label}, line {command.statement.line}: {command.statement.one_line[:300]!r} failed: "
                    f"{error.server_message} (error {error.error_code}); version {migration.version} is marked ERROR",
                    hint=f"fix {migration.label} and run apply again: it resumes at version {migration.version}",
                ) from error
        finish(MigrationState.MIGRATED)


def apply(
    config: MigrationConfig,
    target: Target | None = None,
    *,
    dry_run: bool = False,
    defines: Mapping[str, str] | None = None,
    owner: str = "",
    lease_s: float = DEFAULT_LEASE_S,
    report: Report = log.info,
    result: ApplyResult | None = None,
) -> ApplyResult:
    """Apply ``target`` (default: every pending version) to the project's server.

    ``owner`` names who applies (e.g. ``run <run id>``): a retry with the same owner may take
    over a lock its killed predecessor left. ``result``, when given, is filled in as the apply
    goes, so a caller still has the outcome of the versions applied before a failure. Raises
    :class:`MigrationFailedError` (a statement failed), :class:`MigrationStateError` (validation),
    :class:`MigrationFileError`, :class:`MigrationLockedError` and the client's errors.
    """
    target = target or Target()
    with MigrationSession(config) as session:
        result = result or ApplyResult.begin(config.server_url, target, dry_run=dry_run)
        result.server_version, result.service_id = session.server.version, session.server.service_id
        try:
            _apply(
                session,
                target,
                result,
                dry_run=dry_run,
                defines=defines or {},
                owner=owner,
                lease_s=lease_s,
                report=report,
            )
        finally:
            result.finished_ms = int(time.time() * 1000)
    return result


def _apply(
    session: MigrationSession,
    target: Target,
    result: ApplyResult,
    *,
    dry_run: bool,
    defines: Mapping[str, str],
    owner: str,
    lease_s: float,
    report: Report,
) -> None:
    files = discover(session.config.migrations_dir)
    presence = session.presence()
    if not presence.complete:
        if dry_run:
            report("the migrations metadata is missing: apply would create it first (dry run: not created)")
        else:
            report("the migrations metadata is missing: creating it (as `initialize-metadata` does)")
            result.initialized_metadata = session.initialize(report)
    lock: ApplyLock | None = None
    if not dry_run:
        lock = ApplyLock(session.store, lease_s=lease_s, owner=owner, timeout_s=session.config.timeout_s)
        lock.acquire()
    try:
        metadata_there = presence.complete or not dry_run
        chain = history.applied_chain(session.store) if metadata_there else []
        previous = session.store.latest_migrated() if metadata_there else NONE_VERSION
        result.previous = result.current = previous
        history.check(chain, files)
        planned = plan(select(files, previous, target), defines)
        if not planned:
            report(f"nothing to apply: the last version migrated is {previous}")
            return
        if dry_run:
            for item in planned:
                report(
                    f"V{item.file.version:06d} {item.file.name}: would apply {len(item.commands)} statements (dry run)"
                )
                for command in item.commands:
                    props = f"  [properties {command.properties}]" if command.properties else ""
                    report(f"    {command.statement.one_line}{props}")
            return
        assert lock is not None
        runner = _Runner(session, lock, report)
        for item in planned:
            runner.run(item, previous, result.versions)
            previous = result.current = str(item.file.version)
    finally:
        if lock is not None:
            try:
                lock.release()
            except Exception as error:  # noqa: BLE001 - keep the apply's own error; the lease frees it
                log.warning("could not release the apply lock (its lease will free it): %s", error)
