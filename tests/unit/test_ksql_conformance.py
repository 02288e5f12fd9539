"""ksqlDB's query-validation tests must keep passing at least as well as the committed baselines."""

from __future__ import annotations

import pytest

from ksqldb_lite.conformance.runner import (
    broker_cases_path,
    case_id,
    read_baseline,
    read_case_list,
    run_paths,
)
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


def test_the_broker_case_list_names_tier1_cases_that_pass_in_memory() -> None:
    """The set that also runs on the real broker (tests/integration/test_ksql_conformance_broker.py)
    must be made of existing tier-1 cases that pass in memory: a failure on the broker then
    points at the Kafka path, not at the engine."""
    folder = shared_dir() / "ksql-conformance" / "tier1"
    wanted = read_case_list(broker_cases_path())
    assert len(wanted) == len(set(wanted))
    summary = run_paths([folder], only=set(wanted))
    assert {case_id(r.file, r.name) for r in summary.results} == set(wanted)
    assert [case_id(r.file, r.name) for r in summary.results if not r.passed] == []
