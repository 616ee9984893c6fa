"""Drive a stage without Kafka: put records on its inputs, move its producers' watermarks, read
what it sends. For tests of stage modules, and for anyone writing a stage of their own.

    harness = StageHarness(HedgerStage(settings, instruments).stage)
    harness.put("trades", trade)
    harness.advance("acceptance", "venue-sim", "feed", to_us=t)   # stream time
    await harness.run()
    harness.sent_events("orders")

The stage runs exactly as in a worker (same processor, same handlers, same timers), except that
its records come from `put` and its outputs are recorded, already Avro-encoded (the assertions
decode real wire bytes). In stream time nothing moves until the watermarks say so; on the wall
clock (`Settings.time == "wall"`) records are handled as they come and timers fire by the clock
the stage was given.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from otcdesk.events import DeadLetter, Event, TopicPosition, WatermarkAdvanced
from otcdesk.serde import default_serde
from streams.codec import decode_value
from streams.processor import Record
from streams.stage import Stage


@dataclass
class Sent:
    topic: str  # desk topic name
    key: bytes | None
    value: bytes
    headers: Any

    @property
    def event(self) -> Event:
        return default_serde().decode(self.value)


@dataclass
class _Delivery:
    topic: str
    partition: int
    offset: int

    def __await__(self) -> Generator[None, None, _Delivery]:  # what faust's FutureMessage resolves to
        yield from ()
        return self


@dataclass
class _StartRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass
class StageHarness:
    stage: Stage
    sent: list[Sent] = field(default_factory=list)
    marks: list[WatermarkAdvanced] = field(default_factory=list)
    _offsets: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    _ids: Iterable[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.stage.produce = self._produce  # type: ignore[method-assign]  # the harness records what the stage sends
        self.stage._replayed.set()
        self.stage._ends_known.set()
        self.stage.processor.open()

    async def _produce(
        self, topic: str, key: bytes | None, value: bytes, headers: Any, partition: int | None = None
    ) -> _Delivery:
        self.sent.append(Sent(topic, key, value, headers))
        if topic == "watermarks":
            mark = default_serde().decode(value)
            assert isinstance(mark, WatermarkAdvanced)
            self.marks.append(mark)
        offset = self._offsets[(topic, -1)]
        self._offsets[(topic, -1)] += 1
        return _Delivery(self.stage.settings.topic(topic), 0, offset)

    def put(self, topic: str, value: Event | bytes, *, key: bytes | None = None, partition: int = 0) -> None:
        """A record on input `topic` (desk name), as the stage's agent or fold would take it."""
        name = self.stage.settings.topic(topic)
        index = next(i for i, spec in enumerate(self.stage.processor.inputs) if spec.topic == name)
        raw = value if isinstance(value, bytes) else default_serde().encode(value)
        if key is None and isinstance(value, Event):
            key = value.key.encode()
        offset = self._offsets[(name, partition)]
        self._offsets[(name, partition)] += 1
        self.stage._offer(index, Record(name, partition, offset, key, decode_value(raw), raw))

    def read_back(self, topic: str, value: Event, *, partition: int = 0) -> None:
        """A record the stage finds on `topic` (desk name) when it starts: an input to handle
        again, or one of its own outputs, whose id it will not send again (a restart)."""
        name = self.stage.settings.topic(topic)
        offset = self._offsets[(name, partition)]
        self._offsets[(name, partition)] += 1
        self.stage._on_start_record(
            _StartRecord(name, partition, offset, value.key.encode(), default_serde().encode(value))
        )

    @property
    def producers(self) -> tuple[str, ...]:
        """The producers whose watermarks the stage waits for (stream time)."""
        return tuple(sorted(self.stage.processor.frontier.producers))

    def advance_all(self, to_us: int) -> None:
        """Every producer the stage waits for has passed `to_us`."""
        self.advance(*self.producers, to_us=to_us)

    def advance(self, *producers: str, to_us: int, next_us: int | None = None, input_us: int | None = None) -> None:
        """Producers' watermarks (stream time): their records so far are all that come before `to_us`
        (`next_us`, `input_us`: what a reactive producer says besides)."""
        positions = tuple(TopicPosition(t, p, o) for (t, p), o in self._offsets.items() if p >= 0)
        for producer in producers:
            self.stage.processor.heard(
                WatermarkAdvanced(f"{producer}:{to_us}", to_us, producer, next_us, input_us, positions)
            )

    async def run(self) -> int:
        """Handle what is releasable now; returns how many items."""
        done = await self.stage.processor.drain()
        await self.stage.processor._publish_if_due(now=True)
        return done

    def sent_events(self, topic: str | None = None) -> list[Event]:
        return [s.event for s in self.sent if s.topic != "watermarks" and (topic is None or s.topic == topic)]

    def dead_letters(self) -> list[DeadLetter]:
        return [e for e in self.sent_events("dlq") if isinstance(e, DeadLetter)]
