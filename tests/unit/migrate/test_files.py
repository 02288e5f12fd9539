"""Migration file discovery, names and checksums."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from replay.errors import MigrationFileError
from replay.migrate.files import discover, new_file_name


def test_discover_orders_by_version_and_reads_names(tmp_path: Path) -> None:
    (tmp_path / "V000010__ten_things.sql").write_text("x;")
    (tmp_path / "V000002__two.sql").write_text("y;")
    (tmp_path / "README.md").write_text("not a migration")
    found = discover(tmp_path)
    assert [(m.version, m.name, m.label) for m in found] == [
        (2, "two", "V000002__two.sql"),
        (10, "ten things", "V000010__ten_things.sql"),
    ]


def test_checksum_is_the_lower_hex_md5_of_the_bytes(tmp_path: Path) -> None:
    data = "CREATE STREAM A AS SELECT * FROM B;\r\n-- München\n".encode()
    (tmp_path / "V000001__a.sql").write_bytes(data)
    assert discover(tmp_path)[0].checksum() == hashlib.md5(data).hexdigest()


def test_two_files_with_one_version_are_refused_naming_both(tmp_path: Path) -> None:
    (tmp_path / "V000001__a.sql").write_text("")
    (tmp_path / "V000001__b.sql").write_text("")
    with pytest.raises(MigrationFileError, match=r"V000001__a.sql and V000001__b.sql"):
        discover(tmp_path)


def test_version_zero_is_refused(tmp_path: Path) -> None:
    (tmp_path / "V000000__zero.sql").write_text("")
    with pytest.raises(MigrationFileError, match="positive"):
        discover(tmp_path)


def test_names_the_tool_would_read_differently_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "old_V000001__x.sql.bak").write_text("")
    (tmp_path / "V1__short.sql").write_text("")
    with caplog.at_level(logging.WARNING):
        assert discover(tmp_path) == []
    assert "would read it as version 1" in caplog.text
    assert "V1__short.sql" in caplog.text


def test_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MigrationFileError, match="does not exist"):
        discover(tmp_path / "nope")


def test_new_file_names_replace_what_create_replaces() -> None:
    assert new_file_name(3, "add users/now: v2?") == "V000003__add_users_now__v2_.sql"
    with pytest.raises(MigrationFileError):
        new_file_name(1_000_000, "x")
