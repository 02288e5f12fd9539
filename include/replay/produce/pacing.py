"""When each record is meant to be sent: the intended schedule of a replay.

A schedule gives every record an *intended* send time on the monotonic clock, computed from
the start and the record's ordinal (or its timestamp), never from when the previous record
happened to go out. The producer waits until that time, sends, and records how late it was
(``publishDelayLatency``). After a stall the following records are already due and go out at
once, so the run catches up instead of silently running slower, and the stall shows in the
delay histogram instead of hiding (coordinated omission).

- :class:`RateSchedule` — ``start + i / rate`` (the OpenMessaging Benchmark's uniform rate).
- :class:`SpeedupSchedule` — the original spacing of a timestamp field divided by a factor, with
  idle stretches capped (``max_gap``).
- :class:`UnthrottledSchedule` — every record is due at once (``--max``).

Schedules are pure (no clock reads) so they can be tested exactly; ``snapshot``/``restore``
let the producer rewind to a checkpoint after an aborted transaction and re-send the same
records with their *original* intended times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from replay.errors import ConfigError

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

PacingMode = Literal["rate", "speedup", "max"]


@dataclass(frozen=True)
class Pacing:
    """How fast to replay: a fixed rate, a speed-up of the original spacing, or unthrottled."""

    mode: PacingMode
    rate: float | None = None
    speedup: float | None = None
    timestamp_field: str = "mtime"
    max_gap_s: float | None = None

    def __post_init__(self) -> None:
        if self.mode == "rate" and not (self.rate and self.rate > 0):
            raise ConfigError("--rate needs a positive number of events per second", hint="e.g. --rate 5000")
        if self.mode == "speedup" and not (self.speedup and self.speedup > 0):
            raise ConfigError(
                "--speedup needs a positive factor", hint="e.g. --speedup 60 replays an hour in a minute"
            )
        if self.max_gap_s is not None and self.max_gap_s < 0:
            raise ConfigError("--max-gap must be >= 0 seconds", hint="e.g. --max-gap 5")
        if not self.timestamp_field:
            raise ConfigError("--timestamp-field must name a field", hint="the default is mtime")

    @classmethod
    def at_rate(cls, rate: float) -> Pacing:
        """``rate`` events per second on the schedule start + i/rate."""
        return cls(mode="rate", rate=rate)

    @classmethod
    def sped_up(
        cls, factor: float, *, timestamp_field: str = "mtime", max_gap_s: float | None = None
    ) -> Pacing:
        """The original spacing of ``timestamp_field`` (epoch ms) divided by ``factor``."""
        return cls(mode="speedup", speedup=factor, timestamp_field=timestamp_field, max_gap_s=max_gap_s)

    @classmethod
    def unthrottled(cls) -> Pacing:
        """As fast as the broker takes it."""
        return cls(mode="max")

    @property
    def target_rate(self) -> float | None:
        """Events per second asked for, when the mode has one."""
        return self.rate if self.mode == "rate" else None

    def describe(self) -> dict[str, Any]:
        """The pacing as it appears in the summary."""
        return {
            "mode": self.mode,
            "rate": self.rate,
            "speedup": self.speedup,
            "timestamp_field": self.timestamp_field if self.mode == "speedup" else None,
            "max_gap_s": self.max_gap_s if self.mode == "speedup" else None,
        }

    def schedule(self, start_ns: int) -> Schedule:
        """A fresh schedule whose first record is due at ``start_ns``."""
        if self.mode == "rate":
            assert self.rate is not None
            return RateSchedule(start_ns, self.rate)
        if self.mode == "speedup":
            assert self.speedup is not None
            return SpeedupSchedule(start_ns, self.speedup, self.timestamp_field, self.max_gap_s)
        return UnthrottledSchedule(start_ns)


class Schedule(Protocol):
    """Intended send times, one call per record that is sent, in order."""

    start_ns: int
    paced: bool

    def next_ns(self, event: dict[str, Any]) -> int:
        """The intended send time (monotonic ns) of the next record; ``event`` is its parsed JSON."""
        ...

    def snapshot(self) -> tuple[int, float | None, int]:
        """State to :meth:`restore` when records are re-sent after an aborted transaction."""
        ...

    def restore(self, state: tuple[int, float | None, int]) -> None:
        """Go back to a :meth:`snapshot`."""
        ...


class RateSchedule:
    """Record ``i`` is due at ``start + i / rate``; the i-th call returns that time."""

    paced = True

    def __init__(self, start_ns: int, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.start_ns = start_ns
        self.period_ns = NS_PER_S / rate
        self.count = 0

    def next_ns(self, event: dict[str, Any]) -> int:
        due = self.start_ns + int(self.count * self.period_ns)
        self.count += 1
        return due

    def snapshot(self) -> tuple[int, float | None, int]:
        return (self.count, None, 0)

    def restore(self, state: tuple[int, float | None, int]) -> None:
        self.count = state[0]


def field_getter(path: str) -> tuple[str, ...]:
    """The keys of a dotted field path (``group.created`` -> ``("group", "created")``)."""
    return tuple(part for part in path.split(".") if part)


def read_timestamp_ms(event: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    """The numeric value at ``keys`` (epoch milliseconds), or None if absent or not a number."""
    value: Any = event
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class SpeedupSchedule:
    """The original spacing of a timestamp field (epoch ms), divided by ``factor``.

    The first record is due at the start. Each later record is due after the previous one by
    ``(t_i - t_prev) / factor`` where ``t_prev`` is the last record that had a timestamp; a gap is
    capped at ``max_gap_s`` *of replay time*. Records without a (numeric) timestamp, and records
    whose timestamp goes backwards, are due together with the record before them.
    """

    paced = True

    def __init__(self, start_ns: int, factor: float, timestamp_field: str, max_gap_s: float | None) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.start_ns = start_ns
        self.factor = factor
        self.keys = field_getter(timestamp_field)
        self.max_gap_ns = None if max_gap_s is None else int(max_gap_s * NS_PER_S)
        self.offset_ns = 0
        self.last_ts_ms: float | None = None
        self.missing = 0  # records without a usable timestamp

    def next_ns(self, event: dict[str, Any]) -> int:
        ts = read_timestamp_ms(event, self.keys)
        if ts is None:
            self.missing += 1
        else:
            if self.last_ts_ms is not None and ts > self.last_ts_ms:
                gap_ns = int((ts - self.last_ts_ms) * NS_PER_MS / self.factor)
                if self.max_gap_ns is not None and gap_ns > self.max_gap_ns:
                    gap_ns = self.max_gap_ns
                self.offset_ns += gap_ns
            if self.last_ts_ms is None or ts > self.last_ts_ms:
                self.last_ts_ms = ts
        return self.start_ns + self.offset_ns

    def snapshot(self) -> tuple[int, float | None, int]:
        return (self.offset_ns, self.last_ts_ms, self.missing)

    def restore(self, state: tuple[int, float | None, int]) -> None:
        self.offset_ns, self.last_ts_ms, self.missing = state


class UnthrottledSchedule:
    """Every record is due at the start, i.e. immediately."""

    paced = False

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns

    def next_ns(self, event: dict[str, Any]) -> int:
        return self.start_ns

    def snapshot(self) -> tuple[int, float | None, int]:
        return (0, None, 0)

    def restore(self, state: tuple[int, float | None, int]) -> None:
        return None
