"""What has been applied, checked against the files: ``validate`` and ``info``.

``validate`` walks back from the newest MIGRATED version through ``previous``, as
ksql-migrations does, and reports every problem at once, each naming its file or version:

* an applied file that was edited since (its MD5 differs from the stored checksum);
* an applied version whose file is gone;
* a gap: a file below the newest applied version that was never applied (the chain of
  ``previous`` skips it), which neither tool would ever apply;
* a version in the chain that is not MIGRATED (inconsistent metadata).
"""

from __future__ import annotations

from dataclasses import dataclass

from replay.errors import MigrationStateError
from replay.migrate.files import MigrationFile
from replay.migrate.metadata import NONE_VERSION, MetadataStore, MigrationState, VersionInfo


@dataclass(frozen=True)
class Problem:
    """One reason the applied migrations do not match the files."""

    kind: str  # "edited", "missing", "gap", "state"
    version: int
    message: str


def applied_chain(store: MetadataStore) -> list[VersionInfo]:
    """The applied versions, newest first, from the newest MIGRATED one back through ``previous``."""
    chain: list[VersionInfo] = []
    version = store.latest_migrated()
    seen: set[str] = set()
    while version != NONE_VERSION and version not in seen:
        seen.add(version)
        info = store.require(version)
        chain.append(info)
        version = info.previous
    return chain


def problems(chain: list[VersionInfo], files: list[MigrationFile]) -> list[Problem]:
    """Every disagreement between the applied chain and the files (pure)."""
    by_version = {migration.version: migration for migration in files}
    found: list[Problem] = []
    for info in chain:
        migration = by_version.get(info.version)
        if info.state is not MigrationState.MIGRATED:
            found.append(
                Problem(
                    "state",
                    info.version,
                    f"version {info.version} is in the applied chain but {info.state.value}",
                )
            )
        if migration is None:
            found.append(
                Problem(
                    "missing",
                    info.version,
                    f"version {info.version} ({info.name}) was applied but its file V{info.version:06d}__*.sql is missing",
                )
            )
            continue
        actual = migration.checksum()
        if actual != info.checksum:
            found.append(
                Problem(
                    "edited",
                    info.version,
                    f"{migration.label} was edited after it was applied (checksum applied {info.checksum}, now {actual})",
                )
            )
    if chain:
        applied = {info.version for info in chain}
        newest = chain[0].version
        for migration in files:
            if migration.version < newest and migration.version not in applied:
                later = min(v for v in applied if v > migration.version)
                found.append(
                    Problem(
                        "gap",
                        migration.version,
                        f"{migration.label} was never applied but version {later} after it was (a gap: "
                        "it would never be applied)",
                    )
                )
    return sorted(found, key=lambda problem: problem.version)


def check(chain: list[VersionInfo], files: list[MigrationFile]) -> None:
    """:class:`MigrationStateError` listing every problem, or nothing."""
    found = problems(chain, files)
    if found:
        raise MigrationStateError(
            f"the applied migrations do not match the files: {'; '.join(problem.message for problem in found)}",
            hint="restore applied files as they were (a change goes into a new version), put a missing "
            "file back, and renumber a file in a gap above the newest applied version",
        )


@dataclass(frozen=True)
class InfoRow:
    """One line of ``info``."""

    version: int
    name: str
    state: str
    previous: str
    started_on: str
    completed_on: str
    error_reason: str
    file: str | None


def info_rows(store: MetadataStore, files: list[MigrationFile]) -> tuple[str, list[InfoRow]]:
    """The current version and a row per file (PENDING when never applied), plus applied
    versions whose file is gone."""
    current = store.current_version()
    infos = store.infos([migration.version for migration in files])
    rows: list[InfoRow] = []
    for migration in files:
        info = infos.get(migration.version) or VersionInfo.pending(migration.version, migration.name)
        rows.append(_row(info, migration.label))
    known = {migration.version for migration in files}
    if current != NONE_VERSION:
        for info in applied_chain(store):
            if info.version not in known:
                rows.append(_row(info, None))
    return current, sorted(rows, key=lambda row: row.version)


def _row(info: VersionInfo, file: str | None) -> InfoRow:
    return InfoRow(
        version=info.version,
        name=info.name,
        state=info.state.value,
        previous=info.previous,
        started_on=info.started_on,
        completed_on=info.completed_on,
        error_reason=info.error_reason,
        file=file,
    )
