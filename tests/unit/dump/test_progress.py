"""Progress output: a log line every interval when stderr is not a terminal."""

from __future__ import annotations

import logging

import pytest

from replay.dump.progress import Progress

LOGGER = logging.getLogger("test.progress")


def test_logs_periodically_without_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    with Progress("validate d.jsonl", total=1_000, unit="B", logger=LOGGER, interval=0.0) as bar:
        bar.advance_to(250, "10 records")
        bar.advance_to(250)  # no progress, no line
        bar.advance_to(1_000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("validate d.jsonl: 250/1,000 B (25%)") and lines[0].endswith("10 records")
    assert "1,000/1,000 B (100%)" in lines[1]


def test_silent_when_disabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    with Progress("x", total=None, unit="events", logger=LOGGER, interval=0.0, enabled=False) as bar:
        bar.advance_to(5)
    assert caplog.records == []
