"""``replay stack up | down | status``: the embedded services, started in order, stopped in reverse.

Services implement :class:`Service`. ``up`` is idempotent (a running service is left alone),
rolls back what it started if a later service fails, and ``down`` leaves no process behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from replay.settings import StackSettings
from replay.stack import process
from replay.stack.broker import BrokerConfig, KafkaBroker
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.prereqs import require_java
from replay.stack.runtime import ensure_runtime

log = logging.getLogger(__name__)


class Service(Protocol):
    """One process of the embedded stack."""

    name: str
    pid_file: Path

    def start(self, timeout_s: float = 60.0) -> int: ...

    def stop(self, timeout_s: float = 30.0) -> bool: ...

    def running_pid(self) -> int | None: ...

    def endpoints(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    name: str
    pid: int | None
    endpoints: dict[str, str]
    uptime_s: float | None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def line(self) -> str:
        """One human-readable line."""
        if not self.running:
            return f"{self.name:<21} stopped"
        where = "  ".join(f"{key} {value}" for key, value in self.endpoints.items())
        up = f"  up {self.uptime_s:.0f}s" if self.uptime_s is not None else ""
        return f"{self.name:<21} running  pid {self.pid}  {where}{up}"


def broker_from_settings(settings: StackSettings) -> KafkaBroker:
    """The embedded broker as configured (fetching the runtime if needed)."""
    runtime = ensure_runtime(settings.kafka_runtime_dir)
    config = BrokerConfig(
        state_dir=settings.state_dir / "kafka",
        kafka_port=settings.kafka_port,
        controller_port=settings.controller_port,
        jmx_exporter_port=settings.jmx_exporter_port,
        heap=settings.broker_heap,
        overrides=dict(settings.broker_properties),
    )
    return KafkaBroker(config, runtime, require_java())


def ksql_from_settings(settings: StackSettings) -> KsqlServer:
    """The ksqlDB-compatible server as configured, on the stack's broker."""
    config = KsqlServerConfig(
        state_dir=settings.state_dir / "ksql",
        port=settings.ksql_port,
        bootstrap_servers=settings.bootstrap_servers,
        service_id=settings.ksql_service_id,
    )
    return KsqlServer(config)


def airflow_services(settings: StackSettings) -> list[Service]:
    """Airflow's components (api-server, scheduler, dag-processor, triggerer) on this stack."""
    from replay.airflow.local import components
    from replay.airflow.settings import AirflowStackSettings

    return list(components(AirflowStackSettings(), settings))


def services(settings: StackSettings, *, with_airflow: bool | None = None) -> list[Service]:
    """The stack's services in start order: the broker, then the ksql server (``with_ksql``),
    then Airflow's components (``with_airflow``)."""
    stack: list[Service] = [broker_from_settings(settings)]
    if settings.with_ksql:
        stack.append(ksql_from_settings(settings))
    if settings.with_airflow if with_airflow is None else with_airflow:
        stack.extend(airflow_services(settings))
    return stack


def up(settings: StackSettings, stack: Sequence[Service] | None = None) -> list[ServiceStatus]:
    """Start every service that is not running; roll back the ones started here on failure."""
    stack = list(stack) if stack is not None else services(settings)
    started: list[Service] = []
    try:
        for index, service in enumerate(stack):
            if _starts_airflow(stack, index):
                from replay.airflow.local import AirflowComponent, start_all

                begin = time.monotonic()
                group = [s for s in stack[index:] if isinstance(s, AirflowComponent)]
                fresh = [s for s in group if s.running_pid() is None]
                start_all(group, timeout_s=settings.start_timeout_s)
                log.info("airflow started in %.1f s", time.monotonic() - begin)
                started.extend(fresh)
                break
            if service.running_pid() is None:
                begin = time.monotonic()
                service.start(timeout_s=settings.start_timeout_s)
                log.info("%s started in %.1f s", service.name, time.monotonic() - begin)
                started.append(service)
    except BaseException:
        for service in reversed(started):
            service.stop(timeout_s=settings.stop_timeout_s)
        raise
    return status(settings, stack)


def _starts_airflow(stack: Sequence[Service], index: int) -> bool:
    """True at the first of Airflow's components (they come last and start together)."""
    from replay.airflow.local import AirflowComponent

    return isinstance(stack[index], AirflowComponent) and all(
        isinstance(s, AirflowComponent) for s in stack[index:]
    )


def down(settings: StackSettings, stack: Sequence[Service] | None = None) -> list[str]:
    """Stop every service (Airflow's too, whether or not ``with_airflow`` is set), last started
    first. Returns the names of those that were running."""
    stack = list(stack) if stack is not None else services(settings, with_airflow=True)
    stopped = []
    for service in reversed(stack):
        if service.stop(timeout_s=settings.stop_timeout_s):
            stopped.append(service.name)
    return stopped


def status(settings: StackSettings, stack: Sequence[Service] | None = None) -> list[ServiceStatus]:
    """Each service: running or not, its pid, where it listens, for how long (Airflow's
    components when ``with_airflow`` is set or one of them runs)."""
    if stack is None:
        stack = services(settings)
        if not settings.with_airflow:
            stack += [s for s in airflow_services(settings) if s.running_pid() is not None]
    result = []
    for service in stack:
        pid = service.running_pid()
        uptime = None
        if pid is not None:
            info = process.read_pid_file(service.pid_file)
            uptime = time.time() - info.started_at if info else None
        result.append(ServiceStatus(service.name, pid, service.endpoints() if pid else {}, uptime))
    return result
