"""``replay dump generate`` / ``replay dump inspect`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay.cli import main


def test_generate_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.jsonl"
    assert main(["dump", "generate", "--events", "1500", "--seed", "4", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "1,500 records (0 malformed)" in printed and out.is_file()
    assert (tmp_path / "d.jsonl.manifest.json").is_file()

    assert main(["dump", "inspect", str(out), "--top", "3", "--quiet"]) == 0
    text = capsys.readouterr().out
    for label in ("records", "ids", "countries", "Germany", "Munich", "mtime", "duplicates", "edits"):
        assert label in text
    assert main(["dump", "inspect", str(out), "--json", "--quiet"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["records"] == 1_500 and len(figures["countries_top"]) == 10


def test_generate_with_invalid_fraction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bad.jsonl"
    assert (
        main(
            ["dump", "generate", "--events", "500", "--out", str(out), "--invalid-fraction", "0.1", "--quiet"]
        )
        == 0
    )
    assert "(50 malformed)" in capsys.readouterr().out
    assert main(["dump", "inspect", str(out), "--json", "--quiet"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["records"] == 500 and figures["objects"] < 500


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "dump not found"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "dump is empty"),
        (lambda p: p.write_bytes(b"\x00\x01\x02binary\xff" * 100), "looks binary"),
    ],
    ids=["missing", "directory", "empty", "binary"],
)
def test_inspect_input_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object, message: str
) -> None:
    target = tmp_path / "dump.jsonl"
    assert callable(setup)
    setup(target)
    assert main(["dump", "inspect", str(target)]) == 5
    err = capsys.readouterr().err.strip()
    assert err.startswith("replay: error: ") and message in err and "\n" not in err and "—" in err


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dump", "generate", "--invalid-fraction", "1.5"])
    assert "must be in [0, 1)" in capsys.readouterr().err
