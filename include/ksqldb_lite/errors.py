"""Typed errors of the engine, shaped like ksqlDB's REST errors.

Every error the engine raises on purpose is a :class:`KsqlError`. It carries what the REST
layer needs to answer exactly like ksqlDB (``rest/Errors.java``): the HTTP status, the
``error_code`` (HTTP status x 100 + n), the message and, for statement errors, the statement
text and the entities produced by the statements that ran before it. The REST layer only
serializes: ``error.http_status`` and ``error.to_entity()``.
"""

from __future__ import annotations

from typing import Any

# Error codes (ksqlDB rest/Errors.java).
BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
MAX_PUSH_QUERIES_EXCEEDED = 40003
HTTP2_ONLY = 40004
NOT_FOUND = 40400
ASSERTION_FAILED = 41700
SERVER_ERROR = 50000
SERVER_NOT_READY = 50302
SERVER_SHUTTING_DOWN = 50303

QUERY_ENDPOINT_MESSAGE = (
    "The following statement types should be issued to the websocket endpoint '/query':\n"
    "\t* PRINT\n"
    "\t* SELECT"
)


class KsqlError(Exception):
    """Base class of the engine's errors: a ``generic_error`` unless a subclass says otherwise."""

    def __init__(self, message: str, *, error_code: int = BAD_REQUEST) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def http_status(self) -> int:
        """The HTTP status of the response (ksqlDB: error code // 100)."""
        return self.error_code // 100

    def to_entity(self) -> dict[str, Any]:
        """The JSON-ready error body ksqlDB sends for this error."""
        return {"@type": "generic_error", "error_code": self.error_code, "message": self.message}


class KsqlStatementError(KsqlError):
    """A statement was refused (bad syntax, unknown source, unsupported feature, ...).

    ``statement_text`` is the statement as the user wrote it; ``entities`` are the JSON-ready
    entities of the statements of the same request that already ran (always empty when the
    request failed validation, because then none ran).
    """

    def __init__(
        self,
        message: str,
        statement_text: str = "",
        *,
        error_code: int = BAD_STATEMENT,
        entities: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, error_code=error_code)
        self.statement_text = statement_text
        self.entities: list[dict[str, Any]] = list(entities or [])

    def with_statement(
        self, statement_text: str, entities: list[dict[str, Any]] | None = None
    ) -> KsqlStatementError:
        """The same error (same class) bound to a statement text and the entities produced
        before it."""
        error = type(self).__new__(type(self))
        error.__dict__.update(self.__dict__)
        error.args = self.args
        error.statement_text = statement_text
        error.entities = list(entities or [])
        error.__cause__ = self.__cause__
        return error

    def to_entity(self) -> dict[str, Any]:
        """The ``statement_error`` body."""
        return {
            "@type": "statement_error",
            "error_code": self.error_code,
            "message": self.message,
            "statementText": self.statement_text,
            "entities": self.entities,
        }


class KsqlSyntaxError(KsqlStatementError):
    """The statement text does not parse (ksqlDB's ParseFailedException)."""


class UnsupportedFeatureError(KsqlStatementError):
    """The statement is valid KSQL but uses a feature this server does not implement.

    Refusing is the rule: the engine never runs such a statement with different semantics.
    """

    def __init__(self, feature: str, statement_text: str = "") -> None:
        super().__init__(
            f"{feature} is not supported by ksqldb-lite (see docs/ksqldb-lite.md for the supported subset).",
            statement_text,
        )
        self.feature = feature


class QueryEndpointError(KsqlStatementError):
    """SELECT or PRINT was sent to ``/ksql`` (error 40002)."""

    def __init__(self, statement_text: str) -> None:
        super().__init__(QUERY_ENDPOINT_MESSAGE, statement_text, error_code=QUERY_ENDPOINT)


class NotFoundError(KsqlError):
    """A thing looked up by name or id does not exist (error 40400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=NOT_FOUND)


class DriverError(KsqlError):
    """The topic driver failed (broker unreachable, topic creation refused, ...): error 50000."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=SERVER_ERROR)
