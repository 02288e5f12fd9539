"""A malformed record: logged to KSQL_PROCESSING_LOG, counted, skipped; the query keeps running."""

from __future__ import annotations

import json

import requests

from tests.integration.ksql_helpers import ksql, produce, query_metric, read_topic, unique, wait_until


def test_malformed_records_go_to_the_processing_log_and_the_query_keeps_running(
    ksql_url: str, bootstrap_servers: str
) -> None:
    name = unique("plog")
    topic = name.lower()
    ksql(
        ksql_url,
        f"CREATE STREAM {name} (ID STRING, N INT, `group` STRUCT<country STRING>) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON', PARTITIONS=1);",
    )
    (created,) = ksql(
        ksql_url,
        f"CREATE STREAM {name}_DE AS SELECT ID, N FROM {name} WHERE `group`->country = 'de';",
        {"ksql.streams.auto.offset.reset": "earliest"},
    )
    query_id = created["commandStatus"]["queryId"]
    produce(
        bootstrap_servers,
        topic,
        [
            (None, b'{"ID":"1","N":1,"group":{"country":"de"}}'),
            (None, b'{"ID":"2","N":2,"group":{"country":"de"'),  # truncated JSON
            (None, b'{"ID":"3","N":"three","group":{"country":"de"}}'),  # not an INT
            (None, b'{"ID":"4","N":4,"group":{"country":"de"}}'),  # after the bad ones
        ],
    )
    sink = read_topic(bootstrap_servers, f"{name}_DE", 2)
    assert [json.loads(value or b"") for _, value in sink] == [{"ID": "1", "N": 1}, {"ID": "4", "N": 4}]

    wait_until(
        lambda: query_metric(ksql_url, "ksql_query_processing_errors_total", query_id) == 2, what="2 errors"
    )
    (queries,) = ksql(ksql_url, "SHOW QUERIES;")
    assert {q["id"]: q["state"] for q in queries["queries"]}[query_id] == "RUNNING"

    # Both entries are readable through the KSQL_PROCESSING_LOG stream, as on ksqlDB.
    sql = (
        "SELECT LEVEL, MESSAGE->TYPE AS TYPE, MESSAGE->DESERIALIZATIONERROR->TARGET AS TARGET, "
        "MESSAGE->DESERIALIZATIONERROR->ERRORMESSAGE AS ERRORMESSAGE FROM KSQL_PROCESSING_LOG "
        f"WHERE MESSAGE->DESERIALIZATIONERROR->`topic` = '{topic}' EMIT CHANGES LIMIT 2;"
    )
    response = requests.post(
        f"{ksql_url}/query-stream",
        json={"sql": sql, "properties": {"auto.offset.reset": "earliest"}},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    metadata, *rows = (json.loads(line) for line in response.text.splitlines())
    assert metadata["columnNames"] == ["LEVEL", "TYPE", "TARGET", "ERRORMESSAGE"]
    assert [row[:3] for row in rows] == [["ERROR", 0, "value"], ["ERROR", 0, "value"]]
    assert all(f"from topic: {topic}" in row[3] for row in rows)
