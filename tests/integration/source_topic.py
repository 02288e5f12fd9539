"""The replay topic ``meetup_events``, which the project's migrations hard-code (V000001), shared
by several test files on the session broker: each of them starts from no such topic and no ksql
object over it, and leaves none behind.

Without this, what one file left decided what the next one measured: a 3-partition topic left
by the migrations' data test (its teardown's delete was never awaited, so it never happened)
tripled the commit markers in the report test's window, and the records of earlier files'
runs would be counted by a file that expects only its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from replay.migrate import commands, load_config
from replay.settings import KsqlSettings
from tests.integration.ksql_helpers import ksql
from tests.integration.migrations_data import PROJECT_CONFIG, SOURCE_TOPIC

TOPICS = (SOURCE_TOPIC, f"{SOURCE_TOPIC}.dlq")


def delete_topics(bootstrap: str, names: tuple[str, ...] = TOPICS, timeout_s: float = 60.0) -> None:
    """Delete the topics that exist and wait until the broker no longer lists them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    present = [name for name in names if name in admin.list_topics(timeout=10).topics]
    if present:
        for name, future in admin.delete_topics(present, operation_timeout=timeout_s).items():
            try:
                future.result()
            except KafkaException as error:
                assert error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, (name, error)
    deadline = time.monotonic() + timeout_s
    while set(present) & set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, f"{present} still listed {timeout_s:.0f} s after their deletion"
        time.sleep(0.1)


def drop_over_topic(url: str, topic: str = SOURCE_TOPIC) -> list[str]:
    """Drop every stream and table of the ksql server that reads ``topic``, directly or through
    one another (their queries end with them; derived sinks' topics are deleted); the names, in
    the order they were dropped."""
    listed = ksql(url, "SHOW STREAMS; SHOW TABLES;")
    kinds = {s["name"]: s["type"] for s in [*listed[0]["streams"], *listed[1]["tables"]]}
    bases = {s["name"] for s in [*listed[0]["streams"], *listed[1]["tables"]] if s["topic"] == topic}
    readers: dict[str, set[str]] = {}  # source -> the sinks of the queries that read it
    pending, seen = list(bases), set(bases)
    while pending:
        name = pending.pop()
        (described,) = ksql(url, f"DESCRIBE `{name}`;")
        sinks = {sink for q in described["sourceDescription"]["readQueries"] for sink in q["sinks"]}
        readers[name] = sinks - {name}
        pending += [sink for sink in sinks if sink not in seen]
        seen |= sinks
    dropped: list[str] = []
    while len(dropped) < len(readers):
        # A source whose readers are all gone (a sink's only writer ends with the DROP).
        name = next(n for n in readers if n not in dropped and readers[n] <= set(dropped))
        delete = "" if name in bases else " DELETE TOPIC"
        ksql(url, f"DROP {kinds[name]} `{name}`{delete};")
        dropped.append(name)
    return dropped


def remove_project_objects(bootstrap: str, ksql_url: str | None) -> None:
    """What the project's migrations made on the server (their objects and metadata), then the
    replay topics."""
    if ksql_url is not None:
        drop_over_topic(ksql_url)
        commands.destroy(load_config(PROJECT_CONFIG, ksql=KsqlSettings(url=ksql_url)), report=lambda _: None)
    delete_topics(bootstrap)


@contextmanager
def own_source_topic(bootstrap: str, ksql_url: str | None = None) -> Iterator[None]:
    """For one test module: no replay topic (and, with ``ksql_url``, no project objects on that
    server) before it, none after it."""
    remove_project_objects(bootstrap, ksql_url)
    try:
        yield
    finally:
        remove_project_objects(bootstrap, ksql_url)
