"""The ksqlDB-compatible server of the embedded stack: ``ksqldb-lite serve`` as a process.

The replay library never imports the server's package: it writes a ``ksql-server.properties``
into the state folder, starts ``ksqldb-lite serve --config <file>`` detached, and talks to it
over HTTP only, exactly as it would with Confluent's ksqlDB. Ready means ``GET /info`` answers
200 with ``serverStatus`` RUNNING (the server answers 503 while it replays its command topic).
The properties file path is the marker that identifies this server's process in its pid file.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from replay.errors import StackError
from replay.settings import LOOPBACK
from replay.stack import process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KsqlServerConfig:
    """Where the server keeps its files, where it listens, which Kafka it uses."""

    state_dir: Path
    port: int
    bootstrap_servers: str
    service_id: str = "default_"
    # More ksql-server properties (e.g. ksql.streams.processing.guarantee).
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def server_command() -> list[str]:
    """How to run ``ksqldb-lite``: the console script next to this Python, else ``-m``."""
    script = Path(sys.executable).parent / "ksqldb-lite"
    if script.is_file():
        return [str(script)]
    found = shutil.which("ksqldb-lite")
    return [found] if found else [sys.executable, "-m", "ksqldb_lite.cli"]


class KsqlServer(process.ManagedProcess):
    """Starts, checks and stops one ``ksqldb-lite serve`` process."""

    name = "ksql"
    label = "the ksql server"

    def __init__(self, config: KsqlServerConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir
        self.pid_file = self.state_dir / "ksql.pid"
        self.properties_file = self.state_dir / "config" / "ksql-server.properties"
        self.console_log = self.state_dir / "logs" / "ksql.out"
        self.marker = str(self.properties_file)

    def properties(self) -> dict[str, str]:
        """The server's settings: loopback listener, the stack's broker, the service id."""
        props = {
            "listeners": self.config.url,
            "bootstrap.servers": self.config.bootstrap_servers,
            "ksql.service.id": self.config.service_id,
        }
        props.update(self.config.properties)
        return props

    def _write_properties(self) -> None:
        self.properties_file.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{key}={value}\n" for key, value in self.properties().items())
        self.properties_file.write_text(text, encoding="utf-8")

    def start(self, timeout_s: float = 60.0) -> int:
        """Start the server (no-op if it runs) and wait until ``/info`` says RUNNING."""
        pid = self.running_pid()
        if pid is not None:
            return pid
        process.require_free_ports("the ksql server", {"REPLAY_STACK_KSQL_PORT": self.config.port})
        self._write_properties()
        command = [*server_command(), "serve", "--config", str(self.properties_file)]
        return self.launch(command, self.console_log, lambda child: self.wait_ready(timeout_s, child))

    def wait_ready(self, timeout_s: float, child: subprocess.Popen[bytes] | None = None) -> None:
        """Wait until ``GET /info`` answers RUNNING; on failure show the log's tail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                raise StackError(
                    f"the ksql server exited with code {child.returncode} while starting; last lines of "
                    f"{self.console_log}:\n{process.tail(self.console_log)}",
                    hint="fix the cause shown above, then run `replay stack up` again",
                )
            if self.server_status() == "RUNNING":
                return
            time.sleep(0.2)
        raise StackError(
            f"the ksql server did not become ready on {self.config.url} within {timeout_s:.0f} s; "
            f"last lines of its log:\n{process.tail(self.console_log)}",
            hint="raise REPLAY_STACK_START_TIMEOUT_S on a slow machine, or read the log above",
        )

    def server_status(self, timeout_s: float = 1.0) -> str | None:
        """``KsqlServerInfo.serverStatus`` from ``GET /info``, None when it does not answer 200."""
        try:
            with urllib.request.urlopen(f"{self.config.url}/info", timeout=timeout_s) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        info = body.get("KsqlServerInfo") if isinstance(body, dict) else None
        return str(info.get("serverStatus")) if isinstance(info, dict) else None

    def endpoints(self) -> dict[str, str]:
        """Where the server can be reached, for ``status``."""
        return {"url": self.config.url, "metrics": f"{self.config.url}/metrics"}
