"""Why a replay stopped, as typed errors, and how a librdkafka error maps onto them.

Every error carries the run's summary (``summary``, a JSON-ready dict, set once the replay has
written it) so the CLI and the DAG can say what was and what was not delivered.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from replay.errors import ReplayError


class ProduceError(ReplayError):
    """The replay stopped before the whole dump was delivered."""

    exit_code = 7
    kind = "produce"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.summary: dict[str, Any] | None = None


class BrokerUnreachableError(ProduceError):
    """No broker answered (or none answered for longer than the broker timeout)."""

    kind = "broker_unreachable"


class KafkaAuthorizationError(ProduceError):
    """The broker refused an operation for lack of ACLs (topic, transactional id, cluster)."""

    kind = "authorization"


class MessageTooLargeError(ProduceError):
    """A record is larger than the producer or the topic accepts."""

    kind = "message_too_large"


class BrokerStorageError(ProduceError):
    """The broker could not write: its disk is full or a log directory failed."""

    kind = "broker_storage"


class ProducerFencedError(ProduceError):
    """Another process took over this run's transactional id (the same --run-id runs twice)."""

    kind = "fenced"


class TopicError(ProduceError):
    """A topic cannot be created, described or deleted as asked."""

    kind = "topic"


class CheckpointError(ProduceError):
    """The run's checkpoint is unreadable or does not fit the dump or topic it is resumed on."""

    kind = "checkpoint"


class ProduceInterrupted(ProduceError):
    """The replay was stopped by a signal (Ctrl-C, SIGTERM from Airflow)."""

    exit_code = 130
    kind = "interrupted"


_AUTH_CODES = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._AUTHENTICATION,
    }
)
# librdkafka reports its own size check and the broker's RecordTooLarge with the same code.
_TOO_LARGE_CODES = frozenset({KafkaError.MSG_SIZE_TOO_LARGE})
_STORAGE_CODES = frozenset({KafkaError.KAFKA_STORAGE_ERROR, KafkaError.NOT_ENOUGH_REPLICAS})
# INVALID_PRODUCER_EPOCH is not listed: librdkafka recovers from it (KIP-360) or raises it as fatal.
_FENCED_CODES = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED})
_UNREACHABLE_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)
# Errors that no retry or abort-and-resend can cure: stop at once instead of looping.
PERMANENT_CODES = (
    _AUTH_CODES
    | _TOO_LARGE_CODES
    | frozenset(
        {
            KafkaError.INVALID_RECORD,
            KafkaError.POLICY_VIOLATION,
            KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError._UNKNOWN_TOPIC,
            KafkaError.TOPIC_EXCEPTION,
            KafkaError.UNSUPPORTED_VERSION,
            KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
            KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        }
    )
)


def is_permanent(error: KafkaError) -> bool:
    """True for errors that a retry, an abort or a resend cannot cure."""
    return error.code() in PERMANENT_CODES or error.code() in _FENCED_CODES or error.fatal()


def classify(error: KafkaError, *, doing: str, bootstrap: str, topic: str, txn_id: str) -> ProduceError:
    """The typed error (with a hint) for a librdkafka error met while ``doing`` something."""
    code = error.code()
    detail = f"{doing}: {error.str()} ({error.name()})"
    if code in _AUTH_CODES:
        return KafkaAuthorizationError(
            f"the broker refused access while {detail}",
            hint=f"grant the client's principal WRITE and DESCRIBE on topic {topic!r} (and its .dlq), "
            f"WRITE on the checkpoint topic, and WRITE/DESCRIBE on transactional id {txn_id!r}; "
            "check the SASL user and password in REPLAY_KAFKA_*",
        )
    if code in _TOO_LARGE_CODES:
        return MessageTooLargeError(
            f"a record is too large while {detail}",
            hint="raise max.message.bytes on the topic (and the producer's message.max.bytes), "
            "or quarantine the record so it is not replayed",
        )
    if code in _STORAGE_CODES:
        return BrokerStorageError(
            f"the broker cannot store the records while {detail}",
            hint="free disk space on the broker (or repair its log directory, see the broker log), "
            "then resume with the same --run-id",
        )
    if code in _FENCED_CODES:
        return ProducerFencedError(
            f"this producer was fenced while {detail}",
            hint="another `replay produce` with the same --run-id and topic took over; let that one "
            "finish, or use a new --run-id",
        )
    if code in _UNREACHABLE_CODES or error.retriable():
        return BrokerUnreachableError(
            f"Kafka at {bootstrap} did not answer while {detail}",
            hint="start the broker (`replay stack up`) or fix REPLAY_KAFKA_BOOTSTRAP_SERVERS (if it stopped by "
            "itself, read its log: a full disk stops a broker), then resume with the same --run-id; nothing "
            "committed is lost or repeated",
        )
    return ProduceError(
        f"Kafka failed while {detail}",
        hint="see the broker log; a replay resumed with the same --run-id continues after the last commit",
    )
