"""The expectation suite: a reviewed JSON artifact in ``suites/``, loaded here, never built in code.

:func:`load_suite_spec` reads and checks the file without importing great-expectations (so the
column plan and unit tests stay fast); :func:`replay.validate.gx_runner` turns it into a GX
``ExpectationSuite``.

Column conventions (also in the suite's ``meta.columns``): ``typeof:<path>`` is the JSON type of
the value at a dotted path (``absent`` when the key is missing); ``<path>`` is the value itself
when its type is one the ``typeof`` check allows; a few derived columns (``record_bytes``,
``duplicate_of``, ``utc_offset_mod_15min``) are computed by :mod:`replay.validate.columns`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay.errors import SuiteError

SUITE_DIR = Path(__file__).resolve().parent / "suites"
DEFAULT_SUITE = SUITE_DIR / "meetup_event.json"
TYPEOF_PREFIX = "typeof:"
ABSENT = "absent"
# Columns the flattener derives instead of reading them from a path.
DERIVED_COLUMNS = frozenset({"record_index", "record_bytes", "duplicate_of", "utc_offset_mod_15min"})
_COLUMN_KWARGS = ("column", "column_A", "column_B")


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation of the suite, as the runner needs it."""

    position: int  # order in the suite file
    check: str  # stable name from meta.check, e.g. "id.form"
    type: str  # GX expectation type
    kwargs: dict[str, Any]
    reason: str  # short reason written next to a quarantined record
    columns: tuple[str, ...]  # the checked column(s)
    condition_columns: tuple[str, ...] = ()  # columns its row_condition reads

    @property
    def typeof_path(self) -> str | None:
        """The dotted path when this is the JSON-type check of a path (``typeof:<path>``, no
        row condition)."""
        column = self.kwargs.get("column")
        if (
            self.type == "expect_column_values_to_be_in_set"
            and "row_condition" not in self.kwargs
            and isinstance(column, str)
            and column.startswith(TYPEOF_PREFIX)
        ):
            return column[len(TYPEOF_PREFIX) :]
        return None


@dataclass(frozen=True, slots=True)
class SuiteSpec:
    """The parsed suite file."""

    path: Path
    name: str
    document: dict[str, Any]
    checks: tuple[Check, ...]

    def allowed_types(self) -> dict[str, frozenset[str]]:
        """Path -> JSON types its ``typeof`` check allows (without ``absent``)."""
        allowed: dict[str, frozenset[str]] = {}
        for check in self.checks:
            path = check.typeof_path
            if path is not None:
                allowed[path] = frozenset(v for v in check.kwargs["value_set"] if v != ABSENT)
        return allowed

    def columns(self) -> list[str]:
        """Every column the suite refers to (row conditions included), in first-use order."""
        seen: dict[str, None] = {}
        for check in self.checks:
            for column in (*check.columns, *check.condition_columns):
                seen.setdefault(column, None)
        return list(seen)

    def by_check(self) -> dict[str, Check]:
        """Checks keyed by their stable name."""
        return {check.check: check for check in self.checks}


def condition_columns(row_condition: Any) -> tuple[str, ...]:
    """Columns a GX row condition reads, from its serialized form (``{"type": "comparison",
    "column": {"name": ...}, ...}``, possibly nested in and/or conditions)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            column = node.get("column")
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                found.append(column["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(row_condition)
    return tuple(dict.fromkeys(found))


def _reason_for(check: str, expectation: dict[str, Any], is_type_check: bool) -> str:
    meta = expectation.get("meta") or {}
    reason = meta.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    if is_type_check:
        return "wrong JSON type"
    raise SuiteError(
        f"expectation {check!r} has no meta.reason",
        hint="give every non-type expectation a short meta.reason in the suite file",
    )


def load_suite_spec(path: str | Path | None = None) -> SuiteSpec:
    """Read and check the suite file (default: ``suites/meetup_event.json``)."""
    suite_path = Path(path) if path is not None else DEFAULT_SUITE
    try:
        document = json.loads(suite_path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SuiteError(
            f"cannot read the expectation suite {suite_path}: {error}", hint="check the path"
        ) from error
    except json.JSONDecodeError as error:
        raise SuiteError(
            f"expectation suite {suite_path} is not valid JSON: {error}", hint="fix the suite file"
        ) from error
    expectations = document.get("expectations")
    if not isinstance(document.get("name"), str) or not isinstance(expectations, list) or not expectations:
        raise SuiteError(
            f"expectation suite {suite_path} needs a name and a non-empty expectations list",
            hint="compare it with include/replay/validate/suites/meetup_event.json",
        )
    checks: list[Check] = []
    names: set[str] = set()
    for position, expectation in enumerate(expectations):
        kwargs = expectation.get("kwargs")
        check_name = (expectation.get("meta") or {}).get("check")
        if isinstance(kwargs, dict) and isinstance(kwargs.get("row_condition"), str):
            raise SuiteError(
                f"expectation {check_name!r} in {suite_path} uses a string row_condition",
                hint='write it as a GX condition: {"type": "comparison", "column": {"name": ...}, ...}',
            )
        if not isinstance(kwargs, dict) or not isinstance(check_name, str) or not expectation.get("type"):
            raise SuiteError(
                f"expectation #{position} in {suite_path} needs type, kwargs and meta.check",
                hint="every expectation carries a stable meta.check name",
            )
        if check_name in names:
            raise SuiteError(
                f"duplicate meta.check {check_name!r} in {suite_path}", hint="names must be unique"
            )
        names.add(check_name)
        columns = tuple(kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str))
        condition = kwargs.get("row_condition")
        check = Check(
            position=position,
            check=check_name,
            type=str(expectation["type"]),
            kwargs=kwargs,
            reason="",
            columns=columns,
            condition_columns=condition_columns(condition),
        )
        reason = _reason_for(check_name, expectation, check.typeof_path is not None)
        checks.append(dataclasses.replace(check, reason=reason))
    spec = SuiteSpec(path=suite_path, name=document["name"], document=document, checks=tuple(checks))
    _check_columns(spec)
    return spec


def _check_columns(spec: SuiteSpec) -> None:
    """Every value column must have a type check that says which JSON types it may hold."""
    allowed = spec.allowed_types()
    for column in spec.columns():
        if column in DERIVED_COLUMNS or column.startswith(TYPEOF_PREFIX):
            continue
        if column not in allowed:
            raise SuiteError(
                f"suite column {column!r} has no typeof:{column} check",
                hint="add an expect_column_values_to_be_in_set on typeof:<path> for every value column",
            )
        parent = column.rpartition(".")[0]
        if parent and parent not in allowed:
            raise SuiteError(
                f"suite path {column!r} needs a typeof:{parent} check", hint="declare parents too"
            )
