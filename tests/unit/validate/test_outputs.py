"""validate_dump's outputs and decisions: quarantine file, verdicts, summary, Data Docs,
policy and threshold, the worker backend, and load_quarantine for the producer."""

from __future__ import annotations

import base64
import gzip
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from replay.dump.generator import generate_dump, load_manifest
from replay.dump.malformed import EXPECTED_CHECKS
from replay.errors import ConfigError, DumpValidationError, EmptyDumpError, InputError
from replay.validate import load_quarantine, validate_dump
from replay.validate.quarantine import decode_raw

from .conftest import as_bytes, read_outputs, write_lines


@pytest.fixture(scope="module")
def bad_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dump with 4 % malformed records of every kind."""
    folder = tmp_path_factory.mktemp("bad")
    return generate_dump(
        folder / "bad.jsonl", events=1_500, seed=9, invalid_fraction=0.04, progress=False
    ).path


@pytest.fixture(scope="module")
def bad_run(bad_dump: Path) -> tuple[Any, Path]:
    """Validated once in-process with Data Docs; fails the default 1 % threshold."""
    out = bad_dump.parent / "out"
    with pytest.raises(DumpValidationError) as caught:
        validate_dump(bad_dump, out, chunk_size=800, progress=False, parallel=False)
    return caught.value, out


def test_every_manifest_entry_is_quarantined_for_its_kind(bad_dump: Path, bad_run: tuple[Any, Path]) -> None:
    _, out = bad_run
    quarantine = read_outputs(out).quarantine
    manifest = load_manifest(bad_dump)["malformed"]
    assert {m["index"] for m in manifest} == set(quarantine)
    for entry in manifest:
        checks = set(quarantine[entry["index"]]["checks"])
        assert checks & EXPECTED_CHECKS[entry["kind"]], (entry, checks)


def test_failure_carries_the_result_and_a_one_line_reason(bad_run: tuple[Any, Path]) -> None:
    error, out = bad_run
    result = error.result
    assert result.read == 1_500 and result.quarantined == 60 and result.valid == 1_440
    assert not result.passed and result.invalid_pct == pytest.approx(4.0)
    line = error.one_line()
    assert "\n" not in line and "4.00% > 1% allowed" in line and "quarantine.jsonl" in line
    assert error.exit_code == 6
    assert (out / "validation.json").is_file()  # outputs are written before the error


def test_summary_reconciles_and_reports_each_expectation(bad_run: tuple[Any, Path]) -> None:
    _, out = bad_run
    outputs = read_outputs(out)
    summary = outputs.summary
    assert summary["read"] == summary["valid"] + summary["quarantined"] == len(outputs.verdicts) == 1_500
    assert summary["reconciled"] is True and summary["passed"] is False
    assert summary["duplicates"] == summary["failed_checks"]["record.duplicate"] > 0
    by_check = {e["check"]: e for e in summary["expectations"]}
    assert len(by_check) == 79
    assert by_check["id.type"]["success"] is False and by_check["id.type"]["unexpected_count"] > 0
    assert by_check["id.type"]["sample_unexpected"] == ["integer"]
    assert by_check["status.values"]["success"] is True and by_check["status.values"]["unexpected_count"] == 0
    parsed = summary["read"] - sum(
        summary["failed_checks"].get(c, 0)
        for c in ("record.empty", "record.json", "record.utf8", "record.object")
    )
    assert by_check["typeof:id".replace("typeof:", "") + ".type"]["element_count"] == parsed
    assert summary["paths"]["data_docs"].endswith("index.html")


def test_quarantine_lines_hold_position_bytes_and_reasons(bad_dump: Path, bad_run: tuple[Any, Path]) -> None:
    _, out = bad_run
    data = bad_dump.read_bytes()
    quarantine = read_outputs(out).quarantine
    encodings = set()
    for index, entry in quarantine.items():
        original = decode_raw(entry["encoding"], entry["raw"])
        assert data[entry["offset"] : entry["offset"] + entry["bytes"]] == original
        assert data.count(b"\n", 0, entry["offset"]) + 1 == entry["line"] == index + 1
        assert entry["reasons"] and len(entry["reasons"]) == len(entry["checks"])
        encodings.add(entry["encoding"])
        if entry["checks"] == ["record.utf8"]:
            assert entry["encoding"] == "base64" and base64.b64decode(entry["raw"]) == original
    assert encodings == {"utf-8", "base64"}


def test_verdicts_cover_every_record_in_order(bad_run: tuple[Any, Path]) -> None:
    _, out = bad_run
    outputs = read_outputs(out)
    assert [int(v["index"]) for v in outputs.verdicts] == list(range(1_500))
    assert {int(v["index"]) for v in outputs.verdicts if v["verdict"] == "invalid"} == set(outputs.quarantine)


def test_load_quarantine_for_the_producer(bad_run: tuple[Any, Path]) -> None:
    _, out = bad_run
    from_dir = load_quarantine(out)
    from_file = load_quarantine(out / "quarantine.jsonl")
    assert from_dir == from_file and len(from_dir) == 60
    assert all(isinstance(k, int) and v and all(isinstance(r, str) for r in v) for k, v in from_dir.items())


def test_load_quarantine_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="quarantine file not found"):
        load_quarantine(tmp_path)
    (tmp_path / "quarantine.jsonl").write_text('{"index": 1, "reasons": ["x"]}\nnot json\n')
    with pytest.raises(InputError, match="line 2"):
        load_quarantine(tmp_path)


def test_data_docs_are_written(bad_run: tuple[Any, Path]) -> None:
    _, out = bad_run
    index = out / "data_docs" / "index.html"
    assert index.is_file()
    pages = list((out / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1  # one merged result for the whole dump, not one per chunk
    page = pages[0].read_text(encoding="utf-8")
    assert "meetup_event" in page and "typeof:id" in page
    assert (out / "data_docs" / "expectations" / "meetup_event.html").is_file()


def test_threshold_and_policies(bad_dump: Path, tmp_path: Path, base_events: list[dict[str, Any]]) -> None:
    passed = validate_dump(
        bad_dump, tmp_path / "a", max_invalid_pct=5, progress=False, data_docs=False, parallel=False
    )
    assert passed.passed and passed.quarantined == 60
    assert read_outputs(tmp_path / "a").summary["passed"] is True
    with pytest.raises(DumpValidationError, match="policy fail allows no invalid record"):
        validate_dump(
            bad_dump,
            tmp_path / "b",
            policy="fail",
            max_invalid_pct=50,
            progress=False,
            data_docs=False,
            parallel=False,
        )
    clean = write_lines(tmp_path / "clean.jsonl", [as_bytes(e) for e in base_events[:30]])
    strict = validate_dump(
        clean, tmp_path / "c", policy="fail", progress=False, data_docs=False, parallel=False
    )
    assert strict.passed and strict.quarantined == 0 and strict.read == 30
    assert strict.verdict_line().endswith("passed (policy fail: no invalid record)")
    assert (tmp_path / "c" / "quarantine.jsonl").read_bytes() == b""


def test_bad_arguments_are_config_errors(bad_dump: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        validate_dump(bad_dump, tmp_path, policy="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        validate_dump(bad_dump, tmp_path, max_invalid_pct=120)


def test_input_errors_surface_before_any_output(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="dump not found"):
        validate_dump(tmp_path / "missing.jsonl", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_worker_backend_gives_the_same_outcome(
    bad_dump: Path, bad_run: tuple[Any, Path], tmp_path: Path
) -> None:
    _, in_process = bad_run
    result = validate_dump(
        bad_dump, tmp_path / "w", chunk_size=800, max_invalid_pct=5, progress=False, parallel=True
    )
    assert result.quarantined == 60
    ours, theirs = read_outputs(tmp_path / "w"), read_outputs(in_process)
    assert ours.quarantine == theirs.quarantine
    assert ours.verdicts == theirs.verdicts
    assert ours.summary["expectations"] == theirs.summary["expectations"]
    assert (tmp_path / "w" / "data_docs" / "index.html").is_file()


def test_gzip_json_array_dump(tmp_path: Path, base_events: list[dict[str, Any]]) -> None:
    items = [as_bytes(e) for e in base_events[:40]] + [b'{"id": 5}']
    path = tmp_path / "dump.json.gz"
    path.write_bytes(gzip.compress(b"[\n" + b",\n".join(items) + b"\n]\n"))
    result = validate_dump(
        path, tmp_path / "out", max_invalid_pct=5, progress=False, data_docs=False, parallel=False
    )
    assert (result.read, result.quarantined) == (41, 1)
    entry = read_outputs(tmp_path / "out").quarantine[40]
    assert entry["line"] == 42 and "wrong type for id: JSON integer, expected string" in entry["reasons"]


def test_worker_exits_when_the_main_process_is_killed(bad_dump: Path, tmp_path: Path) -> None:
    """A SIGKILLed validation must not leave its great-expectations worker behind."""
    script = (
        "import sys, time; from replay.validate import validate_dump; "
        "validate_dump(sys.argv[1], sys.argv[2], chunk_size=50, max_invalid_pct=100, progress=False, parallel=True)"
    )
    main = subprocess.Popen([sys.executable, "-c", script, str(bad_dump), str(tmp_path / "o")])
    try:
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while not workers and time.monotonic() < deadline and main.poll() is None:
            workers = [
                p for p in psutil.Process(main.pid).children() if "multiprocessing" in " ".join(p.cmdline())
            ]
            time.sleep(0.2)
        assert workers, "the worker process never started"
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == [], f"worker still running: {[p.pid for p in alive]}"
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()


def test_a_dump_without_records_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"[ ]\n")
    with pytest.raises(EmptyDumpError, match="holds no records"):
        validate_dump(path, tmp_path / "out", progress=False, parallel=False)
