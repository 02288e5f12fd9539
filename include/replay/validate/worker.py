"""Entry point of the great-expectations worker process (started by ``WorkerBackend``).

``python -m replay.validate.worker TASK_FD RESULT_FD SUITE PARAMETERS_JSON``: reads tasks from
one inherited pipe and writes results to the other. A module of its own so that what it sends
pickles under ``replay.validate.*`` names, not ``__main__``.
"""

from __future__ import annotations

import json
import os
import sys

from replay.validate.backends import serve


def main(argv: list[str]) -> int:
    """Serve tasks until the task pipe closes."""
    task_fd, result_fd, suite, parameters = argv
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
