"""Open-loop RFQ load: send times fixed up front (`t_i = i / rate`), never waiting for replies.

A closed-loop generator (send, wait for the quote, send again) slows down exactly when the desk
does, so the slow moments are under-sampled and latency looks better than it is ("coordinated
omission"). Here the schedule is a formula of the index alone: a late send goes out as soon as
possible and is counted as late (`max_behind_ms`); it never pushes the next send back.

What is sent is `ClientSim`'s client mix (names, sizes, sides, base or quote sizing), seeded,
so rfq ids and every field repeat for one `--seed`. Event time `ts_us` is the sim clock at the
*scheduled* instant, `start_us + t_i * speed`, with `start_us` the desk clock's present by
default (`settings.clock()`, session-anchored when a session is set): the desk prices an RFQ
against books by its `ts_us` and expires quotes on its own clock, so RFQs must carry the desk's
time. The stamps do not depend on how punctual this machine was; `--start-us N` fixes them too.

The RFQs are drawn and Avro-encoded ahead of their sends (`RfqRecords`): the schedule's first
second before it starts, the rest while the loop waits for the next due send, so a send costs
little more than librdkafka's `produce`. Drawing and encoding an RFQ costs some 80 us of CPU on
the project's machine, so the schedule starts that much later per RFQ built up front (about 0.1 s
at 1,000 RFQ/s; 8 s for 100,000 RFQs at a rate beyond what the machine builds, where every RFQ
is built before the first send); stamps taken from the desk clock (`now`) are that much older
than the send, as they are behind a run that cannot keep its rate anyway.

The summary counts what the broker answered: acked, failed, and unanswered when the final flush
ran out of time; `otcdesk rfq load` exits non-zero unless every RFQ sent was acked.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from otcdesk.client_sim import ClientProfile, ClientSim, default_profiles
from otcdesk.clock import US_PER_S
from otcdesk.errors import TransientError, UserError
from otcdesk.events import Rfq
from otcdesk.kafka import EventProducer
from otcdesk.serde import AvroSerde, default_serde
from otcdesk.settings import Settings

ProgressHook = Callable[[int], None]
_PROGRESS_EVERY_S = 0.1
#: Seconds of the schedule built before it starts (the whole plan when its rate outruns the builds).
PREBUILD_LEAD_S = 1.0
#: RFQs held built ahead of the sends at most (about 30 MB of records).
BUILD_AHEAD_MAX = 100_000
#: RFQs built at once just before their sends when the schedule has outrun the builds.
BUILD_CHUNK = 1_000
#: RFQs produced in one call at most: the progress hook and the lateness check run between calls.
SEND_BATCH = 10_000
#: Sent records are dropped from memory this many at a time.
_RELEASE_AT_ONCE = 10_000


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """`count` RFQs at `rate_per_s` over `duration_s` of wall time, stamped on a sim clock."""

    rate_per_s: float
    duration_s: float
    start_us: int
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_s) and self.rate_per_s > 0):
            raise UserError(f"--rate must be a positive number of RFQs per second, got {self.rate_per_s}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise UserError(f"--duration must be a positive number of seconds, got {self.duration_s}")
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise UserError(f"--speed must be a positive number, got {self.speed}")

    @property
    def count(self) -> int:
        """RFQs in the plan: floor(rate * duration), tolerant of float noise (200 * 2 = 400)."""
        return math.floor(round(self.rate_per_s * self.duration_s, 6))

    def send_offset_s(self, index: int) -> float:
        """Wall seconds after the start at which RFQ `index` is due."""
        return index / self.rate_per_s

    def due_count(self, elapsed_s: float) -> int:
        """RFQs due `elapsed_s` wall seconds after the start: those whose `send_offset_s` is at or
        before it (the same float comparison, so a record is never sent before its instant)."""
        if elapsed_s < 0:
            return 0
        n = min(self.count, math.floor(elapsed_s * self.rate_per_s) + 1)
        while n > 0 and self.send_offset_s(n - 1) > elapsed_s:
            n -= 1
        while n < self.count and self.send_offset_s(n) <= elapsed_s:
            n += 1
        return n

    def event_ts_us(self, index: int) -> int:
        """Sim time of RFQ `index`: the sim clock at its scheduled send instant."""
        return self.start_us + round(index * US_PER_S * self.speed / self.rate_per_s)


@dataclass(frozen=True, slots=True)
class LoadSummary:
    planned: int
    sent: int
    acked: int
    failed: int
    send_window_s: float  # first due send to last send, never shorter than the schedule
    total_s: float  # including the final flush
    max_behind_ms: float  # worst lateness of a send against its scheduled instant
    interrupted: bool

    first_error: str = ""  # the first failed delivery, topic[partition]: reason

    @property
    def achieved_rate_per_s(self) -> float:
        return self.sent / self.send_window_s if self.send_window_s > 0 else 0.0

    @property
    def unanswered(self) -> int:
        """Sent, but neither acked nor failed when the final flush gave up."""
        return self.sent - self.acked - self.failed

    @property
    def all_acked(self) -> bool:
        return self.acked == self.sent

    def line(self) -> str:
        stopped = " (stopped by Ctrl-C or SIGTERM)" if self.interrupted else ""
        unanswered = f", unanswered {self.unanswered}" if self.unanswered else ""
        return (
            f"rfq load: sent {self.sent}/{self.planned}, acked {self.acked}, failed {self.failed}{unanswered}; "
            f"achieved {self.achieved_rate_per_s:,.0f} RFQ/s over {self.send_window_s:.2f} s, "
            f"max {self.max_behind_ms:.1f} ms behind schedule, {self.total_s:.2f} s with flush{stopped}"
        )

    def shortfall(self) -> str:
        """One line on the RFQs the broker did not acknowledge ("" when it acknowledged them all)."""
        if self.all_acked:
            return ""
        failed = f"; first failure {self.first_error}" if self.first_error else ""
        return (
            f"Kafka acknowledged {self.acked} of {self.sent} RFQs sent ({self.failed} failed, "
            f"{self.unanswered} unanswered){failed}"
        )


class RfqRecords:
    """The plan's RFQs as Kafka records (key, value), drawn from `ClientSim` in index order and
    Avro-encoded ahead of their sends.

    Record `i` is the `i`-th `next_rfq` of the seeded `ClientSim`, stamped `plan.event_ts_us(i)`:
    the same event ids, keys and bytes whenever it is built, before the schedule starts or during
    it. Records already sent are released in bulk, so memory holds only the window ahead.
    """

    def __init__(self, plan: LoadPlan, clients: ClientSim, serde: AvroSerde | None = None) -> None:
        self.plan = plan
        self._clients = clients
        self._serde = serde or default_serde()
        self._records: list[tuple[bytes, bytes]] = []
        self._first = 0  # plan index of self._records[0]

    @property
    def built(self) -> int:
        """RFQs drawn and encoded so far (indices 0 .. built - 1)."""
        return self._first + len(self._records)

    def build(self, stop: int) -> None:
        """Draw and encode every RFQ up to index `stop` (exclusive, at most the plan's count)."""
        plan, draw, encode, append = self.plan, self._clients.next_rfq, self._serde.encode, self._records.append
        for index in range(self.built, min(stop, plan.count)):
            rfq = draw(plan.event_ts_us(index))
            append((rfq.key.encode(), encode(rfq)))

    def window(self, start: int, stop: int) -> list[tuple[bytes, bytes]]:
        """Records `start` .. `stop - 1`; built and not yet released."""
        if not self._first <= start <= stop <= self.built:
            raise ValueError(f"records {start}..{stop} are not held (held: {self._first}..{self.built})")
        return self._records[start - self._first : stop - self._first]

    def release(self, stop: int) -> None:
        """Let go of the records before index `stop` (sent), once enough have gathered to drop at once."""
        drop = min(stop, self.built) - self._first
        if drop >= _RELEASE_AT_ONCE or (drop > 0 and stop >= self.built):
            del self._records[:drop]
            self._first += drop


class LoadGenerator:
    """Sends a `LoadPlan` of `ClientSim` RFQs through one idempotent producer.

    The RFQs are built ahead of their sends (`RfqRecords`): before the schedule starts, what its
    first `PREBUILD_LEAD_S` seconds need (the whole plan at a rate beyond what this machine builds,
    at most `build_ahead`, by default `BUILD_AHEAD_MAX`); then, while the next send is not due,
    more of them up to `build_ahead` ahead. So the send loop does little more than `produce` and `poll(0)` per
    record: a record goes out at its due time, never earlier. Only when the schedule outruns the
    builds are RFQs built just before their (late) sends, `BUILD_CHUNK` at a time.

    `clients` is the client mix to draw from, or its RFQs already built (`RfqRecords` of the same
    plan, e.g. prepared before a timer starts).
    """

    def __init__(
        self,
        plan: LoadPlan,
        clients: ClientSim | RfqRecords,
        producer: EventProducer,
        *,
        build_ahead: int = BUILD_AHEAD_MAX,
        wall_s: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if build_ahead < 1:
            raise ValueError(f"build_ahead must be at least 1, got {build_ahead}")
        self.plan = plan
        self.build_ahead = build_ahead
        self.records = clients if isinstance(clients, RfqRecords) else RfqRecords(plan, clients, producer.serde)
        if self.records.plan != plan:
            raise ValueError("the records were built for another plan")
        self._producer = producer
        self._topic = producer.settings.topic(Rfq.TOPIC)
        self._wall_s = wall_s
        self._sleep = sleep

    def prebuild(self) -> None:
        """Build what the schedule's first `PREBUILD_LEAD_S` seconds send (`run` starts with it)."""
        lead = math.ceil(PREBUILD_LEAD_S * self.plan.rate_per_s)
        self.records.build(min(lead, self.build_ahead))

    def run(self, on_progress: ProgressHook | None = None) -> LoadSummary:
        """Pre-build, then send on schedule until done or Ctrl-C, then flush and summarise."""
        plan, records, producer = self.plan, self.records, self._producer
        first_record, sent, max_behind_s, interrupted = producer.records_produced, 0, 0.0, False
        try:
            self.prebuild()
        except KeyboardInterrupt:
            interrupted = True
        started_s = last_progress_s = self._wall_s()
        try:
            while sent < plan.count and not interrupted:
                now_s = self._wall_s()
                elapsed_s = now_s - started_s
                due = plan.due_count(elapsed_s)
                if due > sent:
                    first_late_s = elapsed_s - plan.send_offset_s(sent)
                    self._send(sent, due)
                    sent = producer.records_produced - first_record
                    records.release(sent)
                    last_late_s = self._wall_s() - started_s - plan.send_offset_s(sent - 1)
                    max_behind_s = max(max_behind_s, first_late_s, last_late_s)
                    if on_progress is not None and now_s - last_progress_s >= _PROGRESS_EVERY_S:
                        on_progress(sent)
                        last_progress_s = now_s
                elif records.built < min(plan.count, sent + self.build_ahead):
                    records.build(records.built + 1)  # idle until the next send: build ahead
                else:
                    self._sleep(plan.send_offset_s(sent) - elapsed_s)
        except KeyboardInterrupt:
            interrupted = True
            sent = producer.records_produced - first_record
        sent_s = self._wall_s() - started_s
        with contextlib.suppress(TransientError):  # what is still unanswered is counted in the summary
            producer.flush()
        if on_progress is not None:
            on_progress(sent)
        stats = producer.stats
        window_s = max(sent_s, sent / plan.rate_per_s)
        return LoadSummary(
            plan.count,
            sent,
            stats.delivered,
            stats.failed,
            window_s,
            self._wall_s() - started_s,
            max_behind_s * 1000,
            interrupted,
            stats.errors[0] if stats.errors else "",
        )

    def _send(self, sent: int, due: int) -> None:
        """Produce the RFQs from `sent` on that are due (before `due`), at most `SEND_BATCH` at once;
        when none is built yet (behind schedule), build the next `BUILD_CHUNK` first."""
        records = self.records
        if records.built <= sent:
            records.build(sent + BUILD_CHUNK)
        stop = min(due, records.built, sent + SEND_BATCH)
        self._producer.produce_records(self._topic, records.window(sent, stop))


def select_profiles(settings: Settings, names_text: str | None) -> tuple[ClientProfile, ...]:
    """The client profiles asked for by `--clients` (all when absent); UserError on an unknown id."""
    profiles = default_profiles(settings.clients)
    if not names_text:
        return profiles
    wanted = {name.strip().upper() for name in names_text.split(",") if name.strip()}
    unknown = sorted(wanted - {p.name for p in profiles})
    if unknown or not wanted:
        raise UserError(
            f"unknown client(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(p.name for p in profiles)}"
        )
    return tuple(p for p in profiles if p.name in wanted)
