"""Settings of the replay DAGs and of the local Airflow (``REPLAY_DAG_*``, ``REPLAY_AIRFLOW_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from replay.paths import PROJECT_ROOT, reports_dir, var_dir
from replay.settings import LOOPBACK


def _default_dump_roots() -> list[Path]:
    return [var_dir() / "dumps"]


class DagSettings(BaseSettings):
    """What the DAG files read when Airflow parses them.

    ``dump_roots`` are the folders a run's dump may come from (the ``dump`` param is refused
    outside them, symlinks resolved): a form open to every Airflow user must not read any file
    the workers can. ``REPLAY_DAG_DUMP_ROOTS`` takes a JSON list, e.g. ``'["/data/dumps"]'``.
    """

    model_config = SettingsConfigDict(env_prefix="REPLAY_DAG_", extra="ignore")

    dump_roots: list[Path] = Field(default_factory=_default_dump_roots)
    # The scheduled DAG's schedule: a cron expression or a preset such as @hourly.
    schedule: str = "@daily"
    # The KSQL migrations project (its ksql-migrations.properties and migrations/); None: ksql/.
    migrations_dir: Path | None = None
    kafka_conn_id: str = "kafka_default"
    ksql_conn_id: str = "ksqldb_default"
    retries: int = Field(default=2, ge=0)
    retry_delay_s: float = Field(default=10.0, ge=0)

    @field_validator("dump_roots")
    @classmethod
    def _absolute(cls, roots: list[Path]) -> list[Path]:
        return [root.expanduser().resolve() for root in roots]

    @property
    def report_root(self) -> Path:
        """The default report root (``REPLAY_REPORTS_DIR``); the UI plugin serves this one."""
        return reports_dir()


class AirflowStackSettings(BaseSettings):
    """The local Airflow that ``make run`` starts beside the embedded stack (``REPLAY_AIRFLOW_*``)."""

    model_config = SettingsConfigDict(env_prefix="REPLAY_AIRFLOW_", extra="ignore")

    home: Path = Field(default_factory=lambda: var_dir() / "airflow")
    api_port: int = 8080
    # LocalExecutor workers: two cores run the replay and the broker; a third task would only wait.
    parallelism: int = Field(default=2, ge=1)
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 30.0
    admin_user: str = "admin"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def dags_folder(self) -> Path:
        return PROJECT_ROOT / "dags"

    @property
    def plugins_folder(self) -> Path:
        return PROJECT_ROOT / "plugins"
