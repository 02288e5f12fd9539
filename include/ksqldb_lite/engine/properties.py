"""Configuration properties: server config, request ``streamsProperties`` and ``SET``.

A request may name a Kafka Streams/client property with or without the ``ksql.streams.``
prefix (``auto.offset.reset`` and ``ksql.streams.auto.offset.reset`` are the same setting).
"""

from __future__ import annotations

from typing import Any, Literal

STREAMS_PREFIX = "ksql.streams."

DEFAULTS: dict[str, Any] = {
    "ksql.service.id": "default_",
    "ksql.output.topic.name.prefix": "",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.persistence.default.format.value": None,
    "ksql.persistence.wrap.single.values": None,
    "ksql.fail.on.deserialization.error": "false",
    "ksql.logging.processing.topic.auto.create": "false",
    "ksql.logging.processing.stream.auto.create": "false",
    "ksql.logging.processing.stream.name": "KSQL_PROCESSING_LOG",
    "ksql.streams.auto.offset.reset": "latest",
    "ksql.streams.processing.guarantee": "at_least_once",
}

_STREAMS_KEYS = (
    "auto.offset.reset",
    "processing.guarantee",
    "commit.interval.ms",
    "cache.max.bytes.buffering",
    "num.stream.threads",
    "linger.ms",
    "isolation.level",
)


def _canonical(name: str) -> str:
    if name.startswith(STREAMS_PREFIX):
        return name
    if name.startswith(("ksql.", "ksql_")):
        return name
    return STREAMS_PREFIX + name


class Properties:
    """Server properties overlaid by request overrides (``SET`` adds to the overrides)."""

    def __init__(self, server: dict[str, Any], overrides: dict[str, Any]) -> None:
        self.server = {_canonical(k): v for k, v in server.items()}
        self._overrides = {_canonical(k): v for k, v in overrides.items()}

    def get(self, name: str) -> Any:
        """The effective value (override, server, default), or None."""
        key = _canonical(name)
        if key in self._overrides:
            return self._overrides[key]
        if key in self.server:
            return self.server[key]
        return DEFAULTS.get(key)

    def is_set(self, name: str) -> bool:
        """Whether the user or the server set the property (not just a default)."""
        key = _canonical(name)
        return key in self._overrides or key in self.server

    def set(self, name: str, value: Any) -> None:
        """``SET 'name'='value'``."""
        self._overrides[_canonical(name)] = value

    def unset(self, name: str) -> None:
        """``UNSET 'name'``."""
        self._overrides.pop(_canonical(name), None)

    def overrides(self) -> dict[str, Any]:
        """The request-level settings (what the command log records)."""
        return dict(self._overrides)

    def boolean(self, name: str, default: bool = False) -> bool:
        """A property read as a boolean."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() == "true"

    def integer(self, name: str, default: int) -> int:
        """A property read as an int."""
        value = self.get(name)
        return default if value is None else int(value)

    def offset_reset(self) -> Literal["earliest", "latest"]:
        """``auto.offset.reset`` (default latest)."""
        value = str(self.get("auto.offset.reset") or "latest").lower()
        return "earliest" if value == "earliest" else "latest"

    def processing_guarantee(self) -> Literal["at_least_once", "exactly_once_v2"]:
        """``processing.guarantee``; ``exactly_once`` and ``exactly_once_beta`` mean v2."""
        value = str(self.get("processing.guarantee") or "at_least_once").lower()
        return "exactly_once_v2" if value.startswith("exactly_once") else "at_least_once"

    def client_properties(self) -> dict[str, str]:
        """``ksql.streams.*`` settings without the prefix (for the driver's clients)."""
        merged = {**self.server, **self._overrides}
        return {
            k[len(STREAMS_PREFIX) :]: str(v)
            for k, v in merged.items()
            if k.startswith(STREAMS_PREFIX) and v is not None
        }

    def effective(self) -> dict[str, Any]:
        """Every known property with its value (SHOW PROPERTIES)."""
        merged = {k: v for k, v in DEFAULTS.items()}
        merged.update(self.server)
        merged.update(self._overrides)
        return merged

    def overwritten(self) -> list[str]:
        """Names set by the request."""
        return list(self._overrides)

    def defaulted(self) -> list[str]:
        """Names at their default value."""
        return [k for k in DEFAULTS if k not in self.server and k not in self._overrides]


__all__ = ["DEFAULTS", "_STREAMS_KEYS", "Properties"]
