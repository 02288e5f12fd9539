"""Entry point of the great-expectations worker process (started by ``WorkerBackend``).

``python -m replay.validate.worker PARENT_PID TASK_FD RESULT_FD SUITE PARAMETERS_JSON``: reads
tasks from one inherited pipe and writes results to the other. A module of its own so that what
it sends pickles under ``replay.validate.*`` names, not ``__main__``.

The worker must never outlive the process that started it, even one killed with SIGKILL. The
closed task pipe tells it so, but only between tasks: importing great-expectations or running a
large chunk takes seconds. So on Linux the kernel kills it with its parent (PR_SET_PDEATHSIG),
armed before anything heavy is imported.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent exits (Linux); exit now if the parent
    is already gone (it died before the request was armed)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(1)


def main(argv: list[str]) -> int:
    """Serve tasks until the task pipe closes."""
    parent_pid, task_fd, result_fd, suite, parameters = argv
    die_with_parent(int(parent_pid))
    from replay.validate.backends import serve  # pandas and GX: only once the worker is tied to its parent

    with os.fdopen(int(task_fd), "rb") as tasks, os.fdopen(int(result_fd), "wb") as results:
        serve(tasks, results, suite, json.loads(parameters))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Everything is flushed and closed; skip the interpreter's teardown of great-expectations
    # (about a second) that the main process would otherwise wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
