"""`replay run` end to end against the real broker: dump with malformed records, validation with
great-expectations, exactly-once replay, DLQ, and the reconciliation across the steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay.cli import main
from replay.dump.generator import generate_dump
from replay.stack.broker import KafkaBroker
from tests.conftest import consume_committed

pytestmark = pytest.mark.integration


@pytest.fixture
def run_env(
    kafka_broker: KafkaBroker, bootstrap_servers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """State under tmp_path, clients on the session broker; returns the var dir."""
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("REPLAY_KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    # The run's collector scrapes the session broker, and no ksql server (never the defaults').
    monkeypatch.setenv("REPLAY_METRICS_BROKER_URL", kafka_broker.config.metrics_url)
    monkeypatch.setenv("REPLAY_KSQL_URL", "http://127.0.0.1:9")
    return tmp_path / "var"


def test_run_replays_every_valid_record_once_and_quarantines_the_rest(
    run_env: Path, bootstrap_servers: str, tmp_path: Path, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "dump.jsonl"
    generated = generate_dump(dump, events=3_000, seed=5, invalid_fraction=0.005, progress=False)
    malformed = sum(generated.malformed.values())
    assert malformed > 0

    code = main(
        ["run", "--external", "--dump", str(dump), "--topic", topic_name, "--run-id", "it-run", "--quiet"]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert "reconciled" in out
    summary = json.loads((run_env / "runs/it-run/run-summary.json").read_text())
    rec = summary["reconciliation"]
    assert rec["reconciled"] is True
    assert rec["read"] == 3_000
    assert rec["quarantined"] == malformed
    assert rec["sent"] == 3_000 - malformed
    assert len(consume_committed(bootstrap_servers, topic_name)) == rec["sent"]
    assert len(consume_committed(bootstrap_servers, f"{topic_name}.dlq")) == malformed
    # The run measured itself and reported: the same counts, from the topic itself.
    report = json.loads((run_env / "reports/cli/it-run/report.json").read_text())
    assert report["status"] == "passed"
    assert report["reconciliation"]["source_records"] == rec["sent"]
    assert summary["report"]["html"] in out


def test_run_over_the_invalid_threshold_fails_with_one_line_and_replays_nothing(
    run_env: Path, bootstrap_servers: str, tmp_path: Path, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "dump.jsonl"
    generate_dump(dump, events=500, seed=6, invalid_fraction=0.1, progress=False)

    code = main(["run", "--external", "--dump", str(dump), "--topic", topic_name, "--quiet"])

    assert code != 0
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("replay: error:")]
    assert len(err_lines) == 1
    assert "invalid" in err_lines[0]
    assert list((run_env / "runs").glob("*/validation.json")), "validation wrote its outputs"
    assert list((run_env / "runs").glob("*/produce-summary.json")) == []
