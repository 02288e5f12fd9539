"""The metadata the runner leaves is ksql-migrations' own, and the runner reads the tool's.

Checked against KSQLDB-FACTS.md and ksql-migrations' source (InitializeMigrationCommand,
MetadataUtil, ApplyMigrationCommand): the objects' columns, types, formats and topics; the raw
records in the stream's topic; the rows read back with the tool's own pull queries sent as plain
HTTP; and a history written the way the tool writes it (``/inserts-stream``, upper-case keys)
is validated and continued by the runner.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from replay.cli import main
from replay.migrate import commands
from tests.integration.migrate_helpers import Project, new_project, read_values

VALUE_COLUMNS = [
    "VERSION",
    "NAME",
    "STATE",
    "CHECKSUM",
    "STARTED_ON",
    "COMPLETED_ON",
    "PREVIOUS",
    "ERROR_REASON",
]


def post(url: str, path: str, body: dict[str, Any]) -> requests.Response:
    response = requests.post(f"{url}{path}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response


def pull(url: str, sql: str) -> tuple[str, list[list[Any]]]:
    """A pull query as the tool's client would send it; (header schema, rows)."""
    items = post(url, "/query", {"ksql": sql, "streamsProperties": {}}).json()
    return items[0]["header"]["schema"], [item["row"]["columns"] for item in items[1:]]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def applied(tmp_path: Path, ksql_url: str, capsys: pytest.CaptureFixture[str]) -> Project:
    project = new_project(tmp_path, ksql_url)
    project.write_standard()
    assert main(["migrate", "-c", str(project.config_file), "apply", "--all"]) == 0, capsys.readouterr().err
    return project


def test_metadata_objects_have_the_tools_columns_types_formats_and_topics(
    applied: Project, ksql_url: str
) -> None:
    for name, kind in ((applied.stream, "STREAM"), (applied.table, "TABLE")):
        description = post(ksql_url, "/ksql", {"ksql": f"DESCRIBE {name};"}).json()[0]["sourceDescription"]
        assert description["type"] == kind
        assert description["topic"] == f"session_ksql_{name}"
        assert (description["keyFormat"], description["valueFormat"]) == ("KAFKA", "JSON")
        fields = [(f["name"], f["schema"]["type"], f.get("type")) for f in description["fields"]]
        assert fields == [("VERSION_KEY", "STRING", "KEY")] + [(c, "STRING", None) for c in VALUE_COLUMNS]
    topics = post(ksql_url, "/ksql", {"ksql": "LIST TOPICS;"}).json()[0]["topics"]
    partitions = {t["name"]: len(t["replicaInfo"]) for t in topics}
    assert partitions[f"session_ksql_{applied.stream}"] == 1


def test_rows_read_back_with_the_tools_pull_queries(applied: Project, ksql_url: str) -> None:
    table = applied.table
    schema, rows = pull(ksql_url, f"SELECT VERSION FROM {table} WHERE version_key = 'CURRENT';")
    assert schema == "`VERSION` STRING" and rows == [["3"]]
    files = sorted(applied.migrations.iterdir())
    previous = "<none>"
    for version, path in enumerate(files, start=1):
        schema, rows = pull(
            ksql_url,
            "SELECT version, checksum, previous, state, name, started_on, completed_on, error_reason "
            f"FROM {table} WHERE version_key = '{version}';",
        )
        assert [c.split()[0].strip("`") for c in schema.split(", ")] == [
            "VERSION", "CHECKSUM", "PREVIOUS", "STATE", "NAME", "STARTED_ON", "COMPLETED_ON", "ERROR_REASON"
        ]  # fmt: skip
        [(v, checksum, prev, state, name, started, completed, reason)] = rows
        assert (v, checksum, prev, state, reason) == (str(version), md5(path), previous, "MIGRATED", "N/A")
        assert name == path.name[9:-4].replace("_", " ")
        assert re.fullmatch(r"[0-9]{13}", started) and re.fullmatch(r"[0-9]{13}", completed)
        assert int(started) <= int(completed) <= time.time() * 1000
        previous = str(version)
    _, rows = pull(
        ksql_url,
        "SELECT version, checksum, previous, state, name, started_on, completed_on, error_reason "
        f"FROM {table} WHERE version_key IN ('1', '2', '3');",
    )
    assert sorted(row[0] for row in rows) == ["1", "2", "3"]


def test_the_stream_holds_two_rows_per_state_change_as_the_tool_writes_them(
    applied: Project, bootstrap_servers: str
) -> None:
    records = [
        (k, v)
        for k, v in read_values(bootstrap_servers, f"session_ksql_{applied.stream}")
        if k != "APPLY_LOCK"
    ]
    assert all(sorted(value) == sorted(VALUE_COLUMNS) for _, value in records)  # JSON, upper-case names
    assert [(key, value["VERSION"], value["STATE"]) for key, value in records] == [
        (key, version, state)
        for version in ("1", "2", "3")
        for state in ("RUNNING", "MIGRATED")
        for key in ("CURRENT", version)
    ]
    for index in range(0, len(records), 2):
        assert records[index][1] == records[index + 1][1]  # CURRENT and the version: same values
    running = [value for key, value in records if value["STATE"] == "RUNNING"]
    assert all(value["COMPLETED_ON"] == "" and value["ERROR_REASON"] == "N/A" for value in running)


def test_a_history_written_as_the_tool_writes_it_is_validated_and_continued(
    tmp_path: Path, ksql_url: str, bootstrap_servers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = new_project(tmp_path, ksql_url)
    project.write_standard()
    assert main(["migrate", "-c", str(project.config_file), "initialize-metadata"]) == 0
    time.sleep(1.0)  # the tool's user runs apply later; the table's query reads from `latest`
    first = project.migrations / "V000001__create_source.sql"
    post(
        ksql_url,
        "/ksql",
        {"ksql": first.read_text().replace("DEFINE topic = '", "-- ").replace("${topic}", project.topic)},
    )
    # What ApplyMigrationCommand sends through the Java client's insertInto (/inserts-stream).
    started = str(int(time.time() * 1000))
    base = {
        "VERSION": "1",
        "NAME": "create source",
        "CHECKSUM": md5(first),
        "STARTED_ON": started,
        "PREVIOUS": "<none>",
        "ERROR_REASON": "N/A",
    }
    rows = [
        {
            "VERSION_KEY": key,
            **base,
            "STATE": state,
            "COMPLETED_ON": "" if state == "RUNNING" else str(int(started) + 5),
        }
        for state in ("RUNNING", "MIGRATED")
        for key in ("CURRENT", "1")
    ]
    body = json.dumps({"target": project.stream}) + "\n" + "".join(json.dumps(row) + "\n" for row in rows)
    acks = requests.post(f"{ksql_url}/inserts-stream", data=body.encode(), timeout=30).text.splitlines()
    assert [json.loads(ack)["status"] for ack in acks] == ["ok"] * 4
    deadline = time.monotonic() + 30
    while commands.info(project.config())[0] != "1":
        assert time.monotonic() < deadline, "the table never showed the tool's rows"
        time.sleep(0.2)
    assert main(["migrate", "-c", str(project.config_file), "validate"]) == 0
    assert main(["migrate", "-c", str(project.config_file), "apply", "--all"]) == 0
    out = capsys.readouterr().out
    assert "V000002 germany: MIGRATED" in out and "V000003 per country: MIGRATED" in out
    assert "V000001 create source:" not in out
    _, rows_2 = pull(ksql_url, f"SELECT previous FROM {project.table} WHERE version_key = '2';")
    assert rows_2 == [["1"]]
