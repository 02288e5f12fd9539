"""KSQL migrations compatible with Confluent's ``ksql-migrations``, over ksqlDB's REST API.

One job per module: :mod:`~replay.migrate.config` (the project's properties file),
:mod:`~replay.migrate.files` (``V<6 digits>__<name>.sql``, MD5), :mod:`~replay.migrate.parser`
(statements, comments, variables, SET/UNSET), :mod:`~replay.migrate.client` (REST over
HTTP/1.1), :mod:`~replay.migrate.metadata` (the stream and table, their rows and pull
queries), :mod:`~replay.migrate.session` (one server: initialize, destroy),
:mod:`~replay.migrate.lock` (one apply at a time), :mod:`~replay.migrate.history` (validate,
info), :mod:`~replay.migrate.apply`, :mod:`~replay.migrate.commands` (the other verbs) and
:mod:`~replay.migrate.cli` (``replay migrate``). See ``docs/migrations.md``.
"""

from replay.migrate.apply import ApplyResult, Target, VersionOutcome, apply
from replay.migrate.config import MigrationConfig, load_config

__all__ = ["ApplyResult", "MigrationConfig", "Target", "VersionOutcome", "apply", "load_config"]
