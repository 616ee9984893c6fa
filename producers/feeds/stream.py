"""The sim feed as a source of stream time (`OTCDESK_TIME=stream`: a simulated session).

The same seeded `MarketSim` steps as `producers.feeds.sim`, with three duties more:

- after the steps it published, a watermark record: nothing of the feed before the next step is
  still to come (at most every `MARK_EVERY_S` of wall time, and before it waits for anything);
- it keeps within `AHEAD_US` of event time of the stages that read `prices` (their watermarks, on
  the `watermarks` topic): a feed running as fast as it can would otherwise pile up hours of
  books in front of them (Flink's watermark alignment);
- a restarted feed computes the market again from the session start (it is sequential) and
  publishes from its own last watermark on: everything before it is on the topic already. At
  the end of its duration it ends its streams (watermark END) and exits.

Pacing: `speed=None` publishes as fast as the stages allow; otherwise each step waits for its
time on the desk clock (`Settings.clock()`, anchored by the session).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from otcdesk.clock import Clock
from otcdesk.events import PriceUpdate
from otcdesk.instruments import Instrument
from otcdesk.market.sim import MarketSim
from otcdesk.settings import Settings
from otcdesk.streamtime import BEFORE_ALL_US, END_US
from otcdesk.streamtime.sources import SourceWatermarks, WatermarkBoard
from producers.feeds.publisher import FeedPublisher, FeedSummary
from producers.feeds.sim import SimFeedPlan

SOURCE = "feed"
#: The stages that read `prices`: the feed stays within `AHEAD_US` of the slowest of them.
READERS = ("aggregator", "hedger", "venue-sim")
AHEAD_US = 1800 * 1_000_000
MARK_EVERY_S = 0.02


def run_stream_feed(
    settings: Settings,
    instruments: Iterable[Instrument],
    seed: int,
    plan: SimFeedPlan,
    publisher: FeedPublisher,
    pace: Clock | None,
    on_update: Callable[[PriceUpdate], None] | None = None,
) -> FeedSummary:
    sim = MarketSim(instruments, settings.sim, seed)
    board = WatermarkBoard(settings, (SOURCE, *READERS))
    marks = SourceWatermarks(settings, publisher.producer, SOURCE)
    step_us = plan.step_ms * 1000
    try:
        board.poll(1.0)
        resume_us = board.wm(SOURCE)  # a restart: the steps before it are on the topic already
        marked_at = 0.0
        for now_us in plan.step_times_us():
            updates = sim.step(now_us)  # always computed: each step follows from the one before
            if now_us < resume_us:
                continue
            _wait_for_readers(board, marks, now_us)
            if pace is not None:
                pace.sleep_until(now_us)
            for update in updates:
                publisher.publish(update)
                if on_update is not None:
                    on_update(update)
            if time.monotonic() - marked_at >= MARK_EVERY_S:
                marks.advance(now_us + step_us)
                marked_at = time.monotonic()
        marks.end()
    except KeyboardInterrupt:
        publisher.interrupted = True
    finally:
        board.close()
    return publisher.close()


def _wait_for_readers(board: WatermarkBoard, marks: SourceWatermarks, next_us: int) -> None:
    """Until the slowest reader of `prices` is within `AHEAD_US` of the next step."""
    board.poll()
    if _slowest(board) >= next_us - AHEAD_US:
        return
    marks.advance(next_us)  # what the readers may be waiting for
    while _slowest(board) < next_us - AHEAD_US:
        marks.catch_up()  # if the broker could not take it just now
        board.poll(0.1)


def _slowest(board: WatermarkBoard) -> int:
    marks = [board.wm(reader) for reader in READERS]
    known = [m for m in marks if m != END_US]
    return min(known, default=END_US) if BEFORE_ALL_US not in marks else BEFORE_ALL_US
