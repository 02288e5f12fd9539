"""Exactly once under failure: SIGKILLed producers, a kill -9 of the broker, refused access.

Each check reads the topic with a read_committed consumer and demands every dump record exactly
once: the ``replay-seq`` headers are exactly 0..N-1, the source indices are all distinct, and
each record's value is the dump line its ``replay-source`` header names.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
)
from confluent_kafka.admin import ResourceType as AclResourceType

from replay.produce import ProduceOptions, produce
from replay.produce.errors import (
    BrokerStorageError,
    BrokerUnreachableError,
    KafkaAuthorizationError,
    ProduceError,
)
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, ProduceSettings, StackSettings
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.prereqs import require_java
from replay.stack.process import find_free_ports
from replay.stack.runtime import ensure_runtime
from tests.conftest import consume_committed, write_meetup_dump
from tests.integration.replay_checks import assert_exactly_once

REPLAY = [sys.executable, "-m", "replay.cli"]
EVENTS = 20_000


def test_sigkill_at_three_random_points_then_resume_gives_each_record_once(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, EVENTS, seed=21)
    env = dict(
        os.environ, REPLAY_KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers, REPLAY_VAR_DIR=str(tmp_path / "var")
    )
    command = [
        *REPLAY,
        "produce",
        str(dump),
        "--topic",
        topic_name,
        "--run-id",
        "killed-thrice",
        "--rate",
        "4000",
        "--partitions",
        "3",
        "--commit-interval-ms",
        "200",
        "--progress",
        "none",
    ]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    kills: list[str] = []
    for _ in range(3):
        before = _committed_so_far(admin, topic_name)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        # Wait until this attempt sends (start-up time varies), then kill it at a random point
        # of the next 1.2 s: the 20,000 records take 5 s, so it cannot finish before the third kill.
        deadline = time.monotonic() + 60
        while _committed_so_far(admin, topic_name) <= before:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.2))
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, f"the producer ended before the kill:\n{stderr}"
        kills.append(f"{_committed_so_far(admin, topic_name)} in the log")
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "20,000 records committed exactly once" in final.stderr, final.stderr
    records = consume_committed(bootstrap_servers, topic_name)
    print(f"random seed {seed}; log end offsets after the kills: {kills}")  # shown when the check fails
    assert_exactly_once(records, EVENTS, dump)


def test_sigterm_commits_what_was_sent_and_a_resume_finishes(
    bootstrap_servers: str, tmp_path: Path, topic_name: str
) -> None:
    """Airflow stops a task with SIGTERM: the replay commits, says so, and resumes later."""
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 6_000, seed=5)
    var = tmp_path / "var"
    env = dict(os.environ, REPLAY_KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers, REPLAY_VAR_DIR=str(var))
    command = [*REPLAY, "produce", str(dump), "--topic", topic_name, "--run-id", "stopped", "--rate", "2000"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    deadline = time.monotonic() + 30
    while _committed_so_far(admin, topic_name) == 0:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "stopped by a signal" in stderr and "--run-id stopped" in stderr
    summary = json.loads((var / "runs" / "stopped" / "produce-summary.json").read_text())
    assert summary["status"] == "interrupted"
    stopped_at = summary["checkpoint"]["next_seq"]
    assert 0 < stopped_at < 6_000
    assert (
        len(consume_committed(bootstrap_servers, topic_name)) == stopped_at == summary["counts"]["committed"]
    )
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once(consume_committed(bootstrap_servers, topic_name), 6_000, dump)


def _committed_so_far(admin: AdminClient, topic: str) -> int:
    """The high watermarks summed (a rough sign of progress for the failure message)."""
    metadata = admin.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return 0
    consumer = Consumer({"bootstrap.servers": admin_bootstrap(admin), "group.id": "watermarks"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        )
    except KafkaException:
        return 0  # a new topic's leader is not elected yet, or the broker is restarting
    finally:
        consumer.close()


def admin_bootstrap(admin: AdminClient) -> str:
    """The bootstrap address an admin client was made with."""
    brokers = admin.list_topics(timeout=10).brokers
    broker = next(iter(brokers.values()))
    return f"{broker.host}:{broker.port}"


# -- a private broker: killed with -9 and restarted; with a SASL listener and ACLs ---------------

ALICE, ALICE_PASSWORD = "alice", "alice-secret"


class PrivateBroker:
    """A broker of this module only (the session broker must never be killed)."""

    def __init__(self, state_dir: Path) -> None:
        kafka_port, controller_port, jmx_port, sasl_port = find_free_ports(4)
        self.sasl_port = sasl_port
        loopback = "127.0.0.1"
        overrides = {
            "listeners": f"PLAINTEXT://{loopback}:{kafka_port},CONTROLLER://{loopback}:{controller_port},"
            f"SASL_PLAINTEXT://{loopback}:{sasl_port}",
            "advertised.listeners": f"PLAINTEXT://{loopback}:{kafka_port},SASL_PLAINTEXT://{loopback}:{sasl_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": "org.apache.kafka.common.security.plain."
            f'PlainLoginModule required user_{ALICE}="{ALICE_PASSWORD}";',
            # PLAINTEXT (the tests' admin, the broker itself) is a super user; alice gets only
            # what the ACLs grant.
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }
        config = BrokerConfig(
            state_dir=state_dir,
            kafka_port=kafka_port,
            controller_port=controller_port,
            jmx_exporter_port=jmx_port,
            heap="384m",
            overrides=overrides,
        )
        self.broker = KafkaBroker(config, ensure_runtime(StackSettings().kafka_runtime_dir), require_java())
        self.bootstrap = config.bootstrap_servers
        self.small_disk = False

    def alice(self) -> KafkaSettings:
        """Client settings of the unprivileged SASL user."""
        return KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{self.sasl_port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username=ALICE,
            sasl_password=ALICE_PASSWORD,  # type: ignore[arg-type]
        )


# The private broker keeps its log on a small tmpfs (when we may mount one) so that the last test
# of this module can fill its disk for real.
DISK_MB = 96


def _mount_small_disk(data_dir: Path) -> bool:
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(data_dir)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path_factory.mktemp("private-kafka"))
    broker.small_disk = _mount_small_disk(broker.broker.data_dir)
    try:
        broker.broker.start(timeout_s=120)
        yield broker
    finally:
        broker.broker.stop(timeout_s=30)
        if broker.small_disk:
            subprocess.run(["umount", "--lazy", str(broker.broker.data_dir)], check=False)


def test_broker_kill9_and_restart_mid_run_gives_each_record_once(
    private_broker: PrivateBroker, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, EVENTS, seed=33)
    options = ProduceOptions(
        path=dump,
        topic=topic_name,
        pacing=Pacing.at_rate(5_000),
        run_id="broker-killed",
        summary_path=tmp_path / "summary.json",
        kafka=KafkaSettings(bootstrap_servers=private_broker.bootstrap),
        settings=ProduceSettings(partitions=3, commit_interval_ms=200, broker_timeout_s=60),
        progress="log",
    )
    outcome: dict[str, object] = {}

    def replay() -> None:
        try:
            outcome["summary"] = produce(options)
        except Exception as error:  # noqa: BLE001 - handed to the test thread below
            outcome["error"] = error

    thread = threading.Thread(target=replay, name="replay")
    thread.start()
    admin = AdminClient({"bootstrap.servers": private_broker.bootstrap})
    deadline = time.monotonic() + 60
    while _committed_so_far(admin, topic_name) < 3_000:  # well into the run
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.1)
    at_kill = _committed_so_far(admin, topic_name)
    private_broker.broker.kill()
    assert at_kill < EVENTS, "the replay finished before the broker was killed"
    time.sleep(1.0)
    private_broker.broker.start(timeout_s=120)
    thread.join(timeout=180)
    assert not thread.is_alive(), "the replay hung after the broker came back"
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert isinstance(summary, dict)
    assert summary["counts"]["committed"] == EVENTS
    assert_exactly_once(consume_committed(private_broker.bootstrap, topic_name), EVENTS, dump)


def test_refused_access_ends_with_a_clear_error_and_a_summary(
    private_broker: PrivateBroker, tmp_path: Path, topic_name: str
) -> None:
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, 50)

    def options(topic: str) -> ProduceOptions:
        return ProduceOptions(
            path=dump,
            topic=topic,
            pacing=Pacing.unthrottled(),
            summary_path=tmp_path / f"{topic}.json",
            kafka=private_broker.alice(),
            settings=ProduceSettings(broker_timeout_s=10, checkpoint_topic=f"{topic_name}-ck"),
            progress="none",
        )

    # no ACL at all: alice may not even look at the topic
    with pytest.raises(KafkaAuthorizationError) as caught:
        produce(options(topic_name))
    assert "TOPIC_AUTHORIZATION_FAILED" in caught.value.message
    assert caught.value.hint and "WRITE" in caught.value.hint
    assert caught.value.summary is not None and caught.value.summary["error"]["kind"] == "authorization"

    # topics allowed, but not the transactional id: refused when transactions start
    admin = AdminClient({"bootstrap.servers": private_broker.bootstrap})
    grant = AclBinding(
        AclResourceType.TOPIC,
        topic_name,
        ResourcePatternType.PREFIXED,
        f"User:{ALICE}",
        "*",
        AclOperation.ALL,
        AclPermissionType.ALLOW,
    )
    for future in admin.create_acls([grant]).values():
        future.result()
    with pytest.raises(KafkaAuthorizationError) as caught:
        produce(options(f"{topic_name}-data"))
    assert "TRANSACTIONAL_ID_AUTHORIZATION_FAILED" in caught.value.message
    assert f"replay-produce/{topic_name}-data/" in (caught.value.hint or "")
    summary = caught.value.summary
    assert summary is not None and summary["status"] == "failed" and summary["counts"]["committed"] == 0


def test_a_full_broker_disk_ends_with_a_clear_error_and_a_summary(
    private_broker: PrivateBroker, tmp_path: Path, topic_name: str
) -> None:
    """Runs last in this module: a broker whose only log directory fills up shuts down."""
    if not private_broker.small_disk:
        pytest.skip("filling a broker's disk needs a small tmpfs, and mounting one needs root")
    free = shutil.disk_usage(private_broker.broker.data_dir).free
    dump = tmp_path / "events.jsonl"
    write_meetup_dump(dump, int(free / 2_000 * 1.5), seed=9)  # about 2 KB per event: 1.5 x the free space
    options = ProduceOptions(
        path=dump,
        topic=topic_name,
        pacing=Pacing.unthrottled(),
        summary_path=tmp_path / "summary.json",
        kafka=KafkaSettings(bootstrap_servers=private_broker.bootstrap),
        settings=ProduceSettings(broker_timeout_s=3, commit_interval_ms=200),
        progress="none",
    )
    started = time.monotonic()
    with pytest.raises(ProduceError) as caught:
        produce(options)
    assert time.monotonic() - started < 90, "no hang: bounded by the broker timeout"
    error = caught.value
    assert isinstance(error, BrokerUnreachableError | BrokerStorageError), error
    assert "stopped answering during the replay" in error.message or "store" in error.message
    assert error.hint and "full disk" in error.hint
    summary = error.summary
    assert summary is not None and summary["status"] == "failed"
    committed = summary["counts"]["committed"]
    assert committed > 0 and summary["checkpoint"]["next_index"] == committed  # the rest: not delivered
    assert "No space left on device" in (private_broker.broker.log_dir / "server.log").read_text()
