"""`replay stack up | status | down` with the ksql server beside the broker (real processes)."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path

from replay.stack.process import process_cmdline, read_pid_file
from tests.integration.test_stack import _replay, stack_env

__all__ = ["stack_env"]  # the fixture: a stack on free ports in a temporary folder, torn down


def test_stack_runs_the_ksql_server_beside_the_broker(stack_env: dict[str, str]) -> None:
    port = stack_env["REPLAY_STACK_KSQL_PORT"]
    state_dir = Path(stack_env["REPLAY_STACK_STATE_DIR"])
    up = _replay(stack_env, "stack", "up")
    assert up.returncode == 0, up.stderr
    assert re.search(rf"ksql\s+running\s+pid \d+\s+url http://127\.0\.0\.1:{port}\s+metrics ", up.stdout), (
        up.stdout
    )

    info = read_pid_file(state_dir / "ksql" / "ksql.pid")
    assert info is not None
    cmdline = process_cmdline(info.pid) or ""
    assert " serve --config " in cmdline and str(state_dir / "ksql") in cmdline

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=10) as response:
        server_info = json.loads(response.read())["KsqlServerInfo"]
    cluster_id = (state_dir / "kafka" / "cluster.id").read_text().strip()
    assert server_info["kafkaClusterId"] == cluster_id  # it talks to the stack's broker
    assert server_info["serverStatus"] == "RUNNING"
    assert server_info["ksqlServiceId"] == "default_"

    status = _replay(stack_env, "stack", "status", "--json")
    assert status.returncode == 0
    by_name = {item["name"]: item for item in json.loads(status.stdout)}
    assert by_name["ksql"]["pid"] == info.pid
    assert by_name["ksql"]["endpoints"]["url"] == f"http://127.0.0.1:{port}"

    down = _replay(stack_env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert "stopped: ksql, kafka" in down.stdout  # reverse start order: the server first
    assert process_cmdline(info.pid) is None
    assert not (state_dir / "ksql" / "ksql.pid").exists()
    log = (state_dir / "ksql" / "logs" / "ksql.out").read_text()
    assert "shutdown complete: every query committed and closed" in log  # SIGTERM: a clean stop, not a kill


def test_busy_ksql_port_fails_clearly_and_rolls_the_broker_back(stack_env: dict[str, str]) -> None:
    port = int(stack_env["REPLAY_STACK_KSQL_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        result = _replay(stack_env, "stack", "up")
    assert result.returncode != 0
    assert f"cannot start the ksql server: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "REPLAY_STACK_KSQL_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    broker = read_pid_file(Path(stack_env["REPLAY_STACK_STATE_DIR"]) / "kafka" / "kafka.pid")
    assert broker is None  # the broker started for this `up` was stopped again


def test_with_ksql_false_leaves_the_server_out(stack_env: dict[str, str]) -> None:
    default = _replay(stack_env, "stack", "status")
    assert re.findall(r"^(\w+)\s+stopped", default.stdout, re.MULTILINE) == ["kafka", "ksql"]
    without = _replay({**stack_env, "REPLAY_STACK_WITH_KSQL": "false"}, "stack", "status")
    assert re.findall(r"^(\w+)\s+stopped", without.stdout, re.MULTILINE) == ["kafka"]
