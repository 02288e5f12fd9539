"""Bad params are refused before a run exists, each kind with a message that says what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from replay.airflow.params import param_specs, parse_params
from replay.errors import ConfigError


def _params(roots: list[Path]) -> Any:
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamsDict

    return ParamsDict({name: Param(**spec) for name, spec in param_specs(roots, Path("/reports")).items()})


def _validate(roots: list[Path], conf: dict[str, Any]) -> dict[str, Any]:
    """What Airflow does with a run's conf: merge it into the DAG's params, then validate."""
    params = copy.deepcopy(_params(roots))
    params.update(conf)
    validated: dict[str, Any] = params.validate()
    return validated


@pytest.mark.parametrize(
    ("conf", "allowed"),
    [
        ({"dump": "/etc/passwd"}, "/data/dumps"),
        ({"dump": "/data/dumps/../../etc/passwd"}, "/data/dumps"),
        ({"dump": "relative/dump.jsonl"}, "/data/dumps"),
        ({"topic": "bad topic!"}, "A-Za-z0-9._-"),
        ({"topic": "x" * 246}, "245"),
        ({"partitions": 0}, "minimum"),
        ({"partitions": 5000}, "maximum"),
        ({"pacing": "fast"}, "'rate', 'speedup', 'unthrottled'"),
        ({"rate": 0}, "exclusiveMinimum"),
        ({"rate": -5}, "exclusiveMinimum"),
        ({"speedup": 0}, "exclusiveMinimum"),
        ({"max_gap_s": -1}, "minimum"),
        ({"limit": 0}, "minimum"),
        ({"skip": -1}, "minimum"),
        ({"validation_policy": "ignore"}, "'quarantine', 'fail'"),
        ({"max_invalid_pct": 101}, "maximum"),
        ({"reset_topics": "yes"}, "boolean"),
        ({"migrations_target": "newest"}, "latest"),
        ({"migrations_target": "0"}, "latest"),
        ({"apply_migrations_before_replay": 1}, "boolean"),
        ({"min_rate_pct": 150}, "maximum"),
        ({"max_e2e_p99_ms": 0}, "exclusiveMinimum"),
        ({"thresholds": ["p99 below 3"]}, "does not match"),
        ({"thresholds": "rate_pct>=90"}, "array"),
        ({"report_root": "reports"}, "^$|^/"),
        ({"report_root": "/srv/../etc"}, "^$|^/"),
    ],
)
def test_a_bad_value_is_refused_with_what_is_allowed(conf: dict[str, Any], allowed: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError) as caught:
        _validate([Path("/data/dumps")], conf)
    message = str(caught.value)
    assert next(iter(conf)) in message or allowed in message, message
    assert allowed in message or allowed in str(_params([Path("/data/dumps")]).dump()[next(iter(conf))]), (
        message
    )


def test_good_values_pass_and_parse_into_the_library_types(tmp_path: Path) -> None:
    dump = tmp_path / "dumps" / "d.jsonl"
    dump.parent.mkdir()
    dump.write_text("{}\n")
    conf = {
        "dump": str(dump),
        "pacing": "speedup",
        "speedup": 120,
        "max_gap_s": 2.5,
        "partitions": 3,
        "limit": 10,
        "skip": 2,
        "migrations_target": "4",
        "max_e2e_p99_ms": 250,
        "min_rate_pct": 95,
        "thresholds": ["drain_s[MEETUP_EVENTS_GERMANY]<=30"],
    }
    run = parse_params(_validate([dump.parent], conf), [dump.parent])
    assert run.dump == dump.resolve()
    assert run.pacing.mode == "speedup" and run.pacing.speedup == 120 and run.pacing.max_gap_s == 2.5
    assert (run.partitions, run.limit, run.skip) == (3, 10, 2)
    assert run.migrations_target == 4
    assert run.thresholds == [
        "drain_s[MEETUP_EVENTS_GERMANY]<=30",
        "rate_pct>=95",
        "e2e_p99_ms[meetup_events]<=250",
    ]
    assert run.report_root is None
    defaults = parse_params(_validate([dump.parent], {}), [dump.parent])
    assert defaults.dump is None and defaults.pacing.mode == "max" and defaults.migrations_target == "latest"


def test_a_symlink_out_of_the_dump_roots_is_refused_in_the_task(tmp_path: Path) -> None:
    root = tmp_path / "dumps"
    root.mkdir()
    outside = tmp_path / "secret.jsonl"
    outside.write_text("{}\n")
    (root / "link.jsonl").symlink_to(outside)
    params = _validate([root], {"dump": str(root / "link.jsonl")})  # the pattern cannot see symlinks
    with pytest.raises(ConfigError, match="outside the allowed dump roots") as caught:
        parse_params(params, [root])
    assert str(root) in caught.value.message and "REPLAY_DAG_DUMP_ROOTS" in (caught.value.hint or "")


def test_a_missing_dump_and_max_gap_without_speedup_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        parse_params(_validate([tmp_path], {"dump": str(tmp_path / "missing.jsonl")}), [tmp_path])
    with pytest.raises(ConfigError) as caught:
        parse_params(_validate([tmp_path], {"pacing": "rate", "max_gap_s": 1}), [tmp_path])
    assert "max_gap_s applies to pacing = speedup only" in caught.value.one_line()
