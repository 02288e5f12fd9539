"""The Kafka broker the benchmarks run against: one per ``make bench`` session, on free
loopback ports in the session's work dir, stopped at its end."""

from __future__ import annotations

from pathlib import Path

from replay.bench import BenchContext
from replay.settings import StackSettings
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.prereqs import require_java
from replay.stack.process import find_free_ports
from replay.stack.runtime import ensure_runtime


def new_broker(state_dir: Path) -> KafkaBroker:
    """A broker (not started yet) with the stack's settings, on three free loopback ports."""
    settings = StackSettings()
    kafka, controller, jmx = find_free_ports(3)
    config = BrokerConfig(
        state_dir=state_dir,
        kafka_port=kafka,
        controller_port=controller,
        jmx_exporter_port=jmx,
        heap=settings.broker_heap,
    )
    return KafkaBroker(config, ensure_runtime(settings.kafka_runtime_dir), require_java())


def shared_broker(ctx: BenchContext) -> KafkaBroker:
    """The session's broker, started by the first benchmark that asks for it."""

    def start() -> KafkaBroker:
        broker = new_broker(ctx.work_dir / "kafka")
        broker.start(timeout_s=120)
        ctx.resources.callback(broker.stop)
        return broker

    broker: KafkaBroker = ctx.shared("kafka-broker", start)
    return broker
