"""The loop every stage runs: input records and timers released one at a time, in event-time order.

`Processor` knows nothing of faust or Kafka: a stage (streams/stage.py) offers it records with
their partition and offset, hands it the producers' watermark records, and gives it an `Emitter`
that encodes, sends and dead-letters. Two release rules, one per clock source:

- stream time (a simulated session): an item is released once no input can still deliver
  something that sorts before it (`Frontier`, `otcdesk.streamtime`); the stage's processing time
  is the event time of the item being handled, and its watermark (the earliest output it can
  still make) is published after each batch, at most every `PUBLISH_EVERY_S` of wall time;
- wall time (live): records are handled in the order they arrive (a restarted stage's read of
  its inputs in the order they were first read, so same-key decisions such as which RFQ owns an
  rfq_id come out the same), timers when the clock passes them and no record is waiting.

Either way nothing is released before `open()`: a (re)started stage first reads its inputs from
their first offset (streams/stage.py), so its state, its timers included, is rebuilt before it
acts on anything new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from otcdesk.clock import Clock
from otcdesk.errors import RejectedError
from otcdesk.events import Event
from otcdesk.metrics import StageMetrics, event_type
from otcdesk.streamtime import BEFORE_ALL_US, END_US, plus
from otcdesk.streamtime.frontier import Frontier, InputSpec
from otcdesk.streamtime.queue import TIMER, EventQueue, Item
from streams.codec import Undecodable

log = logging.getLogger(__name__)

#: Wall seconds between two watermark records of a stage, by default.
PUBLISH_EVERY_S = 0.005
#: Wall seconds between two watermark records while a stage drains a long backlog.
BUSY_PUBLISH_EVERY_S = 0.25

Handler = Callable[[Event], Awaitable[Iterable[Event]]]
TimerCallback = Callable[[int], Awaitable[Iterable[Event]]]


@dataclass(slots=True)
class Record:
    """An input record as read: coordinates, key, decoded value (or why not), raw bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any  # an Event, streams.codec.Peeked (decoded on demand) or streams.codec.Undecodable
    raw: bytes | None = None
    ack: Callable[[], Awaitable[Any]] | None = None  # the consumer may commit past it once handled
    refusal: Exception | None = None  # refused on arrival (e.g. a key that is not the event's)
    replayed: bool = False  # read at start: handled, counted as taken by the agent (`Stage._take`) if new


class Emitter(Protocol):
    def prepare(self, events: Iterable[Event]) -> list[tuple[Event, bytes]]: ...

    async def send(self, prepared: Sequence[tuple[Event, bytes]]) -> None: ...

    async def dead_letter(self, record: Record, exc: BaseException) -> None: ...

    async def publish(self, wm_us: int, next_us: int | None, input_us: int | None) -> None: ...


def _fingerprint(event: Event) -> int:
    """Of the decoded event, so the same event written with another schema version matches."""
    try:
        return hash(event)
    except TypeError:  # a field that is not hashable: its text stands in
        return hash(repr(event))


class Processor:
    def __init__(
        self,
        name: str,
        *,
        stream_time: bool,
        clock: Clock,
        emitter: Emitter,
        publish_every_s: float = PUBLISH_EVERY_S,
        detailed: bool = False,
        metrics: StageMetrics | None = None,
    ) -> None:
        self.name, self.stream_time, self.clock, self.emitter = name, stream_time, clock, emitter
        self.metrics = metrics
        self.publish_every_s = publish_every_s
        self.detailed = detailed  # watermark records carry next_us and input_us (a reactive producer)
        self._specs: list[InputSpec] = []
        self._handlers: list[Handler] = []
        #: per input, a fingerprint of each event handled by id, or None for an input without dedup
        self._handled_ids: list[dict[str, int] | None] = []
        self.frontier = Frontier(())
        self.queue = EventQueue(0)
        self.opened = False
        self.handled = 0
        self._now_us = BEFORE_ALL_US
        self._wake = asyncio.Event()
        self._published: tuple[int, int | None, int | None] | None = None
        self._published_at = 0.0
        self._floor_us = BEFORE_ALL_US  # never publish below what this process published
        self._acks: list[Callable[[], Awaitable[Any]]] = []  # skipped records to acknowledge
        #: wall seconds an item waited, by the input whose watermark held it back (stream time)
        self.waited_s: dict[str, float] = {}

    # -- wiring (before start) ----------------------------------------------------------------
    def add_input(self, spec: InputSpec, handler: Handler, *, dedup: bool = False) -> int:
        """`dedup`: a record whose event this input has handled already is acknowledged and not
        handled again (a redelivery, or the same event published twice): the answer it got stands.
        Another event under a handled event id is refused (`invalid:event_id_reused`)."""
        self._specs.append(spec)
        self._handlers.append(handler)
        self._handled_ids.append({} if dedup else None)
        self.frontier = Frontier(self._specs)
        self.queue = EventQueue(len(self._specs))
        return len(self._specs) - 1

    @property
    def inputs(self) -> tuple[InputSpec, ...]:
        return tuple(self._specs)

    # -- what comes in ----------------------------------------------------------------------
    def offer(self, index: int, record: Record, ts_us: int, tiebreak: str) -> None:
        self.frontier.read(index, record.partition, record.offset)
        if self.metrics is not None and tiebreak:  # an event's own time (undecodable bytes have none)
            self.metrics.offered(ts_us)
        if self.stream_time:
            self.queue.push(index, ts_us, self._specs[index].rank, tiebreak, record)
        else:  # live: arrival order, ahead of the timers
            self.queue.push(index, BEFORE_ALL_US, 0, "", record)
        self._wake.set()

    def skip(self, index: int, record: Record) -> None:
        """A record read and not handled: only the read position moves (it is acknowledged)."""
        self.frontier.read(index, record.partition, record.offset)
        if record.ack is not None:
            self._acks.append(record.ack)
            self._wake.set()

    def heard(self, mark: Any) -> None:
        self.frontier.heard(mark)
        self._wake.set()

    def schedule(self, key: str, due_us: int, rank: int, callback: TimerCallback) -> None:
        self.queue.schedule(key, due_us, rank, callback)
        self._wake.set()

    def cancel(self, key: str) -> None:
        self.queue.cancel(key)

    def sent(self, topic: str, record: Event) -> None:
        self.frontier.sent(topic, record)

    def open(self) -> None:
        """The start-up read is done: release what is due from now on."""
        self.opened = True
        self._published_at = 0.0
        self._wake.set()

    def now_us(self) -> int:
        """Processing time: the event time of the item being handled (stream), else the clock."""
        return self._now_us if self.stream_time else self.clock.now_us()

    # -- stream-time bookkeeping ------------------------------------------------------------
    def output_watermark(self) -> int:
        """The earliest event time of an output this stage can still make (stream time)."""
        if not self.opened:
            return BEFORE_ALL_US
        bound = END_US
        for index, spec in enumerate(self._specs):
            if not spec.trigger:
                continue
            head = self.queue.head(index)
            if head is not None:
                bound = min(bound, plus(head.ts_us, spec.lookahead_us))
            bound = min(bound, plus(self.frontier.watermark(index), spec.lookahead_us))
        timer = self.queue.timer_head()
        return bound if timer is None else min(bound, timer.ts_us)

    def next_us(self) -> int | None:
        """The earliest output this stage can make from what it holds (None: it holds nothing)."""
        times = [
            plus(head.ts_us, spec.lookahead_us)
            for index, spec in enumerate(self._specs)
            if spec.trigger and (head := self.queue.head(index)) is not None
        ]
        timer = self.queue.timer_head()
        if timer is not None:
            times.append(timer.ts_us)
        return min(times, default=None)

    def gate(self) -> tuple[int, int]:
        """(time, rank): an item strictly before it can be released (nothing can sort before it)."""
        own_us = self.output_watermark()
        gate = (END_US, 2**31)
        for index, spec in enumerate(self._specs):
            mark = self.frontier.watermark(index, own_us if spec.reactive else None)
            gate = min(gate, (plus(mark, spec.lookahead_us), spec.rank))
        return gate

    def releasable(self) -> Item | None:
        if not self.opened:
            return None
        if not self.stream_time:
            return self.queue.peek(timers_until_us=self.clock.now_us())
        item = self.queue.peek()
        return item if item is not None and (item.ts_us, item.rank) < self.gate() else None

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            self._wake.clear()
            await self.drain()
            delay_s = await self._publish_if_due()
            if self._wake.is_set():
                continue
            if not self.stream_time:
                delay_s = self._next_timer_s()
            waiting_on = self.waiting_on()
            started = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay_s)
            if waiting_on is not None:
                self.waited_s[waiting_on] = self.waited_s.get(waiting_on, 0.0) + time.monotonic() - started

    def waiting_on(self) -> str | None:
        """The input whose watermark holds the next item back (stream time), if an item waits."""
        if not (self.stream_time and self.opened) or self.queue.peek() is None:
            return None
        own_us = self.output_watermark()
        marks = [
            ((plus(self.frontier.watermark(i, own_us if s.reactive else None), s.lookahead_us), s.rank), s.topic)
            for i, s in enumerate(self._specs)
        ]
        return min(marks)[1] if marks else None

    def _next_timer_s(self) -> float | None:
        """Wall seconds until the next timer is due on the desk clock (at most 1: the clock of a
        live session may be paced faster than the wall)."""
        timer = self.queue.timer_head()
        if timer is None or not self.opened:
            return None
        until = getattr(self.clock, "wall_seconds_until", None)
        return min(until(timer.ts_us), 1.0) if until is not None else 0.05

    async def drain(self) -> int:
        """Handle every releasable item; returns how many."""
        acks, self._acks = self._acks, []
        for ack in acks:
            await ack()
        done = 0
        while (item := self.releasable()) is not None:
            self.queue.pop(item)
            await self._process(item)
            done += 1
            if self.stream_time and time.monotonic() - self._published_at >= BUSY_PUBLISH_EVERY_S:
                await self._publish_if_due()  # a long drain (a start-up read) lets the others go on meanwhile
        return done

    async def _process(self, item: Item) -> None:
        if self.stream_time:
            self._now_us = max(self._now_us, item.ts_us)
        if item.source == TIMER:
            try:
                prepared = self.emitter.prepare(await item.payload(item.ts_us))
            except Exception:  # one timer's failure must not stop the stage
                log.exception("%s: timer %s at %d failed", self.name, item.key, item.ts_us)
                return
            await self.emitter.send(prepared)
            return
        record: Record = item.payload
        counted = self.metrics is not None and not record.replayed
        if counted:
            self._took(record)
        if self._handled_before(item.source, record):
            if record.ack is not None:
                await record.ack()
            return
        try:
            if record.refusal is not None:
                raise record.refusal
            if isinstance(record.value, Undecodable):
                raise record.value.error
            # Encoded inside the try: an output that does not fit its schema dead-letters the
            # input that produced it instead of stopping the stage.
            prepared = self.emitter.prepare(await self._handle(item.source, record, counted))
        except Exception as exc:  # noqa: BLE001 - every failure of one record becomes a dead letter
            await self.emitter.send(self.emitter.prepare(getattr(exc, "replies", ())))
            await self.emitter.dead_letter(record, exc)
        else:
            self._note_handled(item.source, record)
            await self.emitter.send(prepared)
        self.handled += 1
        if record.ack is not None:
            await record.ack()

    def _took(self, record: Record) -> None:
        """Counted in `otcdesk.metrics` as taken: every record released, duplicates and refusals too."""
        assert self.metrics is not None
        self.metrics.took(record.topic, event_type(record.value))
        ts_us = getattr(record.value, "ts_us", None)
        if ts_us is not None:
            self.metrics.reached(ts_us)

    async def _handle(self, index: int, record: Record, timed: bool) -> Iterable[Event]:
        """The input's handler on `record`'s value; `timed`: its wall time goes to the metrics."""
        if not timed or self.metrics is None:
            return await self._handlers[index](record.value)
        started = time.perf_counter()
        try:
            return await self._handlers[index](record.value)
        finally:
            self.metrics.handled(event_type(record.value), time.perf_counter() - started)

    def _handled_before(self, index: int, record: Record) -> bool:
        """True if this input handled this record's event already. Another event under a handled
        id is marked refused. A refused event is not noted: the same bytes again are refused again."""
        seen = self._handled_ids[index]
        value = record.value
        if seen is None or not isinstance(value, Event) or record.refusal is not None:
            return False
        known = seen.get(value.event_id)
        if known is None:
            return False
        if known == _fingerprint(value):
            return True
        record.refusal = RejectedError("event_id_reused", f"event id {value.event_id} names another event already")
        return False

    def _note_handled(self, index: int, record: Record) -> None:
        seen = self._handled_ids[index]
        if seen is not None and isinstance(record.value, Event):
            seen.setdefault(record.value.event_id, _fingerprint(record.value))

    async def _publish_if_due(self, *, now: bool = False) -> float | None:
        """Publish the watermark if it changed (stream time); returns the wall seconds until a
        rate-limited publication is due, or None. `now`: without the rate limit."""
        if not (self.stream_time and self.opened):
            return None
        wm_us = max(self.output_watermark(), self._floor_us)
        state = (wm_us, self.next_us(), self.frontier.input_us()) if self.detailed else (wm_us, None, None)
        if state == self._published:
            return None
        wait_s = self._published_at + self.publish_every_s - time.monotonic()
        if wait_s > 0 and self._published is not None and not now:
            return wait_s
        await self.emitter.publish(*state)
        self._published, self._published_at, self._floor_us = state, time.monotonic(), state[0]
        self.frontier.prune()
        return None
