"""Where great-expectations runs: in this process, or in a worker process next to it.

GX spends about 2 s of fixed work per chunk (it rebuilds its metric graph for each of the ~80
expectations) and takes seconds to import. With a worker process that work, and the import,
overlap with reading and flattening the next chunk in the main process, which roughly halves
the wall time on two cores. Small dumps and processes that may not have children (daemonic
pool workers) use the in-process backend; both give identical results.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from replay.errors import ReplayError, SuiteError
from replay.validate.gx_runner import ExpectationSummary, GxSuiteRunner
from replay.validate.prechecks import Failure
from replay.validate.suite import load_suite_spec

log = logging.getLogger(__name__)
_POLL_S = 0.5


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


def _serve(tasks: Any, results: Any, suite: str, parameters: dict[str, Any]) -> None:
    """Worker process main loop: build the GX runner, then answer tasks until told to stop."""
    parent = multiprocessing.parent_process()
    try:
        runner = GxSuiteRunner(load_suite_spec(suite), parameters=parameters)
        while True:
            try:
                task = tasks.get(timeout=_POLL_S)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return  # the main process died (e.g. SIGKILL): do not linger
                continue
            if task[0] == "run":
                results.put(("result", runner.run(task[1])))
            elif task[0] == "finish":
                _, out_dir, read, valid, data_docs = task
                docs = runner.build_data_docs(Path(out_dir), read=read, valid=valid) if data_docs else None
                results.put(("finished", Finished(list(runner.summaries.values()), docs)))
            else:
                return
    except ReplayError as error:
        results.put(("error", type(error).__name__, error.message, error.hint))
    except Exception:  # a bug: hand the traceback to the parent, which raises it  # noqa: BLE001
        results.put(("crash", traceback.format_exc()))


class WorkerBackend:
    """GX in a spawned worker process, fed through queues (puts never block the producer)."""

    def __init__(self, suite: Path, parameters: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self._tasks = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(
            target=_serve,
            args=(self._tasks, self._results, str(suite), parameters),
            name="replay-validate-gx",
            daemon=True,
        )
        self._process.start()
        log.debug("great-expectations worker started (pid %s)", self._process.pid)

    def submit(self, frame: pd.DataFrame) -> None:
        self._tasks.put(("run", frame))

    def _receive(self, kind: str) -> Any:
        while True:
            try:
                message = self._results.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._process.is_alive():
                    raise ReplayError(
                        f"the great-expectations worker process died (exit code {self._process.exitcode})",
                        hint="it may have run out of memory; retry with a smaller --chunk-size",
                    ) from None
                continue
            if message[0] == kind:
                return message[1]
            if message[0] == "error":
                raise SuiteError(message[2], hint=message[3])
            raise RuntimeError(f"great-expectations worker failed:\n{message[1]}")

    def next_result(self) -> dict[int, list[Failure]]:
        result: dict[int, list[Failure]] = self._receive("result")
        return result

    def finish(self, out_dir: Path, *, read: int, valid: int, data_docs: bool) -> Finished:
        self._tasks.put(("finish", str(out_dir), read, valid, data_docs))
        finished: Finished = self._receive("finished")
        return finished

    def close(self) -> None:
        if self._process.is_alive():
            self._tasks.put(("stop",))
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._tasks.close()
        self._results.close()


def can_use_worker() -> bool:
    """False inside daemonic processes, which may not start children."""
    return not multiprocessing.current_process().daemon


def make_backend(suite: Path, parameters: dict[str, Any], *, parallel: bool) -> GxBackend:
    """The worker backend when ``parallel`` and allowed, else the in-process one."""
    if parallel and can_use_worker():
        return WorkerBackend(suite, parameters)
    return LocalBackend(suite, parameters)
