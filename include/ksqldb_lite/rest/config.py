"""The server's configuration: a ``ksql-server.properties`` file plus command-line overrides.

Keys are ksqlDB's: ``listeners``, ``bootstrap.servers``, ``ksql.service.id``,
``ksql.streams.*``, ``ksql.logging.processing.*``, ``authentication.method`` /
``authentication.realm`` / ``authentication.roles`` / ``authentication.skip.paths``; plus
``ksqldb.lite.authentication.users.file`` (the password file that replaces ksqlDB's JAAS
setup). Defaults differ from ksqlDB's in two places, both for a local stack: ``listeners`` is
``http://127.0.0.1:8088`` (ksqlDB: 0.0.0.0) and the processing log topic and stream are created
(ksqlDB's Docker images set the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ksqldb_lite.errors import KsqlError
from ksqldb_lite.rest.auth import BasicAuth

DEFAULTS: dict[str, str] = {
    "listeners": "http://127.0.0.1:8088",
    "bootstrap.servers": "127.0.0.1:9092",
    "ksql.service.id": "default_",
    "ksql.logging.processing.topic.auto.create": "true",
    "ksql.logging.processing.stream.auto.create": "true",
    "authentication.method": "NONE",
}
USERS_FILE = "ksqldb.lite.authentication.users.file"


class ConfigError(KsqlError):
    """The configuration cannot be used (the message says which setting and why)."""


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties``: ``key=value``, ``key: value`` or ``key value``; ``#``/``!``
    comments; a trailing backslash continues the line; ``\\t \\n \\\\`` escapes."""
    result: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.lstrip() if not logical else raw.strip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        key, value = _split_entry(logical)
        result[key] = value
        logical = ""
    if logical:
        key, value = _split_entry(logical)
        result[key] = value
    return result


def _split_entry(line: str) -> tuple[str, str]:
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=: \t":
            break
        index += 1
    key = line[:index]
    rest = line[index:].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t")
    return _unescape(key), _unescape(rest)


def _unescape(text: str) -> str:
    out = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` needs, resolved and checked."""

    properties: dict[str, str]
    host: str
    port: int
    auth: BasicAuth | None

    @property
    def service_id(self) -> str:
        """``ksql.service.id``."""
        return self.properties["ksql.service.id"]

    @property
    def instance_id(self) -> str:
        """This server among the servers of its service id: its listener, stable across restarts."""
        return f"{self.host}_{self.port}"

    @property
    def processing_log_topic(self) -> str | None:
        """The processing-log topic when the server creates it (else None)."""
        if self.properties.get("ksql.logging.processing.topic.auto.create", "false").lower() != "true":
            return None
        return (
            self.properties.get("ksql.logging.processing.topic.name")
            or f"{self.service_id}ksql_processing_log"
        )

    @classmethod
    def load(cls, path: Path | None = None, overrides: Mapping[str, str] | None = None) -> ServerConfig:
        """Defaults, then the file, then the overrides (``--set``, ``--listeners``, …)."""
        properties = dict(DEFAULTS)
        if path is not None:
            try:
                properties.update(parse_properties(path.read_text(encoding="utf-8")))
            except OSError as error:
                raise ConfigError(f"Cannot read the configuration file {path}: {error.strerror}") from error
        properties.update(overrides or {})
        host, port = _listener(properties["listeners"])
        return cls(properties, host, port, _auth(properties))


def _listener(listeners: str) -> tuple[str, int]:
    first = listeners.split(",")[0].strip()
    parts = urlsplit(first)
    if parts.scheme != "http":
        raise ConfigError(
            f"listeners={listeners}: only http:// listeners are supported (got {parts.scheme or 'none'})"
        )
    if not parts.hostname or parts.port is None:
        raise ConfigError(f"listeners={listeners}: expected http://HOST:PORT")
    return parts.hostname, parts.port


def _auth(properties: Mapping[str, str]) -> BasicAuth | None:
    method = properties.get("authentication.method", "NONE").upper()
    if method == "NONE":
        return None
    if method != "BASIC":
        raise ConfigError(f"authentication.method={method}: expected NONE or BASIC")
    users_file = properties.get(USERS_FILE)
    if not users_file:
        raise ConfigError(f"authentication.method=BASIC needs {USERS_FILE} (a 'user: password[,role]' file)")
    roles = [r for r in properties.get("authentication.roles", "*").split(",") if r.strip()]
    skip = [p.strip() for p in properties.get("authentication.skip.paths", "").split(",") if p.strip()]
    return BasicAuth.from_file(
        Path(users_file), properties.get("authentication.realm", "KsqlServer-Props"), roles, skip
    )
