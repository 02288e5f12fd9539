"""Migration files: ``V<6 digits>__<name>.sql``, found in one folder, each with its MD5.

The rules are ksql-migrations' (``MigrationsDirectoryUtil``): version > 0, at most one file per
version, the stored name is the part after ``__`` with ``_`` read as a space, the checksum is
the lower-case hex MD5 of the file's bytes. One difference: Confluent's tool *searches* file
names for the pattern, so ``old_V000001__x.sql.bak`` would count as version 1 there; here the
whole name must match, and such a file is reported as a warning that names it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from replay.errors import MigrationFileError

log = logging.getLogger(__name__)

FILE_PATTERN = re.compile(r"V([0-9]{6})__(.+)\.sql")
MAX_VERSION = 999_999
# Characters ksql-migrations' `create` replaces with `_` in a new file's description.
_INVALID_NAME_CHARS = re.compile(r"\s|/|\\|:|\*|\?|\"|<|>|\|")


@dataclass(frozen=True)
class MigrationFile:
    """One migration file."""

    version: int
    name: str  # as stored in the metadata: `_` read as a space
    path: Path

    @property
    def label(self) -> str:
        """``V000001__create_things.sql``: how messages name the file."""
        return self.path.name

    def read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as error:
            raise MigrationFileError(
                f"cannot read {self.path}: {error}", hint="check that the file exists and is readable"
            ) from error

    def text(self) -> str:
        """The file as UTF-8 text (as ksql-migrations reads it)."""
        try:
            return self.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise MigrationFileError(
                f"{self.label} is not UTF-8 text: {error}", hint="save the file as UTF-8"
            ) from error

    def checksum(self) -> str:
        """The lower-case hex MD5 of the file's bytes, as ksql-migrations stores it."""
        return checksum_of(self.read_bytes())


def checksum_of(data: bytes) -> str:
    """MD5 as lower-case hex (not a security use: it is the tool's change detector)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_file_name(directory: Path, file_name: str) -> MigrationFile | None:
    """The migration a file name stands for, or None when the name does not follow the rule."""
    match = FILE_PATTERN.fullmatch(file_name)
    if match is None:
        loose = FILE_PATTERN.search(file_name)
        if loose is not None:
            log.warning(
                "skipping %s: not named V<6 digits>__<name>.sql (Confluent's ksql-migrations would read "
                "it as version %d; rename or remove it)",
                directory / file_name,
                int(loose.group(1)),
            )
        elif file_name.lower().endswith(".sql"):
            log.warning("skipping %s: not named V<6 digits>__<name>.sql", directory / file_name)
        return None
    version = int(match.group(1))
    if version <= 0:
        raise MigrationFileError(
            f"{directory / file_name}: migration versions must be positive",
            hint="number the files from V000001",
        )
    return MigrationFile(version=version, name=match.group(2).replace("_", " "), path=directory / file_name)


def discover(directory: Path) -> list[MigrationFile]:
    """Every migration file of a folder in version order; :class:`MigrationFileError` for a
    missing folder or two files with one version."""
    if not directory.is_dir():
        raise MigrationFileError(
            f"migrations folder {directory} does not exist",
            hint="create it (`replay migrate new-project`) or set ksql.migrations.dir.override",
        )
    found: dict[int, MigrationFile] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        migration = parse_file_name(directory, path.name)
        if migration is None:
            continue
        other = found.get(migration.version)
        if other is not None:
            raise MigrationFileError(
                f"two migration files have version {migration.version}: {other.label} and {migration.label}",
                hint="give each file its own version number",
            )
        found[migration.version] = migration
    return [found[version] for version in sorted(found)]


def new_file_name(version: int, description: str) -> str:
    """``V<version>__<description>.sql`` with the characters ``create`` replaces made ``_``."""
    if not 0 < version <= MAX_VERSION:
        raise MigrationFileError(
            f"invalid migration version {version}", hint=f"use a whole number from 1 to {MAX_VERSION}"
        )
    return f"V{version:06d}__{_INVALID_NAME_CHARS.sub('_', description)}.sql"
