"""Stream time: a stage's clock derived from the progress of its inputs, never from the wall.

In a simulated session every producer (the feed, the session's RFQ source, each stage) says how
far its streams have got with `WatermarkAdvanced` records on the `watermarks` topic: "no more
records with an event time before W". A stage takes, per input, the smallest watermark of the
producers it waits for (`Frontier`), holds its input records and its timers in one queue ordered
by (event time, rank, stable key) (`EventQueue`), and releases an item only once no input can
still deliver something that sorts before it. Its own watermark is then the earliest output it
can still make. The same seed therefore gives the same outputs at any speed, on a starved CPU and
through restarts: nothing depends on when a process happened to run.

Live (a real feed, people accepting quotes), the clock is the wall clock: records are handled as
they arrive and timers fire when the clock passes them. Same queue, same handlers; only the
release rule differs (`docs/architecture.md`, "Stream time").
"""

from __future__ import annotations

#: Every producer of a simulated session, each with its own partition of the `watermarks` topic
#: (its index here): a stage reads the partitions of the producers it waits for, nothing else.
PRODUCERS: tuple[str, ...] = (
    "feed",
    "simulate",
    "aggregator",
    "quote-engine",
    "acceptance",
    "client-sim",
    "hedger",
    "venue-sim",
    "settlement",
    "recon",
)

#: The watermark of a stream that has ended: the producer sends nothing more.
END_US = 2**63 - 1
#: The watermark of a producer not heard from yet: nothing is known to be complete.
BEFORE_ALL_US = -(2**63)


def partition_of(producer: str) -> int:
    """The `watermarks` partition of `producer` (ValueError for a name not in PRODUCERS)."""
    return PRODUCERS.index(producer)


def plus(ts_us: int, delta_us: int) -> int:
    """`ts_us + delta_us`, where the end of a stream stays the end."""
    return END_US if ts_us >= END_US - delta_us else ts_us + delta_us
