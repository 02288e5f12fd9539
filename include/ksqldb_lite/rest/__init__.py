"""The REST layer: ksqlDB's HTTP API as an ASGI app (starlette), served by Hypercorn
(HTTP/1.1 and HTTP/2 cleartext on one port, as ksqlDB).

:func:`create_app` builds the app over a :class:`ServerCore` (the engine and what the endpoints
share); :mod:`ksqldb_lite.rest.serve` wires it to Kafka for ``ksqldb-lite serve``.
"""

from ksqldb_lite.rest.app import create_app
from ksqldb_lite.rest.core import ServerCore, ServerState

__all__ = ["ServerCore", "ServerState", "create_app"]
