"""The conformance runner's output comparison when a topic has several partitions.

On a broker the order of records is only defined within a partition, so the runner accepts
the expected records in any interleaving of the partitions' orders, and nothing else. No
tier-1 case has a multi-partition sink, so this path is checked here with a synthetic case run
in memory, by a backend that hands the records back per partition as the Kafka backend does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from ksqldb_lite.conformance.runner import CaseFailure, CaseTopics, InMemoryCaseTopics, run_variant
from ksqldb_lite.execution.driver import ConsumedRecord


class PerPartitionCaseTopics(InMemoryCaseTopics):
    """In memory, but records come back one sequence per partition (like a broker's)."""

    def records(self, topic: str) -> list[list[ConsumedRecord]]:
        description = self.driver.describe_topic(topic)
        runs: list[list[ConsumedRecord]] = [[] for _ in range(description.partitions if description else 0)]
        for record in self.driver.records(topic):
            runs[record.partition].append(record)
        return runs


class PerPartitionBackend:
    def __init__(self) -> None:
        self.last: PerPartitionCaseTopics | None = None

    @contextmanager
    def open_case(self, topics: Sequence[str]) -> Iterator[CaseTopics]:
        self.last = PerPartitionCaseTopics()
        yield self.last


def _case() -> dict[str, Any]:
    # keys "a" and "d" hash to different partitions of two (murmur2, as Kafka's partitioner)
    inputs = [("a", 1), ("d", 2), ("a", 3), ("d", 4)]
    return {
        "name": "two partitions",
        "statements": [
            "CREATE STREAM S (K STRING KEY, N INT) WITH (KAFKA_TOPIC='in', VALUE_FORMAT='JSON', PARTITIONS=2);",
            "CREATE STREAM OUT AS SELECT * FROM S;",
        ],
        "inputs": [{"topic": "in", "key": k, "value": {"N": v}} for k, v in inputs],
        "outputs": [{"topic": "OUT", "key": k, "value": {"N": v}} for k, v in inputs],
    }


def test_expected_order_may_interleave_partitions_but_not_reorder_one() -> None:
    case = _case()
    backend = PerPartitionBackend()
    run_variant(case, backend)  # the order written

    interleaved = copy.deepcopy(case)
    outputs = interleaved["outputs"]
    interleaved["outputs"] = [outputs[0], outputs[2], outputs[1], outputs[3]]  # a, a, d, d
    run_variant(interleaved, backend)

    reordered = copy.deepcopy(case)
    outputs = reordered["outputs"]
    reordered["outputs"] = [outputs[2], outputs[1], outputs[0], outputs[3]]  # a:3 before a:1
    with pytest.raises(CaseFailure, match="record 0: no partition's next record matches"):
        run_variant(reordered, backend)

    wrong = copy.deepcopy(case)
    wrong["outputs"][3]["value"] = {"N": 5}
    with pytest.raises(CaseFailure, match="record 3: no partition's next record matches"):
        run_variant(wrong, backend)


def test_the_case_really_spreads_over_two_partitions() -> None:
    """Guards the test above: with one partition it would not test interleaving at all."""
    backend = PerPartitionBackend()
    run_variant(_case(), backend)
    assert backend.last is not None
    assert [len(run) for run in backend.last.records("OUT")] == [2, 2]
