"""`otcdesk simulate`: one seeded desk session, from RFQs to reconciliation, and its summary.

A session runs the real desk (feed, every stage, optionally the sink: `otcdesk run all`'s
processes) in its own namespace (`sim-` topics and groups, wiped first), feeds it the seeded RFQs
of `ClientSim`, and reads the lifecycle topics until every producer has ended its streams.

Why two runs of one seed print the same summary, at any speed, on a starved CPU and through
restarts (docs/back-office.md, "Deterministic sessions"): every process of a session runs on
stream time (`OTCDESK_TIME=stream`, `otcdesk.streamtime`). The two sources (the feed, and the
session's RFQs published by `otcdesk.session`) stamp their records with event times fixed by the
seed and say how far they have got with watermark records; each stage handles its records and
timers in event-time order once its inputs have passed them, so what it does depends on its
inputs only. Every random choice is drawn from the seed and the id of what it is about (a quote,
an order, a trade). The sources end their streams at the end of the plan (`SessionPlan.feed_s`);
the stages then run every timer left (settlement steps, expiries, recon deadlines) and end
theirs, and the session is over: no wall-clock quiet time decides it.

`speed`: None runs as fast as the CPUs allow; a number paces both sources on a clock that many
times faster than the wall, for people who want to watch. The result is the same.

Fault injection (on by default): the venue simulator overcharges, drops or duplicates a few fills
and marks its report with the `otcdesk.sim.faults` header; the summary counts breaks on deals
without an injected fault separately (there should be none). Clients' own settlement failures
(wrong network, bounced funds, never funded) come from their profiles (`clients` settings).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from otcdesk.client_sim import SESSION_RFQ_SOURCE, ClientSim
from otcdesk.errors import UserError
from otcdesk.events import (
    DeadLetter,
    Event,
    Quote,
    QuoteAction,
    QuoteRejected,
    QuoteResponse,
    ReconResult,
    ReconStatus,
    Rfq,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    TradeBooked,
)
from otcdesk.recon import latest_legs
from otcdesk.settings import Settings
from otcdesk.venue_sim import FAULTS_HEADER

#: 2025-03-04T14:00:00Z, a Tuesday, 09:00 in New York: USD wires of the session value the same day.
SIM_START_US = 1_741_096_800_000_000
NAMESPACE = "sim-"
#: Feed cadence of a session (event time), whatever its speed: every venue publishes a book
#: about every 10 s of the session (`sim.update_prob`), and the quote engine takes a book up to 3
#: steps old as fresh.
STEP_MS = 10_000
#: How long the feed runs past the last RFQ: a deal's hedge ends within the longest TWAP horizon
#: (`hedge.max_horizon_s`, 10 min) and its retries; settlements and recon need no books.
FEED_TAIL_S = 1800
TERMINAL_LEG = frozenset({SettlementState.SETTLED, SettlementState.FAILED, SettlementState.TIMED_OUT})
#: Venue faults a session injects (per fill) unless `--no-faults`.
FAULT_RATES = {"FEE_OVERCHARGE_PROB": "0.01", "DROP_FILL_PROB": "0.005", "DUPLICATE_FILL_PROB": "0.005"}


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What one session is: `rfqs` RFQs arriving at `rate_per_s` (event time), published at `speed`
    times the wall clock (None: as fast as the desk goes)."""

    seed: int
    speed: float | None
    rfqs: int
    rate_per_s: float = 0.02
    start_us: int = SIM_START_US
    warmup_s: int = 600  # seconds of market data before the first RFQ
    namespace: str = NAMESPACE
    faults: bool = True

    def __post_init__(self) -> None:
        if self.rfqs < 1:
            raise UserError(f"--rfqs must be at least 1, got {self.rfqs}")
        if self.speed is not None and not (math.isfinite(self.speed) and 0 < self.speed <= 10_000):
            raise UserError(f"--speed must be 'max' or a number in (0, 10000], got {self.speed}")
        if not re.fullmatch(r"[a-z0-9._]+-", self.namespace):
            raise UserError(
                f"--namespace must be lowercase letters, digits, '.', '_' ending in '-', got {self.namespace!r}"
            )
        if not (math.isfinite(self.rate_per_s) and self.rate_per_s > 0):
            raise UserError(f"--rate must be a positive number of RFQs per sim second, got {self.rate_per_s}")

    def env(self, settings: Settings, anchor_wall_us: int | None = None) -> dict[str, str]:
        """The environment of every process of the session: one seed, stream time; with a speed,
        the clock the feed paces itself on (anchored at `anchor_wall_us`)."""
        env = {
            "OTCDESK_NAMESPACE": self.namespace,
            "OTCDESK_SEED": str(self.seed),
            "OTCDESK_TIME": "stream",
            "OTCDESK_SIM__STEP_MS": str(STEP_MS),
            "OTCDESK_QUOTE__STALE_BOOK_MS": str(max(settings.quote.stale_book_ms, 3 * STEP_MS)),
        }
        if self.speed is not None and anchor_wall_us is not None:
            env |= {
                "OTCDESK_SIM_SPEED": repr(float(self.speed)),
                "OTCDESK_SIM_START_US": str(self.start_us),
                "OTCDESK_SIM_ANCHOR_WALL_US": str(anchor_wall_us),
            }
        if self.faults:
            env |= {f"OTCDESK_VENUE_SIM__{name}": rate for name, rate in FAULT_RATES.items()}
        return env

    def schedule(self, settings: Settings) -> list[Rfq]:
        """The session's RFQs with their event times: `ClientSim`'s seeded mix, Poisson arrivals."""
        clients = settings.clients.model_copy(update={"rfq_per_s": self.rate_per_s})
        sim = ClientSim(
            self.seed, clients=clients, sim=settings.sim, symbols=settings.symbols, source=SESSION_RFQ_SOURCE
        )
        at_us, out = self.start_us + self.warmup_s * 1_000_000, []
        for _ in range(self.rfqs):
            at_us = sim.next_arrival_us(at_us)
            out.append(sim.next_rfq(at_us))
        return out

    def feed_s(self, rfqs: list[Rfq]) -> int:
        """Seconds of market data the session's feed publishes from `start_us`."""
        return math.ceil((rfqs[-1].ts_us - self.start_us) / 1_000_000) + FEED_TAIL_S


@dataclass
class SessionTally:
    """Folds the session's events (any order, redeliveries included) into its outcome."""

    rfq_ids: frozenset[str]
    quoted: set[str] = field(default_factory=set)
    outcomes: dict[str, str] = field(default_factory=dict)  # rfq_id -> TRADED, DECLINED, EXPIRED, <reject>
    trades: dict[str, TradeBooked] = field(default_factory=dict)
    settlements: dict[str, list[SettlementUpdated]] = field(default_factory=dict)
    recon: dict[str, ReconResult] = field(default_factory=dict)
    faults: dict[str, Counter[str]] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    _seen: set[str] = field(default_factory=set)

    def add(self, event: Event, headers: dict[str, bytes] | None = None) -> None:
        rfq_id = getattr(event, "rfq_id", None)
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        if headers and FAULTS_HEADER in headers and rfq_id:
            self.faults.setdefault(rfq_id, Counter()).update(headers[FAULTS_HEADER].decode().split(","))
        if isinstance(event, DeadLetter):
            self.dead_letters[event.reason] += 1
            return
        if rfq_id not in self.rfq_ids:
            return
        if isinstance(event, Quote):
            self.quoted.add(rfq_id)
        elif isinstance(event, TradeBooked):
            self.trades[rfq_id] = event
            self.outcomes[rfq_id] = "TRADED"
        elif isinstance(event, QuoteResponse) and event.action is QuoteAction.DECLINE:
            self.outcomes.setdefault(rfq_id, "DECLINED")
        elif isinstance(event, QuoteRejected):
            self.outcomes.setdefault(rfq_id, event.reason.value)
        elif isinstance(event, SettlementUpdated):
            self.settlements.setdefault(rfq_id, []).append(event)
        elif isinstance(event, ReconResult):
            known = self.recon.get(rfq_id)
            if known is None or event.revision > known.revision:
                self.recon[rfq_id] = event

    def legs(self, rfq_id: str) -> dict[SettlementLeg, SettlementUpdated]:
        return latest_legs(self.settlements.get(rfq_id, ()))

    def closed(self, rfq_id: str) -> bool:
        """Both legs settled or failed, and reconciled (not pending)."""
        legs = self.legs(rfq_id)
        result = self.recon.get(rfq_id)
        return (
            len(legs) == 2
            and all(s.state in TERMINAL_LEG for s in legs.values())
            and result is not None
            and result.status is not ReconStatus.PENDING
        )

    @property
    def events(self) -> int:
        """Distinct events read so far (a session is over once this stops moving)."""
        return len(self._seen)

    @property
    def answered(self) -> int:
        return len(self.outcomes)

    @property
    def closed_deals(self) -> int:
        return sum(1 for rfq_id in self.trades if self.closed(rfq_id))

    @property
    def done(self) -> bool:
        return self.answered == len(self.rfq_ids) and self.closed_deals == len(self.trades)

    def summary(self) -> SessionSummary:
        results = [self.recon[r] for r in sorted(self.trades) if r in self.recon]
        booked = sum((t.qty_base for t in self.trades.values()), Decimal(0))
        hedged = sum((min(r.hedged_qty_base, r.booked_qty_base) for r in results), Decimal(0))
        failed: Counter[str] = Counter()
        settled = 0
        for rfq_id in self.trades:
            legs = self.legs(rfq_id).values()
            if len(legs) == 2 and all(s.state is SettlementState.SETTLED for s in legs):
                settled += 1
            failed.update(
                f"{s.leg.value} {s.state.value}: {s.reason}"
                for s in legs
                if s.state in (SettlementState.FAILED, SettlementState.TIMED_OUT)
            )
        breaks = Counter(b.kind.value for r in results for b in r.breaks)
        unexplained = sorted(
            r.rfq_id
            for r in results
            if r.breaks
            and r.rfq_id not in self.faults
            and not any(s.state is not SettlementState.SETTLED for s in self.legs(r.rfq_id).values())
        )
        quotes = len(self.quoted)
        summary = SessionSummary(
            rfqs=len(self.rfq_ids),
            answered=self.answered,
            quotes=quotes,
            outcomes=dict(sorted(Counter(self.outcomes.values()).items())),
            deals=len(self.trades),
            hit_ratio=f"{len(self.trades) / quotes:.4f}" if quotes else "0",
            notional_quote=str(sum((t.notional_quote for t in self.trades.values()), Decimal(0))),
            hedged_pct=f"{hedged / booked * 100:.2f}" if booked else "0",
            settled=settled,
            settled_pct=f"{settled / len(self.trades) * 100:.2f}" if self.trades else "0",
            failed_legs=dict(sorted(failed.items())),
            recon=dict(sorted(Counter(r.status.value for r in results).items())),
            breaks=dict(sorted(breaks.items())),
            faults_injected=dict(sorted(sum(self.faults.values(), Counter()).items())),
            deals_with_faults=len(set(self.faults) & set(self.trades)),
            breaks_without_fault=unexplained,
            desk_pnl_quote=str(sum((r.pnl_quote for r in results), Decimal(0))),
            dead_letters=dict(sorted(self.dead_letters.items())),
            digest="",
        )
        return summary.with_digest(self.deal_lines())

    def deal_lines(self) -> list[str]:
        """One canonical line per RFQ: what the digest covers beyond the totals."""
        lines = []
        for rfq_id in sorted(self.rfq_ids):
            line = f"{rfq_id} {self.outcomes.get(rfq_id, '-')}"
            trade, result = self.trades.get(rfq_id), self.recon.get(rfq_id)
            if trade is not None:
                line += (
                    f" {trade.trade_id} {trade.side.value} {trade.qty_base.normalize()} {trade.price_quote.normalize()}"
                )
                line += " " + ",".join(
                    f"{leg.value}={s.state.value}"
                    for leg, s in sorted(self.legs(rfq_id).items(), key=lambda kv: kv[0].value)
                )
            if result is not None:
                line += (
                    f" {result.status.value} {sorted(b.kind.value for b in result.breaks)}"
                    f" {result.hedged_qty_base.normalize()} {result.pnl_quote.normalize()}"
                )
            lines.append(line)
        return lines


@dataclass(frozen=True)
class SessionSummary:
    rfqs: int
    answered: int
    quotes: int
    outcomes: dict[str, int]
    deals: int
    hit_ratio: str
    notional_quote: str
    hedged_pct: str
    settled: int
    settled_pct: str
    failed_legs: dict[str, int]
    recon: dict[str, int]
    breaks: dict[str, int]
    faults_injected: dict[str, int]
    deals_with_faults: int
    breaks_without_fault: list[str]
    desk_pnl_quote: str
    dead_letters: dict[str, int]
    digest: str  # sha256 of the totals and of every deal's line: equal digests, equal sessions

    def with_digest(self, deal_lines: list[str]) -> SessionSummary:
        body = asdict(self) | {"digest": ""}
        text = json.dumps(body, sort_keys=True) + "\n" + "\n".join(deal_lines)
        return SessionSummary(**(body | {"digest": hashlib.sha256(text.encode()).hexdigest()[:16]}))

    def as_json(self) -> dict[str, object]:
        return asdict(self)
