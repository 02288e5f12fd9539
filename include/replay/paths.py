"""Where the project keeps things: the checkout, its runtime state under ``var/``, ``../shared``."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# include/replay -> include -> checkout root
PROJECT_ROOT = PACKAGE_DIR.parent.parent


def var_dir() -> Path:
    """Runtime state (broker data, logs, dumps, reports); ``REPLAY_VAR_DIR`` overrides."""
    return Path(os.environ.get("REPLAY_VAR_DIR", PROJECT_ROOT / "var")).resolve()


def shared_dir() -> Path:
    """The read-only ``../shared`` folder next to the checkout; ``REPLAY_SHARED_DIR`` overrides."""
    return Path(os.environ.get("REPLAY_SHARED_DIR", PROJECT_ROOT.parent / "shared")).resolve()


def runs_dir() -> Path:
    """Per-run output folders (validation results, quarantine, replay summary, report)."""
    return var_dir() / "runs"


def run_dir(run_id: str) -> Path:
    """The output folder of one run; the run id is used as given (it must be path-safe)."""
    return runs_dir() / run_id


def reports_dir() -> Path:
    """Run reports (``<pipeline>/<run id>/report.*`` and ``index.html``); ``REPLAY_REPORTS_DIR`` overrides."""
    configured = os.environ.get("REPLAY_REPORTS_DIR")
    return Path(configured).resolve() if configured else var_dir() / "reports"
