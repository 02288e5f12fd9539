"""Flatten parsed records into the few columns the suite checks, one chunk at a time.

Only what the suite refers to becomes a column (types, short scalar values, sizes); long text
such as the description is never copied into the DataFrame, so a chunk stays small whatever the
records hold. Each record is flattened right after it is parsed and the parsed object dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replay.errors import SuiteError
from replay.validate.prechecks import JSON_TYPES
from replay.validate.suite import ABSENT, DERIVED_COLUMNS, TYPEOF_PREFIX, SuiteSpec

_NUMERIC = frozenset({"integer", "number"})
# typeof columns are categoricals over these values; the flattener writes their codes.
TYPEOF_CATEGORIES = [*JSON_TYPES.values(), ABSENT, "unknown"]
_CODE = {name: code for code, name in enumerate(TYPEOF_CATEGORIES)}
_TYPE_CODES = {py: _CODE[name] for py, name in JSON_TYPES.items()}
_NULL_CODE = -1  # not applicable: the parent object is absent or not an object
_MISSING = object()
# Checks that only compare a column with a few values; such string columns become categoricals.
_SET_CHECKS = frozenset({"expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"})
QUARTER_HOUR_MS = 15 * 60 * 1000


@dataclass
class _Node:
    """The fields read from one JSON object (the record, or a nested object such as group)."""

    fields: list[tuple[str, int | None, int | None, frozenset[str], _Node | None]] = field(
        default_factory=list
    )


@dataclass
class ColumnPlan:
    """Which columns to build and how; made once per run from the suite."""

    names: list[str]  # row layout of the flattened values
    kinds: list[str]  # per column: typeof | number | category | object
    root: _Node
    derived: list[str]
    fill_factory: FillFactory = field(repr=False)

    @classmethod
    def from_suite(cls, spec: SuiteSpec) -> ColumnPlan:
        """Plan the columns of ``spec``; every referenced column must be producible."""
        allowed = spec.allowed_types()
        wanted = spec.columns()
        derived = [c for c in wanted if c in DERIVED_COLUMNS and c not in ("record_index", "record_bytes")]
        value_paths = {c for c in wanted if c not in DERIVED_COLUMNS and not c.startswith(TYPEOF_PREFIX)}
        # Derived columns are computed from these value columns.
        if "duplicate_of" in derived:
            value_paths |= {"id", "mtime"}
        if "utc_offset_mod_15min" in derived:
            value_paths.add("utc_offset")
        typeof_paths = {c[len(TYPEOF_PREFIX) :] for c in wanted if c.startswith(TYPEOF_PREFIX)}
        for path in value_paths | typeof_paths:
            if path not in allowed:
                raise SuiteError(
                    f"suite path {path!r} has no typeof check", hint="declare its JSON type in the suite"
                )
        set_only = _set_only_columns(spec)
        names: list[str] = []
        kinds: list[str] = []
        index: dict[str, int] = {}
        paths = sorted(typeof_paths | value_paths, key=lambda p: (p.count("."), p))
        for path in paths:
            if path in typeof_paths:
                index[TYPEOF_PREFIX + path] = len(names)
                names.append(TYPEOF_PREFIX + path)
                kinds.append("typeof")
            if path in value_paths:
                index[path] = len(names)
                names.append(path)
                numeric = allowed[path] <= _NUMERIC
                kinds.append("number" if numeric else ("category" if path in set_only else "object"))
        root = _Node()
        nodes: dict[str, _Node] = {"": root}
        for path in paths:
            parent, _, key = path.rpartition(".")
            node = nodes.get(parent)
            if node is None:
                raise SuiteError(
                    f"suite path {path!r} needs a typeof:{parent} check", hint="declare parents too"
                )
            child = nodes[path] = _Node()
            node.fields.append((key, index.get(TYPEOF_PREFIX + path), index.get(path), allowed[path], child))
        return cls(names=names, kinds=kinds, root=root, derived=derived, fill_factory=_compile_fill(root))


def _set_only_columns(spec: SuiteSpec) -> set[str]:
    uses: dict[str, set[str]] = {}
    for check in spec.checks:
        for column in check.columns:
            uses.setdefault(column, set()).add(check.type)
        for column in check.condition_columns:
            uses.setdefault(column, set()).add("expect_column_values_to_be_in_set")
    return {column for column, types in uses.items() if types <= _SET_CHECKS}


FillFactory = Callable[[list[list[Any]]], Callable[[dict[str, Any]], None]]


def _compile_fill(root: _Node) -> FillFactory:
    """Generate straight-line Python for the plan: no per-field loop, no row transposition.

    ``factory(columns)`` returns ``fill(record)``, which appends exactly one entry to every
    column list per record: the JSON type code of each path (``absent`` when the key is missing,
    null when its parent is not an object), and the value where the suite wants it and its type
    is allowed (else None). The keys come from the reviewed suite file, embedded with ``repr``.
    """
    lines = ["def factory(columns):"]
    width = 0

    def columns_of(node: _Node) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for _key, type_col, value_col, _allowed, child in node.fields:
            if type_col is not None:
                out.append((type_col, str(_NULL_CODE)))
            if value_col is not None:
                out.append((value_col, "None"))
            if child is not None:
                out.extend(columns_of(child))
        return out

    def emit(node: _Node, depth: int, pad: str, body: list[str]) -> None:
        obj, val = f"obj{depth}", f"val{depth}"
        for key, type_col, value_col, allowed, child in node.fields:
            descendants = columns_of(child) if child is not None else []
            body.append(f"{pad}{val} = {obj}.get({key!r}, MISSING)")
            body.append(f"{pad}if {val} is MISSING:")
            if type_col is not None:
                body.append(f"{pad}    a{type_col}({_CODE[ABSENT]})")
            if value_col is not None:
                body.append(f"{pad}    a{value_col}(None)")
            body.extend(f"{pad}    a{col}({default})" for col, default in descendants)
            body.append(f"{pad}    pass")
            body.append(f"{pad}else:")
            body.append(f"{pad}    code = CODES.get(type({val}), {_CODE['unknown']})")
            if type_col is not None:
                body.append(f"{pad}    a{type_col}(code)")
            if value_col is not None:
                codes = {_CODE[t] for t in allowed}
                body.append(f"{pad}    a{value_col}({val} if code in {codes!r} else None)")
            if descendants:
                body.append(f"{pad}    if code == {_CODE['object']}:")
                body.append(f"{pad}        obj{depth + 1} = {val}")
                emit(child, depth + 1, pad + "        ", body) if child is not None else None
                body.append(f"{pad}    else:")
                body.extend(f"{pad}        a{col}({default})" for col, default in descendants)

    body: list[str] = []
    emit(root, 0, "        ", body)
    width = len(columns_of(root))
    lines.extend(f"    a{i} = columns[{i}].append" for i in range(width))
    lines.append("    def fill(obj0):")
    lines.extend(body or ["        pass"])
    lines.append("    return fill")
    namespace: dict[str, Any] = {"MISSING": _MISSING, "CODES": _TYPE_CODES}
    exec(compile("\n".join(lines), "<replay.validate.columns fill>", "exec"), namespace)
    factory: FillFactory = namespace["factory"]
    return factory


class DuplicateTracker:
    """Finds records whose (id, mtime) appeared earlier in the dump, across chunks.

    Keeps one 64-bit hash and one record index per distinct pair (16 bytes a record: 23 MB for
    1.4 M records) instead of the keys themselves, as one sorted run per chunk; runs are never
    merged, so adding a chunk never copies what is already stored. Two distinct pairs share a
    hash with probability about n²/2⁶⁵ (5·10⁻⁸ for 1.4 M records).
    """

    def __init__(self) -> None:
        self._runs: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []

    def __len__(self) -> int:
        return sum(len(hashes) for hashes, _ in self._runs)

    def check(self, indices: npt.NDArray[np.int64], hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """For each record (in dump order), the index of its first occurrence, or -1."""
        result = np.full(len(hashes), -1, dtype=np.int64)
        if len(hashes) == 0:
            return result
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        sorted_indices = indices[order]
        first_in_group = np.ones(len(order), dtype=bool)
        first_in_group[1:] = sorted_hashes[1:] != sorted_hashes[:-1]
        group_start = np.flatnonzero(first_in_group)
        group_of = np.cumsum(first_in_group) - 1
        duplicate_of = np.where(first_in_group, -1, sorted_indices[group_start][group_of])
        seen = np.zeros(len(order), dtype=bool)
        for run_hashes, run_first in self._runs:
            pos = np.minimum(np.searchsorted(run_hashes, sorted_hashes), len(run_hashes) - 1)
            hit = run_hashes[pos] == sorted_hashes
            duplicate_of = np.where(hit, run_first[pos], duplicate_of)
            seen |= hit
        new = first_in_group & ~seen
        if new.any():
            self._runs.append((sorted_hashes[new].copy(), sorted_indices[new].copy()))
        result[order] = duplicate_of
        return result


class ChunkBuilder:
    """Collects the flattened rows of one chunk and turns them into a DataFrame."""

    def __init__(self, plan: ColumnPlan) -> None:
        self._plan = plan
        self._columns: list[list[Any]] = [[] for _ in plan.names]
        self._fill = plan.fill_factory(self._columns)
        self._indices: list[int] = []
        self._sizes: list[int] = []

    def __len__(self) -> int:
        return len(self._indices)

    def add(self, index: int, size: int, record: dict[str, Any]) -> None:
        """Flatten one parsed record (a JSON object)."""
        self._fill(record)
        self._indices.append(index)
        self._sizes.append(size)

    def frame(self, duplicates: DuplicateTracker) -> pd.DataFrame:
        """The chunk as a DataFrame with the planned and derived columns."""
        plan = self._plan
        indices = np.asarray(self._indices, dtype=np.int64)
        data: dict[str, Any] = {
            "record_index": indices,
            "record_bytes": np.asarray(self._sizes, dtype=np.int64),
        }
        columns, self._columns = self._columns, []
        if any(len(values) != len(indices) for values in columns):
            raise SuiteError(
                "internal error: flattened columns have different lengths", hint="report this bug"
            )
        for name, kind, values in zip(plan.names, plan.kinds, columns, strict=True):
            # Categoricals (int8 codes) keep GX's per-expectation filtering and isin cheap.
            if kind == "typeof":
                codes = np.fromiter(values, dtype=np.int8, count=len(values))
                data[name] = pd.Categorical.from_codes(codes, categories=TYPEOF_CATEGORIES)
            elif kind == "number":
                data[name] = _numeric(values)
            elif kind == "category":
                data[name] = pd.Categorical(values)
            else:
                data[name] = pd.Series(values, dtype=object)
        if "utc_offset_mod_15min" in plan.derived:
            data["utc_offset_mod_15min"] = np.mod(data["utc_offset"], QUARTER_HOUR_MS)
        if "duplicate_of" in plan.derived:
            first = duplicates.check(*_pair_hashes(indices, data["id"], data["mtime"]))
            dup = np.full(len(indices), -1, dtype=np.int64)
            dup[_has_pair(data["id"], data["mtime"])] = first
            data["duplicate_of"] = pd.arrays.IntegerArray(np.where(dup >= 0, dup, 0), dup < 0)
        frame = pd.DataFrame(data)
        frame.index = pd.RangeIndex(len(frame))
        return frame


def _numeric(values: list[Any]) -> npt.NDArray[np.float64]:
    """Numbers as float64 (None -> NaN); exact for epoch-ms and anything below 2⁵³."""
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:
        # An integer beyond float range; it is out of any range check anyway.
        return np.asarray([v if v is None or abs(v) < 1e300 else np.inf for v in values], dtype=np.float64)


def _has_pair(ids: pd.Series, mtimes: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    return np.asarray(ids.notna(), dtype=bool) & np.isfinite(mtimes)


def _pair_hashes(
    indices: npt.NDArray[np.int64], ids: pd.Series, mtimes: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    mask = _has_pair(ids, mtimes)
    keys = [hash((i, int(m))) for i, m in zip(ids[mask], mtimes[mask], strict=True)]
    return indices[mask], np.asarray(keys, dtype=np.int64)
