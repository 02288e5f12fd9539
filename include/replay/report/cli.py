"""``replay report build | list | compare | index``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from replay.errors import ReportError
from replay.paths import reports_dir
from replay.report import catalog
from replay.report.build import build


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay report``."""
    parser = subparsers.add_parser(
        "report",
        help="run reports: build one, list them, compare two, refresh the index",
        description="Reports live in <report root>/<pipeline>/<run id>/ (report.json, report.html, "
        f"summary.md); the root is {reports_dir()} (REPLAY_REPORTS_DIR). See docs/reports.md.",
    )
    sub = parser.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    b = sub.add_parser("build", help="build the report of a run folder")
    b.add_argument("run_dir", type=Path, help="var/runs/<run id>")
    b.add_argument(
        "--pipeline",
        default=None,
        help="the run's pipeline: the report's folder and its pipeline field (default: run.json's, else cli)",
    )
    b.add_argument(
        "--threshold",
        action="append",
        default=None,
        metavar="LIMIT",
        help="a limit, e.g. 'e2e_p99_ms[MEETUP_EVENTS_GERMANY]<=2000' (repeatable; default: "
        "crosschecks and reconciliation)",
    )
    b.set_defaults(func=_build)
    ls = sub.add_parser("list", help="one line per run: date, status, events, rate, e2e p99, verdicts")
    ls.set_defaults(func=_list)
    c = sub.add_parser("compare", help="key figures of two runs side by side, with deltas")
    c.add_argument("run_a", type=Path, help="report folder (or run folder) A")
    c.add_argument("run_b", type=Path, help="report folder (or run folder) B")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.set_defaults(func=_compare)
    i = sub.add_parser("index", help="rewrite <report root>/index.html")
    i.set_defaults(func=_index)


def _report_dir_of(run_dir: Path, pipeline: str | None) -> Path:
    manifest = run_dir / "run.json"
    data = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
    return reports_dir() / (pipeline or data.get("pipeline") or "cli") / run_dir.resolve().name


def _build(args: argparse.Namespace) -> int:
    report_dir = _report_dir_of(args.run_dir, args.pipeline)
    result = build(args.run_dir, report_dir, thresholds=args.threshold, pipeline=args.pipeline)
    print(f"report {result['status']}: {result['html']} (built in {result['build_s']} s)")
    return 0


def _list(args: argparse.Namespace) -> int:
    docs = catalog.find_reports(reports_dir())
    if not docs:
        print(f"no reports under {reports_dir()}")
    for doc in docs:
        print(catalog.list_line(doc))
    return 0


def _resolve(path: Path) -> Path:
    """A report folder, or the report folder of a run folder."""
    if (path / "report.json").is_file() or path.suffix == ".json":
        return path
    candidate = _report_dir_of(path, None)
    if (candidate / "report.json").is_file():
        return candidate
    raise ReportError(f"no report for {path}", hint=f"build it first: replay report build {path}")


def _compare(args: argparse.Namespace) -> int:
    a = catalog.load_report(_resolve(args.run_a))
    b = catalog.load_report(_resolve(args.run_b))
    if args.json:
        print(json.dumps(catalog.compare(a, b), indent=2))
    else:
        print(catalog.compare_text(a, b))
    return 0


def _index(args: argparse.Namespace) -> int:
    print(catalog.write_index(reports_dir()))
    return 0
