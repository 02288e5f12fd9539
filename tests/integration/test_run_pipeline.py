"""`replay run` end to end against the real broker: dump with malformed records, validation with
great-expectations, exactly-once replay, DLQ, and the reconciliation across the steps."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from replay.cli import main
from replay.dump.generator import generate_dump
from replay.stack.broker import KafkaBroker
from tests.conftest import consume_committed
from tests.integration.replay_checks import assert_exactly_once, source_of

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
        [
            "run",
            "--external",
            "--no-migrations",
            "--dump",
            str(dump),
            "--topic",
            topic_name,
            "--run-id",
            "it-run",
            "--quiet",
        ]
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
    # Exactly once: N records, replay-seq 0..N-1, N distinct source positions, each with the
    # bytes of its dump line; they are the valid records and the DLQ holds the malformed ones.
    records = consume_committed(bootstrap_servers, topic_name)
    assert_exactly_once(records, rec["sent"], dump)
    bad = {note["index"] for note in json.loads(generated.manifest.read_text())["malformed"]}
    assert len(bad) == malformed
    assert {source_of(r)[0] for r in records} == set(range(3_000)) - bad
    dlq = consume_committed(bootstrap_servers, f"{topic_name}.dlq")
    assert sorted(source_of(r)[0] for r in dlq) == sorted(bad)
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

    code = main(
        ["run", "--external", "--no-migrations", "--dump", str(dump), "--topic", topic_name, "--quiet"]
    )

    assert code != 0
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("replay: error:")]
    assert len(err_lines) == 1
    assert "invalid" in err_lines[0]
    assert list((run_env / "runs").glob("*/validation.json")), "validation wrote its outputs"
    assert list((run_env / "runs").glob("*/produce-summary.json")) == []


def test_run_applies_migrations_after_the_replay_and_waits_for_the_queries_to_drain(
    run_env: Path,
    bootstrap_servers: str,
    ksql_url: str,
    tmp_path: Path,
    topic_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REPLAY_KSQL_URL", ksql_url)
    dump = tmp_path / "dump.jsonl"
    generate_dump(dump, events=2_000, seed=8, progress=False)
    german = sorted(e["id"] for e in map(json.loads, dump.open()) if e["group"]["country"] == "de")
    suffix = uuid.uuid4().hex[:8].upper()
    project = tmp_path / "ksql"
    (project / "migrations").mkdir(parents=True)
    (project / "ksql-migrations.properties").write_text(
        "ksql.server.url=http://127.0.0.1:9\n"  # the run's REPLAY_KSQL_URL wins over the file
        f"ksql.migrations.stream.name=RUN_EVENTS_{suffix}\nksql.migrations.table.name=RUN_VERSIONS_{suffix}\n"
    )
    (project / "migrations" / "V000001__source.sql").write_text(
        f"CREATE STREAM SRC_{suffix} (id STRING, `group` STRUCT<country STRING>) "
        f"WITH (KAFKA_TOPIC='{topic_name}', VALUE_FORMAT='JSON');\n"
    )
    (project / "migrations" / "V000002__germany.sql").write_text(
        "SET 'auto.offset.reset'='earliest';\n"
        f"CREATE STREAM DE_{suffix} AS SELECT * FROM SRC_{suffix} WHERE `group`->country = 'de';\n"
    )

    code = main(
        ["run", "--external", "--dump", str(dump), "--topic", topic_name, "--run-id", "it-mig", "--quiet",
         "--migrations", str(project), "--drain-timeout", "120"]
    )  # fmt: skip

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "migrations: applied 1, 2; current version 2" in out
    assert "persistent queries caught up" in out
    run_dir = run_env / "runs/it-mig"
    migrations = json.loads((run_dir / "migrations.json").read_text())
    assert [(v["version"], v["state"]) for v in migrations["versions"]] == [(1, "MIGRATED"), (2, "MIGRATED")]
    assert migrations["server"]["version"] == "0.29.0" and migrations["initialized_metadata"] is True
    assert (
        all(v["seconds"] >= 0 for v in migrations["versions"])
        and migrations["finished_at_ms"] >= migrations["started_at_ms"]
    )
    drain = json.loads((run_dir / "drain.json").read_text())
    assert drain["drained"] is True
    query = next(q for q in drain["queries"] if q["sinks"] == [f"DE_{suffix}"])
    assert query["source_topics"] == [topic_name]
    assert query["consumer_group"] == f"_confluent-ksql-session_query_{query['id']}"
    assert query["lag_series"][-1][1] == 0 and query["drained_at_ms"] >= drain["replay_finished_at_ms"]
    assert query["drain_s"] is not None and query["drain_s"] >= 0
    summary = json.loads((run_dir / "run-summary.json").read_text())
    assert summary["migrations"]["current_version"] == "2" and summary["drain"]["drained"] is True
    # Every German event exactly once (edits of one event are separate records), nothing else.
    sink = consume_committed(bootstrap_servers, f"DE_{suffix}")
    assert german and sorted(json.loads(r.value or b"null")["ID"] for r in sink) == german
