"""A connection to one project's server: checked with ``/info``, the metadata found, created or dropped.

``initialize-metadata`` and ``destroy-metadata`` send the statements ksql-migrations sends
(``InitializeMigrationCommand``, ``DestroyMigrationsCommand``); whether the metadata exists is
read from ``SHOW STREAMS`` / ``SHOW TABLES``, as the tool's destroy does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from replay.errors import KsqlStatementError, MigrationStateError
from replay.migrate.client import KsqlClient, ServerInfo
from replay.migrate.config import MigrationConfig
from replay.migrate.metadata import MetadataStore, create_stream_sql, create_table_sql

log = logging.getLogger(__name__)
Report = Callable[[str], None]


@dataclass(frozen=True)
class MetadataPresence:
    """Which of the two metadata objects the server has."""

    stream: bool
    table: bool

    @property
    def complete(self) -> bool:
        return self.stream and self.table

    @property
    def missing(self) -> bool:
        return not self.stream and not self.table


class MigrationSession:
    """One project on one server; close it when done (it holds an HTTP session)."""

    def __init__(self, config: MigrationConfig) -> None:
        self.config = config
        password = config.password.get_secret_value() if config.password is not None else None
        self.client = KsqlClient(
            config.server_url,
            username=config.username,
            password=password,
            timeout_s=config.timeout_s,
            headers=config.headers,
        )
        try:
            self.server: ServerInfo = self.client.info()
        except BaseException:
            self.client.close()
            raise
        self.stream_topic, self.table_topic = config.topics(self.server.service_id)
        self.store = MetadataStore(
            self.client,
            stream=config.stream_name,
            table=config.table_name,
            server_version=self.server.version,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> MigrationSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _names(self, kind: str) -> set[str]:
        entities = self.client.execute(f"SHOW {kind.upper()};")
        items = entities[0].get(kind, []) if entities else []
        return {str(item.get("name", "")).upper() for item in items}

    def presence(self) -> MetadataPresence:
        """Whether the stream and the table exist (names compared case-insensitively, as the tool does)."""
        return MetadataPresence(
            stream=self.config.stream_name.upper() in self._names("streams"),
            table=self.config.table_name.upper() in self._names("tables"),
        )

    def require_metadata(self) -> None:
        """:class:`MigrationStateError` unless both metadata objects exist."""
        presence = self.presence()
        if not presence.complete:
            missing = [
                f"{kind} {name}"
                for kind, name, there in (
                    ("stream", self.config.stream_name, presence.stream),
                    ("table", self.config.table_name, presence.table),
                )
                if not there
            ]
            raise MigrationStateError(
                f"the migrations metadata is not on {self.config.server_url}: no {' and no '.join(missing)}",
                hint="run `replay migrate initialize-metadata` (or `replay migrate apply`, which creates it)",
            )

    def initialize(self, report: Report = log.info) -> bool:
        """Create whatever of the stream and table is missing; True when something was created."""
        presence = self.presence()
        if presence.complete:
            report(
                f"migrations metadata already on the server: stream {self.config.stream_name}, "
                f"table {self.config.table_name}"
            )
            return False
        if presence.table and not presence.stream:
            raise MigrationStateError(
                f"the table {self.config.table_name} exists without its stream {self.config.stream_name}",
                hint="drop the table (`replay migrate destroy-metadata`) and initialize again",
            )
        if not presence.stream:
            self.client.execute(
                create_stream_sql(self.config.stream_name, self.stream_topic, self.config.topic_replicas)
            )
            report(f"created stream {self.config.stream_name} (topic {self.stream_topic})")
        self.client.execute(
            create_table_sql(self.config.table_name, self.config.stream_name, self.table_topic)
        )
        report(f"created table {self.config.table_name} (topic {self.table_topic})")
        return True

    def destroy(self, report: Report = log.info) -> None:
        """Terminate the table's query, drop the table and the stream with their topics."""
        presence = self.presence()
        if presence.table:
            description = self.client.execute(f"DESCRIBE {self.config.table_name};")[0]["sourceDescription"]
            writers = [str(query["id"]) for query in description.get("writeQueries", [])]
            if len(writers) > 1:
                raise MigrationStateError(
                    f"{len(writers)} queries write to {self.config.table_name}: {', '.join(writers)}",
                    hint="terminate the ones you added yourself, then run destroy-metadata again",
                )
            for query_id in writers:
                self.client.execute(f"TERMINATE {query_id};")
                report(f"terminated query {query_id}")
            self.client.execute(f"DROP TABLE {self.config.table_name} DELETE TOPIC;")
            report(f"dropped table {self.config.table_name} and its topic")
        else:
            report("metadata table does not exist; skipping it")
        if presence.stream:
            try:
                self.client.execute(f"DROP STREAM {self.config.stream_name} DELETE TOPIC;")
            except KsqlStatementError as error:
                raise MigrationStateError(
                    f"cannot drop the stream {self.config.stream_name}: {error.server_message}",
                    hint="drop or terminate what reads from it, then run destroy-metadata again",
                ) from error
            report(f"dropped stream {self.config.stream_name} and its topic")
        else:
            report("metadata stream does not exist; skipping it")
