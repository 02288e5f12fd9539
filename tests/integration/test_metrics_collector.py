"""The collector process: detached, idempotent start and stop, and it ends by itself."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from replay.metrics.control import running_pid
from replay.pipeline import steps
from replay.pipeline.context import RunContext
from replay.settings import KafkaSettings, KsqlSettings, MetricsSettings
from replay.stack.broker import KafkaBroker

pytestmark = pytest.mark.integration


SECRET = "s3cret-not-in-files"


def _ctx(run_id: str, bootstrap: str) -> RunContext:
    # No ksql server here: the collector notes its failed scrapes and carries on.
    ksql = KsqlSettings(url="http://127.0.0.1:9", username="u", password=SecretStr(SECRET))
    return RunContext(run_id=run_id, kafka=KafkaSettings(bootstrap_servers=bootstrap), ksql=ksql)


def test_start_and_stop_are_safe_to_repeat(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, topic_name: str
) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    ctx = _ctx("it-collector-repeat", kafka_broker.config.bootstrap_servers)
    settings = MetricsSettings(broker_url=kafka_broker.config.metrics_url)
    first = steps.start_metrics(ctx, topic=topic_name, settings=settings)
    again = steps.start_metrics(ctx, topic=topic_name, settings=settings)
    assert again["already_running"] is True and again["pid"] == first["pid"]
    time.sleep(2.5)
    stopped = steps.stop_metrics(ctx, queries_idle_s=0)
    assert stopped["reason"] == "stopped" and stopped["was_running"] is True
    assert stopped["scrapes"]["broker"] >= 2 and stopped["failed_scrapes"]["ksql"] >= 2
    assert running_pid(ctx.run_dir / "metrics") is None
    repeated = steps.stop_metrics(ctx, queries_idle_s=0)
    assert repeated["reason"] == "stopped" and repeated["was_running"] is False
    # The password reached the collector through its environment only.
    for path in (ctx.run_dir / "metrics").iterdir():
        assert SECRET.encode() not in path.read_bytes(), path


def test_the_collector_exits_by_itself_when_its_deadline_passes(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, topic_name: str
) -> None:
    monkeypatch.setenv("REPLAY_VAR_DIR", str(tmp_path / "var"))
    ctx = _ctx("it-collector-deadline", kafka_broker.config.bootstrap_servers)
    started = steps.start_metrics(ctx, topic=topic_name, settings=MetricsSettings(max_run_s=3))
    metrics_dir = ctx.run_dir / "metrics"
    deadline = time.monotonic() + 60
    while running_pid(metrics_dir) is not None:
        assert time.monotonic() < deadline, f"collector {started['pid']} still runs past its deadline"
        time.sleep(0.2)
    assert steps.stop_metrics(ctx, queries_idle_s=0)["reason"] == "deadline"
