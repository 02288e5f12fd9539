"""Airflow's test configuration, applied before anything imports Airflow (tests/conftest.py
imports this module first).

Airflow reads its configuration once, at import: the tests point it at a throw-away home with
its own SQLite DB, the project's dags/ and plugins/, and no example DAGs, so they never touch a
user's ~/airflow and every run starts from an empty metadata DB.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="replay-tests-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
atexit.register(shutil.rmtree, AIRFLOW_HOME, True)
