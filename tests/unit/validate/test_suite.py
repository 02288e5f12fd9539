"""The suite artifact: loads as written, GX keeps every expectation, the column plan covers it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay.errors import SuiteError
from replay.validate.columns import ColumnPlan
from replay.validate.gx_runner import GxSuiteRunner
from replay.validate.suite import DEFAULT_SUITE, TYPEOF_PREFIX, load_suite_spec


def test_suite_file_is_the_reviewed_artifact() -> None:
    assert DEFAULT_SUITE.name == "meetup_event.json" and DEFAULT_SUITE.parent.name == "suites"
    document = json.loads(DEFAULT_SUITE.read_text(encoding="utf-8"))
    spec = load_suite_spec()
    assert spec.name == document["name"] == "meetup_event"
    assert len(spec.checks) == len(document["expectations"]) == 79
    names = [c.check for c in spec.checks]
    assert len(set(names)) == len(names)
    assert all(e.get("notes") for e in document["expectations"])


def test_suite_covers_what_the_issue_lists() -> None:
    checks = load_suite_spec().by_check()
    for required in ("id", "name", "status", "mtime", "event_url", "group", "group.country", "group.city"):
        assert "absent" not in checks[f"{required}.type"].kwargs["value_set"]
    for name in (
        "id.form",
        "record.duplicate",
        "mtime.range",
        "time.range",
        "utc_offset.range",
        "utc_offset.quarter_hour",
        "group.country.iso",
        "group.group_lat.range",
        "venue.lon.range",
        "status.values",
        "visibility.values",
        "group.join_mode.values",
        "fee.present_when_paid",
        "fee.absent_when_free",
        "event_url.form",
        "yes_rsvp_count.range",
        "record.size",
    ):
        assert name in checks
    assert checks["record.size"].kwargs["max_value"] == {"$PARAMETER": "max_record_bytes"}
    assert len(checks["group.country.iso"].kwargs["value_set"]) == 249


def test_great_expectations_keeps_every_expectation() -> None:
    spec = load_suite_spec()
    runner = GxSuiteRunner(spec, parameters={"max_record_bytes": 1_048_588})
    assert set(runner.summaries) == {c.check for c in spec.checks}


def test_column_plan_produces_every_column_the_suite_reads() -> None:
    spec = load_suite_spec()
    plan = ColumnPlan.from_suite(spec)
    produced = set(plan.names) | {"record_index", "record_bytes", *plan.derived}
    assert set(spec.columns()) <= produced
    assert all(
        kind == "typeof"
        for name, kind in zip(plan.names, plan.kinds, strict=True)
        if name.startswith(TYPEOF_PREFIX)
    )
    assert "description" not in plan.names  # only its type is checked; the text never enters the DataFrame


def _write_suite(tmp_path: Path, change: dict[str, object]) -> Path:
    document = json.loads(DEFAULT_SUITE.read_text(encoding="utf-8"))
    document["expectations"].append(change)
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_value_column_without_type_check_is_refused(tmp_path: Path) -> None:
    path = _write_suite(
        tmp_path,
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "venue.zipcode"},
            "meta": {"check": "venue.zipcode.present", "reason": "no zip"},
        },
    )
    with pytest.raises(SuiteError, match=r"no typeof:venue\.zipcode check"):
        load_suite_spec(path)


def test_expectation_gx_would_drop_is_refused(tmp_path: Path) -> None:
    # GX logs an unknown expectation type and leaves it out of the suite; we refuse the suite.
    path = _write_suite(
        tmp_path,
        {
            "type": "expect_column_values_to_be_lovely",
            "kwargs": {"column": "mtime"},
            "meta": {"check": "mtime.lovely", "reason": "not lovely"},
        },
    )
    with pytest.raises(SuiteError, match=r"rejected expectations \['mtime.lovely'\]"):
        GxSuiteRunner(load_suite_spec(path), parameters={"max_record_bytes": 1})


def test_expectation_with_bad_kwargs_is_refused(tmp_path: Path) -> None:
    path = _write_suite(
        tmp_path,
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "mtime", "min_value": "soon"},
            "meta": {"check": "mtime.broken", "reason": "broken"},
        },
    )
    with pytest.raises(SuiteError, match="refused an expectation"):
        GxSuiteRunner(load_suite_spec(path), parameters={"max_record_bytes": 1})


def test_string_row_conditions_are_refused(tmp_path: Path) -> None:
    path = _write_suite(
        tmp_path,
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {
                "column": "typeof:fee",
                "value_set": ["object"],
                "row_condition": 'payment_required=="1"',
            },
            "meta": {"check": "fee.string_condition", "reason": "x"},
        },
    )
    with pytest.raises(SuiteError, match="string row_condition"):
        load_suite_spec(path)


def test_missing_and_broken_suite_files(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read"):
        load_suite_spec(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(SuiteError, match="not valid JSON"):
        load_suite_spec(tmp_path / "bad.json")
