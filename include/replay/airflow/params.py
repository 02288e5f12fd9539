"""The typed Params of the replay DAGs (the trigger form) and their parsing into library values.

Airflow validates a run's conf against these JSON schemas before the run exists (the REST API
answers 400, ``dag.test`` raises ``ParamValidationError``), so most bad values never reach a
task. What JSON schema cannot say — a dump path inside the allowed roots once symlinks are
resolved, ``max_gap_s`` only with ``speedup`` — :func:`parse_params` checks at the start of each
task, with a :class:`~replay.errors.ConfigError` that says what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from replay.errors import ConfigError
from replay.pipeline.steps import ReplayStep
from replay.produce.options import check_topic
from replay.produce.pacing import Pacing

PacingParam = Literal["rate", "speedup", "unthrottled"]
PACING_MODES: tuple[PacingParam, ...] = ("rate", "speedup", "unthrottled")
POLICIES = ("quarantine", "fail")
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,245}$"
MIGRATIONS_TARGET_PATTERN = r"^(latest|[1-9][0-9]{0,8})$"
# A report limit: name[subject] op number, or a bare name (replay.report.thresholds parses it).
THRESHOLD_PATTERN = r"^\s*[a-z0-9_]+(\[[^\]]+\])?\s*((<=|>=|<|>|==)\s*-?[0-9.]+)?\s*$"
MAX_PARTITIONS = 1000

SECTION_DUMP = "Dump and validation"
SECTION_REPLAY = "Replay"
SECTION_KSQL = "KSQL migrations"
SECTION_REPORT = "Report"


def dump_pattern(roots: Sequence[Path]) -> str:
    """A JSON-schema pattern: empty (the default dump) or a path under one of ``roots``, no ``..``."""
    alternatives = "|".join(_escape(str(root).rstrip("/")) for root in roots)
    return rf"^$|^({alternatives})/(?!.*(^|/)\.\.(/|$))[^\x00]+$"


def _escape(text: str) -> str:
    # Not re.escape: it escapes "-" too, which a browser's unicode-mode RegExp rejects.
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def param_specs(dump_roots: Sequence[Path], default_report_root: Path) -> dict[str, dict[str, Any]]:
    """Every param as keyword arguments of ``airflow.sdk.Param`` (kept Airflow-free for tests)."""
    roots = ", ".join(str(root) for root in dump_roots)
    return {
        "dump": {
            # null, not "": the trigger form marks an empty string param as required.
            "default": None,
            "type": ["null", "string"],
            "pattern": dump_pattern(dump_roots),
            "title": "Dump path",
            "description": f"JSON Lines dump to replay, inside the allowed dump roots ({roots}; "
            "REPLAY_DAG_DUMP_ROOTS). Empty: the default dump var/dumps/meetup-events.jsonl, "
            "generated (142,502 events) when missing.",
            "section": SECTION_DUMP,
        },
        "validation_policy": {
            "default": "quarantine",
            "type": "string",
            "enum": list(POLICIES),
            "title": "Validation policy",
            "description": "quarantine: bad records go to the quarantine (and the DLQ) and the run "
            "goes on while they stay under the threshold; fail: any bad record fails the run.",
            "section": SECTION_DUMP,
        },
        "max_invalid_pct": {
            "default": 1.0,
            "type": "number",
            "minimum": 0,
            "maximum": 100,
            "title": "Max invalid records (%)",
            "description": "With the quarantine policy: fail the run when more than this share "
            "of the records is invalid (0–100).",
            "section": SECTION_DUMP,
        },
        "topic": {
            "default": "meetup_events",
            "type": "string",
            "pattern": TOPIC_PATTERN,
            "minLength": 1,
            "maxLength": 245,
            "title": "Topic",
            "description": "Kafka topic to replay into: letters, digits, '.', '_' and '-', at "
            "most 245 characters. The KSQL migrations read meetup_events.",
            "section": SECTION_REPLAY,
        },
        "partitions": {
            "default": 1,
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PARTITIONS,
            "title": "Partitions",
            "description": f"Partitions of the topic when the replay creates it (1–{MAX_PARTITIONS}).",
            "section": SECTION_REPLAY,
        },
        "pacing": {
            "default": "unthrottled",
            "type": "string",
            "enum": list(PACING_MODES),
            "title": "Pacing",
            "description": "rate: a fixed number of events per second; speedup: the original "
            "spacing of the events' mtime divided by a factor; unthrottled: as fast as Kafka takes it.",
            "section": SECTION_REPLAY,
        },
        "rate": {
            "default": 5000,
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1_000_000,
            "title": "Rate (events/s)",
            "description": "With pacing = rate: events per second (over 0, at most 1,000,000).",
            "section": SECTION_REPLAY,
        },
        "speedup": {
            "default": 60,
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1_000_000,
            "title": "Speed-up factor",
            "description": "With pacing = speedup: 60 replays an hour of the dump in a minute.",
            "section": SECTION_REPLAY,
        },
        "max_gap_s": {
            "default": None,
            "type": ["null", "number"],
            "minimum": 0,
            "title": "Max gap (s)",
            "description": "With pacing = speedup only: cap idle stretches of the original "
            "timeline at this many seconds. Empty: no cap.",
            "section": SECTION_REPLAY,
        },
        "skip": {
            "default": 0,
            "type": "integer",
            "minimum": 0,
            "title": "Skip",
            "description": "Source records (dump lines) to skip at the start.",
            "section": SECTION_REPLAY,
        },
        "limit": {
            "default": None,
            "type": ["null", "integer"],
            "minimum": 1,
            "title": "Limit",
            "description": "Replay at most this many source records after the skipped ones. Empty: all.",
            "section": SECTION_REPLAY,
        },
        "dlq": {
            "default": True,
            "type": "boolean",
            "title": "Dead-letter topic",
            "description": "Send quarantined records with their reasons to <topic>.dlq.",
            "section": SECTION_REPLAY,
        },
        "reset_topics": {
            "default": False,
            "type": "boolean",
            "title": "Reset topics",
            "description": "Delete and recreate the topic (and its DLQ) before the replay; "
            "a retry of the same run never resets again.",
            "section": SECTION_REPLAY,
        },
        "migrations_target": {
            "default": "latest",
            "type": "string",
            "pattern": MIGRATIONS_TARGET_PATTERN,
            "title": "Migrations target",
            "description": "Apply the KSQL migrations in ksql/ up to this version: 'latest' or "
            "a version number such as 3 (V000003).",
            "section": SECTION_KSQL,
        },
        "apply_migrations_before_replay": {
            "default": False,
            "type": "boolean",
            "title": "Apply migrations before the replay",
            "description": "Create the KSQL streams and tables before the replay, so the run "
            "measures live KSQL latency; otherwise they are applied after it and catch up.",
            "section": SECTION_KSQL,
        },
        "drain_timeout_s": {
            "default": 600,
            "type": "number",
            "minimum": 1,
            "maximum": 86_400,
            "title": "Drain timeout (s)",
            "description": "How long to wait for the persistent queries to reach lag 0.",
            "section": SECTION_KSQL,
        },
        "min_rate_pct": {
            "default": None,
            "type": ["null", "number"],
            "minimum": 0,
            "maximum": 100,
            "title": "Threshold: achieved rate (% of target)",
            "description": "Fail the report when the achieved rate is below this share of the "
            "target (0–100; paced runs only). Empty: no threshold.",
            "section": SECTION_REPORT,
        },
        "max_e2e_p99_ms": {
            "default": None,
            "type": ["null", "number"],
            "exclusiveMinimum": 0,
            "title": "Threshold: end-to-end p99 (ms)",
            "description": "Fail the report when the end-to-end latency p99 through the topic is "
            "above this. Empty: none.",
            "section": SECTION_REPORT,
        },
        "thresholds": {
            "default": [],
            "type": "array",
            "items": {"type": "string", "pattern": THRESHOLD_PATTERN},
            "title": "More thresholds",
            "description": "Limits in the report's syntax, one per line, e.g. drain_s[MEETUP_EVENTS_GERMANY]<=30, "
            "e2e_p99_ms[MEETUP_EVENTS_MUNICH]<=500, quarantined_pct<=0.5. Cross-checks and the "
            "reconciliation are always checked.",
            "section": SECTION_REPORT,
        },
        "report_root": {
            "default": None,
            "type": ["null", "string"],
            "pattern": r"^$|^/(?!.*(^|/)\.\.(/|$)).*$",
            "title": "Report root",
            "description": f"Folder for the reports (absolute). Empty: {default_report_root} "
            "(REPLAY_REPORTS_DIR), the folder the Replay reports page shows.",
            "section": SECTION_REPORT,
        },
    }


@dataclass(frozen=True)
class RunParams:
    """A run's params, checked and typed: what the tasks hand to the steps."""

    dump: Path | None
    validation_policy: str
    max_invalid_pct: float
    topic: str
    partitions: int
    pacing: Pacing
    skip: int
    limit: int | None
    dlq: bool
    reset_topics: bool
    migrations_target: str | int
    apply_migrations_before_replay: bool
    drain_timeout_s: float
    thresholds: list[str]  # the report's limits, e.g. "e2e_p99_ms[meetup_events]<=250"
    report_root: Path | None

    def replay_step(self, dump: Path) -> ReplayStep:
        """The replay step's arguments."""
        return ReplayStep(
            dump=dump,
            topic=self.topic,
            pacing=self.pacing,
            partitions=self.partitions,
            skip=self.skip,
            limit=self.limit,
            dlq=self.dlq,
            reset=self.reset_topics,
        )

    def manifest(self, dump: Path) -> dict[str, Any]:
        """The params as ``run.json`` records them (plain values, no secrets)."""
        return {
            "dump": str(dump),
            "topic": self.topic,
            "partitions": self.partitions,
            "pacing": self.pacing.describe(),
            "skip": self.skip,
            "limit": self.limit,
            "policy": self.validation_policy,
            "max_invalid_pct": self.max_invalid_pct,
            "dlq": self.dlq,
            "reset_topic": self.reset_topics,
            "migrations_target": self.migrations_target,
            "apply_migrations_before_replay": self.apply_migrations_before_replay,
            "thresholds": self.thresholds,
        }


def check_dump_path(value: str, roots: Sequence[Path]) -> Path | None:
    """The dump as a resolved path inside one of ``roots`` (None for the default dump)."""
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        raise ConfigError(
            f"dump path {value!r} is not absolute",
            hint=f"give an absolute path inside one of the allowed dump roots: {_roots(roots)}",
        )
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ConfigError(
            f"dump path {value!r} is outside the allowed dump roots ({_roots(roots)})",
            hint="put the dump under one of them, or add its folder to REPLAY_DAG_DUMP_ROOTS",
        )
    if not resolved.is_file():
        raise ConfigError(f"dump {value!r} does not exist or is not a file", hint="check the path")
    return resolved


def _roots(roots: Sequence[Path]) -> str:
    return ", ".join(str(root) for root in roots)


def _pacing(params: Mapping[str, Any]) -> Pacing:
    mode = params["pacing"]
    max_gap = params.get("max_gap_s")
    if mode not in PACING_MODES:
        raise ConfigError(f"pacing {mode!r} is unknown", hint=f"use one of {', '.join(PACING_MODES)}")
    if max_gap is not None and mode != "speedup":
        raise ConfigError(
            f"max_gap_s is set ({max_gap}) but pacing is {mode!r}",
            hint="max_gap_s applies to pacing = speedup only: clear it or choose speedup",
        )
    if mode == "rate":
        return Pacing.at_rate(float(params["rate"]))
    if mode == "speedup":
        return Pacing.sped_up(float(params["speedup"]), max_gap_s=None if max_gap is None else float(max_gap))
    return Pacing.unthrottled()


def parse_params(params: Mapping[str, Any], dump_roots: Sequence[Path]) -> RunParams:
    """The run's params as typed values; :class:`ConfigError` for what the schema let through."""
    target = str(params["migrations_target"])
    if not re.match(MIGRATIONS_TARGET_PATTERN, target):
        raise ConfigError(
            f"migrations target {target!r} is not valid", hint="use 'latest' or a version number such as 3"
        )
    topic = check_topic(str(params["topic"]))
    thresholds = [str(limit).strip() for limit in params.get("thresholds") or [] if str(limit).strip()]
    if params.get("min_rate_pct") is not None:
        thresholds.append(f"rate_pct>={float(params['min_rate_pct']):g}")
    if params.get("max_e2e_p99_ms") is not None:
        thresholds.append(f"e2e_p99_ms[{topic}]<={float(params['max_e2e_p99_ms']):g}")
    report_root = str(params.get("report_root") or "")
    return RunParams(
        dump=check_dump_path(str(params.get("dump") or ""), dump_roots),
        validation_policy=str(params["validation_policy"]),
        max_invalid_pct=float(params["max_invalid_pct"]),
        topic=topic,
        partitions=int(params["partitions"]),
        pacing=_pacing(params),
        skip=int(params["skip"]),
        limit=None if params.get("limit") is None else int(params["limit"]),
        dlq=bool(params["dlq"]),
        reset_topics=bool(params["reset_topics"]),
        migrations_target="latest" if target == "latest" else int(target),
        apply_migrations_before_replay=bool(params["apply_migrations_before_replay"]),
        drain_timeout_s=float(params["drain_timeout_s"]),
        thresholds=thresholds,
        report_root=Path(report_root) if report_root else None,
    )
