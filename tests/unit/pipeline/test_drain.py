"""The drain record of one query: when it drained, how long after the replay, the series."""

from __future__ import annotations

from replay.errors import DrainTimeoutError
from replay.pipeline.drain import QueryProgress, query_json, timeout_error


def query() -> QueryProgress:
    return QueryProgress(
        "CSAS_DE_1", ["DE"], ["DE"], ["meetup_events"], "_confluent-ksql-default_query_CSAS_DE_1"
    )


def test_drained_is_when_the_lag_last_reached_zero() -> None:
    q = query()
    for at, lag, committed in ((1000, 50, 0), (2000, 0, 50), (3000, 7, 50), (4000, 0, 57)):
        q.record(at, lag, committed)
    assert q.drained_at_ms == 4000 and q.lag == 0
    record = query_json(q, replay_end_ms=1500, started_ms=1000)
    assert record["drain_s"] == 2.5
    assert record["records_consumed_while_waiting"] == 57 and record["records_per_s"] == 19.0
    assert record["lag_series"] == [[1000, 50], [2000, 0], [3000, 7], [4000, 0]]


def test_the_timeout_error_names_each_query_behind_and_its_lag() -> None:
    behind, done = query(), QueryProgress("CTAS_X_2", ["X"], ["X"], ["t2"], "g2")
    behind.record(1, 1234, 0)
    done.record(1, 0, 9)
    error = timeout_error([behind, done], 30)
    assert isinstance(error, DrainTimeoutError) and error.exit_code == 12
    assert (
        error.message == "persistent queries still behind after 30 s: CSAS_DE_1 (lag 1,234 on meetup_events)"
    )
