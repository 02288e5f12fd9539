"""Kafka's size limit as the replay meets it, in one place for validation, generator and producer.

A broker (and a topic, by default) takes record batches of at most ``message.max.bytes`` =
1,048,588 bytes. A replayed record is its value plus its key, headers (run id, sequence,
source position, intended time; on the DLQ the reasons) and the batch's framing, so the
largest dump record that can be replayed is smaller than the broker's limit. Validation
quarantines anything larger, so that no valid record can fail the replay for its size.
"""

from __future__ import annotations

KAFKA_MAX_MESSAGE_BYTES = 1_048_588
# The largest dump record validation lets through: room for the record's overhead with a run id
# of the longest allowed length (200) and a key (the event id) of up to 300 bytes.
RECORD_FRAMING_ALLOWANCE = 1024
MAX_RECORD_BYTES = KAFKA_MAX_MESSAGE_BYTES - RECORD_FRAMING_ALLOWANCE


def record_overhead(run_id: str) -> int:
    """Bytes a replayed record takes beyond its key and value: the headers (about 90 bytes plus
    the run id), record-batch framing (61 bytes), record framing and varints, with room to spare."""
    return 512 + len(run_id)
