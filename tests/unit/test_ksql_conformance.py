"""ksqlDB's query-validation tests must keep passing at least as well as the committed baselines."""

from __future__ import annotations

import pytest

from ksqldb_lite.conformance.runner import read_baseline, run_paths
from replay.paths import shared_dir

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("tier", [1, 2])
def test_pass_count_does_not_drop_below_the_committed_baseline(tier: int) -> None:
    folder = shared_dir() / "ksql-conformance" / f"tier{tier}"
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: the shared conformance files are required for this test")
    baseline = read_baseline(tier)
    summary = run_paths([folder])
    assert len(summary.results) == baseline["total"]
    failing = {f"{r.file} :: {r.name}": r.reason for r in summary.results if not r.passed}
    new_failures = {case: reason for case, reason in failing.items() if case not in baseline["failures"]}
    assert not new_failures, f"cases failing that the baseline says pass: {new_failures}"
    assert summary.passed >= baseline["passed"]
