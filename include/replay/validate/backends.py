"""Where great-expectations runs: in this process, or in a worker process next to it.

GX spends about 2 s of fixed work per chunk (it rebuilds its metric graph for each of the ~80
expectations) and takes seconds to import. With a worker process that work, and the import,
overlap with reading and flattening the next chunk in the main process, which roughly halves
the wall time on two cores. Small dumps and processes that may not have children (daemonic
pool workers) use the in-process backend; both give identical results.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pandas as pd

from replay.errors import ReplayError, SuiteError
from replay.validate.gx_runner import ExpectationSummary, GxSuiteRunner
from replay.validate.prechecks import Failure
from replay.validate.suite import load_suite_spec

log = logging.getLogger(__name__)
_LENGTH = struct.Struct("!Q")  # message framing on the pipes: 8-byte length, then a pickle


@dataclass(frozen=True)
class Finished:
    """What a backend hands back at the end: per-expectation summaries and the Data Docs page."""

    summaries: list[ExpectationSummary]
    data_docs: Path | None


class GxBackend(Protocol):
    """Runs the suite over chunk frames in submission order."""

    def submit(self, frame: pd.DataFrame) -> None:
        """Queue one chunk."""

    def next_result(self) -> dict[int, list[Failure]]:
        """Failures of the oldest submitted chunk whose result was not taken yet (blocks)."""

    def finish(self, out_dir: Path, *, read: int, valid: int, data_docs: bool) -> Finished:
        """Summaries of the whole run, and Data Docs when asked."""

    def close(self) -> None:
        """Release the backend (stops a worker process)."""


class LocalBackend:
    """GX in this process; ``submit`` runs the chunk right away."""

    def __init__(self, suite: Path, parameters: dict[str, Any]) -> None:
        self._runner = GxSuiteRunner(load_suite_spec(suite), parameters=parameters)
        self._results: deque[dict[int, list[Failure]]] = deque()

    def submit(self, frame: pd.DataFrame) -> None:
        self._results.append(self._runner.run(frame))

    def next_result(self) -> dict[int, list[Failure]]:
        return self._results.popleft()

    def finish(self, out_dir: Path, *, read: int, valid: int, data_docs: bool) -> Finished:
        docs = self._runner.build_data_docs(out_dir, read=read, valid=valid) if data_docs else None
        return Finished(summaries=list(self._runner.summaries.values()), data_docs=docs)

    def close(self) -> None:
        self._results.clear()


def _send(stream: BinaryIO, message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive_from(stream: BinaryIO) -> tuple[Any, ...] | None:
    """The next message, or None at end of stream (the other side is gone)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    size = _LENGTH.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        return None
    message: tuple[Any, ...] = pickle.loads(data)  # our own child, over private pipes
    return message


def serve(tasks: BinaryIO, results: BinaryIO, suite: str, parameters: dict[str, Any]) -> None:
    """The worker's loop: build the GX runner, then answer tasks until told to stop or until the
    task pipe closes (the main process is gone, even after SIGKILL)."""
    try:
        runner = GxSuiteRunner(load_suite_spec(suite), parameters=parameters)
        while (task := _receive_from(tasks)) is not None:
            if task[0] == "run":
                _send(results, ("result", runner.run(task[1])))
            elif task[0] == "finish":
                _, out_dir, read, valid, data_docs = task
                docs = runner.build_data_docs(Path(out_dir), read=read, valid=valid) if data_docs else None
                _send(results, ("finished", Finished(list(runner.summaries.values()), docs)))
            else:
                return
    except ReplayError as error:
        _send(results, ("error", error.message, error.hint))
    except BrokenPipeError:
        return  # the main process went away while we answered
    except Exception:  # a bug: hand the traceback to the main process, which raises it  # noqa: BLE001
        _send(results, ("crash", traceback.format_exc()))


class WorkerBackend:
    """GX in a worker process (``python -m replay.validate.worker``) fed over two private
    pipes. A sender thread writes the chunk frames, so the main process never blocks on a busy
    worker; a plain subprocess, unlike multiprocessing's spawn, never re-imports the caller's
    ``__main__`` (no ``if __name__ == "__main__"`` guard needed in scripts)."""

    def __init__(self, suite: Path, parameters: dict[str, Any]) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        args = [str(os.getpid()), str(task_read), str(result_write), str(suite), json.dumps(parameters)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "replay.validate.worker", *args], pass_fds=(task_read, result_write)
        )
        os.close(task_read)
        os.close(result_write)
        self._tasks = os.fdopen(task_write, "wb")
        self._results = os.fdopen(result_read, "rb")
        self._outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._sender = threading.Thread(target=self._send_all, name="replay-validate-sender", daemon=True)
        self._sender.start()
        log.debug("great-expectations worker started (pid %s)", self._process.pid)

    def _send_all(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                _send(self._tasks, message)
            except (BrokenPipeError, ValueError):
                return  # the worker is gone; _receive reports it

    def submit(self, frame: pd.DataFrame) -> None:
        self._outbox.put(("run", frame))

    def _receive(self, kind: str) -> Any:
        message = _receive_from(self._results)
        if message is None:
            code = self._process.wait()
            raise ReplayError(
                f"the great-expectations worker process died (exit code {code})",
                hint="it may have run out of memory; retry with a smaller --chunk-size",
            )
        if message[0] == kind:
            return message[1]
        if message[0] == "error":
            raise SuiteError(message[1], hint=message[2])
        raise RuntimeError(f"great-expectations worker failed:\n{message[1]}")

    def next_result(self) -> dict[int, list[Failure]]:
        result: dict[int, list[Failure]] = self._receive("result")
        return result

    def finish(self, out_dir: Path, *, read: int, valid: int, data_docs: bool) -> Finished:
        self._outbox.put(("finish", str(out_dir), read, valid, data_docs))
        finished: Finished = self._receive("finished")
        return finished

    def close(self) -> None:
        self._outbox.put(("stop",))
        self._outbox.put(None)
        self._sender.join(timeout=10)
        self._tasks.close()  # end of stream: the worker stops
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._results.close()


def can_use_worker() -> bool:
    """False inside daemonic multiprocessing workers (e.g. a prefork pool), which are not meant
    to start processes of their own."""
    return not multiprocessing.current_process().daemon


def make_backend(suite: Path, parameters: dict[str, Any], *, parallel: bool) -> GxBackend:
    """The worker backend when ``parallel`` and allowed, else the in-process one."""
    if parallel and can_use_worker():
        return WorkerBackend(suite, parameters)
    return LocalBackend(suite, parameters)
