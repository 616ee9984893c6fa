"""`streams.processor.Processor` in stream time: what it releases is a function of its inputs and
the producers' watermarks only, whatever order and batches the records arrive in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from hypothesis import given, settings, strategies as st

from otcdesk.clock import FixedClock
from otcdesk.events import Event, TopicPosition, WatermarkAdvanced
from otcdesk.streamtime import END_US
from otcdesk.streamtime.frontier import InputSpec
from streams.processor import Processor, Record


class _Log:
    def __init__(self) -> None:
        self.handled: list[tuple[str, int]] = []
        self.marks: list[int] = []

    def prepare(self, events: Iterable[Event]) -> list[tuple[Event, bytes]]:
        return [(e, b"") for e in events]

    async def send(self, prepared: Sequence[tuple[Event, bytes]]) -> None:
        pass

    async def dead_letter(self, record: Record, exc: BaseException) -> None:
        self.handled.append(("dead", record.offset))

    async def publish(self, wm_us: int, next_us: int | None, input_us: int | None) -> None:
        self.marks.append(wm_us)


def _processor(log: _Log) -> Processor:
    processor = Processor("stage", stream_time=True, clock=FixedClock(0), emitter=log)

    def handler(name: str):
        async def handle(value: object) -> list[Event]:
            log.handled.append((name, value))
            if name == "a" and value == 30:  # a timer filed by a record
                processor.schedule("t", 35, 5, timer)
            return []

        return handle

    async def timer(due_us: int) -> list[Event]:
        log.handled.append(("timer", due_us))
        return []

    processor.add_input(InputSpec("a", ("p",), 0), handler("a"))
    processor.add_input(InputSpec("b", ("q",), 1), handler("b"))
    processor.open()
    return processor


RECORDS = {"a": [10, 30, 50], "b": [10, 20, 40]}  # per partition, in offset order


def _run(interleaving: list[str], mark_after: int) -> tuple[list, list[int]]:
    """Offer the records in `interleaving` order (which topic's next record comes next), with the
    producers' mid-session watermarks heard after `mark_after` records."""
    log = _Log()
    processor = _processor(log)
    offsets = {"a": 0, "b": 0}

    def mark(producer: str, topic: str, wm_us: int) -> WatermarkAdvanced:
        # The producer had written every record before wm_us when it said so.
        written = sum(1 for ts_us in RECORDS[topic] if ts_us < wm_us)
        return WatermarkAdvanced(
            f"{producer}:{wm_us}", wm_us, producer, None, None, (TopicPosition(topic, 0, written),)
        )

    async def go() -> None:
        for n, topic in enumerate(interleaving):
            ts_us = RECORDS[topic][offsets[topic]]
            processor.offer(0 if topic == "a" else 1, Record(topic, 0, offsets[topic], None, ts_us), ts_us, "")
            offsets[topic] += 1
            if n == mark_after:
                processor.heard(mark("p", "a", 35))
                processor.heard(mark("q", "b", 25))
            await processor.drain()
            await processor._publish_if_due(now=True)
        processor.heard(mark("p", "a", END_US))
        processor.heard(mark("q", "b", END_US))
        await processor.drain()
        await processor._publish_if_due(now=True)

    asyncio.run(go())
    return log.handled, log.marks


@settings(max_examples=60, deadline=None)
@given(st.permutations(["a", "a", "a", "b", "b", "b"]), st.integers(0, 5))
def test_the_same_inputs_give_the_same_sequence_in_any_arrival_order(interleaving: list[str], mark_after: int) -> None:
    handled, marks = _run(interleaving, mark_after)
    assert handled == [("a", 10), ("b", 10), ("b", 20), ("a", 30), ("timer", 35), ("b", 40), ("a", 50)]
    assert marks == sorted(marks) and marks[-1] == END_US  # a watermark never goes back


def test_nothing_is_released_before_every_input_has_passed_it() -> None:
    log = _Log()
    processor = _processor(log)

    async def go() -> None:
        processor.offer(0, Record("a", 0, 0, None, 10), 10, "")
        processor.heard(WatermarkAdvanced("m", 100, "p", None, None, ()))
        await processor.drain()
        assert log.handled == []  # b's producer has said nothing: a b record at 5 may still come
        processor.heard(WatermarkAdvanced("n", 10, "q", None, None, ()))
        await processor.drain()
        # b's producer has passed 9: a b record at 10 may still come, but it sorts after a's (rank 1)
        assert log.handled == [("a", 10)]

    asyncio.run(go())
