"""Watermarks applied once read, producers' views, and the reactive pair (hedger and venue)."""

from __future__ import annotations

from types import SimpleNamespace

from otcdesk.events import TopicPosition, WatermarkAdvanced
from otcdesk.streamtime import BEFORE_ALL_US, END_US
from otcdesk.streamtime.frontier import Frontier, InputSpec, Reactive


def _mark(
    source: str, ts_us: int, *positions: tuple[str, int, int], next_us: int | None = None, input_us: int | None = None
) -> WatermarkAdvanced:
    return WatermarkAdvanced(
        f"{source}:{ts_us}", ts_us, source, next_us, input_us, tuple(TopicPosition(*p) for p in positions)
    )


def test_a_watermark_never_overtakes_the_records_it_covers() -> None:
    frontier = Frontier([InputSpec("rfq", ("simulate",), 1)])
    assert frontier.watermark(0) == BEFORE_ALL_US  # nothing heard: nothing is complete
    frontier.heard(_mark("simulate", 100, ("rfq", 0, 3)))  # three records before t=100 on partition 0
    assert frontier.watermark(0) == BEFORE_ALL_US  # ... which the stage has not read yet
    frontier.read(0, 0, 1)
    assert frontier.watermark(0) == BEFORE_ALL_US
    frontier.read(0, 0, 2)
    assert frontier.watermark(0) == 100
    frontier.heard(_mark("simulate", 50, ("rfq", 0, 3)))  # a restarted producer replaying: never back
    assert frontier.watermark(0) == 100


def test_an_input_waits_for_its_slowest_producer_and_ignores_the_others() -> None:
    frontier = Frontier([InputSpec("quotes", ("quote-engine", "client-sim"), 0)])
    frontier.heard(_mark("quote-engine", 500))
    frontier.heard(_mark("hedger", 900))  # not a producer of this input
    assert frontier.watermark(0) == BEFORE_ALL_US
    frontier.heard(_mark("client-sim", 300))
    assert frontier.watermark(0) == 300 and frontier.producers == {"quote-engine", "client-sim"}
    frontier.heard(_mark("client-sim", END_US))
    assert frontier.watermark(0) == 500


def _hedger_frontier() -> Frontier:
    # The venue answers an order 7 µs after its event time, and never sooner than 1 µs.
    venue = Reactive("orders", lambda order: order.ts_us + 7, 1)
    return Frontier([InputSpec("fills", ("venue-sim",), 2, reactive=venue)])


def test_a_reactive_producer_bounds_the_hedger_by_what_it_holds_and_what_it_has_not_read() -> None:
    frontier = _hedger_frontier()
    frontier.heard(_mark("venue-sim", 10, next_us=None, input_us=10))  # it holds nothing, read all
    assert frontier.watermark(0) == END_US  # nothing can come until the hedger asks
    assert frontier.watermark(0, own_us=40) == 41  # ... and the hedger may ask at 40
    frontier.sent("orders", SimpleNamespace(ts_us=20))  # an order the venue has not read
    assert frontier.watermark(0) == 27  # its answer is the bound
    frontier.heard(_mark("venue-sim", 25, next_us=27, input_us=30))  # it read it: holds the answer
    assert frontier.watermark(0) == 27
    frontier.heard(_mark("venue-sim", 28, next_us=None, input_us=30))  # answered
    frontier.prune()
    assert frontier.watermark(0) == END_US
