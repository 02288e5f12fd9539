"""Limits and their verdicts; the independent dump count and a table's change for one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from replay.errors import ConfigError
from replay.report import catalog, crosscheck, thresholds


def _doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "cross_checks": [{"name": "a", "expected": 3, "actual": 3, "equal": True}],
        "reconciliation": {"reconciled": True, "read": 200, "quarantined": 3},
        "endToEndLatency": {"G": {"endToEndLatency": {"p99": 1_500_000, "p50": 20_000}}},
        "replay": {"rate": {"target_per_s": 2000, "achieved_per_s": 1990.0}},
        "queries": [{"query_id": "CSAS_G_1", "sink_topic": "G", "drain_s": 4.0}],
    }
    doc.update(over)
    return doc


def test_default_limits_pass_on_a_clean_run() -> None:
    verdicts = thresholds.evaluate(None, _doc())
    assert [(v["limit"], v["passed"]) for v in verdicts] == [("crosschecks", True), ("reconciliation", True)]


def test_numeric_limits() -> None:
    limits = [
        "e2e_p99_ms[G]<=2000",
        "e2e_p99_ms[G]<=1000",
        "rate_pct>=99",
        "rate_pct>=99.9",
        "quarantined_pct<=1",
        "drain_s[CSAS_G_1]<=5",
        "drain_s[G]<3",
    ]
    verdicts = {v["limit"]: v for v in thresholds.evaluate(limits, _doc())}
    assert verdicts["e2e_p99_ms[G]<=2000"]["passed"] and verdicts["e2e_p99_ms[G]<=2000"]["actual"] == 1500.0
    assert not verdicts["e2e_p99_ms[G]<=1000"]["passed"]
    assert verdicts["rate_pct>=99"]["passed"] and not verdicts["rate_pct>=99.9"]["passed"]
    assert not verdicts["quarantined_pct<=1"]["passed"]  # 1.5 %
    assert verdicts["drain_s[CSAS_G_1]<=5"]["passed"] and not verdicts["drain_s[G]<3"]["passed"]


def test_a_limit_without_its_figure_fails_and_says_why() -> None:
    (verdict,) = thresholds.evaluate(["e2e_p99_ms[NOPE]<=5"], _doc())
    assert verdict["passed"] is False and "NOPE" in verdict["detail"]
    (unequal,) = thresholds.evaluate(["crosschecks"], _doc(cross_checks=[{"equal": False}]))
    assert unequal["passed"] is False


@pytest.mark.parametrize("bad", ["rate_pct", "e2e_p99_ms<=5", "crosschecks<=1", "speed>=3", "rate_pct=>9"])
def test_malformed_limits_are_config_errors_with_a_hint(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        thresholds.parse(bad)
    assert info.value.hint and "e2e_p99_ms" in info.value.hint


def test_count_dump_applies_each_sink_rule_to_valid_records_in_range(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "group": {"country": "de", "city": "München", "category": {"shortname": "tech"}}},
        {"id": "2", "group": {"country": "de", "city": "Berlin", "category": {"shortname": "tech"}}},
        {"id": "3", "group": {"country": "us", "city": "Munchen"}},  # a Munich spelling outside Germany
        {"id": "4", "group": {"country": "DE", "city": "MÜNCHEN", "category": {"shortname": "art"}}},
        {"id": "5", "group": {"country": "de", "city": "Munich"}},  # quarantined below
        {"id": "6", "group": {"country": "de", "city": "Munich"}},  # outside the replay's range
    ]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "quarantine.jsonl").write_text(json.dumps({"index": 4, "reasons": ["x"]}) + "\n")
    counts = crosscheck.count_dump(dump, tmp_path, start=0, end=5)
    assert counts.valid == 4
    assert (counts.germany, counts.munich) == (2, 2)
    assert counts.countries == {"de": 2, "us": 1, "DE": 1}
    assert counts.categories == {"tech": 2, "art": 1}


def test_table_change_is_last_value_minus_value_before_the_run() -> None:
    probe = {
        "table": {
            "before": {"de": '{"EVENTS":10}', "us": '{"EVENTS":100}'},
            "last": {"de": '{"EVENTS":13}', "fr": '{"EVENTS":2}', '"gb"': '{"EVENTS":1}'},
        }
    }
    assert crosscheck.table_change(probe) == {"de": 3, "fr": 2, "gb": 1}


def test_cross_checks_flag_a_difference_per_key() -> None:
    counts = crosscheck.DumpCounts(valid=10, germany=3, munich=1)
    counts.countries.update({"de": 3, "us": 7})
    probes = {
        "topics": {
            "src": {"kind": "source", "records_in_window": 10},
            "MEETUP_EVENTS_GERMANY": {"kind": "stream", "records_in_window": 3},
            "MEETUP_EVENTS_MUNICH": {"kind": "stream", "records_in_window": 0},
            "EVENTS_PER_COUNTRY": {
                "kind": "table",
                "table": {"before": {}, "last": {"de": '{"N":3}', "us": '{"N":6}'}},
            },
        }
    }
    checks = {c["topic"]: c for c in crosscheck.cross_checks(probes, counts, sent=10)}
    assert checks["src"]["equal"] and checks["MEETUP_EVENTS_GERMANY"]["equal"]
    assert checks["MEETUP_EVENTS_MUNICH"]["difference"] == -1 and not checks["MEETUP_EVENTS_MUNICH"]["equal"]
    country = checks["EVENTS_PER_COUNTRY"]
    assert not country["equal"] and country["keys_differing"] == [{"key": "us", "expected": 7, "actual": 6}]


def test_compare_gives_deltas_and_ratios() -> None:
    def report(rate: float, p99: int) -> dict[str, Any]:
        return {
            "pipeline": "cli",
            "run_id": f"r{rate}",
            "replay": {"counts": {"committed": 100}, "rate": {"target_per_s": rate, "achieved_per_s": rate}},
            "publishLatency": {"p99": p99},
            "headline": {"e2e_p99_ms": p99 / 1000},
            "reconciliation": {"quarantined": 0},
            "endToEndLatency": {"G": {"endToEndLatency": {"p99": p99}}},
        }

    rows = {r["figure"]: r for r in catalog.compare(report(1000, 2000), report(4000, 3000))}
    assert rows["target rate (/s)"]["delta"] == 3000 and rows["target rate (/s)"]["ratio"] == 4.0
    assert rows["e2e p99 G (us)"]["delta"] == 1000
    assert rows["events committed"]["delta"] == 0
    assert "B - A" in catalog.compare_text(report(1000, 2000), report(4000, 3000))
