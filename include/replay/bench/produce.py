"""``replay produce`` against its peer, on the same broker in the same session.

1. Throughput: unthrottled ``replay produce`` of the full dump (142,502 events) vs Kafka's own
   ``kafka-producer-perf-test`` (``org.apache.kafka.tools.ProducerPerformance`` from the same
   jars) with the same record count, a payload file made of the dump's records, and the same
   acks, linger, batch size and compression. The peer runs twice: transactional (the same
   delivery guarantee as ours, one transaction per commit interval) and plain idempotent. The
   rounds alternate peer/ours; ratios are per round, the median is reported. Goal >= 1.0.
2. Rate accuracy at 1k, 10k and 50k events/s: the reference dump replayed at the rate (at 1k/s
   its first RATE_SECONDS), the whole run within ±0.5 % and >= 95 % of the full 1-s windows
   within ±2 %.
3. Publish delay p99 at half of the measured unthrottled rate. Goal <= 5 ms.
   Each paced run is repeated PACED_ROUNDS times; goals are judged on the medians and every
   round is reported.
4. Sustained (beyond the issue): at 10k/s, 50k/s and half of a *sustained* unthrottled rate,
   RATE_SECONDS of replay each, from the dump's records repeated into a longer file. At 50k/s
   the reference dump lasts under 3 s; this shows what the machine keeps up for longer.

The dump is validated first (`replay validate`, cached), as in the pipeline, and replayed with
its quarantine.

The machine is shared: every figure carries the load average around it. ``REPLAY_BENCH_DUMP``
points at an existing dump instead of generating one.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psutil
from confluent_kafka.admin import AdminClient, NewTopic

from replay.bench import BenchContext, results_dir
from replay.bench.broker import shared_broker
from replay.dump.generator import manifest_path
from replay.errors import ReplayError
from replay.settings import ProduceSettings
from replay.stack.broker import KafkaBroker

DUMP_EVENTS = 142_502
DUMP_SEED = 20150307
RATES = (1_000, 10_000, 50_000)
RATE_SECONDS = 30  # length of a rate run
PACED_ROUNDS = 3  # runs per rate; goals are judged on the median
REPLAY = [sys.executable, "-m", "replay.cli"]
_PEER_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


class BenchError(ReplayError):
    """A benchmark step failed."""


# -- shared resources (other benchmarks may use them too) ---------------------------------------


def shared_dump(ctx: BenchContext, events: int = DUMP_EVENTS, seed: int = DUMP_SEED) -> Path:
    """A generated Meetup dump (``replay dump generate``), cached under var/bench/dumps."""

    def make() -> Path:
        override = os.environ.get("REPLAY_BENCH_DUMP")
        if override:
            return Path(override)
        path = results_dir() / "dumps" / f"meetup-{events}-seed{seed}.jsonl"
        # The generator writes its manifest last: without it the dump is incomplete.
        if not manifest_path(path).is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            command = [*REPLAY, "dump", "generate", "--events", str(events), "--seed", str(seed)]
            command += ["--out", str(path), "--quiet"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"generating the dump failed: {done.stderr.strip()[-800:]}")
        return path

    path: Path = ctx.shared(f"dump-{events}-{seed}", make)
    return path


def shared_validation(ctx: BenchContext, dump: Path) -> Path:
    """``replay validate`` of the dump (cached next to it): the replay runs on a validated dump,
    as in the pipeline, and takes its quarantine from this folder."""

    def make() -> Path:
        out = dump.with_name(dump.name + ".validation")
        if not (out / "validation.json").is_file():
            command = [*REPLAY, "validate", str(dump), "--out-dir", str(out), "--no-data-docs", "--quiet"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"validating the dump failed: {done.stderr.strip()[-800:]}")
        return out

    path: Path = ctx.shared(f"validation-{dump}", make)
    return path


# -- runs --------------------------------------------------------------------------------------


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _replay(
    bootstrap: str, dump: Path, quarantine: Path, topic: str, pacing: list[str], *extra: str
) -> dict[str, Any]:
    """One `replay produce` of a validated dump in its own process; returns its JSON summary."""
    env = dict(os.environ, REPLAY_KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    command = [*REPLAY, "produce", str(dump), "--topic", topic, "--run-id", topic, *pacing]
    command += ["--progress", "none", "--quarantine", str(quarantine)]
    summary_path = results_dir() / "runs" / f"{topic}.json"
    command += ["--summary", str(summary_path), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"replay produce failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary


def _payload_file(dump: Path, out: Path) -> int:
    """The dump's replayable records, one per line (what `replay produce` sends)."""
    count = 0
    with dump.open("rb") as source, out.open("wb") as sink:
        for line in source:
            raw = line.rstrip(b"\r\n")
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("id"), str | int) and event.get("id") != "":
                sink.write(raw + b"\n")
                count += 1
    return count


def _peer(
    broker: KafkaBroker,
    topic: str,
    payload: Path,
    records: int,
    settings: ProduceSettings,
    *,
    transactional: bool,
) -> dict[str, Any]:
    """kafka-producer-perf-test with our producer settings; parses its final line."""
    props = [
        f"bootstrap.servers={broker.config.bootstrap_servers}",
        "acks=all",
        "enable.idempotence=true",
        f"linger.ms={settings.linger_ms:g}",
        f"batch.size={settings.batch_size}",
        f"compression.type={settings.compression_type}",
    ]
    command = [
        str(broker.java),
        "-Xmx3g",
        f"-Dlog4j2.configurationFile={broker.config_dir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={broker.log_dir / 'perf-test'}",
        "-cp",
        broker.runtime.classpath,
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--throughput",
        "-1",
        "--payload-file",
        str(payload),
        "--payload-delimiter",
        "\n",
    ]
    if transactional:
        command += ["--transaction-duration-ms", str(settings.commit_interval_ms)]
        props.append(f"transactional.id=perf-{topic}")
    command += ["--producer-props", *props]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    matches = _PEER_LINE.findall(done.stdout)
    if done.returncode != 0 or not matches:
        raise BenchError(
            f"ProducerPerformance failed ({done.returncode}): {(done.stdout + done.stderr)[-1500:]}"
        )
    sent, per_s, mb_per_s = matches[-1]
    return {"records": int(sent), "records_per_s": float(per_s), "mb_per_s": float(mb_per_s)}


class _LongDump:
    """The dump's replayable records, repeated into one JSON Lines file as long as needed.

    Every record in it is valid, so it goes with an empty quarantine: the replay takes the same
    path as for a validated dump. Grown on demand, reused with ``--limit``.
    """

    def __init__(self, work_dir: Path, payload: Path) -> None:
        self.payload = payload
        self.path = work_dir / "long-dump.jsonl"
        self.quarantine = work_dir / "long-dump.quarantine.jsonl"
        self.quarantine.write_bytes(b"")
        self.records = 0

    def at_least(self, records: int) -> Path:
        """The file, holding at least ``records`` records (the payload is read only to grow it)."""
        if self.records < records:
            block = self.payload.read_bytes()
            per_copy = block.count(b"\n")
            with self.path.open("ab") as sink:
                while self.records < records:
                    sink.write(block)
                    self.records += per_copy
        return self.path


class _Topics:
    """Fresh topics per run, deleted afterwards so the broker's disk does not fill up.

    :meth:`drop` returns once the page cache's dirty data is written back: a measured run does
    not share the disk with the write-back of the previous one.
    """

    def __init__(self, broker: KafkaBroker) -> None:
        self.admin = AdminClient({"bootstrap.servers": broker.config.bootstrap_servers})

    def new(self, prefix: str) -> str:
        name = f"bench-{prefix}-{uuid.uuid4().hex[:6]}"
        self.admin.create_topics([NewTopic(name, 1, 1)])[name].result()
        return name

    def drop(self, *names: str) -> None:
        for future in self.admin.delete_topics(list(names), operation_timeout=30).values():
            future.result()
        os.sync()


class _Cpu:
    """CPU seconds of the client process (a waited-for child) and of the broker during a run.

    Unlike a rate, CPU per record barely depends on what else the shared machine runs. Client
    CPU includes its start-up (the JVM, or Python's imports).
    """

    def __init__(self, broker: KafkaBroker) -> None:
        pid = broker.running_pid()
        self.broker = psutil.Process(pid) if pid else None

    def __enter__(self) -> _Cpu:
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.broker_start = sum(self.broker.cpu_times()[:2]) if self.broker else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.client_s = (after.ru_utime - self.children.ru_utime) + (after.ru_stime - self.children.ru_stime)
        self.broker_s = (sum(self.broker.cpu_times()[:2]) - self.broker_start) if self.broker else 0.0

    def figures(self, records: int) -> dict[str, float]:
        return {
            "client_cpu_s": round(self.client_s, 2),
            "broker_cpu_s": round(self.broker_s, 2),
            "client_cpu_us_per_record": round(self.client_s / records * 1e6, 1) if records else 0.0,
            "broker_cpu_us_per_record": round(self.broker_s / records * 1e6, 1) if records else 0.0,
        }


def _ours_figures(summary: dict[str, Any]) -> dict[str, Any]:
    rate = summary["rate"]
    return {
        "records": summary["counts"]["committed"],
        "records_per_s": rate["committed_per_s"],
        "mb_per_s": rate["committed_mb_per_s"],
        "publishLatency_p99_us": summary["publishLatency"]["p99"],
        "commitLatency_p50_us": summary["commitLatency"]["p50"],
    }


def _throughput(
    ctx: BenchContext, broker: KafkaBroker, dump: Path, validation: Path, rounds: int
) -> dict[str, Any]:
    bootstrap = broker.config.bootstrap_servers
    settings = ProduceSettings()
    topics = _Topics(broker)
    payload = ctx.work_dir / "payload.txt"
    records = _payload_file(dump, payload)
    out: dict[str, Any] = {"rounds": []}
    for _ in range(rounds):
        load_before = _load()
        peer_topic = topics.new("peer-txn")
        with _Cpu(broker) as cpu:
            peer = _peer(broker, peer_topic, payload, records, settings, transactional=True)
        peer.update(cpu.figures(records))
        ours_topic = topics.new("ours")
        with _Cpu(broker) as cpu:
            ours = _ours_figures(_replay(bootstrap, dump, validation, ours_topic, ["--max"]))
        ours.update(cpu.figures(records))
        plain_topic = topics.new("peer-plain")
        with _Cpu(broker) as cpu:
            plain = _peer(broker, plain_topic, payload, records, settings, transactional=False)
        plain.update(cpu.figures(records))
        topics.drop(peer_topic, ours_topic, plain_topic)
        out["rounds"].append(
            {
                "ours": ours,
                "peer_transactional": peer,
                "peer_plain": plain,
                "ratio_vs_transactional": round(ours["records_per_s"] / peer["records_per_s"], 3),
                "ratio_vs_plain": round(ours["records_per_s"] / plain["records_per_s"], 3),
                "load_avg_1m": [load_before, _load()],
            }
        )
    rounds_ = out["rounds"]
    out["records"] = records
    out["settings"] = {
        "acks": "all",
        "linger.ms": settings.linger_ms,
        "batch.size": settings.batch_size,
        "compression.type": settings.compression_type,
        "transaction_ms": settings.commit_interval_ms,
    }
    out["ours_records_per_s"] = statistics.median(r["ours"]["records_per_s"] for r in rounds_)
    out["ratio_vs_transactional"] = statistics.median(r["ratio_vs_transactional"] for r in rounds_)
    out["ratio_vs_plain"] = statistics.median(r["ratio_vs_plain"] for r in rounds_)
    out["goal_ratio_ge_1"] = out["ratio_vs_transactional"] >= 1.0
    return out


# Where a run's records come from: records wanted -> (dump, quarantine, records it holds).
_Source = Callable[[int], tuple[Path, Path, int]]


def _paced(broker: KafkaBroker, source: _Source, rate: float, seconds: float) -> dict[str, Any]:
    """A ``--rate`` replay of ``seconds`` worth of records (fewer if the source ends sooner)."""
    bootstrap = broker.config.bootstrap_servers
    topics = _Topics(broker)
    topic = topics.new(f"rate{int(rate)}")
    wanted = round(rate * seconds)
    dump, quarantine, available = source(wanted)
    extra = ["--limit", str(wanted)] if wanted < available else []
    load_before = _load()
    summary = _replay(bootstrap, dump, quarantine, topic, ["--rate", f"{rate:g}"], *extra)
    topics.drop(topic)
    r = summary["rate"]
    accuracy = r["window_accuracy"] or {}
    delay = summary["publishDelayLatency"]
    return {
        "target_per_s": rate,
        "records": summary["counts"]["committed"],
        "achieved_per_s": r["achieved_per_s"],
        "whole_run_error_pct": r["error_pct"],
        "full_windows": accuracy.get("windows"),
        "windows_within_2pct": accuracy.get("fraction_within"),
        "worst_window_error": accuracy.get("max_abs_error"),
        "publishDelayLatency_us": {k: delay[k] for k in ("p50", "p90", "p99", "p99_9", "max")},
        "publishLatency_p99_us": summary["publishLatency"]["p99"],
        "commitLatency_p99_us": summary["commitLatency"]["p99"],
        "load_avg_1m": [load_before, _load()],
    }


def _paced_rounds(
    broker: KafkaBroker, source: _Source, rate: float, seconds: float, rounds: int
) -> dict[str, Any]:
    """``rounds`` runs at ``rate``; the goals are judged on the medians, every round is listed."""
    runs = [_paced(broker, source, rate, seconds) for _ in range(rounds)]

    def median(get: Any) -> Any:
        values = [get(run) for run in runs]
        return None if None in values else statistics.median(values)

    error = median(
        lambda run: abs(run["whole_run_error_pct"]) if run["whole_run_error_pct"] is not None else None
    )
    within = median(lambda run: run["windows_within_2pct"])
    p99 = median(lambda run: run["publishDelayLatency_us"]["p99"])
    return {
        "target_per_s": rate,
        "rounds": runs,
        "median_abs_error_pct": error,
        "median_windows_within_2pct": within,
        "median_publishDelay_p99_us": p99,
        "goal_whole_run_within_0_5pct": error is not None and error <= 0.5,
        "goal_95pct_windows_within_2pct": (within or 0) >= 0.95,
        "goal_p99_le_5ms": p99 is not None and p99 <= 5_000,
        "rounds_meeting_p99_le_5ms": sum(
            1 for run in runs if (run["publishDelayLatency_us"]["p99"] or 0) <= 5_000
        ),
    }


def _sustained(ctx: BenchContext, broker: KafkaBroker, seconds: float) -> dict[str, Any]:
    """Beyond the issue's runs: the same goals over ``seconds`` of replay at every rate.

    The reference dump lasts under 3 s at 50k/s; a longer run shows what the machine sustains
    (the broker rolls 1 GB segments and flushes them, its collector runs, the disk fills). The
    unthrottled rate here is a sustained one too (a ``--max`` run of 1.5M records), and the
    half-rate run uses half of it.
    """
    long_dump = _LongDump(ctx.work_dir, ctx.work_dir / "payload.txt")
    wanted = 100_000 if ctx.quick else 1_500_000
    path = long_dump.at_least(wanted)
    topics = _Topics(broker)
    topic = topics.new("sustained-max")
    summary = _replay(
        broker.config.bootstrap_servers, path, long_dump.quarantine, topic, ["--max"], "--limit", str(wanted)
    )
    topics.drop(topic)
    unthrottled = summary["rate"]["committed_per_s"]

    def source(count: int) -> tuple[Path, Path, int]:
        return long_dump.at_least(count), long_dump.quarantine, long_dump.records

    out: dict[str, Any] = {
        "seconds": seconds,
        "unthrottled_records": wanted,
        "unthrottled_per_s": unthrottled,
    }
    for rate in (*RATES[1:], round(unthrottled / 2)):
        out[str(rate)] = _paced_rounds(broker, source, rate, seconds, 1)
    out["half_rate"] = round(unthrottled / 2)
    return out


def run(ctx: BenchContext) -> dict[str, Any]:
    """Throughput vs the peer, rate accuracy, publish delay at half the unthrottled rate."""
    broker = shared_broker(ctx)
    dump = shared_dump(ctx)
    validation = shared_validation(ctx, dump)
    started = time.monotonic()
    throughput = _throughput(ctx, broker, dump, validation, rounds=1 if ctx.quick else 3)
    records = throughput["records"]
    seconds = 5 if ctx.quick else RATE_SECONDS
    rounds = 1 if ctx.quick else PACED_ROUNDS

    def reference(wanted: int) -> tuple[Path, Path, int]:
        return dump, validation, records

    rates: dict[str, Any] = {}
    for rate in RATES:
        rates[str(rate)] = _paced_rounds(broker, reference, rate, seconds, rounds)
    half = round(throughput["ours_records_per_s"] / 2)
    at_half = _paced_rounds(broker, reference, half, seconds, rounds)
    return {
        "dump": {"path": str(dump), "records": records, "bytes": dump.stat().st_size},
        "rate_runs": {
            "seconds": seconds,
            "rounds": rounds,
            "dump": "the reference dump, once (at 10k/s and more it ends before `seconds`)",
        },
        "throughput": throughput,
        "rate_accuracy": rates,
        "publish_delay_at_half_rate": at_half,
        "sustained": _sustained(ctx, broker, seconds),
        "bench_seconds": round(time.monotonic() - started, 1),
        "note": "2-core machine shared with other work: see load_avg_1m next to each figure",
    }
