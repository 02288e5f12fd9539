"""`replay produce` arguments -> library options; option validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.cli import build_parser
from replay.errors import ConfigError, InputError
from replay.produce.cli import options_from_args
from replay.produce.options import ProduceOptions, check_run_id, new_run_id
from replay.produce.pacing import Pacing


def _options(tmp_path: Path, *argv: str) -> ProduceOptions:
    args = build_parser().parse_args(["produce", str(tmp_path / "dump.jsonl"), "--topic", "events", *argv])
    return options_from_args(args)


def test_rate_mode_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    options = _options(tmp_path, "--rate", "5000", "--run-id", "r-1", "--limit", "100", "--skip", "5")
    assert options.pacing == Pacing.at_rate(5000)
    assert options.run_id == "r-1"
    assert (options.skip, options.limit, options.end_index) == (5, 100, 105)
    assert options.value_format == "raw" and not options.dlq and not options.reset
    assert options.quarantine == {}
    assert options.summary_file() == tmp_path / "var" / "runs" / "r-1" / "produce-summary.json"
    assert options.dlq_topic == "events.dlq"


def test_speedup_mode_with_max_gap(tmp_path: Path) -> None:
    options = _options(tmp_path, "--speedup", "60", "--max-gap", "2.5", "--timestamp-field", "time")
    assert options.pacing == Pacing.sped_up(60, timestamp_field="time", max_gap_s=2.5)


def test_max_mode_and_tuning(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        "--max",
        "--linger-ms",
        "20",
        "--batch-size",
        "65536",
        "--compression",
        "lz4",
        "--partitions",
        "3",
    )
    assert options.pacing.mode == "max"
    s = options.settings
    assert (s.linger_ms, s.batch_size, s.compression_type, s.partitions) == (20, 65536, "lz4", 3)


def test_exactly_one_pacing_mode_is_required(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _options(tmp_path)
    with pytest.raises(SystemExit):
        _options(tmp_path, "--rate", "5", "--max")


def test_max_gap_needs_speedup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        _options(tmp_path, "--rate", "5", "--max-gap", "1")


def test_quarantine_file_is_loaded_from_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InputError):
        _options(tmp_path, "--max", "--quarantine", str(missing))
    run_folder = tmp_path / "var" / "runs" / "r3"
    run_folder.mkdir(parents=True)
    (run_folder / "quarantine.jsonl").write_text(
        '{"index": 4, "line": 5, "offset": 99, "reasons": ["id missing"]}\n', encoding="utf-8"
    )
    assert _options(tmp_path, "--max", "--run-id", "r3").quarantine == {4: ["id missing"]}
    assert _options(tmp_path, "--max", "--quarantine", str(run_folder)).quarantine == {4: ["id missing"]}
    # no file in the run folder: nothing quarantined, and --no-quarantine never reads one
    assert _options(tmp_path, "--max", "--run-id", "r2").quarantine == {}
    assert _options(tmp_path, "--max", "--run-id", "r2", "--no-quarantine").quarantine == {}


@pytest.mark.parametrize("run_id", ["", "a/b", "../x", "with space", "x" * 201, "-leading"])
def test_unusable_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(ConfigError):
        check_run_id(run_id)


def test_airflow_run_ids_are_accepted() -> None:
    assert check_run_id("manual__2024-05-01T10:00:00+00:00")
    assert check_run_id(new_run_id())


@pytest.mark.parametrize("topic", ["", "a b", "x/y", "..", "t" * 250])
def test_bad_topic_names_are_refused(tmp_path: Path, topic: str) -> None:
    with pytest.raises(ConfigError):
        ProduceOptions(path=tmp_path, topic=topic, pacing=Pacing.unthrottled())


def test_negative_skip_or_limit_and_the_checkpoint_topic_are_refused(tmp_path: Path) -> None:
    for bad in ({"skip": -1}, {"limit": -1}):
        with pytest.raises(ConfigError):
            ProduceOptions(path=tmp_path, topic="t", pacing=Pacing.unthrottled(), **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ProduceOptions(path=tmp_path, topic="replay-checkpoints", pacing=Pacing.unthrottled())


@pytest.mark.parametrize(("mode", "queue_kb"), [(["--rate", "5000"], 128 * 1024), (["--max"], 32 * 1024)])
def test_a_paced_replay_gets_a_deep_local_queue_and_an_unthrottled_one_a_shallow_one(
    tmp_path: Path, mode: list[str], queue_kb: int
) -> None:
    from replay.produce.delivery import Deliveries
    from replay.produce.metrics import LatencyRecorder, Windows
    from replay.produce.setup import producer_config

    options = _options(tmp_path, *mode)
    deliveries = Deliveries("events", "replay-checkpoints", LatencyRecorder(), Windows(0))
    config = producer_config(
        options, txn_id="t", max_batch_bytes=1_000_000, deliveries=deliveries, stats_cb=None
    )
    assert config["queue.buffering.max.kbytes"] == queue_kb
