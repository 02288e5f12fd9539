"""ksqlDB's query-validation tests end to end on the real broker (issue 6, conformance runner).

The committed set (``ksqldb_lite/conformance/broker-cases.txt``) runs through the same case
logic as the in-memory run, but with the Kafka topic driver: inputs produced to real topics,
each persistent query a consumer group, outputs read back with read_committed. Every listed
case must pass. Two deliberately broken copies of a case prove the comparison on the broker
can fail (a wrong value, an unexpected extra record), and the run must leave no topic behind.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from ksqldb_lite.conformance.broker import KafkaBackend
from ksqldb_lite.conformance.runner import (
    broker_cases_path,
    case_id,
    case_topics,
    load_cases,
    read_case_list,
    run_case,
    run_paths,
)
from replay.paths import shared_dir

pytestmark = [pytest.mark.shared, pytest.mark.integration]


def _tier1() -> Path:
    folder = shared_dir() / "ksql-conformance" / "tier1"
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: the shared conformance files are required for this test")
    return folder


def _topics(bootstrap_servers: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=30).topics)


def test_every_case_of_the_broker_set_passes_end_to_end(bootstrap_servers: str) -> None:
    wanted = read_case_list(broker_cases_path())
    assert len(wanted) == len(set(wanted)), "the broker case list names a case twice"
    summary = run_paths([_tier1()], backend=KafkaBackend(bootstrap_servers), only=set(wanted))
    ran = {case_id(r.file, r.name) for r in summary.results}
    assert ran == set(wanted), f"listed cases not found in tier1: {sorted(set(wanted) - ran)}"
    failures = {case_id(r.file, r.name): r.reason for r in summary.results if not r.passed}
    assert not failures, "cases of the broker set failing on the real broker:\n" + "\n".join(
        f"{case} :: {reason}" for case, reason in failures.items()
    )
    leftovers = set().union(*(case_topics(case) for case in _listed_cases(wanted))) & _topics(
        bootstrap_servers
    )
    assert not leftovers, f"topics left behind by the conformance cases: {sorted(leftovers)}"


def _listed_cases(wanted: list[str]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(_tier1().glob("*.json")):
        cases.extend(c for c in load_cases(path) if case_id(path.name, str(c.get("name"))) in wanted)
    return cases


def _case(file: str, name: str) -> dict[str, Any]:
    for case in json.loads((_tier1() / file).read_text(encoding="utf-8"))["tests"]:
        if case["name"] == name:
            return dict(case)
    pytest.fail(f"{file} :: {name} is missing from tier1")


def test_a_wrong_expected_value_or_an_extra_record_fails_on_the_broker(bootstrap_servers: str) -> None:
    original = _case("project-filter.json", "Json Map filter")
    backend = KafkaBackend(bootstrap_servers)
    assert run_case("project-filter.json", original, backend).passed

    wrong_value = copy.deepcopy(original)
    first = wrong_value["outputs"][0]
    first["value"] = {**first["value"], "NAME": "not what the query writes"}
    result = run_case("project-filter.json", wrong_value, backend)
    assert not result.passed
    assert "record 0: value" in result.reason and "not what the query writes" in result.reason

    # One expected record fewer: the real output then has one record too many, which the
    # runner only sees if it waited until the query had processed every input.
    missing_one = copy.deepcopy(original)
    missing_one["outputs"] = missing_one["outputs"][:-1]
    result = run_case("project-filter.json", missing_one, backend)
    assert not result.passed
    expected = len(missing_one["outputs"])
    assert f"expected {expected} records, got {expected + 1}" in result.reason
    assert not set(case_topics(original)) & _topics(bootstrap_servers)
