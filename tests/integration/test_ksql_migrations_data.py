"""The project's migrations on the real broker and server, checked against the dump.

A generated dump is replayed into ``meetup_events`` (three partitions, as ``replay produce``
does it), then the files of ``ksql/migrations/`` are applied by the migrations runner (the
catch-up case: every query starts at ``earliest`` after the replay). Then:

* the Germany and Munich sinks hold exactly the events an independent ``json`` filter selects
  from the dump: every one once, each value the event itself (the sink writes absent fields as
  null, nothing else differs);
* EVENTS_PER_COUNTRY, EVENTS_PER_CATEGORY and GERMAN_EVENTS_HOURLY equal independent counts,
  read both by pull query (by key, by key with window bounds, by scan) and from the tables'
  sink topics (the last update of each key);
* a server killed with SIGKILL while the aggregations run, then restarted, ends with the same
  tables (the aggregations run exactly once, their state in changelog topics).

Each server has its own service id and sink-topic prefix; the source topic is shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from replay.dump.generator import generate_dump
from replay.produce import ProduceOptions, produce
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, ProduceSettings
from replay.stack.process import port_is_free
from tests.integration.ksql_helpers import query_metric, wait_until
from tests.integration.migrations_data import (
    HOUR_MS,
    SOURCE_TOPIC,
    Expected,
    apply_project,
    event_diff,
    prefix,
    pull,
    read_all,
    sink_events,
    start_server,
    table_topic,
    wait_drained,
)
from tests.integration.source_topic import own_source_topic

EVENTS = 20_000


@dataclass(frozen=True)
class Replayed:
    dump: Path
    expected: Expected


@pytest.fixture(scope="module")
def replayed(bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    """The dump replayed once into ``meetup_events``, a topic of this module's own: none before,
    none after (awaited, so the next module that replays into it starts from nothing)."""
    with own_source_topic(bootstrap_servers):
        yield _replay(bootstrap_servers, tmp_path_factory)


def _replay(bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    folder = tmp_path_factory.mktemp("migrations-data")
    dump = folder / "dump.jsonl"
    generate_dump(dump, events=EVENTS, seed=11, progress=False)
    summary = produce(
        ProduceOptions(
            path=dump,
            topic=SOURCE_TOPIC,
            pacing=Pacing.unthrottled(),
            summary_path=folder / "produce-summary.json",
            progress="log",
            settings=ProduceSettings(partitions=3),
            kafka=KafkaSettings(bootstrap_servers=bootstrap_servers),
        )
    )
    assert summary["counts"]["sent"] == EVENTS
    source = read_all(bootstrap_servers, SOURCE_TOPIC)
    assert len(source) == EVENTS
    return Replayed(dump, Expected.of(dump, source))


def test_sinks_and_tables_equal_independent_counts(
    replayed: Replayed, bootstrap_servers: str, tmp_path: Path
) -> None:
    expected = replayed.expected
    assert sum(expected.germany.values()) > 100 and sum(expected.munich.values()) > 10  # not vacuous
    server = start_server(tmp_path / "ksql", bootstrap_servers, "migdata")
    try:
        url, topics = server.config.url, prefix(server)
        apply_project(url)
        wait_drained(url, server.config.service_id, bootstrap_servers)

        germany = sink_events(bootstrap_servers, f"{topics}MEETUP_EVENTS_GERMANY")
        assert germany == expected.germany, event_diff(germany, expected.germany)
        munich = sink_events(bootstrap_servers, f"{topics}MEETUP_EVENTS_MUNICH")
        assert munich == expected.munich, event_diff(munich, expected.munich)

        # EVENTS_PER_COUNTRY: by key, by IN, by scan, and from its topic
        schema, rows = pull(url, "SELECT * FROM EVENTS_PER_COUNTRY WHERE COUNTRY = 'de';")
        assert schema == "`COUNTRY` STRING KEY, `EVENTS` BIGINT"
        assert rows == [["de", expected.per_country["de"]]]
        _, rows = pull(url, "SELECT COUNTRY, EVENTS FROM EVENTS_PER_COUNTRY WHERE COUNTRY IN ('us', 'gb');")
        assert sorted(rows) == sorted([c, expected.per_country[c]] for c in ("us", "gb"))
        _, rows = pull(url, "SELECT * FROM EVENTS_PER_COUNTRY;")
        assert {country: events for country, events in rows} == dict(expected.per_country)
        assert table_topic(bootstrap_servers, f"{topics}EVENTS_PER_COUNTRY") == dict(expected.per_country)

        # EVENTS_PER_CATEGORY
        _, rows = pull(url, "SELECT * FROM EVENTS_PER_CATEGORY WHERE CATEGORY = 'tech';")
        assert rows == [["tech", expected.per_category["tech"]]]
        _, rows = pull(url, "SELECT * FROM EVENTS_PER_CATEGORY;")
        assert {category: events for category, events in rows} == dict(expected.per_category)
        assert table_topic(bootstrap_servers, f"{topics}EVENTS_PER_CATEGORY") == dict(expected.per_category)

        # GERMAN_EVENTS_HOURLY: windows by key, with bounds, and from its topic
        hourly = dict(expected.german_hourly)
        schema, rows = pull(url, "SELECT * FROM GERMAN_EVENTS_HOURLY WHERE COUNTRY = 'de';")
        assert (
            schema
            == "`COUNTRY` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY, `EVENTS` BIGINT"
        )
        assert {start: events for _, start, _, events in rows} == hourly
        assert all(end == start + HOUR_MS for _, start, end, _ in rows)
        first = min(hourly)
        _, rows = pull(
            url,
            f"SELECT WINDOWSTART, EVENTS FROM GERMAN_EVENTS_HOURLY WHERE COUNTRY = 'de' AND WINDOWSTART = {first};",
        )
        assert rows == [[first, hourly[first]]]
        _, rows = pull(
            url, f"SELECT * FROM GERMAN_EVENTS_HOURLY WHERE COUNTRY = 'de' AND WINDOWSTART > {first};"
        )
        assert {start: events for _, start, _, events in rows} == {
            s: n for s, n in hourly.items() if s > first
        }
        windows = table_topic(bootstrap_servers, f"{topics}GERMAN_EVENTS_HOURLY", windowed=True)
        assert windows == {("de", start): events for start, events in hourly.items()}
    finally:
        server.stop(timeout_s=30)


def test_kill_9_during_the_aggregation_then_restart_gives_the_same_tables(
    replayed: Replayed, bootstrap_servers: str, tmp_path: Path
) -> None:
    expected = replayed.expected
    server = start_server(tmp_path / "ksql", bootstrap_servers, "migkill")
    try:
        url, topics = server.config.url, prefix(server)
        apply_project(url)
        query_id = "CTAS_EVENTS_PER_COUNTRY_"  # + its command sequence number

        def consumed() -> float:
            (found,) = [q for q in _query_ids(url) if q.startswith(query_id)]
            return query_metric(url, "ksql_query_messages_consumed_total", found) or 0.0

        wait_until(lambda: consumed() >= EVENTS // 10, 120, "a tenth of the events counted")
        at_kill = consumed()
        server.kill()
        assert at_kill < EVENTS, "the kill must land while the aggregation still runs"
        wait_until(lambda: port_is_free(server.config.port), 30, "the port to be free again")
        server.start(timeout_s=120)
        wait_drained(url, server.config.service_id, bootstrap_servers)

        _, rows = pull(url, "SELECT * FROM EVENTS_PER_COUNTRY;")
        assert {country: events for country, events in rows} == dict(expected.per_country)
        assert table_topic(bootstrap_servers, f"{topics}EVENTS_PER_COUNTRY") == dict(expected.per_country)
        _, rows = pull(url, "SELECT * FROM EVENTS_PER_CATEGORY;")
        assert {category: events for category, events in rows} == dict(expected.per_category)
        _, rows = pull(url, "SELECT * FROM GERMAN_EVENTS_HOURLY WHERE COUNTRY = 'de';")
        assert {start: events for _, start, _, events in rows} == dict(expected.german_hourly)
        # the at-least-once streams: nothing lost (duplicates after a crash are allowed)
        germany = sink_events(bootstrap_servers, f"{topics}MEETUP_EVENTS_GERMANY")
        assert set(germany) == set(expected.germany)
    finally:
        server.stop(timeout_s=30)


def _query_ids(url: str) -> list[str]:
    import requests

    response = requests.post(f"{url}/ksql", json={"ksql": "SHOW QUERIES;"}, timeout=30)
    return [q["id"] for q in response.json()[0]["queries"]]
