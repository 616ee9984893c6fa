"""What every desk stage shares: its faust app, its inputs, its timers, and how it starts.

A stage module declares its inputs (`consume`: a faust agent of the stage's consumer group;
`fold`: every partition of a topic, group-less, for state shared by all deals), gives each a pure
handler per event type it takes (typed event in, typed events out), and files timers with `at`. `streams.processor`
releases records and timers in event-time order; this module is the faust and Kafka side:

- start: the stage reads every partition of its inputs from the first offset to the end they
  have at start, and the ids of everything on its output topics. The read rebuilds its state and
  its timers by handling those records again; outputs whose event id is already on a topic are
  not sent again (a restarted stage sends nothing it had sent). Only then is anything released;
  the agents' records before those end offsets are acknowledged and dropped;
- outputs: encoded (an output that does not fit its schema dead-letters its input), sent keyed by
  rfq_id, the broker's acknowledgements kept for the watermark records;
- dispatch: each record goes to the handler of its event type; an event of a type the input does
  not take is refused (`invalid:wrong_event`, "<Type> on <topic>"), or passed over where the
  input ignores the others;
- bad input: undecodable bytes, the wrong event type or key, a handler's refusal: a dead letter
  with the record's coordinates; nothing stops the stage;
- duplicates: an input event handled once is not handled again (a redelivery, or the same event
  published twice: its answer stands), another event under a handled id is a dead letter
  (`invalid:event_id_reused`), and an output id is sent once per process;
- stream time (`OTCDESK_TIME=stream`, set by `otcdesk simulate`): the stage follows the
  `watermarks` topic and publishes its own watermark there.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import EventT

from otcdesk.dlq import dead_letter, dead_letter_id, headers_of
from otcdesk.errors import DeskError, RejectedError
from otcdesk.events import Event, TopicPosition, WatermarkAdvanced
from otcdesk.metrics import StageMetrics, event_type
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from otcdesk.streamtime import END_US, partition_of
from otcdesk.streamtime.frontier import InputSpec, Reactive
from streams.app import DeskApp, make_app
from streams.codec import Undecodable, decode_value, peek_value
from streams.fold import Followers, read_to_end
from streams.processor import PUBLISH_EVERY_S, Handler, Processor, Record, TimerCallback

log = logging.getLogger(__name__)

_WATERMARK_IDS = uuid.UUID("3c8a0c52-9d4e-4f0b-8e61-2f7b5e0d9a14")

#: An input's handlers: event type -> its handler (that type in, the events to send out).
Handlers = Mapping[type[Event], Callable[[Any], Awaitable[Iterable[Event]]]]


class Stage:
    """One desk stage: a faust app (consumer group `otcdesk-<namespace><name>`), its inputs and
    timers, and the `outputs` topics (desk names) it writes besides `dlq`.

    Stream time only: `watermark_every_s` is the least wall time between two of its watermark
    records; `own_sources` are the `source` prefixes of the events it writes (default: its name),
    which it skips when they come back on a topic it reads (they hold nothing it does not know,
    and waiting on them would hold its watermark back); `answers`: a reactive producer
    (`otcdesk.streamtime.frontier`), whose watermark records also carry what it holds."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        app: DeskApp | None = None,
        *,
        outputs: Sequence[str] = (),
        watermark_every_s: float = PUBLISH_EVERY_S,
        own_sources: Sequence[str] | None = None,
        answers: bool = False,
    ) -> None:
        self.name = name
        self.settings = settings
        self.app = app or make_app(name, settings)
        self.serde = default_serde()
        self.stream_time = settings.time == "stream"
        self.metrics = StageMetrics(name, settings.namespace)
        self.processor = Processor(
            name,
            stream_time=self.stream_time,
            clock=settings.clock(),
            emitter=self,
            publish_every_s=watermark_every_s,
            detailed=answers,
            metrics=self.metrics,
        )
        self.own_sources = tuple(own_sources if own_sources is not None else (name,)) if self.stream_time else ()
        self.outputs = tuple(dict.fromkeys((*outputs, "dlq")))
        self.dead_lettered = 0
        self.suppressed = 0  # outputs not sent again after a restart: their ids were on the topic
        self._topics: dict[str, faust.TopicT] = {}
        self._consumed: dict[str, int] = {}  # Kafka topic -> input index, for the agents
        self._folds: list[asyncio.Event] = []  # caught up with the folded topics' ends at start
        self.followers = Followers(settings)  # every group-less read of the stage, one consumer
        self._sent_ids: set[str] = set()
        self._positions: dict[tuple[str, int], int] = {}  # own output partition -> next offset
        self._deliveries: list[Awaitable[Any]] = []
        self._producer: Any = None  # the app's producer, once started
        self._replay_end: dict[tuple[str, int], int] = {}
        self._ends_known = asyncio.Event()
        self._replayed = asyncio.Event()
        self._own_topic: dict[str, str] = {}
        self._marks = 0
        self._task("start", self._start)
        self._task("follow", self._follow)

    @property
    def handled(self) -> int:
        return self.processor.handled

    # -- declaring inputs and timers ------------------------------------------------------
    def _spec(
        self,
        topic: str,
        rank: int,
        waits_for: Sequence[str],
        trigger: bool,
        lookahead_us: int,
        reactive: Reactive | None,
    ) -> InputSpec:
        if reactive is not None:
            reactive = replace(reactive, requests_topic=self.settings.topic(reactive.requests_topic))
        return InputSpec(
            self.settings.topic(topic),
            tuple(waits_for) if self.stream_time else (),
            rank,
            trigger,
            lookahead_us,
            reactive if self.stream_time else None,
        )

    def consume(
        self,
        topic: str,
        handlers: Handlers,
        *,
        rank: int,
        waits_for: Sequence[str],
        ignore_others: bool = False,
        trigger: bool = True,
        lookahead_us: int = 0,
        reactive: Reactive | None = None,
        dedup: bool = True,
    ) -> None:
        """Input `topic` through a faust agent of the stage's group (see `InputSpec`; a reactive
        input's requests topic is a desk name). `handlers`: the event types the input takes, each
        with its handler; an event goes to the first type it is an instance of. An event of any
        other type is refused (`invalid:wrong_event`), or with `ignore_others` handled as nothing
        (no output, no dead letter: a topic that carries types the stage has no use for).
        `dedup`: an event id handled once is not handled again (off only where the same event
        again means something: a question asked again)."""
        spec = self._spec(topic, rank, waits_for, trigger, lookahead_us, reactive)
        index = self.processor.add_input(spec, self._dispatch(topic, handlers, ignore_others), dedup=dedup)
        self._consumed[spec.topic] = index

        async def run(stream: faust.StreamT) -> None:
            manual = stream.noack()  # type: ignore[attr-defined]  # StreamT lacks it; agents get a Stream, which has it
            async for event in manual.events():
                await self._take(index, event, manual)

        run.__name__ = f"{self.name}_{topic}".replace("-", "_")
        self.app.agent(self.topic(topic), name=run.__name__)(run)

    def fold(
        self,
        topic: str,
        handler: Callable[[Any], None],
        *,
        rank: int,
        waits_for: Sequence[str],
        lookback_s: float | None = None,
        lazy: bool = False,
    ) -> asyncio.Event:
        """State from every partition of `topic`, group-less, from the first offset (or, live, the
        last `lookback_s` wall seconds). Records that do not decode are skipped: the stage that
        owns the topic dead-letters them. `lazy`: the handler gets `streams.codec.Peeked` records
        (event, id and time read, the rest decoded on demand) instead of events. Returns the event
        set once the fold has read what the topic held at start."""

        async def apply(event: Any) -> list[Event]:
            try:
                handler(event)
            except Exception:  # another stage owns the topic and dead-letters its bad records
                log.exception("%s: fold of %s could not apply %s", self.name, topic, event.event_id)
            return []

        index = self.processor.add_input(self._spec(topic, rank, waits_for, False, 0, None), apply)

        def on_record(record: ConsumerRecord) -> None:
            value = peek_value(record.value, record.key) if lazy else decode_value(record.value)
            if isinstance(value, Undecodable):
                self.processor.frontier.read(index, record.partition, record.offset)
            else:
                self.processor.offer(
                    index,
                    Record(record.topic, record.partition, record.offset, record.key, value),
                    value.ts_us,
                    value.event_id,
                )

        caught_up = self.followers.follow(topic, on_record, lookback_s=None if self.stream_time else lookback_s)
        self._folds.append(caught_up)
        return caught_up

    def _task(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """A faust task (started with the worker; tasks must be declared before it starts)."""

        async def task() -> None:
            await run()

        task.__name__ = f"{self.name}_{name}".replace("-", "_")
        self.app.task(task)

    def at(self, due_us: int, key: str, callback: TimerCallback, *, rank: int) -> None:
        """Run `callback(due_us)` at `due_us` (stream time, or the desk clock live); a later call
        with the same key replaces it. Its outputs are sent like a handler's."""
        self.processor.schedule(key, due_us, rank, callback)

    def send_at(self, due_us: int, key: str, events: Sequence[Event], *, rank: int) -> None:
        """Send `events`, made already, at `due_us`: a timer whose only work is the send."""
        ready = tuple(events)

        async def send(_due_us: int) -> Iterable[Event]:
            return ready

        self.at(due_us, key, send, rank=rank)

    def cancel(self, key: str) -> None:
        self.processor.cancel(key)

    def sent_before(self, event_id: str) -> bool:
        """True if an output with this id is on its topic already (it will not be sent again)."""
        return event_id in self._sent_ids

    def now_us(self) -> int:
        """Processing time: the event time of what is being handled (stream), else the desk clock."""
        return self.processor.now_us()

    def topic(self, name: str) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                self.settings.topic(name), key_type=bytes, value_type=None, allow_empty=True
            )
        return self._topics[name]

    # -- records in ----------------------------------------------------------------------
    @staticmethod
    def _dispatch(topic: str, handlers: Handlers, ignore_others: bool) -> Handler:
        """The input's handler: the event to the handler of its type, or refused (see `consume`)."""
        routes = tuple(handlers.items())
        if not routes:
            raise ValueError(f"input {topic} takes no event type")

        async def dispatch(value: Event) -> Iterable[Event]:
            if not isinstance(value, Event):
                raise TypeError(f"expected an event, got {type(value).__name__}")
            for kind, handler in routes:
                if isinstance(value, kind):
                    return await handler(value)
            if ignore_others:
                return ()
            raise RejectedError("wrong_event", f"{type(value).__name__} on {topic}")

        return dispatch

    async def _take(self, index: int, event: EventT, stream: faust.StreamT) -> None:
        msg = event.message
        ack = functools.partial(stream.ack, event)
        await self._ends_known.wait()
        if msg.offset < self._replay_end.get((msg.topic, msg.partition), 0):
            # Read at start already. The agent starts at the group's committed offset, so this
            # record is new to the group: counted as taken here, where a restart does not count it again.
            value = event.value
            self.metrics.took(msg.topic, event_type(decode_value(value) if isinstance(value, bytes) else value))
            await ack()
            return
        await self._replayed.wait()
        value = event.value
        raw = msg.value if isinstance(msg.value, (bytes, bytearray)) else None
        if isinstance(value, (bytes, bytearray)):  # a channel without the codec (faust's test_context)
            raw, value = bytes(value), decode_value(value)
        elif value is None:  # faust hands a null value (a tombstone) over without the codec
            value = decode_value(value)
        self._offer(
            index,
            Record(
                msg.topic, msg.partition, msg.offset, msg.key if isinstance(msg.key, bytes) else None, value, raw, ack
            ),
        )

    def _offer(self, index: int, record: Record) -> None:
        value = record.value
        if isinstance(value, Event):
            self._check_key(record, value)
            if record.refusal is None and value.source.startswith(self.own_sources):
                self.processor.skip(index, record)  # its own record, back (stream time: see the class)
                return
            self.processor.offer(index, record, value.ts_us, value.event_id)
        else:  # undecodable: no event time of its own; dead-lettered at the stage's present
            self.processor.offer(index, record, self.processor.now_us(), "")

    def _check_key(self, record: Record, value: Event) -> None:
        """An event of this topic's own type under another deal's key breaks the contract: it sits
        on the wrong partition, away from its deal's other events. Marked here, refused when
        handled (other types are left to the input's dispatch, whose `wrong_event` says more)."""
        own = self._own_topic.get(value.TOPIC)
        if own is None:
            own = self._own_topic[value.TOPIC] = self.settings.topic(value.TOPIC)
        key = record.key
        if record.topic == own and key is not None and key != value.key.encode():
            record.refusal = RejectedError(
                "wrong_key", f"key {key[:40]!r} on {record.topic} is not the event's {value.key[:40]!r}"
            )

    # -- start-up -------------------------------------------------------------------------
    async def _start(self) -> None:
        outputs = {self.settings.topic(t) for t in self.outputs}
        ends = await read_to_end(
            self.settings, sorted(set(self._consumed) | outputs), self._on_start_record, self._on_ends
        )
        self._positions = {tp: end for tp, end in ends.items() if tp[0] in outputs}
        self._replayed.set()
        if not self.stream_time:  # live: state folds complete before the first record is handled
            await asyncio.gather(*(caught_up.wait() for caught_up in self._folds))
        log.info(
            "%s read %d records at start; %d output ids known",
            self.name,
            sum(e for (t, _), e in ends.items() if t in self._consumed),
            len(self._sent_ids),
        )
        self.processor.open()
        gc.freeze()  # what the start-up read built lives on: out of every later collection's scan
        try:
            await self.processor.run()
        except Exception as exc:  # a bug, not bad input: let the supervisor restart the worker
            log.exception("%s: the processing loop failed", self.name)
            await self.app.crash(exc)

    def _on_ends(self, ends: dict[tuple[str, int], int]) -> None:
        self._replay_end = {tp: end for tp, end in ends.items() if tp[0] in self._consumed}
        self._ends_known.set()

    def _on_start_record(self, record: ConsumerRecord) -> None:
        value = decode_value(record.value)
        if isinstance(value, Event):
            self._sent_ids.add(value.event_id)
        index = self._consumed.get(record.topic)
        if index is not None:
            self._offer(
                index,
                Record(record.topic, record.partition, record.offset, record.key, value, record.value, replayed=True),
            )  # raw bytes: a dead letter keeps them

    async def _follow(self) -> None:
        """The folds, and in stream time the `watermarks` partitions of the producers this stage
        waits for (one each), all on one group-less consumer."""
        if self.stream_time:
            partitions = sorted(partition_of(p) for p in self.processor.frontier.producers)
            self.followers.follow("watermarks", self._on_mark, partitions=partitions)
        await self.followers.run()

    def _on_mark(self, record: ConsumerRecord) -> None:
        value = decode_value(record.value)
        if isinstance(value, WatermarkAdvanced):
            self.processor.heard(value)

    # -- records out (streams.processor.Emitter) ---------------------------------------------
    async def produce(
        self, topic: str, key: bytes | None, value: bytes, headers: Any, partition: int | None = None
    ) -> Awaitable[Any] | None:
        """Send to desk topic `topic` on the app's producer; returns the delivery to await (the
        broker's acknowledgement). `streams.testing.StageHarness` replaces it.

        The producer is faust's own, which its consumer flushes before every offset commit, so an
        input is committed only once what it produced is sent. faust's channel layer above it
        (`Topic.send`: a pending and a future message per record, sensors, a callback chain) is
        skipped: it held nothing a stage uses and cost as much as the send itself."""
        producer = self._producer or await self.app.maybe_start_producer()
        self._producer = producer
        return await producer.send(self.settings.topic(topic), key, value, partition, None, headers)

    def prepare(self, events: Iterable[Event]) -> list[tuple[Event, bytes]]:
        return [(out, self.serde.encode(out)) for out in events]

    async def send(self, prepared: Sequence[tuple[Event, bytes]]) -> None:
        for out, data in prepared:
            await self._send(out, data)

    async def emit(self, out: Event, headers: dict[str, bytes] | None = None, *, resend: bool = False) -> None:
        """Send one event from a handler or timer, beside its return value (e.g. with headers).
        `resend`: send it even if its id is on the topic already (a question asked again)."""
        await self._send(out, self.serde.encode(out), headers, resend)

    async def _send(self, out: Event, data: bytes, headers: Any = None, resend: bool = False) -> None:
        # Counted as sent even when it is not sent again: a restarted stage's watermark must still
        # wait for the answers to what it had sent before (reactive inputs).
        self.processor.sent(self.settings.topic(out.TOPIC), out)
        if out.event_id in self._sent_ids and not resend:
            self.suppressed += 1
            return
        delivery = await self.produce(out.TOPIC, out.key.encode(), data, headers)
        self.metrics.produced(out.TOPIC, out.SCHEMA)
        # Sent once: the same id made again later (by a timer or a handler) is not another event.
        self._sent_ids.add(out.event_id)
        if delivery is not None and self.stream_time:  # only a watermark record waits for them
            self._deliveries.append(delivery)

    async def dead_letter(self, record: Record, exc: BaseException) -> None:
        letter = dead_letter(
            event_id=dead_letter_id(self.settings.group(self.name), record.topic, record.partition, record.offset),
            ts_us=max(self.now_us(), 0),
            stage=self.settings.group(self.name),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.raw,
            exc=exc,
        )
        log.warning(
            "dead-lettered %s[%s]@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            letter.reason,
            exc_info=None if isinstance(exc, DeskError) else exc,
        )  # our bug, not bad input: keep the trace
        self.dead_lettered += 1
        if letter.event_id in self._sent_ids:
            return
        self._sent_ids.add(letter.event_id)
        await self.produce("dlq", record.key, self.serde.encode(letter), headers_of(letter))
        self.metrics.produced(letter.TOPIC, letter.SCHEMA)
        self.metrics.dead_lettered(letter.reason)

    async def publish(self, wm_us: int, next_us: int | None, input_us: int | None) -> None:
        """A watermark record: first wait until the broker has every record sent so far, so
        `positions` covers all of them."""
        deliveries, self._deliveries = self._deliveries, []
        for delivery in deliveries:
            meta = await delivery
            tp = (meta.topic, meta.partition)
            self._positions[tp] = max(self._positions.get(tp, 0), meta.offset + 1)
        self._marks += 1
        mark = WatermarkAdvanced(
            str(uuid.uuid5(_WATERMARK_IDS, f"{self.name}:{os.getpid()}:{self._marks}")),
            wm_us,
            self.name,
            next_us,
            input_us,
            tuple(TopicPosition(t, p, o) for (t, p), o in sorted(self._positions.items())),
        )
        await self.produce("watermarks", self.name.encode(), self.serde.encode(mark), None, partition_of(self.name))
        self.metrics.produced(mark.TOPIC, mark.SCHEMA)
        if wm_us == END_US:
            waited = ", ".join(
                f"{t} {s:.1f} s" for t, s in sorted(self.processor.waited_s.items(), key=lambda kv: -kv[1])
            )
            log.info("%s: every input ended and everything is handled; waited on %s", self.name, waited or "nothing")
