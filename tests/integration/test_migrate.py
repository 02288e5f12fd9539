"""replay migrate against the real server on the real broker: apply, failures, validate, info, locks.

Every test has its own project (metadata names, source topic) in tmp_path.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from replay.cli import main
from replay.errors import MigrationLockedError
from replay.migrate import Target, apply, commands
from replay.migrate.client import KsqlClient
from replay.migrate.lock import ApplyLock
from replay.migrate.metadata import MetadataStore
from replay.stack.process import find_free_ports
from tests.integration.migrate_helpers import Project, new_project, read_values


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["migrate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def ksql(url: str, sql: str) -> list[dict[str, Any]]:
    with KsqlClient(url) as client:
        return client.execute(sql)


def server_objects(url: str) -> tuple[set[str], set[str], set[str], set[str]]:
    """Streams, tables, persistent queries and topics the server knows."""
    entities = ksql(url, "SHOW STREAMS; SHOW TABLES; SHOW QUERIES; LIST TOPICS;")
    names = [
        {str(item.get("name") or item.get("id")) for item in entity[key]}
        for entity, key in zip(entities, ("streams", "tables", "queries", "topics"), strict=True)
    ]
    return names[0], names[1], names[2], names[3]


@pytest.fixture
def project(tmp_path: Path, ksql_url: str) -> Project:
    made = new_project(tmp_path, ksql_url)
    made.write_standard()
    return made


def test_fresh_apply_creates_metadata_applies_in_order_and_reapply_is_a_no_op(
    project: Project, ksql_url: str, bootstrap_servers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all")
    assert code == 0, err
    assert "the migrations metadata is missing: creating it" in out
    lines = [line for line in out.splitlines() if line.startswith("V00000")]
    assert [line.split(":")[0] for line in lines] == [
        "V000001 create source",
        "V000002 germany",
        "V000003 per country",
    ]
    assert all(": MIGRATED (1 statements, " in line and line.endswith(" s)") for line in lines)
    streams, tables, _, _ = server_objects(ksql_url)
    assert {f"SRC_{project.suffix}", f"DE_{project.suffix}", project.stream} <= streams
    assert {f"PER_COUNTRY_{project.suffix}", project.table} <= tables

    events_topic = f"session_ksql_{project.stream}"
    before = read_values(bootstrap_servers, events_topic)
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all")
    assert code == 0, err
    assert "nothing to apply: the last version migrated is 3" in out
    after = read_values(bootstrap_servers, events_topic)
    # The second apply only took and gave back the lock: no version row was written.
    assert [key for key, _ in after[len(before) :]] == ["APPLY_LOCK", "APPLY_LOCK"]
    assert [value["STATE"] for _, value in after[len(before) :]] == ["LOCKED", "UNLOCKED"]


def test_dry_run_changes_nothing_on_the_server(
    project: Project, ksql_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = server_objects(ksql_url)
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all", "--dry-run")
    assert code == 0, err
    assert "apply would create it first (dry run: not created)" in out
    assert "V000002 germany: would apply 1 statements (dry run)" in out
    assert f"CREATE STREAM DE_{project.suffix} AS SELECT * FROM SRC_{project.suffix}" in out
    assert "[properties {'auto.offset.reset': 'earliest'}]" in out
    assert "nothing was changed" in out
    assert server_objects(ksql_url) == before


def test_a_broken_migration_is_marked_error_and_the_fixed_file_applies_next_time(
    project: Project, ksql_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s = project.suffix
    broken = project.write(
        "V000004__broken.sql",
        f"SET 'auto.offset.reset'='earliest';\nCREATE STREAM FR_{s} AS SELECT * FROM MISSING_{s} WHERE COUNTRY = 'fr';\n",
    )
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all")
    assert code == 9
    error_lines = err.strip().splitlines()
    assert len(error_lines) == 1, err
    assert error_lines[0].startswith("replay: error: V000004__broken.sql, line 2: ")
    assert f"CREATE STREAM FR_{s} AS SELECT * FROM MISSING_{s}" in error_lines[0]
    assert f"MISSING_{s} does not exist" in error_lines[0]
    assert "V000004 broken: ERROR" in out

    current, rows = commands.info(project.config())
    assert current == "4"
    row = {r.version: r for r in rows}[4]
    assert row.state == "ERROR"
    assert row.error_reason == (
        f"Failed to execute sql: \nCREATE STREAM FR_{s} AS SELECT * FROM MISSING_{s} WHERE COUNTRY = 'fr';. "
        f"Error: Received 400 response from server: MISSING_{s} does not exist.. Error code: 40001"
    )

    broken.write_text(
        f"SET 'auto.offset.reset'='earliest';\nCREATE STREAM FR_{s} AS SELECT * FROM SRC_{s} WHERE COUNTRY = 'fr';\n"
    )
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all")
    assert code == 0, err
    assert "V000004 failed last time; applying it again from its first statement" in out
    assert "V000004 broken: MIGRATED" in out
    assert f"FR_{s}" in server_objects(ksql_url)[0]


def test_validate_names_an_edited_file_a_missing_one_and_a_gap(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--all")[0] == 0
    code, out, _ = run_cli(capsys, "-c", str(project.config_file), "validate")
    assert code == 0 and "validated 3 applied version(s)" in out

    edited = project.migrations / "V000002__germany.sql"
    edited.write_text(edited.read_text() + "-- an afterthought\n")
    code, _, err = run_cli(capsys, "-c", str(project.config_file), "validate")
    assert code == 10
    assert "V000002__germany.sql was edited after it was applied" in err

    (project.migrations / "V000003__per_country.sql").rename(project.root / "moved.sql")
    code, _, err = run_cli(capsys, "-c", str(project.config_file), "validate")
    assert code == 10 and "version 3 (per country) was applied but its file V000003__*.sql is missing" in err
    (project.root / "moved.sql").rename(project.migrations / "V000003__per_country.sql")

    project.write(
        "V000005__later.sql", f"CREATE STREAM L_{project.suffix} AS SELECT * FROM SRC_{project.suffix};\n"
    )
    assert (
        run_cli(capsys, "-c", str(project.config_file), "apply", "--version", "5")[0] == 10
    )  # refused: V2 edited
    edited.write_text(edited.read_text().replace("-- an afterthought\n", ""))
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--version", "5")[0] == 0
    project.write("V000004__late.sql", "-- added below an applied version\n")
    code, _, err = run_cli(capsys, "-c", str(project.config_file), "validate")
    assert code == 10 and "V000004__late.sql was never applied but version 5 after it was" in err


def test_info_shows_every_version_with_its_state(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--until", "2")[0] == 0
    project.write("V000004__broken.sql", "DROP STREAM NOT_THERE_AT_ALL;\n")
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--next")[0] == 0  # V3
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--next")[0] == 9  # V4 fails
    project.write("V000005__pending.sql", "-- not yet\n")
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "info")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Current migration version: 4"
    table = [
        [cell.strip() for cell in line.split("|")] for line in lines if line.startswith(" ") and "|" in line
    ]
    assert table[0] == [
        "Version",
        "Name",
        "State",
        "Previous Version",
        "Started On",
        "Completed On",
        "Error Reason",
    ]
    assert [(row[0], row[1], row[2], row[3]) for row in table[1:]] == [
        ("1", "create source", "MIGRATED", "<none>"),
        ("2", "germany", "MIGRATED", "1"),
        ("3", "per country", "MIGRATED", "2"),
        ("4", "broken", "ERROR", "3"),
        ("5", "pending", "PENDING", "N/A"),
    ]
    assert table[4][6].startswith("Failed to execute sql: DROP STREAM NOT_THERE_AT_ALL;. Error: ")


def test_an_apply_refuses_while_another_holds_the_lock(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-c", str(project.config_file), "initialize-metadata")[0] == 0
    config = project.config()
    with KsqlClient(config.server_url) as client:
        store = MetadataStore(client, stream=project.stream, table=project.table, server_version="0.29.0")
        holder = ApplyLock(store, lease_s=60, owner="run other-run")
        holder.acquire()
        code, out, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all")
        assert code == 11
        assert "another apply is running: replay migrate apply, pid" in err and "run other-run" in err
        assert "V000001" not in out
        # A retry of the holder's own run takes over at once.
        result = apply(config, Target("all"), owner="run other-run", report=lambda line: None)
        assert [v.state for v in result.versions] == ["MIGRATED"] * 3


def test_concurrent_applies_never_both_apply_a_version(
    project: Project, bootstrap_servers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-c", str(project.config_file), "initialize-metadata")[0] == 0
    config = project.config()
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def one() -> None:
        start.wait()
        try:
            apply(config, Target("all"), report=lambda line: None)
            outcomes.append("applied")
        except MigrationLockedError:
            outcomes.append("locked")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 4 and "locked" in outcomes, outcomes
    events = read_values(bootstrap_servers, f"session_ksql_{project.stream}")
    version_rows = [
        (value["VERSION"], value["STATE"]) for key, value in events if key not in ("APPLY_LOCK", "CURRENT")
    ]
    assert version_rows == [
        ("1", "RUNNING"),
        ("1", "MIGRATED"),
        ("2", "RUNNING"),
        ("2", "MIGRATED"),
        ("3", "RUNNING"),
        ("3", "MIGRATED"),
    ]
    assert commands.info(config)[0] == "3"


def test_initialize_then_apply_at_once_reaches_the_table(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # The table's query starts at `latest`: rows written before it reads would never reach it.
    code, out, _ = run_cli(capsys, "-c", str(project.config_file), "initialize-metadata")
    assert code == 0 and f"created table {project.table}" in out
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--all")[0] == 0
    assert commands.info(project.config())[0] == "3"
    code, out, _ = run_cli(capsys, "-c", str(project.config_file), "initialize-metadata")
    assert code == 0 and "already on the server" in out


def test_destroy_metadata_drops_the_stream_table_and_topics(
    project: Project, ksql_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-c", str(project.config_file), "apply", "--next")[0] == 0
    code, out, err = run_cli(capsys, "-c", str(project.config_file), "destroy-metadata")
    assert f"dropped table {project.table}" in out
    assert code == 0, err
    streams, tables, _, topics = server_objects(ksql_url)
    assert project.stream not in streams and project.table not in tables
    assert f"session_ksql_{project.stream}" not in topics and f"session_ksql_{project.table}" not in topics
    code, _, err = run_cli(capsys, "-c", str(project.config_file), "info")
    assert code == 10 and "initialize-metadata" in err


def test_new_project_and_create_lay_out_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "fresh"
    assert run_cli(capsys, "new-project", str(root), "http://127.0.0.1:9")[0] == 0
    config = str(root / "ksql-migrations.properties")
    assert run_cli(capsys, "-c", config, "create", "add users")[0] == 0
    assert run_cli(capsys, "create", "-c", config, "-v", "7", "seven")[0] == 0
    assert run_cli(capsys, "-c", config, "create", "next one")[0] == 0
    assert sorted(p.name for p in (root / "migrations").iterdir()) == [
        "V000001__add_users.sql",
        "V000007__seven.sql",
        "V000008__next_one.sql",
    ]
    code, _, err = run_cli(capsys, "-c", config, "create", "-v", "7", "again")
    assert code == 5 and "version 7 already has a file" in err


# -- a server that is down, or not ksqlDB ------------------------------------------------------


@pytest.fixture
def html_server() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def _page(self) -> None:
            body = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _page

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("verb", [["apply", "--all"], ["info"], ["validate"], ["initialize-metadata"]])
def test_a_server_that_is_down_gives_one_line(
    tmp_path: Path, verb: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (port,) = find_free_ports(1)
    project = new_project(tmp_path, f"http://127.0.0.1:{port}")
    project.write_standard()
    code, _, err = run_cli(capsys, "-c", str(project.config_file), *verb)
    assert code == 4
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"the ksqlDB server at http://127.0.0.1:{port} is not reachable: connection refused" in err


def test_a_server_that_is_not_ksqldb_gives_one_line(
    tmp_path: Path, html_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = new_project(tmp_path, html_server)
    project.write_standard()
    code, _, err = run_cli(capsys, "-c", str(project.config_file), "apply", "--all")
    assert code == 4 and err.count("\n") == 1
    assert f"{html_server}/info answered HTTP 200 (text/html: '<html><body><h1>Welcome to nginx!" in err
    assert "not as a ksqlDB server does" in err
    assert requests.get(html_server, timeout=5).status_code == 200
