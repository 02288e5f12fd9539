"""The progress reporter: a bar on a TTY, one structured log line per interval otherwise."""

from __future__ import annotations

import io
import logging
import time

import pytest

from replay.progress import ProgressReporter


def test_non_tty_logs_one_logfmt_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="replay.progress")
    reporter = ProgressReporter("produce t", total=1_000, target_rate=500, interval_s=0.05, tty=False)
    for done in range(0, 1_000, 10):  # 100 updates well inside one interval: at most one line
        reporter.update(done, nbytes=done * 2_000)
    lines_before = len(caplog.records)
    assert lines_before <= 1
    time.sleep(0.06)
    reporter.update(600, nbytes=1_200_000, committed=500)
    assert len(caplog.records) == lines_before + 1
    line = caplog.records[-1].getMessage()
    assert line.startswith('progress job="produce t" events=600 total=1000 pct=60.0 mb=1.2 rate=')
    assert "target=500" in line and "eta_s=" in line and "committed=500" in line
    reporter.close()
    final = caplog.records[-1].getMessage()
    assert "final=True" in final and "events=600" in final
    reporter.close()  # idempotent
    assert caplog.records[-1].getMessage() == final


def test_tty_draws_a_bar_without_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="replay.progress")
    stream = io.StringIO()
    with ProgressReporter("produce t", total=100, target_rate=50, tty=True, stream=stream) as reporter:
        for done in range(0, 101, 20):
            reporter.update(done, nbytes=done * 1_000_000)
    out = stream.getvalue()
    assert "produce t" in out and "100/100" in out
    assert not caplog.records


def test_unknown_total_has_no_eta(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="replay.progress")
    reporter = ProgressReporter("validate", unit="records", interval_s=0.0, tty=False)
    reporter.update(5)
    line = caplog.records[-1].getMessage()
    assert "records=5" in line and "total=" not in line and "eta_s" not in line
