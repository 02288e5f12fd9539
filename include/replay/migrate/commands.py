"""The verbs besides ``apply``: new-project, create, initialize-metadata, info, validate, destroy-metadata.

Each is a library call that returns what it did (the CLI prints it, a DAG task logs it); they
behave as ksql-migrations' commands of the same names, except that ``initialize-metadata`` is a
no-op on a server that has the metadata (the tool fails there) and ``validate`` lists every
problem instead of the first.
"""

from __future__ import annotations

import logging
from pathlib import Path

from replay.errors import ConfigError, MigrationFileError
from replay.migrate import history
from replay.migrate.config import CONFIG_FILE_NAME, MIGRATIONS_DIR_NAME, MigrationConfig, initial_properties
from replay.migrate.files import discover, new_file_name
from replay.migrate.metadata import format_timestamp
from replay.migrate.session import MigrationSession, Report

log = logging.getLogger(__name__)

INFO_HEADERS = ("Version", "Name", "State", "Previous Version", "Started On", "Completed On", "Error Reason")


def new_project(project_dir: Path, server_url: str, *, report: Report = log.info) -> Path:
    """Create ``<project_dir>/migrations/`` and ``ksql-migrations.properties``; returns the latter."""
    if project_dir.exists() and not project_dir.is_dir():
        raise ConfigError(f"{project_dir} exists and is a file", hint="choose a folder for the project")
    config_file = project_dir / CONFIG_FILE_NAME
    if config_file.exists():
        raise ConfigError(f"{config_file} already exists", hint="edit it, or choose another folder")
    (project_dir / MIGRATIONS_DIR_NAME).mkdir(parents=True, exist_ok=True)
    config_file.write_text(initial_properties(server_url), encoding="utf-8")
    report(f"created migrations project {project_dir} ({CONFIG_FILE_NAME}, {MIGRATIONS_DIR_NAME}/)")
    return config_file


def create(
    config: MigrationConfig, description: str, *, version: int | None = None, report: Report = log.info
) -> Path:
    """An empty migration file: the given version, else one above the newest file."""
    if not description.strip():
        raise MigrationFileError(
            "the description cannot be empty", hint="e.g. `replay migrate create add_users`"
        )
    files = discover(config.migrations_dir)
    if version is not None:
        taken = [migration for migration in files if migration.version == version]
        if taken:
            raise MigrationFileError(
                f"version {version} already has a file: {taken[0].label}", hint="choose another version"
            )
    number = version if version is not None else (files[-1].version + 1 if files else 1)
    path = config.migrations_dir / new_file_name(number, description)
    path.touch(exist_ok=False)
    report(f"created {path}")
    return path


def initialize(config: MigrationConfig, *, report: Report = log.info) -> bool:
    """Create the metadata stream and table; False when they already exist."""
    with MigrationSession(config) as session:
        return session.initialize(report)


def destroy(config: MigrationConfig, *, report: Report = log.info) -> None:
    """Drop the metadata stream and table and their topics (not reversible)."""
    with MigrationSession(config) as session:
        session.destroy(report)


def validate(config: MigrationConfig, *, report: Report = log.info) -> int:
    """Check the applied versions against the files; returns how many were checked.
    :class:`replay.errors.MigrationStateError` lists every problem."""
    files = discover(config.migrations_dir)
    with MigrationSession(config) as session:
        session.require_metadata()
        chain = history.applied_chain(session.store)
    history.check(chain, files)
    report(
        f"validated {len(chain)} applied version(s) against {config.migrations_dir}: checksums match, no file missing, no gap"
    )
    return len(chain)


def info(config: MigrationConfig) -> tuple[str, list[history.InfoRow]]:
    """The current version and one row per version (files, and applied versions without a file)."""
    files = discover(config.migrations_dir)
    with MigrationSession(config) as session:
        session.require_metadata()
        return history.info_rows(session.store, files)


def format_info(current: str, rows: list[history.InfoRow]) -> str:
    """``info`` as the tool prints it: the current version, then a table between dividers."""
    if not rows:
        return f"Current migration version: {current}\nNo migrations files found"
    cells = [
        (
            str(row.version),
            row.name + ("" if row.file else " (file missing)"),
            row.state,
            row.previous,
            format_timestamp(row.started_on),
            format_timestamp(row.completed_on),
            row.error_reason,
        )
        for row in rows
    ]
    widths = [max(len(header), *(len(cell[i]) for cell in cells)) for i, header in enumerate(INFO_HEADERS)]
    divider = "-" * (sum(widths) + 3 * len(widths) - 1)

    def line(values: tuple[str, ...]) -> str:
        return " " + " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)) + " "

    body = [divider, line(INFO_HEADERS), divider, *(line(cell) for cell in cells), divider]
    return f"Current migration version: {current}\n" + "\n".join(body)
