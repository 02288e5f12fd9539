"""The engine API over the in-memory driver: entities, errors, sessions, recovery, push queries."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from ksqldb_lite.engine.commandlog import Command, InMemoryCommandLog
from ksqldb_lite.engine.ksql_engine import KsqlEngine
from ksqldb_lite.errors import DriverError, KsqlStatementError
from ksqldb_lite.execution.driver import ProducedRecord, TopicDescription
from ksqldb_lite.execution.memory_driver import InMemoryTopicDriver
from ksqldb_lite.execution.queries import LIMIT_REACHED, PrintTopic, PullQueryResult, PushQuery

SOURCE = "CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');"


def make_engine(
    properties: dict[str, Any] | None = None,
    log: InMemoryCommandLog | None = None,
    driver: InMemoryTopicDriver | None = None,
) -> tuple[KsqlEngine, InMemoryTopicDriver]:
    driver = driver or InMemoryTopicDriver()
    if driver.describe_topic("t") is None:
        driver.create_topic("t", 2, 1)
    engine = KsqlEngine(driver, properties, log)
    engine.start()
    return engine, driver


def produce(driver: InMemoryTopicDriver, topic: str, key: str | None, value: Any, ts: int = 0) -> None:
    driver.produce(
        topic,
        [ProducedRecord(key.encode() if key is not None else None, json.dumps(value).encode(), ts)],
    )


def push_query(engine: KsqlEngine, sql: str, properties: dict[str, Any] | None = None) -> PushQuery:
    query = engine.execute_query(sql, properties)
    assert isinstance(query, PushQuery)
    return query


def topic(driver: InMemoryTopicDriver, name: str) -> TopicDescription:
    found = driver.describe_topic(name)
    assert found is not None, name
    return found


def loads(data: bytes | None) -> Any:
    assert data is not None
    return json.loads(data)


def values(driver: InMemoryTopicDriver, topic: str) -> list[Any]:
    return [json.loads(r.value) if r.value is not None else None for r in driver.records(topic)]


def test_create_and_csas_return_current_status_entities_with_command_ids_and_sequence_numbers() -> None:
    engine, _ = make_engine()
    result = engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT * FROM S WHERE V > 1;")
    assert [e["@type"] for e in result] == ["currentStatus", "currentStatus"]
    assert result[0]["commandId"] == "stream/`S`/create"
    assert result[0]["commandStatus"] == {"status": "SUCCESS", "message": "Stream created", "queryId": None}
    assert result[0]["statementText"] == SOURCE
    assert result[1]["commandStatus"]["message"] == "Created query with ID CSAS_S2_1"
    assert result[1]["commandStatus"]["queryId"] == "CSAS_S2_1"
    assert [e["commandSequenceNumber"] for e in result] == [0, 1]
    assert engine.command_status("stream/`S2`/create") == result[1]["commandStatus"]


def test_persistent_query_filters_projects_and_keeps_key_and_timestamp() -> None:
    engine, driver = make_engine({"ksql.streams.auto.offset.reset": "earliest"})
    engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT K, V * 2 AS D FROM S WHERE V > 1;")
    produce(driver, "t", "a", {"V": 1}, ts=5)
    produce(driver, "t", "b", {"v": 3}, ts=7)
    out = driver.records("S2")
    assert [(r.key, loads(r.value), r.timestamp) for r in out] == [(b"b", {"D": 6}, 7)]
    assert topic(driver, "S2").partitions == 2  # inherited from the source topic


def test_select_sent_to_ksql_is_error_40002() -> None:
    engine, _ = make_engine()
    engine.execute(SOURCE)
    with pytest.raises(KsqlStatementError) as caught:
        engine.execute("SELECT * FROM S EMIT CHANGES;")
    assert caught.value.error_code == 40002
    assert caught.value.http_status == 400
    assert caught.value.to_entity()["@type"] == "statement_error"


def test_all_statements_are_validated_before_any_runs() -> None:
    engine, driver = make_engine()
    with pytest.raises(KsqlStatementError) as caught:
        engine.execute(SOURCE + "CREATE STREAM BAD AS SELECT NOPE FROM S;")
    assert caught.value.error_code == 40001
    assert caught.value.statement_text == "CREATE STREAM BAD AS SELECT NOPE FROM S;"
    assert "SELECT column 'NOPE' cannot be resolved." in caught.value.message
    assert caught.value.entities == []
    assert engine.metastore.get("S") is None  # the first statement did not run either
    assert driver.describe_topic("BAD") is None


def test_unsupported_feature_is_refused_with_40001_naming_it() -> None:
    engine, _ = make_engine()
    engine.execute(SOURCE)
    with pytest.raises(KsqlStatementError) as caught:
        engine.execute("CREATE STREAM J AS SELECT * FROM S JOIN S T ON S.K = T.K;")
    assert caught.value.error_code == 40001
    assert "JOIN is not supported" in caught.value.message


def test_create_stream_on_missing_topic_needs_partitions() -> None:
    engine, driver = make_engine()
    with pytest.raises(KsqlStatementError, match="Topic 'missing' does not exist"):
        engine.execute("CREATE STREAM M (A INT) WITH (KAFKA_TOPIC='missing', VALUE_FORMAT='JSON');")
    engine.execute("CREATE STREAM M (A INT) WITH (KAFKA_TOPIC='missing', VALUE_FORMAT='JSON', PARTITIONS=3);")
    assert topic(driver, "missing").partitions == 3


def test_output_topic_prefix_and_explicit_topic() -> None:
    engine, driver = make_engine({"ksql.output.topic.name.prefix": "p_"})
    engine.execute(
        SOURCE
        + "CREATE STREAM a1 AS SELECT * FROM S; CREATE STREAM A2 WITH (KAFKA_TOPIC='x') AS SELECT * FROM S;"
    )
    assert driver.describe_topic("p_A1") is not None
    assert driver.describe_topic("x") is not None


def test_show_list_and_describe_entities() -> None:
    engine, _ = make_engine()
    engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT * FROM S;")
    streams, queries, topics, described, props = engine.execute(
        "SHOW STREAMS; LIST QUERIES; SHOW TOPICS; DESCRIBE S EXTENDED; SHOW PROPERTIES;"
    )
    assert streams["@type"] == "streams"
    assert {s["name"] for s in streams["streams"]} == {"S", "S2"}
    assert streams["streams"][0] == {
        "type": "STREAM",
        "name": "S",
        "topic": "t",
        "keyFormat": "KAFKA",
        "valueFormat": "JSON",
        "isWindowed": False,
    }
    assert queries["queries"][0]["id"] == "CSAS_S2_1"
    assert queries["queries"][0]["sinkKafkaTopics"] == ["S2"]
    assert queries["queries"][0]["statusCount"] == {"RUNNING": 1}
    assert topics["@type"] == "kafka_topics"
    assert {"name": "t", "replicaInfo": [1, 1]} in topics["topics"]
    description = described["sourceDescription"]
    assert described["@type"] == "sourceDescription"
    assert description["fields"][0] == {
        "name": "K",
        "schema": {"type": "STRING", "fields": None, "memberSchema": None},
        "type": "KEY",
    }
    assert [q["id"] for q in description["readQueries"]] == ["CSAS_S2_1"]
    assert description["partitions"] == 2
    assert description["extended"] is True
    assert props["@type"] == "properties"
    assert any(
        p["name"] == "ksql.streams.auto.offset.reset" and p["value"] == "latest" for p in props["properties"]
    )


def test_set_define_and_variables_apply_to_later_statements_and_add_no_entity() -> None:
    engine, _ = make_engine()
    result = engine.execute(
        "DEFINE topic = 't'; SET 'auto.offset.reset' = 'earliest';"
        "CREATE STREAM S (K STRING KEY, V INT) WITH (KAFKA_TOPIC='${topic}', VALUE_FORMAT='JSON');"
        "UNDEFINE topic;",
        session_variables={"suffix": "X"},
    )
    assert len(result) == 1
    source = engine.metastore.get("S")
    assert source is not None and source.topic == "t"
    engine.execute("CREATE STREAM OUT_${suffix} AS SELECT * FROM S;", session_variables={"suffix": "X"})
    assert engine.metastore.get("OUT_X") is not None


def test_drop_terminates_the_writing_query_and_deletes_the_topic_on_request() -> None:
    engine, driver = make_engine()
    engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT * FROM S;")
    with pytest.raises(
        KsqlStatementError, match="The following queries read from this source: \\[CSAS_S2_1\\]"
    ):
        engine.execute("DROP STREAM S;")
    (dropped,) = engine.execute("DROP STREAM S2 DELETE TOPIC;")
    assert dropped["commandId"] == "stream/S2/drop"
    assert dropped["commandStatus"]["message"] == "Source `S2` (topic: S2) was dropped."
    assert driver.describe_topic("S2") is None
    assert engine.persistent_queries() == []
    (missing,) = engine.execute("DROP STREAM IF EXISTS NOPE;")
    assert missing["commandStatus"]["status"] == "SUCCESS"
    with pytest.raises(KsqlStatementError, match=r"Stream NOPE does not exist\."):
        engine.execute("DROP STREAM NOPE;")


def test_terminate_stops_the_query() -> None:
    engine, driver = make_engine({"auto.offset.reset": "earliest"})
    engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT * FROM S;")
    (terminated,) = engine.execute("TERMINATE CSAS_S2_1;")
    assert terminated["commandId"] == "terminate/CSAS_S2_1/execute"
    assert terminated["commandStatus"]["message"] == "Query terminated."
    produce(driver, "t", "a", {"V": 1})
    assert driver.records("S2") == []
    with pytest.raises(KsqlStatementError, match="Unknown queryId"):
        engine.execute("TERMINATE CSAS_S2_1;")


def test_insert_values_writes_a_record_with_coerced_values() -> None:
    engine, driver = make_engine()
    engine.execute(SOURCE)
    assert engine.execute("INSERT INTO S (K, V, ROWTIME) VALUES ('k', '42', 1234);") == []
    (record,) = driver.records("t")
    assert (record.key, loads(record.value), record.timestamp) == (b"k", {"V": 42}, 1234)
    with pytest.raises(KsqlStatementError, match="Cannot insert values into an unknown stream/table"):
        engine.execute("INSERT INTO NOPE (A) VALUES (1);")


def test_insert_into_select_runs_an_insert_query() -> None:
    engine, driver = make_engine({"auto.offset.reset": "earliest"})
    engine.execute(
        SOURCE
        + "CREATE STREAM T2 (K STRING KEY, V INT) WITH (KAFKA_TOPIC='t2', VALUE_FORMAT='JSON', PARTITIONS=1);"
    )
    (created,) = engine.execute("INSERT INTO T2 SELECT * FROM S;")
    assert created["commandStatus"]["queryId"] == "INSERTQUERY_2"
    produce(driver, "t", "a", {"V": 1})
    assert values(driver, "t2") == [{"V": 1}]


def test_command_log_replay_restores_sources_and_queries_which_resume() -> None:
    log = InMemoryCommandLog()
    driver = InMemoryTopicDriver()
    engine, _ = make_engine(log=log, driver=driver)
    engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT * FROM S; CREATE STREAM S3 AS SELECT * FROM S;")
    engine.execute("TERMINATE CSAS_S3_2; SHOW STREAMS; SET 'x' = 'y'; INSERT INTO S (K, V) VALUES ('a', 1);")
    assert [c.statement for c in log.commands] == [
        SOURCE,
        "CREATE STREAM S2 AS SELECT * FROM S;",
        "CREATE STREAM S3 AS SELECT * FROM S;",
        "TERMINATE CSAS_S3_2;",
    ]
    engine.close()
    restarted, _ = make_engine(log=log, driver=driver)
    assert sorted(restarted.metastore.sources) == ["S", "S2", "S3"]
    assert [q["id"] for q in restarted.persistent_queries()] == ["CSAS_S2_1"]
    assert restarted.command_sequence_number == 3
    produce(driver, "t", "b", {"V": 2})
    assert values(driver, "S2")[-1] == {"V": 2}
    (next_status,) = restarted.execute("CREATE STREAM S4 AS SELECT * FROM S;")
    assert next_status["commandSequenceNumber"] == 4


def test_command_round_trips_through_json() -> None:
    command = Command(
        "CREATE STREAM X AS SELECT * FROM S;", {"ksql.streams.auto.offset.reset": "earliest"}, "id"
    )
    assert Command.from_json(command.to_json()) == command


def test_push_query_streams_rows_until_limit() -> None:
    engine, driver = make_engine()
    engine.execute(SOURCE)
    produce(driver, "t", "old", {"V": 0})  # before the query: not seen (latest)
    push = push_query(engine, "SELECT K, V + 1 AS W FROM S WHERE V > 0 EMIT CHANGES LIMIT 2;")
    assert push.query_id.startswith("transient_S_")
    assert push.header.schema == "`K` STRING, `W` INTEGER"
    assert push.header.query_header()["header"]["queryId"] == push.query_id
    for v in (1, -1, 2, 3):
        produce(driver, "t", "k", {"V": v})
    assert push.poll(timeout=0) == [["k", 2], ["k", 3]]
    assert push.poll(timeout=0) is None
    assert push.final_message == LIMIT_REACHED
    assert push.done


def test_push_query_from_earliest_when_requested() -> None:
    engine, driver = make_engine()
    engine.execute(SOURCE)
    produce(driver, "t", "old", {"V": 7})
    push = push_query(engine, "SELECT * FROM S EMIT CHANGES;", {"auto.offset.reset": "earliest"})
    assert push.poll(timeout=0) == [["old", 7]]
    push.close()
    assert push.poll(timeout=0) is None


def test_bad_records_go_to_the_processing_log_and_the_query_keeps_running() -> None:
    engine, driver = make_engine(
        {
            "auto.offset.reset": "earliest",
            "ksql.logging.processing.topic.auto.create": "true",
            "ksql.logging.processing.stream.auto.create": "true",
        }
    )
    engine.execute(SOURCE + "CREATE STREAM S2 AS SELECT * FROM S WHERE V > 0;")
    driver.produce("t", [ProducedRecord(b"a", b"{not json", 0)])
    produce(driver, "t", "b", {"V": "not a number"})
    produce(driver, "t", "c", {"V": 5})
    assert values(driver, "S2") == [{"V": 5}]
    (query,) = engine.persistent_queries()
    assert query["counters"].processing_errors == 2
    assert query["counters"].state == "RUNNING"
    log_records = driver.records("default_ksql_processing_log")
    assert len(log_records) == 2
    entry = loads(log_records[1].value)
    assert entry["MESSAGE"]["TYPE"] == 0
    assert "INTEGER" in entry["MESSAGE"]["DESERIALIZATIONERROR"]["ERRORMESSAGE"]
    assert engine.metastore.get("KSQL_PROCESSING_LOG") is not None


class RefusingDriver(InMemoryTopicDriver):
    """A driver whose broker refuses to create one topic."""

    def create_topic(self, name: str, partitions: int, replicas: int, config: Any = None) -> Any:
        if name == "REFUSED":
            raise DriverError("Authorization failed for topic REFUSED")
        return super().create_topic(name, partitions, replicas, config)


def test_a_failure_while_running_carries_the_entities_of_the_statements_already_run() -> None:
    engine, _ = make_engine(driver=RefusingDriver())
    with pytest.raises(KsqlStatementError) as caught:
        engine.execute(SOURCE + "CREATE STREAM REFUSED AS SELECT * FROM S;")
    error = caught.value
    assert error.error_code == 50000 and error.http_status == 500
    assert error.statement_text == "CREATE STREAM REFUSED AS SELECT * FROM S;"
    assert [e["commandStatus"]["message"] for e in error.entities] == ["Stream created"]
    assert error.to_entity()["entities"] == error.entities


# ---- tables (tier 2) --------------------------------------------------------------------------


def test_group_by_builds_a_table_with_latest_values_that_pull_queries_read() -> None:
    log = InMemoryCommandLog()
    driver = InMemoryTopicDriver()
    engine, _ = make_engine({"auto.offset.reset": "earliest"}, log=log, driver=driver)
    (created,) = engine.execute(
        SOURCE + "CREATE TABLE T AS SELECT K, LATEST_BY_OFFSET(V) AS V, COUNT(*) AS N FROM S GROUP BY K;"
    )[1:]
    assert created["commandId"] == "table/`T`/create"
    assert created["commandStatus"]["queryId"] == "CTAS_T_1"
    for key, value in (("a", 1), ("b", 2), ("a", 3)):
        produce(driver, "t", key, {"V": value})
    assert [(r.key, loads(r.value)) for r in driver.records("T")][-1] == (b"a", {"V": 3, "N": 2})
    assert topic(driver, "T").config["cleanup.policy"] == "compact"
    result = engine.execute_query("SELECT * FROM T WHERE K = 'a';")
    assert isinstance(result, PullQueryResult)
    assert result.header.column_names == ("K", "V", "N")
    assert result.rows == [["a", 3, 2]]
    (show,) = engine.execute("SHOW TABLES;")
    assert [t["name"] for t in show["tables"]] == ["T"]
    # a restart resumes the aggregation from its stored state
    engine.close()
    restarted, _ = make_engine(log=log, driver=driver)
    produce(driver, "t", "a", {"V": 4})
    assert loads(driver.records("T")[-1].value) == {"V": 4, "N": 3}
    pulled = restarted.execute_query("SELECT N FROM T WHERE K = 'a';")
    assert isinstance(pulled, PullQueryResult) and pulled.rows == [[3]]


def test_having_turns_a_row_into_a_tombstone() -> None:
    engine, driver = make_engine({"auto.offset.reset": "earliest"})
    engine.execute(
        SOURCE + "CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S GROUP BY K HAVING COUNT(*) = 2;"
    )
    for _ in range(3):
        produce(driver, "t", "a", {"V": 0})
    assert [(r.key, r.value) for r in driver.records("T")] == [(b"a", b'{"N":2}'), (b"a", None)]


def test_tumbling_window_keys_carry_the_window_start() -> None:
    engine, driver = make_engine({"auto.offset.reset": "earliest"})
    engine.execute(
        SOURCE + "CREATE TABLE W AS SELECT K, COUNT(*) AS N, WINDOWSTART AS WS FROM S "
        "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY K;"
    )
    for ts in (10_345, 10_445, 13_251):
        produce(driver, "t", "a", {"V": 0}, ts=ts)
    out = driver.records("W")
    assert [(r.key[:-8], struct.unpack(">q", r.key[-8:])[0], loads(r.value)) for r in out if r.key] == [
        (b"a", 10_000, {"N": 1, "WS": 10_000}),
        (b"a", 10_000, {"N": 2, "WS": 10_000}),
        (b"a", 13_000, {"N": 1, "WS": 13_000}),
    ]
    source = engine.metastore.get("W")
    assert source is not None and (source.window_type, source.window_size_ms) == ("TUMBLING", 1000)


def test_table_aggregation_moves_a_row_between_groups() -> None:
    engine, driver = make_engine({"auto.offset.reset": "earliest"})
    engine.execute(
        "CREATE TABLE P (ID STRING PRIMARY KEY, G STRING) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');"
        "CREATE TABLE C AS SELECT G, COUNT(*) AS N FROM P GROUP BY G;"
    )
    produce(driver, "t", "x", {"G": "red"})
    produce(driver, "t", "y", {"G": "red"})
    produce(driver, "t", "x", {"G": "blue"})
    assert [(r.key, loads(r.value)) for r in driver.records("C")] == [
        (b"red", {"N": 1}),
        (b"red", {"N": 2}),
        (b"red", {"N": 1}),
        (b"blue", {"N": 1}),
    ]


def test_stream_query_over_an_aggregate_is_refused_as_a_table() -> None:
    engine, _ = make_engine()
    engine.execute(SOURCE)
    with pytest.raises(KsqlStatementError, match="Your SELECT query produces a TABLE"):
        engine.execute("CREATE STREAM X AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;")
    with pytest.raises(KsqlStatementError, match="Pull queries on streams is not supported"):
        engine.execute_query("SELECT * FROM S;")


def test_print_topic_streams_records_as_text_lines() -> None:
    engine, driver = make_engine()
    produce(driver, "t", "k1", {"V": 1}, ts=1_621_594_713_227)
    printer = engine.execute_query("PRINT 't' FROM BEGINNING LIMIT 1;")
    assert isinstance(printer, PrintTopic)
    assert printer.poll(timeout=0) == [
        ['rowtime: 2021/05/21 10:58:33.227 Z, key: k1, value: {"V": 1}, partition: 1']
    ]
    assert printer.final_message == LIMIT_REACHED
    with pytest.raises(KsqlStatementError, match="Could not find topic 'nope'"):
        engine.execute_query("PRINT 'nope';")


def test_timestamp_column_is_refused_not_ignored() -> None:
    """ksqlDB would take ROWTIME (and output timestamps) from the column; the runtime here
    uses the record's own timestamp, so the property is refused with ksqlDB's error shape."""
    engine, _ = make_engine()
    with pytest.raises(
        KsqlStatementError, match="TIMESTAMP \\(a column as the record timestamp\\) is not supported"
    ):
        engine.execute(
            "CREATE STREAM TS (K STRING KEY, T BIGINT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', TIMESTAMP='T');"
        )
    with pytest.raises(KsqlStatementError, match="does not exist in the schema"):
        engine.execute(
            "CREATE STREAM TS (K STRING KEY, T BIGINT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', TIMESTAMP='X');"
        )
