"""The pure parts of the pipeline's steps: the reconciliation rule and the run context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay.errors import ConfigError
from replay.pipeline.context import RunContext
from replay.pipeline.steps import reconciliation


def _counts(committed: int, quarantined: int = 0, invalid: int = 0, blank: int = 0) -> dict[str, object]:
    return {
        "counts": {
            "committed": committed,
            "quarantined": quarantined,
            "invalid": invalid,
            "blank": blank,
            "dlq": quarantined,
        }
    }


def test_a_full_replay_reconciles_when_every_valid_record_was_committed() -> None:
    result = reconciliation({"read": 100, "valid": 97, "quarantined": 3}, _counts(97, 3))
    assert result["reconciled"] is True
    assert (result["read"], result["valid"], result["quarantined"], result["sent"]) == (100, 97, 3, 97)


def test_one_valid_record_not_committed_does_not_reconcile() -> None:
    assert reconciliation({"read": 100, "valid": 97, "quarantined": 3}, _counts(96, 4))["reconciled"] is False


def test_validation_counts_that_do_not_add_up_do_not_reconcile() -> None:
    assert reconciliation({"read": 100, "valid": 97, "quarantined": 2}, _counts(97, 3))["reconciled"] is False


def test_a_partial_replay_reconciles_within_its_range() -> None:
    result = reconciliation({"read": 100, "valid": 97, "quarantined": 3}, _counts(40, 1))
    assert result["full_range"] is False
    assert result["replay_in_range"] == 41
    assert result["reconciled"] is True


def test_a_replay_that_saw_more_records_than_were_read_does_not_reconcile() -> None:
    assert reconciliation({"read": 10, "valid": 10, "quarantined": 0}, _counts(11))["reconciled"] is False


def test_the_context_names_run_and_report_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path))
    ctx = RunContext(run_id="manual__2026-12-02T10:00:00+00:00", pipeline="meetup_replay")
    assert ctx.run_dir == tmp_path / "runs" / "manual__2026-12-02T10:00:00+00:00"
    assert ctx.report_dir == tmp_path / "reports" / "meetup_replay" / "manual__2026-12-02T10:00:00+00:00"


def test_the_manifest_keeps_its_first_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path))
    ctx = RunContext(run_id="r1")
    ctx.write_manifest({"topic": "a"})
    ctx.write_manifest({"topic": "b"})  # a retried task must not rewrite what the run was asked
    manifest = ctx.read_manifest()
    assert manifest is not None and manifest["params"] == {"topic": "a"}
    assert json.loads((ctx.run_dir / "run.json").read_text())["pipeline"] == "cli"


def test_a_run_id_that_is_not_path_safe_is_refused() -> None:
    with pytest.raises(ConfigError, match="not usable"):
        RunContext(run_id="../escape")


def test_a_resumed_replay_reconciles_on_the_totals_of_all_its_attempts() -> None:
    # The last attempt committed 60 of 97: its counts alone look like a partial replay.
    totals = {"records": 97, "quarantined": 3, "dlq": 3, "invalid": 0, "blank": 0, "bytes": 1}
    summary = {**_counts(60, 0), "options": {"skip": 0, "limit": None}, "run_totals": totals}
    result = reconciliation({"read": 100, "valid": 97, "quarantined": 3}, summary)
    assert result["reconciled"] is True and result["full_range"] is True and result["sent"] == 97
    totals["records"] = 96  # one record lost across the attempts
    assert reconciliation({"read": 100, "valid": 97, "quarantined": 3}, summary)["reconciled"] is False


def test_a_replay_of_the_whole_dump_that_stopped_short_does_not_reconcile() -> None:
    summary = {**_counts(90, 3), "options": {"skip": 0, "limit": None}}
    assert reconciliation({"read": 100, "valid": 97, "quarantined": 3}, summary)["reconciled"] is False
    summary["options"] = {"skip": 0, "limit": 93}  # asked for a range: within it, fine
    assert reconciliation({"read": 100, "valid": 97, "quarantined": 3}, summary)["reconciled"] is True
