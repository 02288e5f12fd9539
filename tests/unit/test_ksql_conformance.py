"""ksqlDB's query-validation tests must keep passing at least as well as the committed baselines,
variant by variant (a case runs once per entry of its ``format`` list), and KNOWN-FAILURES.md
must name exactly the variants that fail, with true claims about them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ksqldb_lite.conformance.runner import (
    CaseResult,
    Summary,
    baseline_path,
    broker_cases_path,
    case_id,
    read_baseline,
    read_case_list,
    run_paths,
)
from replay.paths import shared_dir

pytestmark = pytest.mark.shared

KNOWN_FAILURES = baseline_path(1).with_name("KNOWN-FAILURES.md")
SCHEMA_REGISTRY_FORMATS = {"AVRO", "PROTOBUF", "JSON_SR"}
REFUSAL = "format requires a Schema Registry, which ksqldb-lite does not support"


def _folder(tier: int) -> Path:
    folder = shared_dir() / "ksql-conformance" / f"tier{tier}"
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: the shared conformance files are required for this test")
    return folder


@functools.cache
def _summary(tier: int) -> Summary:
    """One run of a tier, shared by the tests of this module (it takes seconds)."""
    return run_paths([_folder(tier)])


@pytest.mark.parametrize("tier", [1, 2])
def test_no_variant_fails_that_the_baseline_records_as_passing(tier: int) -> None:
    baseline = read_baseline(tier)
    summary = _summary(tier)
    assert (len(summary.results), summary.variants_total) == (baseline.total, baseline.variants_total)
    assert not baseline.missing(summary), "re-record the baseline: its failing variants did not run"
    regressions = baseline.regressions(summary)
    assert not regressions, "variants failing that the baseline says pass:\n" + "\n".join(
        f"{variant} :: {reason}" for variant, reason in regressions.items()
    )
    assert summary.passed >= baseline.passed
    assert summary.variants_passed >= baseline.variants_passed


@dataclass(frozen=True)
class Listed:
    """A row of KNOWN-FAILURES.md: a case and the variants it says fail (and pass)."""

    case: str
    failing: frozenset[str]
    passing: frozenset[str] | None  # only the Schema Registry tables have this column


def _labels(cell: str) -> frozenset[str]:
    return frozenset("" if label == "-" else label for label in (x.strip() for x in cell.split(",")))


def _known_failures() -> dict[int, list[Listed]]:
    """The rows of KNOWN-FAILURES.md's tables, per tier (``# Tier-1``/``# Tier 2`` headings)."""
    rows: dict[int, list[Listed]] = {1: [], 2: []}
    tier = 0
    schema_registry = False
    for line in KNOWN_FAILURES.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"# Tier[- ](\d)", line)
        if heading:
            tier = int(heading.group(1))
        elif line.startswith("## "):
            schema_registry = line.startswith("## Schema Registry formats")
        elif line.startswith("| ") and not line.startswith("| file |"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            passing = _labels(cells[3]) if schema_registry else None
            rows[tier].append(Listed(case_id(cells[0], cells[1]), _labels(cells[2]), passing))
    return rows


@pytest.mark.parametrize("tier", [1, 2])
def test_known_failures_names_exactly_the_failing_variants_of_the_baseline(tier: int) -> None:
    listed = {(row.case, label) for row in _known_failures()[tier] for label in row.failing}
    recorded = {(case, label) for case, failing in read_baseline(tier).failures.items() for label in failing}
    assert listed == recorded, (
        f"not in KNOWN-FAILURES.md: {sorted(recorded - listed)}; not in the baseline: {sorted(listed - recorded)}"
    )


@pytest.mark.parametrize("tier", [1, 2])
def test_schema_registry_variants_are_refused_and_their_json_variants_pass(tier: int) -> None:
    """What KNOWN-FAILURES.md says of each Schema Registry case, checked on this run."""
    results: dict[str, CaseResult] = {case_id(r.file, r.name): r for r in _summary(tier).results}
    rows = [row for row in _known_failures()[tier] if row.passing is not None]
    assert rows, "KNOWN-FAILURES.md has no Schema Registry table for this tier"
    for row in rows:
        assert row.passing is not None and "JSON" in row.passing, row
        assert row.failing <= SCHEMA_REGISTRY_FORMATS, row
        variants = {v.label: v for v in results[row.case].variants}
        assert set(variants) == row.failing | row.passing, f"{row.case}: the variants are {sorted(variants)}"
        for label in row.failing:
            refused = variants[label]
            assert not refused.passed and REFUSAL in refused.reason, (row.case, refused)
        for label in row.passing:
            assert variants[label].passed, (row.case, variants[label])


def test_the_broker_case_list_names_tier1_cases_that_pass_in_memory() -> None:
    """The set that also runs on the real broker (tests/integration/test_ksql_conformance_broker.py)
    must be made of existing tier-1 cases that pass in memory: a failure on the broker then
    points at the Kafka path, not at the engine."""
    wanted = read_case_list(broker_cases_path())
    assert len(wanted) == len(set(wanted))
    summary = run_paths([_folder(1)], only=set(wanted))
    assert {case_id(r.file, r.name) for r in summary.results} == set(wanted)
    assert [case_id(r.file, r.name) for r in summary.results if not r.passed] == []
