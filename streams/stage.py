"""What every desk stage shares: its faust app, its topics, and the decode/handle/dead-letter loop.

A stage module defines a pure handler (typed event in, typed events out) and one agent line:
`stage.agent(topic)(handler)`. The loop here decodes (the codec already did), calls the handler,
sends each output keyed by its rfq_id, and turns every failure into a dead letter with the
record's coordinates: bad input never stops a stage and is never lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
from faust.types import EventT

from otcdesk.dlq import dead_letter, headers_of
from otcdesk.events import Event
from otcdesk.settings import Settings
from streams.app import DeskApp, make_app
from streams.codec import Undecodable

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[Iterable[Event]]]
_DLQ_NAMESPACE = uuid.UUID("6f1d3c1e-3f5e-4a55-9d0b-0d2d8c7a9e11")


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    """Same record, same dead-letter id: a replayed failure is stored once downstream."""
    return str(uuid.uuid5(_DLQ_NAMESPACE, f"{topic}:{partition}:{offset}"))


class Stage:
    """One desk stage: a faust app (consumer group `otcdesk-<name>`) and its topics."""

    def __init__(self, name: str, settings: Settings, app: DeskApp | None = None) -> None:
        self.name = name
        self.settings = settings
        self.app = app or make_app(name, settings)
        self._topics: dict[str, faust.TopicT] = {}
        self.processed = 0
        self.dead_lettered = 0

    def topic(self, name: str) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(name, key_type=bytes, value_type=None, allow_empty=True)
        return self._topics[name]

    def agent(self, source: str, handler: Handler, *, concurrency: int = 1) -> Any:
        """Register the agent running `handler` over topic `source`."""

        async def run(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self.handle(event, handler)

        run.__name__ = f"{self.name.replace('-', '_')}_{source}"
        return self.app.agent(self.topic(source), name=run.__name__, concurrency=concurrency)(run)

    async def handle(self, event: EventT, handler: Handler) -> None:
        value = event.value
        try:
            if isinstance(value, Undecodable):
                raise value.error
            if not isinstance(value, Event):
                raise TypeError(f"expected an event, got {type(value).__name__}")
            outputs = list(await handler(value))
        except Exception as exc:  # noqa: BLE001 - every failure of one record becomes a dead letter
            await self.send_dead_letter(event, exc)
            return
        for out in outputs:
            await self.send(out)
        self.processed += 1

    async def send(self, out: Event) -> None:
        await self.topic(out.TOPIC).send(key=out.key.encode(), value=out)

    async def send_dead_letter(self, event: EventT, exc: BaseException) -> None:
        msg = event.message
        raw = event.value.raw if isinstance(event.value, Undecodable) else msg.value
        if isinstance(raw, Event):  # the codec decoded it: the original bytes are on the message
            raw = None
        letter = dead_letter(
            event_id=dead_letter_id(msg.topic, msg.partition, msg.offset),
            ts_us=time.time_ns() // 1000, stage=f"otcdesk-{self.name}",
            topic=msg.topic, partition=msg.partition, offset=msg.offset,
            key=msg.key if isinstance(msg.key, bytes) else None,
            value=raw if isinstance(raw, bytes) else None, exc=exc,
        )
        log.warning("dead-lettered %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, letter.reason)
        self.dead_lettered += 1
        await self.topic("dlq").send(key=msg.key if isinstance(msg.key, bytes) else None,
                                     value=letter, headers=headers_of(letter))
