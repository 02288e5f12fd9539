"""The migrations project: ``ksql-migrations.properties`` in the format of Confluent's tool.

A project is a folder with ``ksql-migrations.properties`` and a ``migrations/`` folder beside it
(``ksql.migrations.dir.override`` moves the latter). The keys are those of ksql-migrations
(``MigrationConfig``); ``ksql.server.url`` is required. An explicit
:class:`~replay.settings.KsqlSettings` (from the ``ksqldb_default`` Airflow connection, or
``REPLAY_KSQL_*`` set in the environment) overrides the file's server URL and credentials.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from jproperties import Properties
from pydantic import SecretStr

from replay.errors import ConfigError
from replay.paths import PROJECT_ROOT
from replay.settings import KsqlSettings

log = logging.getLogger(__name__)

CONFIG_FILE_NAME = "ksql-migrations.properties"
MIGRATIONS_DIR_NAME = "migrations"
DEFAULT_PROJECT_DIR = PROJECT_ROOT / "ksql"
DEFAULT_CONFIG_FILE = DEFAULT_PROJECT_DIR / CONFIG_FILE_NAME

# Property names, as ksql-migrations' MigrationConfig has them.
SERVER_URL = "ksql.server.url"
USERNAME = "ksql.auth.basic.username"
PASSWORD = "ksql.auth.basic.password"
STREAM_NAME = "ksql.migrations.stream.name"
TABLE_NAME = "ksql.migrations.table.name"
STREAM_TOPIC = "ksql.migrations.stream.topic.name"
TABLE_TOPIC = "ksql.migrations.table.topic.name"
TOPIC_REPLICAS = "ksql.migrations.topic.replicas"
DIR_OVERRIDE = "ksql.migrations.dir.override"

DEFAULT_STREAM_NAME = "MIGRATION_EVENTS"
DEFAULT_TABLE_NAME = "MIGRATION_SCHEMA_VERSIONS"

METADATA_KEYS = (STREAM_NAME, TABLE_NAME, STREAM_TOPIC, TABLE_TOPIC, TOPIC_REPLICAS)
TLS_KEYS = (
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.key.alias",
    "ssl.alpn",
    "ssl.verify.host",
)


@dataclass(frozen=True)
class MigrationConfig:
    """A loaded project: where the server is, the metadata's names, where the files are."""

    config_file: Path | None
    server_url: str
    migrations_dir: Path
    username: str | None = None
    password: SecretStr | None = None
    stream_name: str = DEFAULT_STREAM_NAME
    table_name: str = DEFAULT_TABLE_NAME
    # None: ``<ksqlServiceId>ksql_<name>``, which needs the server's service id (from /info).
    stream_topic: str | None = None
    table_topic: str | None = None
    topic_replicas: int = 1
    timeout_s: float = 30.0
    # Extra request headers (apply --headers); may hold tokens: never logged.
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def topics(self, service_id: str) -> tuple[str, str]:
        """The stream's and the table's topic names, defaulted as ksql-migrations does."""
        return (
            self.stream_topic or f"{service_id}ksql_{self.stream_name}",
            self.table_topic or f"{service_id}ksql_{self.table_name}",
        )

    def with_settings(self, settings: KsqlSettings) -> MigrationConfig:
        """This project with the server URL and credentials of ``settings`` (they win)."""
        return replace(
            self,
            server_url=settings.url,
            username=settings.username,
            password=settings.password,
            timeout_s=settings.timeout_s,
        )

    def with_headers(self, headers: dict[str, str]) -> MigrationConfig:
        """This project with extra request headers sent on every request."""
        return replace(self, headers={**self.headers, **headers})


def read_properties(path: Path) -> dict[str, str]:
    """A Java properties file as a dict (jproperties: escapes, continuations, ``:`` / ``=``)."""
    properties = Properties()
    try:
        with path.open("rb") as handle:
            properties.load(handle, "utf-8")
    except FileNotFoundError as error:
        raise ConfigError(
            f"migrations config file {path} does not exist",
            hint="pass the project's ksql-migrations.properties with -c, or create a project with "
            "`replay migrate new-project <folder> <server url>`",
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}", hint="fix the file or its permissions") from error
    return {str(key): str(value.data) for key, value in properties.items()}


def _int(props: dict[str, str], key: str, default: int, path: Path) -> int:
    raw = props.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigError(
            f"{path}: {key}={raw!r} is not a whole number", hint=f"set {key} to e.g. 1"
        ) from error


def load_config(config_file: Path | None = None, *, ksql: KsqlSettings | None = None) -> MigrationConfig:
    """Load a project's properties (default ``ksql/ksql-migrations.properties``).

    ``ksql``, when given, overrides the file's server URL and credentials. Raises
    :class:`ConfigError` for a missing file or a missing/invalid property.
    """
    path = (config_file or DEFAULT_CONFIG_FILE).resolve()
    props = read_properties(path)
    url = props.get(SERVER_URL, "").strip()
    if not url and ksql is None:
        raise ConfigError(
            f"{path} has no {SERVER_URL}",
            hint=f"add a line `{SERVER_URL}=http://127.0.0.1:8088` (the ksqlDB server's address)",
        )
    override = props.get(DIR_OVERRIDE, "").strip()
    migrations_dir = Path(override) if override else path.parent / MIGRATIONS_DIR_NAME
    if not migrations_dir.is_absolute():
        # ksql-migrations resolves a relative override against its working directory; a path
        # relative to the config file is what works from any directory (and from Airflow).
        migrations_dir = (path.parent / migrations_dir).resolve()
    password = props.get(PASSWORD, "")
    if any(props.get(key, "").strip() for key in TLS_KEYS if key.endswith("location")):
        log.warning("%s: ssl.* key/trust stores are Java keystores and are not used here", path)
    config = MigrationConfig(
        config_file=path,
        server_url=url,
        migrations_dir=migrations_dir,
        username=props.get(USERNAME, "").strip() or None,
        password=SecretStr(password) if password else None,
        stream_name=props.get(STREAM_NAME, "").strip() or DEFAULT_STREAM_NAME,
        table_name=props.get(TABLE_NAME, "").strip() or DEFAULT_TABLE_NAME,
        stream_topic=props.get(STREAM_TOPIC, "").strip() or None,
        table_topic=props.get(TABLE_TOPIC, "").strip() or None,
        topic_replicas=_int(props, TOPIC_REPLICAS, 1, path),
    )
    return config.with_settings(ksql) if ksql is not None else config


def initial_properties(server_url: str) -> str:
    """The text of a new project's properties file, laid out as ``ksql-migrations new-project``
    writes it: the server URL, then every other key commented out with its default."""
    sections = (
        ("Migrations metadata configs", METADATA_KEYS),
        ("TLS configs", TLS_KEYS),
        ("ksqlDB server authentication configs", (USERNAME, PASSWORD)),
        ("Migrations directory configs", (DIR_OVERRIDE,)),
    )
    defaults = {
        STREAM_NAME: DEFAULT_STREAM_NAME,
        TABLE_NAME: DEFAULT_TABLE_NAME,
        STREAM_TOPIC: f"ksql-service-idksql_{DEFAULT_STREAM_NAME}",
        TABLE_TOPIC: f"ksql-service-idksql_{DEFAULT_TABLE_NAME}",
        TOPIC_REPLICAS: "1",
        "ssl.alpn": "false",
        "ssl.verify.host": "true",
    }
    text = f"{SERVER_URL}={server_url}"
    for header, keys in sections:
        text += f"\n\n# {header}:" + "".join(f"\n# {key}={defaults.get(key, '')}" for key in keys)
    return text + "\n"
