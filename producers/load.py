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

The summary counts what the broker answered: acked, failed, and unanswered when the final flush
ran out of time; `otcdesk rfq load` exits non-zero unless every RFQ sent was acked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from otcdesk.clients import ClientProfile, ClientSim, default_profiles
from otcdesk.clock import US_PER_S
from otcdesk.errors import TransientError, UserError
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings

ProgressHook = Callable[[int], None]
_PROGRESS_EVERY_S = 0.1


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
        return (f"rfq load: sent {self.sent}/{self.planned}, acked {self.acked}, failed {self.failed}{unanswered}; "
                f"achieved {self.achieved_rate_per_s:,.0f} RFQ/s over {self.send_window_s:.2f} s, "
                f"max {self.max_behind_ms:.1f} ms behind schedule, {self.total_s:.2f} s with flush{stopped}")

    def shortfall(self) -> str:
        """One line on the RFQs the broker did not acknowledge ("" when it acknowledged them all)."""
        if self.all_acked:
            return ""
        failed = f"; first failure {self.first_error}" if self.first_error else ""
        return (f"Kafka acknowledged {self.acked} of {self.sent} RFQs sent ({self.failed} failed, "
                f"{self.unanswered} unanswered){failed}")


class LoadGenerator:
    """Sends a `LoadPlan` of `ClientSim` RFQs through one idempotent producer."""

    def __init__(self, plan: LoadPlan, clients: ClientSim, producer: EventProducer, *,
                 wall_s: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.plan = plan
        self._clients = clients
        self._producer = producer
        self._wall_s = wall_s
        self._sleep = sleep

    def run(self, on_progress: ProgressHook | None = None) -> LoadSummary:
        """Send on schedule until done or Ctrl-C, then flush and summarise."""
        plan, sent, max_behind_s, interrupted = self.plan, 0, 0.0, False
        started_s = last_progress_s = self._wall_s()
        try:
            while sent < plan.count:
                now_s = self._wall_s()
                due_s = started_s + plan.send_offset_s(sent)
                if now_s < due_s:
                    self._sleep(due_s - now_s)
                    continue
                first_late_s = now_s - due_s
                sent = self._send_due(sent, now_s - started_s)
                last_late_s = self._wall_s() - started_s - plan.send_offset_s(sent - 1)
                max_behind_s = max(max_behind_s, first_late_s, last_late_s)
                if on_progress is not None and now_s - last_progress_s >= _PROGRESS_EVERY_S:
                    on_progress(sent)
                    last_progress_s = now_s
        except KeyboardInterrupt:
            interrupted = True
        sent_s = self._wall_s() - started_s
        try:
            self._producer.flush()
        except TransientError:
            pass  # what is still unanswered is counted in the summary
        if on_progress is not None:
            on_progress(sent)
        stats = self._producer.stats
        window_s = max(sent_s, sent / plan.rate_per_s)
        return LoadSummary(plan.count, sent, stats.delivered, stats.failed, window_s,
                           self._wall_s() - started_s, max_behind_s * 1000, interrupted,
                           stats.errors[0] if stats.errors else "")

    def _send_due(self, sent: int, elapsed_s: float) -> int:
        """Send every RFQ due by `elapsed_s` (one batch when behind); returns the new count."""
        plan = self.plan
        while sent < plan.count and plan.send_offset_s(sent) <= elapsed_s:
            self._producer.produce(self._clients.next_rfq(plan.event_ts_us(sent)))
            sent += 1
        return sent


def select_profiles(settings: Settings, names_text: str | None) -> tuple[ClientProfile, ...]:
    """The client profiles asked for by `--clients` (all when absent); UserError on an unknown id."""
    profiles = default_profiles(settings.clients)
    if not names_text:
        return profiles
    wanted = {name.strip().upper() for name in names_text.split(",") if name.strip()}
    unknown = sorted(wanted - {p.name for p in profiles})
    if unknown or not wanted:
        raise UserError(f"unknown client(s) {', '.join(unknown) or '(none given)'}; "
                        f"choose from {', '.join(p.name for p in profiles)}")
    return tuple(p for p in profiles if p.name in wanted)
