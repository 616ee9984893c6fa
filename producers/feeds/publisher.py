"""The sink every feed source shares: produce to `prices`, optionally record, count per venue.

One place for what must not differ between sources: the key (`VENUE:SYMBOL`, from the event),
the idempotent murmur2 producer (`EventProducer`), the recording format, and the final counts
people read to see which venue went quiet.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from otcdesk.events import PriceUpdate, Venue
from otcdesk.kafka import EventProducer
from otcdesk.metrics import FEED_UPDATES
from otcdesk.settings import Settings
from producers.feeds.recording import Recorder


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """What a feed run published, for the final line and for benchmarks."""

    source: str
    per_venue: tuple[tuple[str, int], ...]
    delivered: int
    failed: int
    elapsed_s: float
    interrupted: bool

    @property
    def published(self) -> int:
        return sum(count for _, count in self.per_venue)

    @property
    def rate_per_s(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        venues = ", ".join(f"{venue} {count}" for venue, count in self.per_venue) or "none"
        stopped = " (stopped by Ctrl-C or SIGTERM)" if self.interrupted else ""
        return (
            f"{self.source}: published {self.published} price updates to prices ({venues}); "
            f"acked {self.delivered}, failed {self.failed}; {self.elapsed_s:.1f} s, "
            f"{self.rate_per_s:,.0f} updates/s{stopped}"
        )


class FeedPublisher:
    """Publishes PriceUpdates; `close()` flushes so Ctrl-C never drops what was produced."""

    def __init__(
        self, settings: Settings, source: str, record_to: Path | None = None, producer: EventProducer | None = None
    ) -> None:
        self.source = source
        self.interrupted = False
        self._producer = producer or EventProducer(settings)
        self._recorder = Recorder(record_to) if record_to is not None else None
        self._per_venue: Counter[Venue] = Counter()
        self._counted: dict[tuple[Venue, str], Callable[[], None]] = {}  # otcdesk_feed_updates_total children
        self._started_s = time.perf_counter()
        self._elapsed_s: float | None = None

    @property
    def producer(self) -> EventProducer:
        return self._producer

    @property
    def published(self) -> int:
        return sum(self._per_venue.values())

    def publish(self, update: PriceUpdate) -> None:
        self._producer.produce(update)
        if self._recorder is not None:
            self._recorder.write(update)
        self._per_venue[update.venue] += 1
        inc = self._counted.get((update.venue, update.symbol))
        if inc is None:
            inc = self._counted[(update.venue, update.symbol)] = FEED_UPDATES.labels(
                update.venue.value, update.symbol
            ).inc
        inc()

    def close(self) -> FeedSummary:
        """Flush Kafka (TransientError if acks are missing), close the recording, summarise."""
        try:
            self._producer.flush()  # inside the timing: an update counts once Kafka has it
        finally:
            self._elapsed_s = time.perf_counter() - self._started_s
            if self._recorder is not None:
                self._recorder.close()
        return self.summary()

    def summary(self) -> FeedSummary:
        stats = self._producer.stats
        ordered = tuple((venue.value, self._per_venue[venue]) for venue in Venue if self._per_venue[venue])
        elapsed_s = self._elapsed_s if self._elapsed_s is not None else time.perf_counter() - self._started_s
        return FeedSummary(self.source, ordered, stats.delivered, stats.failed, elapsed_s, self.interrupted)


ProgressHook = Callable[[PriceUpdate], None]


def stop_on_sigterm() -> None:
    """Make SIGTERM stop like Ctrl-C (flush, then the summary): supervisors and scripts send it."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def pump(
    updates: Iterable[PriceUpdate], publisher: FeedPublisher, on_update: ProgressHook | None = None
) -> FeedSummary:
    """Publish until the source ends or Ctrl-C, then flush: a stop never loses a produced event."""
    try:
        for update in updates:
            publisher.publish(update)
            if on_update is not None:
                on_update(update)
    except KeyboardInterrupt:
        publisher.interrupted = True
    return publisher.close()
