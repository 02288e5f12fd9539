"""The local Airflow of ``make run``: api-server, scheduler, dag-processor and triggerer as
services of the embedded stack (so ``replay stack up/down/status`` cover them).

Each component is its own process group with a pid file and a log under
``$AIRFLOW_HOME/logs/`` (``var/airflow/`` by default), on SQLite with the LocalExecutor. Not
``airflow standalone``: its scheduler and triggerer log servers bind every interface
(``../shared/AIRFLOW-FACTS.md``); run separately with ``--skip-serve-logs`` nothing binds
anything but 127.0.0.1, and on one host the api-server reads task logs from the files.

This module runs Airflow as programs; it never imports Airflow.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from replay.airflow.settings import AirflowStackSettings
from replay.errors import StackError
from replay.paths import PROJECT_ROOT
from replay.settings import LOOPBACK, StackSettings
from replay.stack import process

log = logging.getLogger(__name__)

PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
# Components in start order; the api-server first (the others reach the Execution API on it).
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
# /api/v2/monitor/health names for the components that heartbeat.
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


def airflow_bin() -> Path:
    """The ``airflow`` console script next to this Python."""
    return Path(sys.executable).parent / "airflow"


def connection_env(stack: StackSettings) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for the embedded stack: ``kafka_default`` and ``ksqldb_default``."""
    kafka = {"conn_type": "kafka", "extra": {"bootstrap.servers": stack.bootstrap_servers}}
    return {
        "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(kafka),
        "AIRFLOW_CONN_KSQLDB_DEFAULT": stack.ksql_url,
    }


def airflow_env(settings: AirflowStackSettings, stack: StackSettings | None = None) -> dict[str, str]:
    """The environment of every component (and of ``airflow dags test``): home, folders, SQLite,
    LocalExecutor, loopback API, the stack's connections."""
    home = settings.home
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(settings.parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__API__BASE_URL": settings.api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.admin_user}:admin",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # New or changed DAG files show within 30 s instead of 5 minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "AIRFLOW__TRIGGERER__CAPACITY": "50",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PROJECT_ROOT / "include"), os.environ.get("PYTHONPATH")])
        ),
        "PATH": os.pathsep.join([str(airflow_bin().parent), os.environ.get("PATH", "")]),
    }
    if stack is not None:
        env.update(connection_env(stack))
        # The collector scrapes the embedded broker's JMX exporter (the connection has no such URL).
        env["REPLAY_METRICS_BROKER_URL"] = stack.jmx_exporter_url
    return env


def _http_json(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def migrate_db(settings: AirflowStackSettings, env: Mapping[str, str]) -> None:
    """``airflow db migrate`` (a no-op when the schema is current); writes airflow.cfg on first use."""
    settings.home.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [str(airflow_bin()), "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise StackError(
            f"airflow db migrate failed in {settings.home}: {(completed.stderr or completed.stdout)[-2000:]}",
            hint=f"read the error above; deleting {settings.home / 'airflow.db'} starts from an empty Airflow",
        )


class AirflowComponent(process.ManagedProcess):
    """One Airflow component (``airflow <component>``) run as a stack service."""

    def __init__(
        self,
        component: str,
        settings: AirflowStackSettings,
        stack: StackSettings,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.component = component
        self.settings = settings
        self.stack = stack
        self.extra_env = dict(extra_env or {})
        self.name = f"airflow-{component}"
        self.label = f"Airflow's {component}"
        self.pid_file = settings.home / "run" / f"{component}.pid"
        # Airflow's own --pid file: a path unique to this home, so it also marks our process;
        # the api-server retitles itself (setproctitle), and its port marks it instead.
        self.airflow_pid_file = settings.home / "run" / f"{component}.airflow.pid"
        self.marker = (
            f"api_server -- host:{LOOPBACK} port:{settings.api_port}"
            if component == "api-server"
            else str(self.airflow_pid_file)
        )
        self.console_log = settings.home / "logs" / f"{component}.out"

    def command(self) -> list[str]:
        """``airflow <component> --pid <file>``, log servers off."""
        command = [str(airflow_bin()), self.component, "--pid", str(self.airflow_pid_file)]
        if self.component in ("scheduler", "triggerer"):
            command.append("--skip-serve-logs")
        return command

    def start(self, timeout_s: float = 60.0) -> int:
        """Start the component (no-op when it runs) and wait until it is healthy."""
        pid = self.running_pid()
        if pid is not None:
            return pid
        return self.finish_start(self.launch_process(), timeout_s)

    def launch_process(self) -> subprocess.Popen[bytes]:
        """Start the process and record its pid, without waiting for it to be healthy."""
        env = {**os.environ, **airflow_env(self.settings, self.stack), **self.extra_env}
        if self.component == "api-server":
            process.require_free_ports(
                "Airflow's api-server", {"REPLAY_AIRFLOW_API_PORT": self.settings.api_port}
            )
            migrate_db(self.settings, env)
        self.airflow_pid_file.unlink(missing_ok=True)
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        child = process.start_detached(
            self.command(), log_file=self.console_log, env=env, cwd=self.settings.home
        )
        process.write_pid_file(self.pid_file, process.PidInfo(child.pid, self.marker, time.time()))
        return child

    def finish_start(self, child: subprocess.Popen[bytes], timeout_s: float) -> int:
        """Wait until healthy; on failure stop it and remove its pid file."""
        try:
            self.wait_ready(max(timeout_s, self.settings.start_timeout_s), child)
        except StackError:
            process.stop_pid(child.pid, timeout_s=10)
            self.pid_file.unlink(missing_ok=True)
            raise
        return child.pid

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the whole process group (workers included), and remove both pid files.

        Each component gets at most ``REPLAY_AIRFLOW_STOP_TIMEOUT_S`` before it is killed, the
        api-server at most 10 s: uvicorn's graceful shutdown waits for every keep-alive
        connection to close, which a browser tab or a client session may never do."""
        timeout_s = min(timeout_s, self.settings.stop_timeout_s)
        if self.component == "api-server":
            timeout_s = min(timeout_s, 10.0)
        stopped = super().stop(timeout_s)
        self.airflow_pid_file.unlink(missing_ok=True)
        return stopped

    def healthy(self) -> bool:
        """The api-server answers; a heartbeating component reports healthy there."""
        try:
            health = _http_json(f"{self.settings.api_url}/api/v2/monitor/health")
        except (urllib.error.URLError, OSError, ValueError):
            return False
        key = HEALTH_KEYS.get(self.component)
        if key is None:
            return True
        return bool(isinstance(health, dict) and health.get(key, {}).get("status") == "healthy")

    def wait_ready(self, timeout_s: float, child: subprocess.Popen[bytes] | None = None) -> None:
        """Wait until healthy; on failure show the log's tail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                raise StackError(
                    f"{self.label} exited with code {child.returncode} while starting; last lines of "
                    f"{self.console_log}:\n{process.tail(self.console_log)}",
                    hint="fix the cause shown above, then run `make run` again",
                )
            if self.healthy():
                return
            time.sleep(0.5)
        raise StackError(
            f"{self.label} was not healthy within {timeout_s:.0f} s; last lines of its log:\n"
            f"{process.tail(self.console_log)}",
            hint="raise REPLAY_AIRFLOW_START_TIMEOUT_S on a slow machine, or read the log above",
        )

    def endpoints(self) -> dict[str, str]:
        """Where it can be reached (the api-server), its log otherwise."""
        if self.component == "api-server":
            return {"ui": self.settings.api_url, "log": str(self.console_log)}
        return {"log": str(self.console_log)}


def components(
    settings: AirflowStackSettings, stack: StackSettings, extra_env: Mapping[str, str] | None = None
) -> list[AirflowComponent]:
    """The four components in start order (``extra_env`` on top of the computed environment)."""
    return [AirflowComponent(name, settings, stack, extra_env) for name in COMPONENTS]


def start_all(components: Sequence[AirflowComponent], timeout_s: float = 60.0) -> list[int]:
    """Start the api-server first, then the other components side by side (each needs only the
    api-server; one after the other they would each wait ~10 s for their first heartbeat).
    On a failure, the components started here are stopped again."""
    started: list[AirflowComponent] = []
    pids: list[int] = []
    try:
        first, rest = components[0], components[1:]
        if first.running_pid() is None:
            started.append(first)
        pids.append(first.start(timeout_s))
        launched = []
        for component in rest:
            pid = component.running_pid()
            if pid is None:
                launched.append((component, component.launch_process()))
                started.append(component)
            else:
                pids.append(pid)
        for component, child in launched:
            pids.append(component.finish_start(child, timeout_s))
    except BaseException:
        for component in reversed(started):
            component.stop(timeout_s=10)
        raise
    return pids


def admin_password(settings: AirflowStackSettings) -> str | None:
    """The admin password SimpleAuthManager generated on the api-server's first start."""
    path = settings.home / PASSWORDS_FILE
    try:
        passwords = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = passwords.get(settings.admin_user) if isinstance(passwords, dict) else None
    return str(value) if value else None
