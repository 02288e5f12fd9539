"""Background processes the stack owns: start detached, record a pid file, stop for sure.

A pid file is JSON (pid, the command's marker, start time). A pid file whose process is gone, or
whose pid now belongs to another program, is *stale*: it is reported and removed, never trusted.
Stopping sends SIGTERM to the process group, waits, then SIGKILLs, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from replay.errors import PortInUseError, StackError
from replay.settings import LOOPBACK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PidInfo:
    """What a pid file records."""

    pid: int
    marker: str
    started_at: float


def read_pid_file(path: Path) -> PidInfo | None:
    """The pid file's content, or None if there is none (a corrupt file raises)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PidInfo(pid=int(data["pid"]), marker=str(data["marker"]), started_at=float(data["started_at"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise StackError(
            f"the pid file {path} is unreadable ({error})",
            hint=f"stop the process by hand if it still runs, then delete {path}",
        ) from error


def write_pid_file(path: Path, info: PidInfo) -> None:
    """Record a started process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"pid": info.pid, "marker": info.marker, "started_at": info.started_at}
    path.write_text(json.dumps(payload) + "\n", encoding="utf-8")


def process_cmdline(pid: int) -> str | None:
    """The command line of a live process (NUL-separated args joined by spaces), None if gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:  # a zombie has an empty cmdline
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def is_ours(info: PidInfo) -> bool:
    """True when the recorded pid is alive and still runs the command we started."""
    cmdline = process_cmdline(info.pid)
    return cmdline is not None and info.marker in cmdline


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on host:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_ports(service: str, ports: Mapping[str, int]) -> None:
    """Raise :class:`PortInUseError` naming the first busy port and the setting that moves it."""
    for setting, port in ports.items():
        if not port_is_free(port):
            raise PortInUseError(
                f"cannot start {service}: port {port} on {LOOPBACK} is already in use",
                hint=f"stop what listens there (ss -ltnp 'sport = :{port}') or choose another port "
                f"with {setting}",
            )


def wait_port_open(port: int, timeout_s: float, host: str = LOOPBACK) -> bool:
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def start_detached(
    command: Sequence[str], *, log_file: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so Ctrl-C of the caller does not hit it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def _pid_alive(pid: int) -> bool:
    # Reap it first if it is our child, so a zombie does not look alive.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return not _exited(pid)


def _exited(pid: int) -> bool:
    """True once every thread of the process is gone or a zombie.

    Neither "its cmdline is empty" nor "the pid is a zombie" is enough: a process loses its
    memory (and so its cmdline) before its files, and when a JVM's main thread ends first, the
    pid shows as a zombie while its other threads still run and hold the listening sockets.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return True
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # "tid (comm) S ...": the state follows the last ')' (comm may hold spaces or parentheses).
        if stat[stat.rindex(")") + 2 :][:1] not in {"Z", "X"}:
            return False
    return True


def stop_pid(pid: int, timeout_s: float) -> bool:
    """SIGTERM the process group, wait up to ``timeout_s``, then SIGKILL. True if it had to kill."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    # Only signal the group when the process leads it (we start services with their own session).
    target_group = pgid == pid
    with contextlib.suppress(ProcessLookupError):
        if target_group:
            os.killpg(pgid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return False
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        if target_group:
            os.killpg(pgid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    return True


def kill_now(pid: int) -> None:
    """SIGKILL a process (and its group when it leads one) without any grace: a crash."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, for error messages."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux default shown)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def find_free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports that are free now, for tests and side-by-side stacks.

    They are drawn below the kernel's ephemeral range: a port the kernel hands out for
    ``bind(0)`` is one it also hands to outgoing connections, and on a busy machine a client
    can take it in the seconds before the service binds it (or between a stop and a restart).
    """
    low, _ = _ephemeral_range()
    first, last = 20000, low - 1
    rng = random.SystemRandom()
    ports: list[int] = []
    if last - first > 10 * count:
        for _ in range(200 * count):
            port = rng.randint(first, last)
            if port not in ports and port_is_free(port, host):
                ports.append(port)
                if len(ports) == count:
                    return ports
    # A range too small or too full: let the kernel choose.
    sockets = []
    try:
        for _ in range(count - len(ports)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return ports + [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class ManagedProcess:
    """Pid-file bookkeeping shared by the stack's services (broker, ksql server).

    A subclass sets ``label`` (for messages), ``pid_file`` and ``marker`` (a string of its
    command line that identifies its process), and starts through :meth:`launch`.
    """

    label: str
    pid_file: Path
    marker: str

    def running_pid(self) -> int | None:
        """The pid if this service runs; a stale pid file is removed (and logged)."""
        info = read_pid_file(self.pid_file)
        if info is None:
            return None
        if is_ours(info):
            return info.pid
        log.warning("removing stale pid file %s (pid %d is not %s)", self.pid_file, info.pid, self.label)
        self.pid_file.unlink(missing_ok=True)
        return None

    def launch(
        self,
        command: Sequence[str],
        log_file: Path,
        wait_ready: Callable[[subprocess.Popen[bytes]], None],
    ) -> int:
        """Start the command detached, record its pid, wait until ready; on failure stop it
        again and remove the pid file before re-raising."""
        child = start_detached(command, log_file=log_file)
        write_pid_file(self.pid_file, PidInfo(child.pid, self.marker, time.time()))
        try:
            wait_ready(child)
        except StackError:
            stop_pid(child.pid, timeout_s=5)
            self.pid_file.unlink(missing_ok=True)
            raise
        return child.pid

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop gracefully (SIGTERM, wait, SIGKILL). True if it was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        if stop_pid(pid, timeout_s):
            log.warning("%s did not stop within %.0f s and was killed", self.label, timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL the process, as a crash would (the pid file stays, as after a crash)."""
        pid = self.running_pid()
        if pid is not None:
            kill_now(pid)
