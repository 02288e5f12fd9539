"""The conformance runner runs every format variant of a case and the baseline is kept per
variant, so a regression in a variant behind a failing one (e.g. JSON after a refused AVRO)
shows. Synthetic cases, in memory."""

from __future__ import annotations

from typing import Any

from ksqldb_lite.conformance.runner import Baseline, Summary, run_case, totals_line


def _case(expected_value: int) -> dict[str, Any]:
    """A pass-through case over AVRO (refused: no Schema Registry) and JSON."""
    return {
        "name": "pass through",
        "format": ["AVRO", "JSON"],
        "statements": [
            "CREATE STREAM S (K STRING KEY, N INT) WITH (KAFKA_TOPIC='in', VALUE_FORMAT='{FORMAT}');",
            "CREATE STREAM OUT AS SELECT * FROM S;",
        ],
        "inputs": [{"topic": "in", "key": "a", "value": {"N": 1}}],
        "outputs": [{"topic": "OUT", "key": "a", "value": {"N": expected_value}}],
    }


def test_every_variant_runs_also_after_a_failing_one() -> None:
    passing_json = run_case("f.json", _case(1))
    assert [(v.label, v.passed) for v in passing_json.variants] == [("AVRO", False), ("JSON", True)]
    assert not passing_json.passed
    assert passing_json.reason.startswith(
        "[AVRO] unexpected error: The 'AVRO' format requires a Schema Registry"
    )

    failing_json = run_case("f.json", _case(2))
    assert [(v.label, v.passed) for v in failing_json.variants] == [("AVRO", False), ("JSON", False)]
    assert 'value {"N":1} != expected {"N":2}' in failing_json.variants[1].reason


def test_the_baseline_flags_a_variant_that_passed_before_even_if_its_case_failed_already() -> None:
    recorded = Summary([run_case("f.json", _case(1))])
    baseline = Baseline(
        passed=recorded.passed,
        total=len(recorded.results),
        variants_passed=recorded.variants_passed,
        variants_total=recorded.variants_total,
        failures=recorded.failures(),
    )
    assert baseline.failures == {"f.json :: pass through": {"AVRO": recorded.results[0].variants[0].reason}}
    assert baseline.regressions(recorded) == {} and baseline.missing(recorded) == []
    assert totals_line(recorded) == "0 passed, 1 failed (cases); 1 passed, 1 failed (variants)"

    regressed = Summary([run_case("f.json", _case(2))])
    # per case nothing changed, per variant the JSON one regressed
    assert regressed.passed == baseline.passed
    assert list(baseline.regressions(regressed)) == ["f.json :: pass through [JSON]"]
