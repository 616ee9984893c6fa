"""What every desk stage shares: its faust app, its topics, and the decode/handle/dead-letter loop.

A stage module defines a pure handler (typed event in, typed events out) and one agent line:
`stage.agent(topic)(handler)`. The loop here decodes (the codec already did), calls the handler,
sends each output keyed by its rfq_id, and turns every failure into a dead letter with the
record's coordinates: bad input never stops a stage and is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
from faust.types import EventT

from otcdesk.dlq import dead_letter, dead_letter_id, headers_of
from otcdesk.errors import DeskError, RejectedError
from otcdesk.events import Event
from otcdesk.pause import mark_ready
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from otcdesk.topics import ensure_changelog_topic
from streams.app import DeskApp, make_app
from streams.codec import Undecodable, decode_value

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[Iterable[Event]]]


class Stage:
    """One desk stage: a faust app (consumer group `otcdesk-<namespace><name>`) and its topics."""

    def __init__(self, name: str, settings: Settings, app: DeskApp | None = None) -> None:
        self.name = name
        self.settings = settings
        self.app = app or make_app(name, settings)
        self._topics: dict[str, faust.TopicT] = {}
        self.serde = default_serde()
        self.processed = 0
        self.dead_lettered = 0
        self._own_topic: dict[str, str] = {}  # event TOPIC -> its namespaced name (per event: no formatting)
        self._ready_after: list[asyncio.Event] = []  # state to rebuild before the stage says it is ready
        self._announcing: asyncio.Task[None] | None = None
        if settings.sim_control_dir is not None:  # a session whose clock waits for restarts (otcdesk.pause)
            self.app.on_rebalance_complete.connect(self._on_rebalanced)

    def ready_after(self, *events: asyncio.Event) -> None:
        """The stage says it is ready (otcdesk.pause) only once these are set: its rebuilt state."""
        self._ready_after += events

    async def _on_rebalanced(self, sender: Any, **_: Any) -> None:
        # in a task: faust resumes the streams after its receivers return, and a rebuild may need them
        if self._announcing is None or self._announcing.done():
            self._announcing = asyncio.ensure_future(self._announce())

    async def _announce(self) -> None:
        for event in self._ready_after:
            await event.wait()
        assert self.settings.sim_control_dir is not None
        mark_ready(self.settings.sim_control_dir, self.name)
        log.info("%s handles records (partitions assigned, state rebuilt)", self.name)

    def topic(self, name: str) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(self.settings.topic(name), key_type=bytes, value_type=None,
                                                allow_empty=True)
        return self._topics[name]

    def table(self, name: str, partitions: int, *, global_table: bool = False) -> Any:
        """A faust (Global)Table of events keyed by bytes, stored with the desk's Avro codec.

        faust picks a table's serializers from its value *type* (json for anything but a faust
        Record) and has no constructor argument for them, and it makes the changelog topic (which
        recovery decodes with) as soon as the table is registered: set the serializers, then make
        the changelog topic again with them.
        """
        factory = self.app.GlobalTable if global_table else self.app.Table
        table = factory(name, key_type=bytes, value_type=None, partitions=partitions)
        table.key_serializer, table.value_serializer = "raw", "otcdesk-avro"
        table.changelog_topic = table._new_changelog_topic()
        return table

    def prepare_topics(self) -> None:
        """Before the worker starts: make its tables' changelog topics (see ensure_changelog_topic)."""
        for table in self.app.tables.values():
            ensure_changelog_topic(self.settings, table.changelog_topic.get_topic_name(), table.partitions)

    def agent(self, source: str, handler: Handler, *, concurrency: int = 1) -> Any:
        """Register the agent running `handler` over topic `source`."""

        async def run(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self.handle(event, handler)

        run.__name__ = f"{self.name}_{source}".replace("-", "_")
        return self.app.agent(self.topic(source), name=run.__name__, concurrency=concurrency)(run)

    async def handle(self, event: EventT, handler: Handler) -> None:
        value = event.value
        if isinstance(value, (bytes, bytearray)):  # a channel without the codec (faust's test_context)
            value = decode_value(value)
        try:
            if isinstance(value, Undecodable):
                raise value.error
            if not isinstance(value, Event):
                raise TypeError(f"expected an event, got {type(value).__name__}")
            self._check_key(event.message, value)
            # Encoded here, inside the try: an output that does not fit its schema dead-letters
            # the input that produced it instead of crashing the agent.
            outputs = [(out, self.serde.encode(out)) for out in await handler(value)]
        except Exception as exc:  # noqa: BLE001 - every failure of one record becomes a dead letter
            for reply in getattr(exc, "replies", ()):
                await self.send(reply)
            await self.send_dead_letter(event, exc)
            return
        for out, data in outputs:
            await self.topic(out.TOPIC).send(key=out.key.encode(), value=data)
        self.processed += 1

    def _check_key(self, msg: Any, value: Event) -> None:
        """An event of this topic's own type under another deal's key is a contract violation: it
        sits on the wrong partition, so its deal's other events (and their order) are elsewhere.
        Other types are left to the handler (its `wrong_event` reason says more)."""
        own = self._own_topic.get(value.TOPIC)
        if own is None:
            own = self._own_topic[value.TOPIC] = self.settings.topic(value.TOPIC)
        key = msg.key
        if msg.topic == own and isinstance(key, bytes) and key != value.key.encode():
            raise RejectedError("wrong_key", f"key {key[:40]!r} on {msg.topic} is not the event's {value.key[:40]!r}")

    async def send(self, out: Event, headers: dict[str, bytes] | None = None) -> None:
        await self.topic(out.TOPIC).send(key=out.key.encode(), value=self.serde.encode(out), headers=headers)

    async def send_dead_letter(self, event: EventT, exc: BaseException) -> None:
        msg = event.message
        raw = msg.value
        if isinstance(raw, Event):  # the codec decoded it: the original bytes are on the message
            raw = None
        letter = dead_letter(
            event_id=dead_letter_id(msg.topic, msg.partition, msg.offset),
            ts_us=time.time_ns() // 1000, stage=self.settings.group(self.name),
            topic=msg.topic, partition=msg.partition, offset=msg.offset,
            key=msg.key if isinstance(msg.key, bytes) else None,
            value=raw if isinstance(raw, bytes) else None, exc=exc,
        )
        log.warning("dead-lettered %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, letter.reason,
                    exc_info=None if isinstance(exc, DeskError) else exc)  # our bug, not bad input: keep the trace
        self.dead_lettered += 1
        await self.topic("dlq").send(key=msg.key if isinstance(msg.key, bytes) else None,
                                     value=letter, headers=headers_of(letter))
