"""Progress feedback for long jobs: a bar on a terminal, a structured log line elsewhere.

On a TTY it is a tqdm bar (count, MB, rate against a target, ETA). Without a TTY (Airflow task
logs, CI, a pipe) it logs one ``logfmt`` line every ``interval_s`` seconds — never one per
record — e.g.::

    progress job=produce events=12000 total=142502 pct=8.4 mb=35.1 rate=5001.2 target=5000 eta_s=26

Callers pass absolute figures to :meth:`ProgressReporter.update` as often as they like (it only
reads the clock), and may add their own fields. Usable for any job with a count and optionally
a byte count (replay, validation).
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO, Any

from tqdm import tqdm

log = logging.getLogger("replay.progress")

_MB = 1_000_000


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return f'"{text}"' if (" " in text or "=" in text or not text) else text


class ProgressReporter:
    """Shows how far a job is; see the module docstring."""

    def __init__(
        self,
        job: str,
        *,
        total: int | None = None,
        unit: str = "events",
        target_rate: float | None = None,
        interval_s: float = 5.0,
        tty: bool | None = None,
        stream: IO[str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.job = job
        self.total = total
        self.unit = unit
        self.target_rate = target_rate
        self.interval_s = interval_s
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log = logger or log
        self.started = time.monotonic()
        self.done = 0
        self.nbytes = 0
        self.fields: dict[str, Any] = {}
        self._last_emit = self.started
        self._last_done = 0
        self._closed = False
        self._bar: tqdm[Any] | None = None
        if self.tty:
            self._bar = tqdm(
                total=total,
                unit=f" {unit}",
                unit_scale=True,
                dynamic_ncols=True,
                file=self.stream,
                desc=job,
                mininterval=0.25,
                smoothing=0.1,
            )

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def update(self, done: int, *, nbytes: int | None = None, **fields: Any) -> None:
        """Report the absolute count (and bytes, and any extra fields) reached so far."""
        self.done = done
        if nbytes is not None:
            self.nbytes = nbytes
        if fields:
            self.fields.update(fields)
        now = time.monotonic()
        if self._bar is not None:
            if done != self._bar.n:
                self._bar.update(done - self._bar.n)
            if now - self._last_emit >= 0.5:
                self._bar.set_postfix_str(self._postfix(now), refresh=False)
                self._last_emit = now
        elif now - self._last_emit >= self.interval_s:
            self._emit(now)

    def close(self) -> None:
        """Final figures: a last log line (non-TTY) or the completed bar."""
        if self._closed:
            return
        self._closed = True
        now = time.monotonic()
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(now), refresh=False)
            self._bar.close()
        else:
            self._emit(now, final=True)

    # -- figures -------------------------------------------------------------------------------

    def _rates(self, now: float) -> tuple[float, float]:
        """(rate over the whole job, rate since the previous line) in units per second."""
        elapsed = max(now - self.started, 1e-9)
        window = max(now - self._last_emit, 1e-9)
        return self.done / elapsed, (self.done - self._last_done) / window

    def _eta_s(self, now: float) -> float | None:
        if self.total is None or self.done <= 0:
            return None
        average, _ = self._rates(now)
        remaining = max(self.total - self.done, 0)
        if self.target_rate:
            return remaining / self.target_rate
        return remaining / average if average > 0 else None

    def _postfix(self, now: float) -> str:
        average, _ = self._rates(now)
        parts = [f"{self.nbytes / _MB:.1f} MB"] if self.nbytes else []
        rate = f"{average:,.0f}/s"
        if self.target_rate:
            rate += f" of {self.target_rate:,.0f}/s"
        parts.append(rate)
        parts.extend(f"{k}={v}" for k, v in self.fields.items())
        return ", ".join(parts)

    def _emit(self, now: float, *, final: bool = False) -> None:
        average, recent = self._rates(now)
        line: dict[str, Any] = {"job": self.job, self.unit: self.done}
        if self.total is not None:
            line["total"] = self.total
            line["pct"] = round(100.0 * self.done / self.total, 1) if self.total else 100.0
        if self.nbytes:
            line["mb"] = round(self.nbytes / _MB, 1)
        line["rate"] = round(average if final else recent, 1)
        if self.target_rate:
            line["target"] = self.target_rate
        eta = self._eta_s(now)
        if eta is not None and not final:
            line["eta_s"] = round(eta)
        line["elapsed_s"] = round(now - self.started, 1)
        line.update(self.fields)
        if final:
            line["final"] = True
        self.log.info("progress %s", " ".join(f"{k}={_fmt(v)}" for k, v in line.items()))
        self._last_emit = now
        self._last_done = self.done
