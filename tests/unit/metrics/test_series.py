"""The metric arithmetic on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from replay.metrics import series
from replay.metrics.series import (
    bucket_delta,
    bucket_quantile,
    counter_increase,
    counter_rates,
    data_records,
    histogram_from_counts,
    histogram_report,
    merge_histograms,
    offset_delta_records,
    per_second_increase,
)


def test_counter_increase_without_reset() -> None:
    assert counter_increase([(0, 10), (1, 15), (2, 15), (3, 40)]) == 30


def test_counter_increase_counts_through_a_reset() -> None:
    # 10 -> 25 (+15), restart: 25 -> 4 means 4 since the reset, 4 -> 9 (+5): 24 in all.
    assert counter_increase([(0, 10), (1, 25), (2, 4), (3, 9)]) == 24


def test_counter_increase_of_one_point_is_zero() -> None:
    assert counter_increase([(0, 7)]) == 0
    assert counter_increase([]) == 0


def test_counter_rates_per_interval_with_a_reset() -> None:
    rates = counter_rates([(0, 0), (2, 100), (3, 20), (3, 25), (5, 65)])
    # 100 over 2 s; reset -> 20 over 1 s; a zero-length interval is skipped; 40 over 2 s.
    assert rates == [(2, 50.0), (3, 20.0), (5, 20.0)]


def test_per_second_increase_spreads_growth_over_the_windows_it_spans() -> None:
    # Scrapes at 0.5 s and 2.5 s: 200 records spread evenly, 100 per second.
    windows = per_second_increase([(0.5, 0), (2.5, 200)], start=0.0, seconds=3)
    assert windows == pytest.approx([50.0, 100.0, 50.0])
    assert sum(windows) == pytest.approx(200)


def test_per_second_increase_drops_growth_outside_the_range_and_handles_resets() -> None:
    windows = per_second_increase([(-1, 0), (1, 20), (2, 5)], start=0.0, seconds=2)
    assert per_second_increase([(0, 0), (1, 5)], start=0.0, seconds=0) == []
    # -1..1: 10/s, only 0..1 is inside (10); reset: 5 counted in 1..2.
    assert windows == pytest.approx([10.0, 5.0])


def test_per_second_increase_can_fold_the_edges_into_the_first_and_last_window() -> None:
    # Scrapes straddle the range [10, 12): everything the counter grew lands inside it.
    windows = per_second_increase([(9.0, 0), (11.0, 40), (13.0, 80)], start=10.0, seconds=2, fold_edges=True)
    assert windows == pytest.approx([40.0, 40.0])


def test_bucket_quantile_interpolates_inside_the_bucket() -> None:
    buckets = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (math.inf, 40.0)]
    # rank 20 of 40 lies halfway between 10 and 30, in (0.1, 0.5]: 0.3.
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.3)
    # rank 39.6 lies in (0.5, 1.0]: 0.5 + 0.5 * (9.6 / 10).
    assert bucket_quantile(0.99, buckets) == pytest.approx(0.98)
    assert bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None


def test_bucket_quantile_in_the_infinite_bucket_is_the_highest_bound() -> None:
    assert bucket_quantile(0.99, [(1.0, 5.0), (math.inf, 10.0)]) == 1.0


def test_bucket_delta_between_scrapes_and_after_a_reset() -> None:
    earlier = [(0.1, 5.0), (math.inf, 8.0)]
    later = [(0.1, 7.0), (math.inf, 12.0)]
    assert bucket_delta(later, earlier) == [(0.1, 2.0), (math.inf, 4.0)]
    reset = [(0.1, 1.0), (math.inf, 2.0)]
    assert bucket_delta(reset, earlier) == reset


def test_merged_histogram_percentiles_are_those_of_all_observations() -> None:
    # 90 fast (1 ms) values in one run, 10 slow (100 ms) in another: p50 of the merge is 1 ms,
    # p95 is 100 ms; the mean of the parts' p50s (50.5 ms) would be wrong.
    fast = histogram_report(histogram_from_counts({1000: 90}))
    slow = histogram_report(histogram_from_counts({100_000: 10}))
    merged = histogram_report(merge_histograms([fast["hdr"], slow["hdr"], None]))
    assert merged["count"] == 100
    assert merged["p50"] == pytest.approx(1000, rel=1e-3)
    assert merged["p99"] == pytest.approx(100_000, rel=1e-3)
    assert merged["max"] == pytest.approx(100_000, rel=1e-3)
    assert merged["mean"] == pytest.approx((90 * 1000 + 10 * 100_000) / 100, rel=1e-3)


def test_counts_percentiles_nearest_rank() -> None:
    counts = {10: 50, 20: 49, 30: 1}
    assert series.counts_percentiles(counts, (50.0, 99.0, 100.0)) == [10, 20, 30]
    assert series.counts_percentiles({}, (50.0,)) == [None]


def test_data_records_across_transaction_markers() -> None:
    # Offsets 100..110 of a transactional topic: two transactions of 4 records, each ended by a
    # commit marker (offsets 104 and 109), and one aborted record at 105 that a read_committed
    # consumer never returns.
    delivered = [100, 101, 102, 103, 106, 107, 108, 110]
    figures = data_records(100, 111, delivered)
    assert figures == {"offset_delta": 11, "records": 8, "non_data_offsets": 3}


def test_data_records_ignores_offsets_of_earlier_runs() -> None:
    # The topic holds an earlier run (offsets < 50): only the run's range counts.
    assert data_records(50, 53, [10, 11, 50, 51])["records"] == 2


def test_offset_delta_records_subtracts_markers_and_aborted() -> None:
    assert offset_delta_records(100, 111, markers=2, aborted=1) == 8
    assert offset_delta_records(0, 0, markers=0) == 0
