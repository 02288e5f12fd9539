"""The runs the "Replay reports" page lists, and safe access to their report files.

A run is listed when its report exists (``<report root>/<dag id>/<run id>/report.json``) or when
its run folder (``var/runs/<run id>/run.json``) names a DAG, so a run whose report is not built
yet (still running, or failed before) shows with the figures its folder has.

:func:`resolve_report_file` is the only way the plugin turns a URL into a file: the relative
path is checked part by part (no ``..``, no absolute path, no NUL), then resolved with symlinks
followed and required to stay inside the report root.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from replay.airflow.figures import REPORT_FILE, RunFigures, from_report, from_run_folder
from replay.errors import ReplayError
from replay.paths import runs_dir

log = logging.getLogger(__name__)

CLI_PIPELINE = "cli"


class UnsafePathError(ReplayError):
    """A requested report path would leave the report root."""


@dataclass(frozen=True)
class RunEntry:
    """One row of the reports page."""

    dag_id: str
    run_id: str
    figures: RunFigures
    report_dir: Path

    @property
    def has_report(self) -> bool:
        return self.figures.has_report


def _report_runs(root: Path) -> dict[tuple[str, str], RunEntry]:
    entries: dict[tuple[str, str], RunEntry] = {}
    if not root.is_dir():
        return entries
    for report in root.glob(f"*/*/{REPORT_FILE}"):
        report_dir = report.parent
        dag_id, run_id = report_dir.parent.name, report_dir.name
        if report.is_symlink() or not _inside(report, root):
            continue
        try:
            document = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("skipping unreadable report %s: %s", report, error)
            continue
        if isinstance(document, dict):
            entries[(dag_id, run_id)] = RunEntry(
                dag_id, run_id, from_report(document, run_id=run_id), report_dir
            )
    return entries


def _folder_runs(root: Path, folders: Path) -> dict[tuple[str, str], RunEntry]:
    entries: dict[tuple[str, str], RunEntry] = {}
    if not folders.is_dir():
        return entries
    for manifest in folders.glob("*/run.json"):
        figures = from_run_folder(manifest.parent)
        dag_id = figures.pipeline
        if not dag_id or dag_id == CLI_PIPELINE:
            continue
        run_id = manifest.parent.name
        entries[(dag_id, run_id)] = RunEntry(dag_id, run_id, figures, root / dag_id / run_id)
    return entries


def list_runs(root: Path, folders: Path | None = None) -> list[RunEntry]:
    """Every DAG run with a report or a run folder, newest first."""
    entries = _folder_runs(root, folders or runs_dir())
    entries.update(_report_runs(root))
    return sorted(entries.values(), key=lambda e: (e.figures.created_at_ms or 0, e.run_id), reverse=True)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root.resolve(strict=True))
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return False


def resolve_report_file(root: Path, *parts: str) -> Path:
    """The file ``root/<parts...>`` if it is a regular file inside ``root``, else UnsafePathError.

    ``parts`` come from the URL (already percent-decoded once by the server): each may hold
    ``/`` separators. ``..``, ``.``-only tricks, absolute paths, backslashes, NUL bytes and
    symlinks that lead out of the root are refused; a missing file is refused too.
    """
    relative: list[str] = []
    for part in parts:
        if "\x00" in part or "\\" in part:
            raise UnsafePathError(f"refused path {part!r}", hint="ask for a file of a report")
        pure = PurePosixPath(part)
        if pure.is_absolute():
            raise UnsafePathError(f"refused absolute path {part!r}", hint="ask for a file of a report")
        for piece in pure.parts:
            if piece in ("..", "."):
                raise UnsafePathError(f"refused path {part!r}", hint="ask for a file of a report")
            relative.append(piece)
    if not relative:
        raise UnsafePathError("empty path", hint="ask for a file of a report")
    candidate = root.joinpath(*relative)
    if not _inside(candidate, root) or not candidate.resolve().is_file():
        raise UnsafePathError(
            f"no report file {'/'.join(relative)}", hint="open the report from the runs list"
        )
    return candidate.resolve()
