"""Progress for long work: a tqdm bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Never

from tqdm import tqdm

from replay.dump.closing import Closing


class Progress(Closing):
    """Progress of a job measured in ``unit`` up to ``total`` (``None`` if unknown).

    On a TTY (stderr) it draws a tqdm bar; elsewhere (Airflow task logs, CI, pipes) it logs
    ``<desc>: <done>/<total> <unit> (<pct>%), <rate>/s`` every ``interval`` seconds, so long runs
    show life without flooding logs. ``enabled=False`` makes it silent.
    """

    def __init__(
        self,
        desc: str,
        *,
        total: int | None,
        unit: str,
        logger: logging.Logger,
        enabled: bool = True,
        interval: float = 10.0,
        scale: bool = False,
    ) -> None:
        self._desc = desc
        self._total = total
        self._unit = unit
        self._logger = logger
        self._interval = interval
        self._done = 0
        self._started = time.monotonic()
        self._last_log = self._started
        self._bar: tqdm[Never] | None = None
        self._enabled = enabled
        if enabled and sys.stderr.isatty():
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=scale,
                unit_divisor=1024 if scale else 1000,
                leave=False,
            )

    def advance_to(self, done: int, note: str = "") -> None:
        """Set the amount done so far (monotonic)."""
        if done <= self._done:
            return
        step = done - self._done
        self._done = done
        if self._bar is not None:
            self._bar.update(step)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            return
        now = time.monotonic()
        if self._enabled and now - self._last_log >= self._interval:
            self._last_log = now
            self._logger.info("%s", self._line(now, note))

    def _line(self, now: float, note: str) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self._done / elapsed
        if self._total:
            percent = 100.0 * self._done / self._total
            text = f"{self._desc}: {self._done:,}/{self._total:,} {self._unit} ({percent:.0f}%)"
        else:
            text = f"{self._desc}: {self._done:,} {self._unit}"
        text += f", {rate:,.0f} {self._unit}/s"
        return f"{text}, {note}" if note else text

    def close(self) -> None:
        """Remove the bar (the caller logs the outcome)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
