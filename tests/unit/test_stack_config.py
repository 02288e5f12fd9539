"""Pure parts of the stack: pinned versions, broker settings, pid files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from replay.errors import StackError
from replay.stack.broker import BrokerConfig, server_properties
from replay.stack.process import (
    PidInfo,
    find_free_ports,
    is_ours,
    port_is_free,
    read_pid_file,
    write_pid_file,
)
from replay.stack.runtime import pinned_versions, runtime_home


def test_pom_pins_kafka_4_and_the_jmx_exporter() -> None:
    versions = pinned_versions()
    assert versions["kafka.version"].startswith("4.")
    assert versions["jmx.exporter.version"]
    assert versions["log4j.version"].startswith("2.")


def test_runtime_folder_changes_with_the_pom(tmp_path: Path) -> None:
    home = runtime_home(tmp_path)
    assert home.parent == tmp_path
    assert home.name.startswith(pinned_versions()["kafka.version"] + "-")


def test_broker_binds_loopback_only(tmp_path: Path) -> None:
    props = server_properties(BrokerConfig(tmp_path, 1111, 2222, 3333), tmp_path / "data")
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1111,CONTROLLER://127.0.0.1:2222"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1111"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:2222"
    assert props["process.roles"] == "broker,controller"
    # exactly-once needs the transaction log; on one node it must have replication 1
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert all("0.0.0.0" not in value for value in props.values())


def test_overrides_win(tmp_path: Path) -> None:
    config = BrokerConfig(tmp_path, 1, 2, 3, overrides={"message.max.bytes": "2000000"})
    assert server_properties(config, tmp_path)["message.max.bytes"] == "2000000"


def test_pid_file_round_trip_and_ownership(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    assert read_pid_file(path) is None
    write_pid_file(path, PidInfo(os.getpid(), "pytest", 1.5))
    info = read_pid_file(path)
    assert info == PidInfo(os.getpid(), "pytest", 1.5)
    assert is_ours(info)
    assert not is_ours(PidInfo(os.getpid(), "-Dreplay.stack.home=/nowhere", 0))


def test_corrupt_pid_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    path.write_text("not json")
    with pytest.raises(StackError, match="unreadable") as caught:
        read_pid_file(path)
    assert caught.value.hint and str(path) in caught.value.hint


def test_free_ports_are_distinct_free_and_outside_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = find_free_ports(6)
    assert len(set(ports)) == 6
    assert all(port < low for port in ports)
    assert all(port_is_free(port) for port in ports)


def test_broker_properties_from_the_environment_override_the_embedded_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from replay.settings import StackSettings

    monkeypatch.setenv("REPLAY_STACK_BROKER_PROPERTIES", '{"auto.create.topics.enable": "true"}')
    settings = StackSettings()
    config = BrokerConfig(
        state_dir=tmp_path, kafka_port=1, controller_port=2, jmx_exporter_port=3,
        overrides=dict(settings.broker_properties),
    )  # fmt: skip
    assert server_properties(config, tmp_path)["auto.create.topics.enable"] == "true"
    monkeypatch.delenv("REPLAY_STACK_BROKER_PROPERTIES")
    assert (
        server_properties(BrokerConfig(tmp_path, 1, 2, 3), tmp_path)["auto.create.topics.enable"] == "false"
    )
