"""Metric snapshots and end-to-end latency of a run (docs/metrics.md).

- :mod:`replay.metrics.exporter` — the replay's own ``/metrics`` (``prometheus_client``);
- :mod:`replay.metrics.collector` — the detached collector process of a run: scrapes every
  second (:mod:`~replay.metrics.endpoints`, stored by :mod:`~replay.metrics.snapshots`) and
  runs the latency probes (:mod:`~replay.metrics.probes`) on the source and the ksql sinks
  (found by :mod:`~replay.metrics.catalog`);
- :mod:`replay.metrics.control` — start it, stop it (pid file in the run folder);
- :mod:`replay.metrics.series` — the arithmetic: counter resets, rates, histogram merges.
"""
