"""validate's checks: edited, missing, gap, a chain version not MIGRATED."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.errors import MigrationStateError
from replay.migrate.files import discover
from replay.migrate.history import check, problems
from replay.migrate.metadata import MigrationState, VersionInfo


def applied(
    version: int, checksum: str, previous: str, state: MigrationState = MigrationState.MIGRATED
) -> VersionInfo:
    return VersionInfo(version, checksum, previous, state, f"v{version}", "1", "2", "N/A")


def folder(tmp_path: Path, *versions: int) -> Path:
    for version in versions:
        (tmp_path / f"V{version:06d}__v{version}.sql").write_text(f"-- {version}\n")
    return tmp_path


def test_matching_files_pass(tmp_path: Path) -> None:
    files = discover(folder(tmp_path, 1, 2))
    chain = [applied(2, files[1].checksum(), "1"), applied(1, files[0].checksum(), "<none>")]
    assert problems(chain, files) == []
    check(chain, files)


def test_each_problem_is_named(tmp_path: Path) -> None:
    files = discover(folder(tmp_path, 1, 2, 3, 5))
    files_by_version = {m.version: m for m in files}
    chain = [
        applied(5, files_by_version[5].checksum(), "4"),
        applied(4, "gone", "2"),  # file V000004 missing
        applied(2, "edited-before", "1"),  # V000002 edited
        applied(1, files_by_version[1].checksum(), "<none>"),
    ]
    found = problems(chain, files)
    assert [(p.kind, p.version) for p in found] == [("edited", 2), ("gap", 3), ("missing", 4)]
    with pytest.raises(MigrationStateError) as error:
        check(chain, files)
    text = error.value.one_line()
    assert "V000002__v2.sql was edited" in text
    assert "V000003__v3.sql was never applied but version 4 after it was" in text
    assert "version 4 (v4) was applied but its file V000004__*.sql is missing" in text


def test_a_chain_version_that_is_not_migrated_is_reported(tmp_path: Path) -> None:
    files = discover(folder(tmp_path, 1, 2))
    chain = [
        applied(2, files[1].checksum(), "1"),
        applied(1, files[0].checksum(), "<none>", MigrationState.ERROR),
    ]
    assert [(p.kind, p.version) for p in problems(chain, files)] == [("state", 1)]
