"""Which files apply --all / --next / --until / --version picks (the tool's loadMigrationsToApply)."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.errors import KsqlStatementError, MigrationFileError, MigrationStateError
from replay.migrate.apply import Target, error_reason, select
from replay.migrate.files import MigrationFile

FILES = [MigrationFile(v, f"v{v}", Path(f"V{v:06d}__v{v}.sql")) for v in (1, 2, 3, 5)]


def versions(previous: str, target: Target) -> list[int]:
    return [m.version for m in select(FILES, previous, target)]


def test_targets() -> None:
    assert versions("<none>", Target("all")) == [1, 2, 3, 5]
    assert versions("2", Target("all")) == [3, 5]
    assert versions("1", Target("next")) == [2]
    assert versions("<none>", Target("until", 3)) == [1, 2, 3]
    assert versions("3", Target("version", 5)) == [5]
    assert versions("5", Target("all")) == []


def test_refusals() -> None:
    with pytest.raises(MigrationStateError, match="no eligible"):
        select(FILES, "5", Target("next"))
    with pytest.raises(MigrationFileError, match="no migration file with version 4"):
        select(FILES, "1", Target("version", 4))
    with pytest.raises(MigrationStateError, match="not newer than the last version migrated"):
        select(FILES, "3", Target("version", 2))


def test_error_reason_is_worded_as_the_tool_stores_it() -> None:
    error = KsqlStatementError(
        "x", status=400, error_code=40001, server_message="NOPE does not exist.", statement="CREATE …;"
    )
    assert error_reason("\nCREATE STREAM A AS SELECT * FROM NOPE;", error) == (
        "Failed to execute sql: \nCREATE STREAM A AS SELECT * FROM NOPE;. Error: Received 400 response from "
        "server: NOPE does not exist.. Error code: 40001"
    )
