"""``replay validate``: exit codes, one-line reasons, --json, and output free of GX noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from replay.cli import main
from replay.dump.generator import generate_dump


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    return generate_dump(folder / "d.jsonl", events=800, seed=21, invalid_fraction=0.02, progress=False).path


def test_failing_dump_exits_6_with_one_line(
    dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "validate",
            str(dump),
            "--out-dir",
            str(tmp_path / "a"),
            "--json",
            str(tmp_path / "s.json"),
            "--no-data-docs",
            "--quiet",
        ]
    )
    assert code == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "replay: error: validation of d.jsonl failed: 800 records read, 784 valid, 16 invalid"
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["read"], summary["valid"], summary["quarantined"], summary["passed"]) == (
        800,
        784,
        16,
        False,
    )


def test_passing_dump_exits_0(dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "validate",
            str(dump),
            "--max-invalid",
            "2.5",
            "--out-dir",
            str(tmp_path / "b"),
            "--json",
            "-",
            "--no-data-docs",
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["passed"] is True and summary["read"] == summary["valid"] + summary["quarantined"]


def test_policy_fail_and_missing_input(
    dump: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "validate",
                str(dump),
                "--policy",
                "fail",
                "--max-invalid",
                "50",
                "--out-dir",
                str(tmp_path),
                "--no-data-docs",
                "--quiet",
            ]
        )
        == 6
    )
    assert "policy fail allows no invalid record" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "nope.jsonl"), "--out-dir", str(tmp_path)]) == 5
    err = capsys.readouterr().err.strip()
    assert err.startswith("replay: error: dump not found") and "\n" not in err


def test_cli_output_has_no_gx_noise_even_with_airflow_loaded(dump: Path, tmp_path: Path) -> None:
    """Importing Airflow routes logging through structlog; GX's import-time INFO chatter and its
    metric progress bars must still stay out of the output."""
    script = (
        "import sys, airflow, logging; logging.getLogger().setLevel(logging.INFO); "
        "from replay.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "validate",
            str(dump),
            "--max-invalid",
            "5",
            "--out-dir",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "Skipping registering" not in output and "Calculating Metrics" not in output
    assert len(output.strip().splitlines()) <= 3, output[-2000:]
    assert "800 records read, 784 valid, 16 invalid (2.00%): passed" in done.stdout
