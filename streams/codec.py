"""faust codec over the desk's Avro serde, so agents receive typed events.

Decoding never raises: undecodable bytes arrive in the agent as an `Undecodable` carrying the raw
bytes and the reason, and the agent dead-letters them with the record's topic, partition and
offset. A raising codec would make faust fail the stream instead, and the bytes would be lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.serializers.codecs import Codec

from otcdesk.events import Event
from otcdesk.serde import DecodeError, default_serde


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Bytes the serde refused, kept whole for the dead-letter queue."""

    raw: bytes
    error: DecodeError


class DeskAvroCodec(Codec):
    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)  # already encoded (e.g. a dead letter's raw bytes re-published)
        return default_serde().encode(obj)

    def _loads(self, s: bytes) -> Event | Undecodable:
        return decode_value(s)


@dataclass(frozen=True, slots=True)
class Peeked:
    """A record whose event name, id and time were read (`AvroSerde.peek`), the rest left as bytes
    until somebody needs it: most snapshots of `prices` are replaced before any stage reads them."""

    event: str
    event_id: str
    ts_us: int
    raw: bytes
    key: str  # the Kafka key, as text

    def decode(self) -> Event:
        return default_serde().decode(self.raw)


def peek_value(data: bytes, key: bytes | None = None) -> Peeked | Undecodable:
    try:
        return Peeked(*default_serde().peek(data), bytes(data), (key or b"").decode("utf-8", "replace"))
    except DecodeError as exc:
        return Undecodable(bytes(data) if data is not None else b"", exc)


def decode_value(data: bytes | bytearray | memoryview | None) -> Event | Undecodable:
    """What the codec hands an agent for `data`: the typed event, or the bytes with the reason."""
    try:
        return default_serde().decode(data)
    except DecodeError as exc:
        return Undecodable(bytes(data) if data is not None else b"", exc)
