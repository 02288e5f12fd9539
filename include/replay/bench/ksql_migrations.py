"""The project's migrations catching up on a replayed dump: drain time and records/s per query.

A generated dump (``replay dump generate``'s default 142,502 events; ``--quick`` 20,000) is
replayed unthrottled into ``meetup_events`` first; then a fresh server gets ``ksql/migrations/``
applied by the migrations runner (the DAG's order: replay, then apply), and every persistent
query starts at ``earliest`` on data that is all there. Measured:

* ``apply_s``: ``replay migrate apply --all`` on the fresh server (metadata created too);
* ``drain_s``: from the end of the apply until the last query has read all of its source
  (``replay_end_to_drained_s``: from the start of the apply, which follows the replay);
* per query, from the server's ``ksql_query_messages_consumed_total`` sampled every 0.1 s: the
  records it read, seconds from its first to its last record, and records/s over that span.
  The five queries run at once on the machine's two cores, beside the broker.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import orjson
import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

from replay.bench import BenchContext
from replay.bench.broker import shared_broker
from replay.dump.generator import DEFAULT_EVENTS, generate_dump
from replay.errors import ReplayError
from replay.migrate import Target, apply, load_config
from replay.produce import ProduceOptions, produce
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, KsqlSettings
from replay.stack.ksql import KsqlServer, KsqlServerConfig
from replay.stack.process import find_free_ports

QUICK_EVENTS = 20_000
TOPIC = "meetup_events"  # fixed by V000001
TIMEOUT_S = 1800.0


class MigrationsBenchError(ReplayError):
    """The migrations benchmark could not run as designed."""


def _consumed(url: str) -> dict[str, float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ksql_query_messages_consumed_total":
                out[sample.labels["query_id"]] = float(sample.value)
    return out


def _data_queries(url: str) -> list[str]:
    """Ids of the persistent queries the migrations started (not the runner's metadata table)."""
    response = requests.post(f"{url}/ksql", json={"ksql": "SHOW QUERIES;"}, timeout=30)
    return [q["id"] for q in response.json()[0]["queries"] if "MIGRATION_SCHEMA_VERSIONS" not in q["id"]]


def _done(samples: list[tuple[float, dict[str, float]]], query_id: str, total: int) -> bool:
    return any(counts.get(query_id, 0) >= total for _, counts in samples)


def _replay(ctx: BenchContext, bootstrap: str, events: int) -> float:
    dump = ctx.work_dir / f"migrations-{events}.jsonl"
    generate_dump(dump, events=events, progress=False)
    began = time.monotonic()
    produce(
        ProduceOptions(
            path=dump,
            topic=TOPIC,
            pacing=Pacing.unthrottled(),
            summary_path=ctx.work_dir / "migrations-produce.json",
            progress="log",
            kafka=KafkaSettings(bootstrap_servers=bootstrap),
        )
    )
    return time.monotonic() - began


def _german(ctx: BenchContext, events: int) -> int:
    path = ctx.work_dir / f"migrations-{events}.jsonl"
    return sum(1 for line in path.read_bytes().splitlines() if orjson.loads(line)["group"]["country"] == "de")


def run(ctx: BenchContext) -> dict[str, Any]:
    """Replay, apply, and follow every query until it has read its whole source."""
    events = QUICK_EVENTS if ctx.quick else DEFAULT_EVENTS
    broker = shared_broker(ctx)
    bootstrap = broker.config.bootstrap_servers
    load_at_start = os.getloadavg()[0]
    replay_s = _replay(ctx, bootstrap, events)
    german = _german(ctx, events)
    (port,) = find_free_ports(1)
    server = KsqlServer(
        KsqlServerConfig(
            state_dir=ctx.work_dir / f"ksql-migrations-{uuid.uuid4().hex[:6]}",
            port=port,
            bootstrap_servers=bootstrap,
            service_id=f"bench_mig_{uuid.uuid4().hex[:6]}_",
        )
    )
    pid = server.start(timeout_s=120)
    try:
        url = server.config.url
        cpu_before = psutil.Process(pid).cpu_times()
        samples: list[tuple[float, dict[str, float]]] = []
        stop = threading.Event()

        def sample() -> None:  # from before the apply: the streams start while it goes on
            while not stop.is_set():
                samples.append((time.monotonic(), _consumed(url)))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        began = time.monotonic()
        sampler.start()
        apply(load_config(None, ksql=KsqlSettings(url=url)), Target())  # ksql/ksql-migrations.properties
        applied = time.monotonic()
        # the hourly table reads the Germany stream's sink, the others the replayed topic
        totals = {qid: german if "GERMAN_EVENTS_HOURLY" in qid else events for qid in _data_queries(url)}
        try:
            while not all(_done(samples, qid, total) for qid, total in totals.items()):
                if time.monotonic() - applied > TIMEOUT_S:
                    behind = sorted(q for q, n in totals.items() if not _done(samples, q, n))
                    raise MigrationsBenchError(
                        f"queries still behind after {TIMEOUT_S:.0f} s: {behind}", hint="see the server log"
                    )
                time.sleep(0.2)
        finally:
            stop.set()
            sampler.join(10)
        cpu_after = psutil.Process(pid).cpu_times()
    finally:
        server.stop(timeout_s=60)
    per_query = {}
    for qid, total in sorted(totals.items()):
        first = next(at for at, counts in samples if counts.get(qid, 0) > 0)
        last = next(at for at, counts in samples if counts.get(qid, 0) >= total)
        per_query[qid] = {
            "records": total,
            "seconds": round(last - first, 2),
            "records_per_s": round(total / max(last - first, 0.1)),
            "done_after_apply_start_s": round(last - began, 2),
        }
    drained = max(began + q["done_after_apply_start_s"] for q in per_query.values())
    server_cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "events": events,
        "german_events": german,
        "replay_s": round(replay_s, 2),
        "apply_s": round(applied - began, 2),
        "drain_s": round(max(drained - applied, 0.0), 2),
        "replay_end_to_drained_s": round(drained - began, 2),
        "per_query": per_query,
        "server_cpu_s": round(server_cpu_s, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1m_at_start": round(load_at_start, 2),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "note": "catch-up: the replay first, then apply --all on a fresh server; drain_s from the end of the apply to the last query having read all of its source, replay_end_to_drained_s from the start of the apply (metrics sampled every 0.1 s from then on); per query: first to last record",
    }
