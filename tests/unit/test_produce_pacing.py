"""Intended schedules: exact times, catch-up semantics, speed-up spacing and rewinds."""

from __future__ import annotations

import time

import pytest

from replay.errors import ConfigError
from replay.produce.pacing import (
    NS_PER_S,
    Pacing,
    RateSchedule,
    SpeedupSchedule,
    UnthrottledSchedule,
    read_timestamp_ms,
)


def test_rate_schedule_is_start_plus_i_over_rate() -> None:
    schedule = RateSchedule(start_ns=1_000, rate=4_000)
    due = [schedule.next_ns({}) for _ in range(5)]
    assert due == [1_000, 1_000 + 250_000, 1_000 + 500_000, 1_000 + 750_000, 1_000 + 1_000_000]


def test_rate_schedule_does_not_drift_over_a_long_run() -> None:
    # 3 events/s does not divide a second evenly: an accumulated per-record period would drift.
    schedule = RateSchedule(start_ns=0, rate=3)
    due = [schedule.next_ns({}) for _ in range(4)]
    assert due[3] == NS_PER_S
    schedule.restore((3_000_000, None, 0))
    assert schedule.next_ns({}) == 1_000_000 * NS_PER_S


def test_a_stall_does_not_push_the_schedule_back_the_records_after_it_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The producer sends a record at its intended time, or at once when that has passed
    (``max(now, due)``). A stall of 5.5 slots after record 3: records 4-8, whose slots passed
    meanwhile, go out together when it ends, and record 9 is back on its own slot. The
    simulated clock is ``time.perf_counter_ns``, the producer's, so a schedule that looked at
    the clock to "resync" after a stall would see the stall too."""
    slot = 1_000_000  # 1,000 records/s
    now = 0
    due: list[int] = []
    sent: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(time, "perf_counter_ns", lambda: now)
        schedule = Pacing.at_rate(1_000).schedule(time.perf_counter_ns())
        for i in range(12):
            due.append(schedule.next_ns({}))
            now = max(now, due[-1])  # wait for the slot, or go at once when it has passed
            sent.append(now)
            if i == 3:
                now += 5 * slot + slot // 2  # the stall
    assert due == [i * slot for i in range(12)]
    stall_end = 3 * slot + 5 * slot + slot // 2
    assert sent == [0, slot, 2 * slot, 3 * slot] + [stall_end] * 5 + [9 * slot, 10 * slot, 11 * slot]
    # the stall shows as late records (the delay histogram), not as a slower run
    assert [s - d for s, d in zip(sent, due, strict=True)][4:10] == [
        4_500_000,
        3_500_000,
        2_500_000,
        1_500_000,
        500_000,
        0,
    ]


def test_speedup_divides_the_original_gaps() -> None:
    schedule = SpeedupSchedule(start_ns=0, factor=2.0, timestamp_field="mtime", max_gap_s=None)
    times = [1_000, 1_100, 1_400, 2_400]
    due = [schedule.next_ns({"mtime": t}) for t in times]
    assert due == [0, 50_000_000, 200_000_000, 700_000_000]


def test_speedup_caps_idle_stretches_in_replay_time() -> None:
    schedule = SpeedupSchedule(start_ns=0, factor=10.0, timestamp_field="mtime", max_gap_s=0.5)
    due = [schedule.next_ns({"mtime": t}) for t in (0, 1_000, 3_600_000, 3_600_100)]
    # 1 s / 10 = 100 ms; one hour / 10 = 360 s, capped at 0.5 s; then 100 ms / 10 = 10 ms.
    assert due == [0, 100_000_000, 600_000_000, 610_000_000]


def test_speedup_missing_or_backwards_timestamps_go_with_the_previous_record() -> None:
    schedule = SpeedupSchedule(start_ns=5, factor=1.0, timestamp_field="mtime", max_gap_s=None)
    due = [
        schedule.next_ns(event)
        for event in (
            {"mtime": 1_000},
            {},
            {"mtime": "soon"},
            {"mtime": 900},
            {"mtime": 1_200},
            {"mtime": True},
        )
    ]
    # the backwards 900 does not move the clock, and 1_200 counts from the newest time (1_000)
    assert due == [5, 5, 5, 5, 5 + 200_000_000, 5 + 200_000_000]
    assert schedule.missing == 3


def test_speedup_reads_a_dotted_field() -> None:
    assert read_timestamp_ms({"group": {"created": 12}}, ("group", "created")) == 12.0
    assert read_timestamp_ms({"group": 3}, ("group", "created")) is None
    schedule = Pacing.sped_up(1.0, timestamp_field="group.created").schedule(0)
    assert [schedule.next_ns({"group": {"created": t}}) for t in (10, 30)] == [0, 20_000_000]


@pytest.mark.parametrize(
    "schedule",
    [
        RateSchedule(0, 100.0),
        SpeedupSchedule(0, 4.0, "mtime", 1.0),
    ],
)
def test_restore_replays_the_same_intended_times(schedule: RateSchedule | SpeedupSchedule) -> None:
    events = [{"mtime": 1_000 + 37 * i * i} for i in range(20)]
    for event in events[:5]:
        schedule.next_ns(event)
    state = schedule.snapshot()
    first = [schedule.next_ns(event) for event in events[5:]]
    assert len(set(first)) == len(first), "the times must differ, or restoring would prove nothing"
    schedule.restore(state)
    again = [schedule.next_ns(event) for event in events[5:]]
    assert again == first


def test_unthrottled_restore_keeps_every_record_due_at_the_start() -> None:
    schedule = UnthrottledSchedule(42)
    assert [schedule.next_ns({}) for _ in range(5)] == [42] * 5
    state = schedule.snapshot()
    assert state == (0, None, 0)  # nothing to remember: no position in a schedule
    schedule.restore(state)
    assert not schedule.paced and schedule.start_ns == 42
    assert [schedule.next_ns({}) for _ in range(3)] == [42, 42, 42]


def test_unthrottled_is_due_at_once() -> None:
    schedule = Pacing.unthrottled().schedule(42)
    assert not schedule.paced
    assert [schedule.next_ns({}) for _ in range(3)] == [42, 42, 42]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Pacing.at_rate(0),
        lambda: Pacing.at_rate(-5),
        lambda: Pacing.sped_up(0),
        lambda: Pacing.sped_up(2, max_gap_s=-1),
        lambda: Pacing.sped_up(2, timestamp_field=""),
    ],
)
def test_invalid_pacing_is_a_config_error(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


def test_pacing_describes_itself_for_the_summary() -> None:
    assert Pacing.at_rate(5_000).describe() == {
        "mode": "rate",
        "rate": 5_000,
        "speedup": None,
        "timestamp_field": None,
        "max_gap_s": None,
    }
    assert Pacing.sped_up(3, max_gap_s=2).describe()["timestamp_field"] == "mtime"
    assert Pacing.at_rate(10).target_rate == 10
    assert Pacing.sped_up(3).target_rate is None


def test_a_due_commit_waits_only_while_the_broker_is_behind() -> None:
    from replay.produce.producer import backlog_clear

    second = 1_000_000_000
    # 40,000 records/s: up to 2,000 records (50 ms) waiting for acks is normal, more is a backlog.
    assert backlog_clear(outstanding=600, records=40_000, txn_age_ns=second)
    assert backlog_clear(outstanding=2_000, records=40_000, txn_age_ns=second)
    assert not backlog_clear(outstanding=2_001, records=40_000, txn_age_ns=second)
    # A slow pace keeps a floor of 1,000 records, so a commit is never put off for a handful.
    assert backlog_clear(outstanding=1_000, records=100, txn_age_ns=second)
    assert not backlog_clear(outstanding=1_001, records=100, txn_age_ns=second)
    # A transaction just begun has no pace yet.
    assert backlog_clear(outstanding=0, records=0, txn_age_ns=0)
