"""Paced, exactly-once replay of a dump into Kafka (``replay produce``; the DAG calls :func:`produce`).

See docs/replay.md for the behaviour, the headers and the JSON summary schema.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from replay.errors import ReplayError
from replay.produce.errors import ProduceError, ProduceInterrupted
from replay.produce.options import ProduceOptions, new_run_id
from replay.produce.pacing import Pacing
from replay.produce.producer import Replayer
from replay.produce.summary import build_summary, delivery_report, write_summary

__all__ = ["Pacing", "ProduceError", "ProduceOptions", "new_run_id", "produce"]

log = logging.getLogger(__name__)


def produce(options: ProduceOptions, *, stop: threading.Event | None = None) -> dict[str, Any]:
    """Replay ``options.path`` into ``options.topic``; returns the summary (also written to disk).

    On failure the summary is written too (status ``failed`` or ``interrupted``) and attached to
    the raised :class:`ProduceError` as ``error.summary``. Setting ``stop`` ends the replay after
    committing what was sent (a resume with the same run id continues from there).
    """
    replayer = Replayer(options, stop=stop)
    endpoint = None
    if options.metrics_dir is not None:
        from replay.metrics.exporter import ReplayEndpoint

        endpoint = ReplayEndpoint(replayer, options.metrics_dir)
    try:
        try:
            replayer.run()
        finally:
            if replayer.progress is not None:
                replayer.progress.close()  # its last line comes before the delivery report
            if endpoint is not None:
                endpoint.close()
    except ReplayError as error:
        status = "interrupted" if isinstance(error, ProduceInterrupted) else "failed"
        summary = build_summary(replayer, status=status, error=error)
        path = write_summary(summary, options.summary_file())
        if isinstance(error, ProduceError):
            error.summary = summary
        log.error("replay %s:\n%s\nsummary: %s", status, delivery_report(summary), path)
        raise
    finally:
        replayer.close()
    summary = build_summary(replayer, status="completed")
    path = write_summary(summary, options.summary_file())
    log.info("%s\nsummary: %s", delivery_report(summary), path)
    return summary
