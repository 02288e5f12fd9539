"""Run the suite with great-expectations 1.x, one DataFrame chunk at a time.

GX is called directly: an ephemeral context, a pandas datasource with a dataframe asset, a
whole-dataframe batch definition and a ``ValidationDefinition`` run per chunk with result format
COMPLETE keyed by ``record_index``, so every unexpected value maps back to its record. The
per-chunk results are folded into one summary per expectation, and at the end into one GX
validation result from which GX builds its Data Docs site.
"""

from __future__ import annotations

import copy
import ctypes
import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from replay.errors import SuiteError
from replay.validate.gxlogs import quiet_gx_logging
from replay.validate.prechecks import Failure
from replay.validate.suite import ABSENT, TYPEOF_PREFIX, Check, SuiteSpec

_SAMPLES = 5
_DOCS_SAMPLES = 20
_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["record_index"],
    "return_unexpected_index_query": False,
    "exclude_unexpected_values": True,
    "partial_unexpected_count": _DOCS_SAMPLES,
}


def release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc keeps it otherwise, and a long validation's
    RSS would creep up chunk after chunk); a no-op where glibc is not available."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _find_malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl without that soname)
        return None
    return getattr(libc, "malloc_trim", None)


_MALLOC_TRIM = _find_malloc_trim()


def format_value(value: Any) -> str:
    """A short, readable rendering of an unexpected value for a reason text."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return str(value)


def plain(value: Any) -> Any:
    """A JSON-ready copy of a value GX reports (numpy scalars become Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def unexpected_indices(details: dict[str, Any]) -> list[int]:
    """Record indices of the failing rows; GX lists them one per entry, or (when it excludes
    unexpected values) grouped in one entry per index column."""
    indices: list[int] = []
    for entry in details.get("unexpected_index_list") or []:
        value = entry["record_index"]
        if isinstance(value, list | tuple | np.ndarray):
            indices.extend(int(v) for v in value)
        else:
            indices.append(int(value))
    return indices


def reason_text(check: Check, value: Any, parameters: dict[str, Any]) -> str:
    """The reason written for one record that fails ``check`` with ``value``."""
    path = check.typeof_path
    if path is not None:
        if value == ABSENT:
            return f"missing required field {path}"
        allowed = " or ".join(v for v in check.kwargs["value_set"] if v != ABSENT)
        return f"wrong type for {path}: JSON {value}, expected {allowed}"
    if check.columns[0].startswith(TYPEOF_PREFIX):
        return check.reason.format(**parameters)  # a conditional presence check says it all
    if isinstance(value, list | tuple):
        shown = ", ".join(f"{col}={format_value(v)}" for col, v in zip(check.columns, value, strict=False))
    else:
        shown = format_value(value)
    if "{value}" in check.reason:
        return check.reason.format(value=shown, **parameters)
    return f"{check.reason.format(**parameters)} (got {shown})"


@dataclass
class ExpectationSummary:
    """One expectation over the whole dump: outcome, counts and a few unexpected values."""

    check: str
    expectation_type: str
    kwargs: dict[str, Any]
    success: bool = True
    element_count: int = 0
    unexpected_count: int = 0
    missing_count: int = 0
    sample_unexpected: list[Any] = field(default_factory=list)
    # Up to 20 unexpected values, for the Data Docs page.
    docs_values: list[Any] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (kwargs without long value sets)."""
        kwargs = {
            k: (f"<{len(v)} values>" if isinstance(v, list) and len(v) > 12 else v)
            for k, v in self.kwargs.items()
        }
        return {
            "check": self.check,
            "expectation_type": self.expectation_type,
            "kwargs": kwargs,
            "success": self.success,
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "missing_count": self.missing_count,
            "sample_unexpected": self.sample_unexpected,
        }


class GxSuiteRunner:
    """Owns the GX context for one validation run."""

    def __init__(self, spec: SuiteSpec, *, parameters: dict[str, Any]) -> None:
        quiet_gx_logging()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        quiet_gx_logging()  # again: importing GX reset some levels
        self._spec = spec
        self._checks = spec.by_check()
        self._parameters = parameters
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = self._context.data_sources.add_pandas("meetup_dump").add_dataframe_asset("records")
        batch_definition = asset.add_batch_definition_whole_dataframe("chunk")
        suite = self._context.suites.add(_build_suite(gx, spec))
        self._validation = self._context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{spec.name}-dump", data=batch_definition, suite=suite)
        )
        self.summaries = {
            c.check: ExpectationSummary(check=c.check, expectation_type=c.type, kwargs=c.kwargs)
            for c in spec.checks
        }
        self._first_result: Any = None
        self._first_key: Any = None

    def run(self, frame: pd.DataFrame) -> dict[int, list[Failure]]:
        """Validate one chunk; returns record index -> failures (suite order not yet applied)."""
        result = self._validation.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=self._parameters,
            result_format=_RESULT_FORMAT,
        )
        row_of = frame["record_index"].to_numpy()  # ascending: frames keep dump order
        failures: dict[int, list[Failure]] = {}
        for expectation_result in result.results:
            check = self._checks[_check_name(expectation_result)]
            info = expectation_result.exception_info or {}
            if info.get("raised_exception"):
                raise SuiteError(
                    f"expectation {check.check} ({check.type}) raised: {info.get('exception_message')}",
                    hint="the suite or the column plan is wrong; run with -v for details",
                )
            details = expectation_result.result
            indices = unexpected_indices(details)
            # GX reports which rows failed; the values come from the frame (asking GX for them
            # as well costs ~40 % more time per chunk).
            values = (
                frame[check.columns[0]].iloc[np.searchsorted(row_of, indices)].tolist() if indices else []
            )
            values = plain(values)
            self._fold(check, bool(expectation_result.success), details, values)
            for index, value in zip(indices, values, strict=True):
                failure = Failure(check.check, reason_text(check, value, self._parameters))
                failures.setdefault(index, []).append(failure)
        self._keep_only_first_result(result)
        del result
        release_free_memory()
        return failures

    def _fold(self, check: Check, success: bool, details: dict[str, Any], values: list[Any]) -> None:
        summary = self.summaries[check.check]
        summary.success = summary.success and success
        summary.element_count += int(details.get("element_count") or 0)
        summary.unexpected_count += int(details.get("unexpected_count") or 0)
        summary.missing_count += int(details.get("missing_count") or 0)
        for value in values:
            if len(summary.sample_unexpected) >= _SAMPLES:
                break
            if value not in summary.sample_unexpected:
                summary.sample_unexpected.append(value)
        room = _DOCS_SAMPLES - len(summary.docs_values)
        summary.docs_values.extend(values[:room])

    def _keep_only_first_result(self, result: Any) -> None:
        # The ephemeral context keeps every run's result in memory: drop them all, and keep the
        # first run's key and a slimmed copy of its result as the template of the merged result
        # (the full unexpected lists of a broken chunk can be hundreds of MB).
        store = self._context.validation_results_store
        remove: Callable[[Any], object] = store.remove_key
        for key in store.list_keys():
            if self._first_key is None:
                self._first_key = key
            remove(key)
        if self._first_result is None:
            for expectation_result in result.results:
                expectation_result.result = {
                    k: v
                    for k, v in expectation_result.result.items()
                    if k not in ("unexpected_list", "unexpected_index_list", "partial_unexpected_index_list")
                }
            self._first_result = result

    def build_data_docs(self, out_dir: Path, *, read: int, valid: int) -> Path | None:
        """Write GX Data Docs for the whole dump under ``out_dir``; returns index.html."""
        if self._first_result is None:
            return None
        merged = copy.deepcopy(self._first_result)
        for expectation_result in merged.results:
            summary = self.summaries[_check_name(expectation_result)]
            expectation_result.success = summary.success
            expectation_result.result = _merged_details(summary, expectation_result.result)
        evaluated = len(merged.results)
        successful = sum(1 for r in merged.results if r.success)
        merged.success = successful == evaluated
        merged.statistics = {
            "evaluated_expectations": evaluated,
            "successful_expectations": successful,
            "unsuccessful_expectations": evaluated - successful,
            "success_percent": 100.0 * successful / evaluated if evaluated else None,
        }
        merged.meta["records_read"] = read
        merged.meta["records_valid"] = valid
        self._context.validation_results_store.set(self._first_key, merged)
        site = out_dir / "data_docs"
        if site.exists():
            shutil.rmtree(site)  # a site for this run only, not pages of an earlier one
        # GX's TypedDict for site configs lists only some of SiteBuilder's options.
        site_config: Any = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "show_cta_footer": False},
            "show_how_to_buttons": False,
        }
        self._context.add_data_docs_site(site_name="replay", site_config=site_config)
        self._context.build_data_docs(site_names=["replay"])
        return site / "index.html"


def _check_name(expectation_result: Any) -> str:
    config = expectation_result.expectation_config
    if config is None or "check" not in (config.meta or {}):
        raise SuiteError("a GX result lost its expectation's meta.check", hint="report this bug")
    return str(config.meta["check"])


def _merged_details(summary: ExpectationSummary, first: dict[str, Any]) -> dict[str, Any]:
    details = {k: v for k, v in first.items() if k not in ("unexpected_list", "unexpected_index_list")}
    elements = summary.element_count
    nonmissing = elements - summary.missing_count
    details["element_count"] = elements
    details["unexpected_count"] = summary.unexpected_count
    details["missing_count"] = summary.missing_count
    details["missing_percent"] = 100.0 * summary.missing_count / elements if elements else None
    details["unexpected_percent_total"] = 100.0 * summary.unexpected_count / elements if elements else None
    details["unexpected_percent_nonmissing"] = (
        100.0 * summary.unexpected_count / nonmissing if nonmissing else None
    )
    details["unexpected_percent"] = details["unexpected_percent_nonmissing"]
    details["partial_unexpected_list"] = summary.docs_values
    counts = Counter(tuple(v) if isinstance(v, list) else v for v in summary.docs_values)
    details["partial_unexpected_counts"] = [
        {"value": list(v) if isinstance(v, tuple) else v, "count": n} for v, n in counts.most_common()
    ]
    return details


def _build_suite(gx: Any, spec: SuiteSpec) -> Any:
    """A GX ExpectationSuite from the suite file; refuses expectations GX would silently drop."""
    document = spec.document
    expectations = [
        {k: v for k, v in e.items() if k in ("type", "kwargs", "meta", "notes", "description")}
        for e in document["expectations"]
    ]
    try:
        suite = gx.ExpectationSuite(
            name=spec.name,
            expectations=expectations,
            meta=copy.deepcopy(document.get("meta")),
            notes=document.get("notes"),
        )
    except ValueError as error:  # GX validates kwargs with pydantic
        raise SuiteError(
            f"great-expectations refused an expectation of {spec.path}: {error}",
            hint="fix the expectation's kwargs in the suite file",
        ) from error
    if len(suite.expectations) != len(expectations):
        loaded = {e.meta.get("check") for e in suite.expectations}
        missing = [e["meta"]["check"] for e in expectations if e["meta"]["check"] not in loaded]
        raise SuiteError(
            f"great-expectations rejected expectations {missing} of {spec.path}",
            hint="fix their type or kwargs (run with -v to see GX's message)",
        )
    return suite
