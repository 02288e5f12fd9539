"""POST /ksql/terminate on a server of its own: queries stop, the right topics go, 50304 after."""

from __future__ import annotations

import uuid
from pathlib import Path

import requests
from confluent_kafka.admin import AdminClient

from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports
from tests.integration.ksql_helpers import ksql, wait_until


def test_terminate_cluster_deletes_sinks_and_internal_topics_and_refuses_requests(
    bootstrap_servers: str, tmp_path: Path
) -> None:
    (port,) = find_free_ports(1)
    service = f"term_{uuid.uuid4().hex[:6]}_"
    server = KsqlServer(KsqlServerConfig(tmp_path / "ksql", port, bootstrap_servers, service))
    server.start(timeout_s=120)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})

    def topics() -> set[str]:
        return set(admin.list_topics(timeout=10).topics)

    try:
        url = server.config.url
        source = f"{service}source"
        ksql(
            url,
            f"CREATE STREAM SRC (ID STRING) WITH (KAFKA_TOPIC='{source}', VALUE_FORMAT='JSON', PARTITIONS=1);",
        )
        ksql(url, f"CREATE STREAM KEEP WITH (KAFKA_TOPIC='{service}keep') AS SELECT * FROM SRC;")
        ksql(url, f"CREATE STREAM DOOMED WITH (KAFKA_TOPIC='{service}doomed') AS SELECT * FROM SRC;")
        command_topic = f"_confluent-ksql-{service}_command_topic"
        processing_log = f"{service}ksql_processing_log"
        assert {source, f"{service}keep", f"{service}doomed", command_topic, processing_log} <= topics()

        response = requests.post(
            f"{url}/ksql/terminate", json={"deleteTopicList": [f"{service}do.*", source]}
        )
        assert response.status_code == 200
        (entity,) = response.json()
        assert entity["commandId"] == "cluster/TerminateCluster/terminate"
        assert entity["commandStatus"]["status"] == "QUEUED"

        def refused() -> bool:
            answer = requests.post(f"{url}/ksql", json={"ksql": "SHOW STREAMS;"}, timeout=10)
            return answer.status_code == 503 and answer.json()["error_code"] == 50304

        wait_until(refused, what="the server to report it is shut down (50304)")
        left = topics()
        assert f"{service}doomed" not in left  # a sink matching a pattern
        assert f"{service}keep" in left  # a sink matching none
        assert source in left  # matches, but was not created by a query: ksqlDB keeps it
        assert command_topic not in left and processing_log not in left

        server.stop(timeout_s=30)
        server.start(timeout_s=120)  # a fresh command topic: nothing to recover
        (streams,) = ksql(url, "SHOW STREAMS;")
        assert [s["name"] for s in streams["streams"]] == ["KSQL_PROCESSING_LOG"]
    finally:
        server.stop(timeout_s=30)
