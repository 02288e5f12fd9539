"""Statement execution behind :class:`ksqldb_lite.engine.KsqlEngine` (work in progress)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ksqldb_lite.commandlog import CommandLog
from ksqldb_lite.driver import TopicDriver
from ksqldb_lite.errors import UnsupportedFeatureError
from ksqldb_lite.queries import PullQueryResult, PushQuery


class Executor:
    """Placeholder: the engine API is fixed; statements are refused until the executor lands."""

    def __init__(self, driver: TopicDriver, properties: dict[str, Any], command_log: CommandLog) -> None:
        self.driver = driver
        self.properties = properties
        self.command_log = command_log
        self.service_id = str(properties.get("ksql.service.id", "default_"))
        self.last_sequence = -1

    def start(self) -> None:
        """Replay the command log."""

    def execute(self, ksql: str, props: dict[str, Any], variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Run statements."""
        raise UnsupportedFeatureError("Statement execution", ksql)

    def execute_query(
        self, sql: str, props: dict[str, Any], variables: dict[str, Any]
    ) -> PushQuery | PullQueryResult:
        """Run a query."""
        raise UnsupportedFeatureError("Queries", sql)

    def insert_row(self, target: str, row: Mapping[str, Any]) -> None:
        """Insert a row."""
        raise UnsupportedFeatureError("Inserts", target)

    def command_status(self, command_id: str) -> dict[str, Any] | None:
        """Status of a command."""
        return None

    def command_statuses(self) -> dict[str, str]:
        """All statuses."""
        return {}

    def query_metrics(self) -> list[dict[str, Any]]:
        """Metrics of persistent queries."""
        return []

    def server_info(self) -> dict[str, Any]:
        """Server info."""
        return {"version": "0.29.0", "ksqlServiceId": self.service_id, "serverStatus": "RUNNING"}

    def close(self) -> None:
        """Stop everything."""
        self.driver.close()
