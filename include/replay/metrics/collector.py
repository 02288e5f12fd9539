"""The collector process of one run (``replay metrics collect --run-dir DIR``).

Started detached by :func:`replay.metrics.control.start_collector` before the replay and
stopped (SIGTERM) after the sinks have drained, so it covers the whole replay window even when
Airflow runs each task in a process of its own, or all of them one after the other. It:

1. notes where every topic of interest ends now (the run's records come after these offsets),
   and says it is ready (``metrics/ready.json``);
2. scrapes the broker's JMX exporter, the ksql server's ``/metrics`` and the replay's endpoint
   (once the replay announces it) every ``interval_s`` into ``snapshots.jsonl.gz`` — or, with a
   Prometheus server configured, reads the same series from its HTTP API at the end;
3. runs the latency probes (:mod:`replay.metrics.probes`) on the source topic and on every
   ksql sink topic, adding sinks as queries appear;
4. on SIGTERM (or when its deadline passes): a final scrape, the probes read up to the end,
   ``probes.json`` and ``collector-result.json`` are written, and it exits.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from replay.errors import MetricsError
from replay.metrics import catalog, endpoints
from replay.metrics.exporter import FINAL_FILE, read_announcement
from replay.metrics.probes import Probe, TopicState
from replay.metrics.snapshots import SNAPSHOTS_FILE, SnapshotWriter
from replay.settings import KafkaSettings, KsqlSettings

log = logging.getLogger(__name__)

CONFIG_FILE = "collector.json"
READY_FILE = "ready.json"
PROBES_FILE = "probes.json"
RESULT_FILE = "collector-result.json"
_CATALOG_EVERY_S = 2.0


@dataclass(frozen=True)
class CollectorConfig:
    """What the collector of a run measures (``metrics/collector.json``; no secrets in it —
    passwords reach the process through its environment only)."""

    run_id: str
    source_topic: str
    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str | None
    sasl_username: str | None
    ksql_url: str | None
    ksql_username: str | None
    broker_url: str | None
    prometheus_url: str | None
    interval_s: float
    deadline_epoch_s: float
    nice: int
    intended_sample_every: int
    window_start_ms: int

    def write(self, metrics_dir: Path) -> Path:
        """Save as ``collector.json``."""
        metrics_dir.mkdir(parents=True, exist_ok=True)
        path = metrics_dir / CONFIG_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, metrics_dir: Path) -> CollectorConfig:
        """Load ``collector.json``, or :class:`MetricsError` naming what is missing."""
        path = metrics_dir / CONFIG_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise MetricsError(
                f"the collector configuration {path} is missing or unreadable ({error})",
                hint="start the collector with the start_metrics step (or `replay metrics start`)",
            ) from error

    def kafka(self) -> KafkaSettings:
        """Kafka settings: the file's values, the password from the environment."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            sasl_username=self.sasl_username,
        )

    def ksql(self) -> KsqlSettings | None:
        """ksqlDB settings (the password from the environment), None without a ksql server."""
        if self.ksql_url is None:
            return None
        return KsqlSettings(url=self.ksql_url, username=self.ksql_username)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


class Collector:
    """One run's collector; :meth:`run` until stopped."""

    def __init__(self, metrics_dir: Path, config: CollectorConfig) -> None:
        self.dir = metrics_dir
        self.config = config
        self.stop = threading.Event()
        self.kafka_config = config.kafka().client_config()
        self.ksql = config.ksql()
        self.session = requests.Session()
        self.snapshots = SnapshotWriter(metrics_dir / SNAPSHOTS_FILE)
        self.started_ms = int(time.time() * 1000)
        self.source = Probe(
            "source",
            self.kafka_config,
            window_start_ms=config.window_start_ms,
            intended_every=config.intended_sample_every,
        )
        self.sinks = Probe("sinks", self.kafka_config, window_start_ms=config.window_start_ms)
        self.sink_info: dict[str, dict[str, Any]] = {}
        self.scrapes: dict[str, int] = {}
        self.failed_scrapes: dict[str, int] = {}
        self._final_replay_read = False
        self.source_added = False

    # -- start ---------------------------------------------------------------------------------

    def _end_offsets(self, topic: str) -> dict[int, int] | None:
        """Where ``topic`` ends now per partition (None when the topic does not exist)."""
        admin = AdminClient(self.kafka_config)
        metadata = admin.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return None
        probe = Consumer(
            {**self.kafka_config, "group.id": "replay-offsets", "isolation.level": "read_committed"}
        )
        try:
            return {
                p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in metadata.partitions
            }
        finally:
            probe.close()

    def _add_topic(self, probe: Probe, topic: str, kind: str, ready: dict[str, Any]) -> bool:
        """Start probing ``topic``: from where it ended when the run began (a restarted
        collector keeps its predecessor's offsets), or from its beginning when it was created
        after that. False when the topic does not exist yet (tried again later)."""
        earlier = ready.get("start_offsets", {}).get(topic)
        if earlier is not None:
            offsets = {int(p): o for p, o in earlier["offsets"].items()}
            existed = bool(earlier["existed"])
        else:
            ends = self._end_offsets(topic)
            if ends is None:
                return False
            existed = not ready.get("collector_ready", False)
            offsets = ends if existed else {p: -1 for p in ends}
            ready.setdefault("start_offsets", {})[topic] = {
                "offsets": {str(p): o for p, o in offsets.items()},
                "existed": existed,
            }
        probe.add(
            TopicState(
                topic=topic,
                kind=kind,
                start_offsets=offsets,
                existed_at_start=existed,
                first_seen_ms=int(time.time() * 1000),
                window_start_ms=self.config.window_start_ms,
                read_from_beginning=kind == "table",
            )
        )
        return True

    def _discover_source(self, ready: dict[str, Any]) -> None:
        if not self.source_added:
            self.source_added = self._add_topic(self.source, self.config.source_topic, "source", ready)
            if self.source_added:
                write_json(self.dir / READY_FILE, ready)

    def _discover(self, ready: dict[str, Any]) -> None:
        """Add the sink topics of queries that appeared since the last look."""
        self._discover_source(ready)
        if self.ksql is None:
            return
        for sink in catalog.sinks(self.ksql, self.config.source_topic):
            if sink.topic in self.sink_info or sink.topic == self.config.source_topic:
                continue
            if not self._add_topic(self.sinks, sink.topic, sink.kind, ready):
                continue  # the query has not created its topic yet
            self.sink_info[sink.topic] = {
                "query_id": sink.query_id,
                "sink": sink.sink,
                "kind": sink.kind,
                "windowed": sink.windowed,
                "seen_at_ms": int(time.time() * 1000),
                "at_start": not ready.get("collector_ready", False),
            }
            write_json(self.dir / READY_FILE, ready)

    # -- scrapes -------------------------------------------------------------------------------

    def _targets(self) -> list[tuple[str, str]]:
        targets = []
        if self.config.broker_url:
            targets.append(("broker", self.config.broker_url))
        if self.ksql is not None:
            targets.append(("ksql", self.ksql.url.rstrip("/") + "/metrics"))
        announced = read_announcement(self.dir)
        if announced is not None and not (self.dir / FINAL_FILE).is_file():
            targets.append(("replay", str(announced["url"])))
        return targets

    def scrape_all(self) -> None:
        """One scrape of every endpoint (nothing with a Prometheus server: it scrapes them)."""
        if self.config.prometheus_url is None:
            for source, url in self._targets():
                record = endpoints.scrape(self.session, source, url)
                self.snapshots.write(record)
                counts = self.scrapes if record.get("status") == 200 else self.failed_scrapes
                counts[source] = counts.get(source, 0) + 1
        if self.config.prometheus_url is None:
            self._final_replay_snapshot(None)

    def _final_replay_snapshot(self, not_before_ms: int | None) -> None:
        """The replay's last reading, written as it ended, stored once. After a Prometheus
        range it is stamped after the range's end: a range repeats a series' last scraped
        value at every step for a while, so the final value must come last."""
        final = self.dir / FINAL_FILE
        if self._final_replay_read or not final.is_file():
            return
        self._final_replay_read = True
        t = int(final.stat().st_mtime * 1000)
        self.snapshots.write(
            {
                "t": max(t, not_before_ms + 1) if not_before_ms is not None else t,
                "source": "replay",
                "url": str(final),
                "status": 200,
                "ms": 0,
                "text": final.read_text(encoding="utf-8"),
            }
        )

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Collect until stopped or past the deadline; returns the result document."""
        ready_path = self.dir / READY_FILE
        ready: dict[str, Any] = (
            json.loads(ready_path.read_text(encoding="utf-8")) if ready_path.is_file() else {}
        )
        ready.setdefault("first_started_ms", self.started_ms)
        if self.config.prometheus_url is not None:
            endpoints.prometheus_ready(self.config.prometheus_url)
        self._discover(ready)
        self.source.start()
        self.sinks.start()
        self.scrape_all()
        # Topics that appear from now on were created during the run: read from their start.
        ready.update(pid=os.getpid(), started_ms=self.started_ms, collector_ready=True)
        write_json(ready_path, ready)
        log.info("collector ready: %s, sinks %s", self.config.source_topic, sorted(self.sink_info))
        next_tick = time.monotonic()
        next_catalog = next_tick + _CATALOG_EVERY_S
        next_log = next_tick + 30
        reason = "stopped"
        while True:
            next_tick += self.config.interval_s
            if self.stop.wait(max(next_tick - time.monotonic(), 0)):
                break
            if time.time() >= self.config.deadline_epoch_s:
                reason = "deadline"
                log.warning("collector: the run's deadline passed; stopping by itself")
                break
            self.scrape_all()
            if not self.source_added:
                # The replay creates the source topic on a fresh stack: read it within a tick.
                self._discover_source(ready)
            if time.monotonic() >= next_catalog:
                next_catalog = time.monotonic() + _CATALOG_EVERY_S
                self._discover(ready)
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + 30
                log.info("collector: %s scrapes so far; %s", self.scrapes, self._probe_line())
        return self.finish(reason, ready)

    def _probe_line(self) -> str:
        return ", ".join(
            f"{s.topic} {s.in_window:,} records"
            for p in (self.source, self.sinks)
            for s in list(p.topics.values())
        )

    def finish(self, reason: str, ready: dict[str, Any]) -> dict[str, Any]:
        """Final scrape, probes read to the end, files written."""
        self._discover(ready)
        self.scrape_all()
        ended_ms = int(time.time() * 1000)
        errors: list[str] = []
        if self.config.prometheus_url is not None:
            start_s = ready.get("first_started_ms", self.started_ms) / 1000
            # One more scrape interval of Prometheus' own, so its last samples are in.
            time.sleep(min(self.config.interval_s * 2, 5))
            try:
                record = endpoints.prometheus_range(
                    self.config.prometheus_url, start_s - 1, time.time(), self.config.interval_s
                )
            except MetricsError as error:
                # The probes' figures are still worth writing; the report shows the error.
                log.error("collector: %s", error.one_line())
                errors.append(error.one_line())
            else:
                self.snapshots.write(record)
                self.scrapes["prometheus"] = 1
            self._final_replay_snapshot(int(time.time() * 1000))
        ends = {**self.source.finish(30.0), **self.sinks.finish(30.0)}
        topics = {**self.source.reports(ends), **self.sinks.reports(ends)}
        for topic, info in self.sink_info.items():
            if topic in topics:
                topics[topic]["query"] = info
        probes = {
            "schema": "replay.metrics.probes/1",
            "run_id": self.config.run_id,
            "window_start_ms": self.config.window_start_ms,
            "collector_started_ms": ready.get("first_started_ms", self.started_ms),
            "collector_ended_ms": ended_ms,
            "topics": topics,
            "errors": errors + self.source.errors + self.sinks.errors,
        }
        write_json(self.dir / PROBES_FILE, probes)
        self.snapshots.close()
        result = {
            "schema": "replay.metrics.result/1",
            "run_id": self.config.run_id,
            "reason": reason,
            "started_ms": self.started_ms,
            "ended_ms": ended_ms,
            "mode": "prometheus" if self.config.prometheus_url else "scrape",
            "scrapes": self.scrapes,
            "failed_scrapes": self.failed_scrapes,
            "snapshots": self.snapshots.written,
            "topics": {
                t: {"records_in_window": d["records_in_window"], "kind": d["kind"]} for t, d in topics.items()
            },
        }
        write_json(self.dir / RESULT_FILE, result)
        log.info("collector done (%s): %s", reason, json.dumps(result["topics"]))
        return result


def collect(metrics_dir: Path) -> dict[str, Any]:
    """The body of ``replay metrics collect``: SIGTERM/SIGINT stop it cleanly."""
    config = CollectorConfig.read(metrics_dir)
    # `kill -USR1 <pid>` prints every thread's stack to the collector log (a hang, diagnosed).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if config.nice:
        os.nice(config.nice)
    collector = Collector(metrics_dir, config)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("collector: signal %d, finishing", signum)
        collector.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return collector.run()
