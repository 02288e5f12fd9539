"""The whole job in one call (``replay run`` / ``make run``): stack, dump, validation, replay.

Each step is the library call the CLI and the DAGs use, so the pipeline adds only the order, the
shared run folder (``var/runs/<run id>``) and the reconciliation across the steps: every record
read by validation is either committed to the topic or quarantined, and the replay's counts
must say the same. A run that does not reconcile is an error, never a quiet success.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.dump.generator import DEFAULT_EVENTS, DEFAULT_SEED, default_dump_path, generate_dump
from replay.errors import ReconciliationError
from replay.paths import run_dir
from replay.produce import ProduceOptions, produce
from replay.produce.pacing import Pacing
from replay.settings import KafkaSettings, StackSettings

log = logging.getLogger(__name__)

RUN_SUMMARY_FILE = "run-summary.json"
DEFAULT_TOPIC = "meetup_events"


def new_pipeline_run_id() -> str:
    """A fresh run id for ``replay run``: UTC time plus a random suffix."""
    return f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class PipelineOptions:
    """One end-to-end run. ``dump=None`` uses (and if needed generates) the default dump."""

    dump: Path | None = None
    events: int = DEFAULT_EVENTS  # only used when the default dump has to be generated
    seed: int = DEFAULT_SEED
    topic: str = DEFAULT_TOPIC
    pacing: Pacing = field(default_factory=Pacing.unthrottled)
    run_id: str = field(default_factory=new_pipeline_run_id)
    policy: str = "quarantine"
    max_invalid_pct: float = 1.0
    dlq: bool = True
    reset_topic: bool = False
    embedded_stack: bool = True  # start the embedded stack; False: use REPLAY_KAFKA_* as given
    stop_stack: bool = False  # stop the services this run started, at the end
    progress: bool = True
    stack: StackSettings = field(default_factory=StackSettings)


@dataclass
class PipelineResult:
    """What ``replay run`` did, as written to ``run-summary.json``."""

    run_id: str
    out_dir: Path
    dump: Path
    topic: str
    validation: dict[str, Any]
    replay: dict[str, Any]
    stack: dict[str, Any]
    steps_s: dict[str, float]

    def reconciliation(self) -> dict[str, Any]:
        """Records read = committed + quarantined, checked across both steps."""
        counts = self.replay["counts"]
        read = self.validation["read"]
        replayed = counts["committed"] + counts["quarantined"] + counts["invalid"] + counts["blank"]
        return {
            "read": read,
            "valid": self.validation["valid"],
            "quarantined": self.validation["quarantined"],
            "committed": counts["committed"],
            "replay_quarantined": counts["quarantined"],
            "replay_skipped_other": counts["invalid"] + counts["blank"],
            "dlq": counts["dlq"],
            "reconciled": (
                read == replayed
                and self.validation["valid"] == counts["committed"]
                and read == self.validation["valid"] + self.validation["quarantined"]
            ),
        }

    def to_json(self) -> dict[str, Any]:
        """The ``run-summary.json`` document."""
        return {
            "schema": "replay.run.summary/1",
            "run_id": self.run_id,
            "dump": str(self.dump),
            "topic": self.topic,
            "out_dir": str(self.out_dir),
            "reconciliation": self.reconciliation(),
            "steps_s": {k: round(v, 3) for k, v in self.steps_s.items()},
            "stack": self.stack,
            "validation": {
                k: self.validation[k]
                for k in ("read", "valid", "quarantined", "invalid_pct", "passed", "policy", "paths")
            },
            "replay": {
                "status": self.replay["status"],
                "counts": self.replay["counts"],
                "rate": {k: self.replay["rate"][k] for k in ("target_per_s", "achieved_per_s")},
                "summary": str(self.out_dir / "produce-summary.json"),
            },
        }


def _start_stack(options: PipelineOptions) -> tuple[KafkaSettings, dict[str, Any], list[str]]:
    """Bring the embedded stack up; returns the client settings, its endpoints and who was started."""
    from replay.stack import manager

    if not options.embedded_stack:
        kafka = KafkaSettings()
        return kafka, {"embedded": False, "bootstrap_servers": kafka.bootstrap_servers}, []
    before = {item.name for item in manager.status(options.stack) if item.running}
    statuses = manager.up(options.stack)
    started = [item.name for item in statuses if item.name not in before]
    endpoints = {item.name: item.endpoints for item in statuses}
    log.info("stack up (%s)", ", ".join(f"{s.name} pid {s.pid}" for s in statuses))
    kafka = KafkaSettings(bootstrap_servers=options.stack.bootstrap_servers)
    return kafka, {"embedded": True, "services": endpoints, "started_by_run": started}, started


def _ensure_dump(options: PipelineOptions) -> Path:
    if options.dump is not None:
        return options.dump
    path = default_dump_path()
    if path.is_file():
        log.info("dump %s exists; using it (delete it to generate a fresh one)", path)
        return path
    log.info("no dump at %s: generating %d events (seed %d)", path, options.events, options.seed)
    generate_dump(path, events=options.events, seed=options.seed, progress=options.progress)
    return path


def run_pipeline(options: PipelineOptions) -> PipelineResult:
    """Stack up, dump, validate, replay, reconcile; writes ``run-summary.json`` in the run folder.

    Raises the step's own error when a step fails (validation over its threshold raises
    :class:`replay.errors.DumpValidationError`), and :class:`ReconciliationError` when the
    counts of the steps disagree.
    """
    # Validation pulls in pandas and great-expectations: import it only when a run needs it.
    from replay.validate import load_quarantine, validate_dump

    out_dir = run_dir(options.run_id)
    steps: dict[str, float] = {}
    started: list[str] = []
    begin = time.monotonic()
    try:
        kafka, stack_info, started = _start_stack(options)
        steps["stack"] = time.monotonic() - begin

        begin = time.monotonic()
        dump = _ensure_dump(options)
        steps["dump"] = time.monotonic() - begin

        begin = time.monotonic()
        validation = validate_dump(
            dump,
            out_dir,
            policy="fail" if options.policy == "fail" else "quarantine",
            max_invalid_pct=options.max_invalid_pct,
            progress=options.progress,
        )
        steps["validate"] = time.monotonic() - begin
        log.info("validation: %s", validation.verdict_line())

        begin = time.monotonic()
        summary = produce(
            ProduceOptions(
                path=dump,
                topic=options.topic,
                pacing=options.pacing,
                run_id=options.run_id,
                quarantine=load_quarantine(out_dir),
                validated=True,
                dlq=options.dlq,
                reset=options.reset_topic,
                progress="auto" if options.progress else "none",
                kafka=kafka,
            )
        )
        steps["replay"] = time.monotonic() - begin
    finally:
        if options.stop_stack and started:
            from replay.stack import manager

            manager.down(options.stack)
            log.info("stopped what this run started: %s", ", ".join(started))

    result = PipelineResult(
        run_id=options.run_id,
        out_dir=out_dir,
        dump=dump,
        topic=options.topic,
        validation=validation.to_json(),
        replay=summary,
        stack=stack_info,
        steps_s=steps,
    )
    document = result.to_json()
    (out_dir / RUN_SUMMARY_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if not document["reconciliation"]["reconciled"]:
        raise ReconciliationError(
            f"run {options.run_id} does not reconcile: {document['reconciliation']}",
            hint=f"compare validation.json and produce-summary.json in {out_dir}; this is a bug, please report it",
        )
    return result
