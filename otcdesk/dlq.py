"""Dead letters: a record a stage could not decode or accept, kept whole with its provenance.

The value is a `DeadLetter` Avro event (raw bytes included, so the ClickHouse sink can store it
in a typed table); the headers repeat the provenance under the names Kafka Connect uses
(`__connect.errors.*`, KIP-298) with an `otcdesk.errors.` prefix, so a person browsing the
topic in kafka-ui or kcat sees where a record came from without decoding it.
"""

from __future__ import annotations

import uuid

from otcdesk.errors import DeskError, RejectedError
from otcdesk.events import DeadLetter
from otcdesk.serde import DecodeError

HEADER_PREFIX = "otcdesk.errors."
_NAMESPACE = uuid.UUID("6f1d3c1e-3f5e-4a55-9d0b-0d2d8c7a9e11")


def dead_letter_id(stage: str, topic: str, partition: int, offset: int) -> str:
    """One failed record refused by one stage (consumer group), one dead-letter id however often
    that stage refuses it: a replayed failure is stored once downstream. Two stages refusing the
    same record write two dead letters (with the same reason): two events, two ids."""
    return str(uuid.uuid5(_NAMESPACE, f"{stage}:{topic}:{partition}:{offset}"))


def reason_of(exc: BaseException) -> str:
    """Short, stable reason: `decode:<why>`, `invalid:<why>` or `error:<class>`."""
    if isinstance(exc, DecodeError):
        return f"decode:{exc.reason}"
    if isinstance(exc, RejectedError):
        return f"invalid:{exc.reason}"
    return f"error:{type(exc).__name__}"


def dead_letter(
    *,
    event_id: str,
    ts_us: int,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    exc: BaseException,
) -> DeadLetter:
    """The DeadLetter event for `value` read at topic[partition]@offset by `stage`."""
    message = str(exc) if isinstance(exc, DeskError) else f"{type(exc).__name__}: {exc}"
    return DeadLetter(
        event_id=event_id,
        ts_us=ts_us,
        source=stage,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        source_key=key,
        raw_value=value,
        reason=reason_of(exc),
        error_class=type(exc).__name__,
        error_message=message[:4000],
        consumer_group=stage,
    )


def headers_of(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """Connect-style provenance headers (UTF-8 strings)."""
    pairs = {
        "topic": letter.source_topic,
        "partition": str(letter.source_partition),
        "offset": str(letter.source_offset),
        "stage": letter.consumer_group,
        "reason": letter.reason,
        "exception.class.name": letter.error_class,
        "exception.message": letter.error_message[:1000],
    }
    return [(HEADER_PREFIX + name, value.encode()) for name, value in pairs.items()]
