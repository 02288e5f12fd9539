"""ksqlDB's tier-1 query-validation tests must keep passing at least as well as the baseline."""

from __future__ import annotations

import pytest

from ksqldb_lite.conformance.runner import read_baseline, run_paths
from replay.paths import shared_dir

pytestmark = pytest.mark.shared


def test_tier1_pass_count_does_not_drop_below_the_committed_baseline() -> None:
    tier1 = shared_dir() / "ksql-conformance" / "tier1"
    if not tier1.is_dir():
        pytest.fail(f"{tier1} is missing: the shared conformance files are required for this test")
    baseline = read_baseline()
    summary = run_paths([tier1])
    assert len(summary.results) == baseline["total"]
    failing = {f"{r.file} :: {r.name}": r.reason for r in summary.results if not r.passed}
    new_failures = {case: reason for case, reason in failing.items() if case not in baseline["failures"]}
    assert not new_failures, f"cases failing that the baseline says pass: {new_failures}"
    assert summary.passed >= baseline["passed"]
