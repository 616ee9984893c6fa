"""The front office end to end on one seed: sim market -> price -> quote -> client -> accept."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from otcdesk.acceptance import QuoteBook
from otcdesk.client_sim import ClientSim
from otcdesk.events import Event, PriceUpdate, Quote, QuoteAction, QuoteRejected, QuoteResponse, Rfq, TradeBooked
from otcdesk.ids import IdFactory
from otcdesk.instruments import Instrument
from otcdesk.market import MarketSim
from otcdesk.pricing import ConsolidatedBook
from otcdesk.quoting import QuoteEngine
from otcdesk.settings import Settings

from .conftest import T0

#: CPU only (subprocesses with a 60 s timeout at most): make test runs it in the background phase.
pytestmark = pytest.mark.background

STEP_US = 250_000


class Desk:
    """A single-threaded stand-in for the faust stages, wired in event-time order."""

    def __init__(self, instruments: list[Instrument], seed: int) -> None:
        s = self.settings = Settings()
        self.market = MarketSim(instruments, s.sim, seed)
        self.clients = ClientSim(seed, clients=s.clients, sim=s.sim)
        self.engine = QuoteEngine(s.quote, s.clients, IdFactory.from_seed(seed, "quote-engine"))
        self.quotes = QuoteBook(s.quote, IdFactory.from_seed(seed, "acceptance"))
        self.latest: dict[tuple[str, str], PriceUpdate] = {}
        self.pending: list[tuple[int, QuoteResponse]] = []
        self.events: list[Event] = []

    def book(self, symbol: str, now_us: int) -> ConsolidatedBook:
        updates = [u for (_, sym), u in self.latest.items() if sym == symbol]
        return ConsolidatedBook(symbol, updates, now_us, self.settings.quote.stale_book_ms)

    def emit(self, event: Event | None) -> None:
        if event is None:
            return
        self.events.append(event)
        if isinstance(event, TradeBooked):
            self.engine.inventory.apply_trade(event)
            self.engine.credit.apply_trade(event)

    def run(self, seconds: int) -> list[Event]:
        next_rfq_us = self.clients.next_arrival_us(T0)
        for step in range(seconds * 1_000_000 // STEP_US):
            now = T0 + step * STEP_US
            for u in self.market.step(now):
                self.latest[(u.venue.value, u.symbol)] = u
            for symbol in ("BTC/USD", "ETH/USD"):
                mid = self.book(symbol, now).mid_quote
                if mid is not None:
                    self.engine.volatility.observe(symbol, now, mid)
            due = sorted((r for r in self.pending if r[0] <= now), key=lambda r: r[0])
            self.pending = [r for r in self.pending if r[0] > now]
            for at_us, response in due:
                self.emit(response)
                self.emit(self.quotes.accept(response, at_us))
            for expired in self.quotes.expire(now):
                self.emit(expired)
            while next_rfq_us <= now:
                rfq = self.clients.next_rfq(next_rfq_us)
                self.emit(rfq)
                result = self.engine.quote_rfq(rfq, self.book(rfq.symbol, now), now)
                self.emit(result)
                if isinstance(result, Quote):
                    self.quotes.add(result)
                    at_us, response = self.clients.respond(result, now)
                    if response is not None:
                        self.pending.append((at_us, response))
                next_rfq_us = self.clients.next_arrival_us(next_rfq_us)
        return self.events


def first_outcomes(events: list[Event]) -> dict[str, str]:
    """rfq_id -> its final outcome: the first terminal event of the deal."""
    out: dict[str, str] = {}
    for e in events:
        if isinstance(e, TradeBooked):
            out.setdefault(e.rfq_id, "TRADED")
        elif isinstance(e, QuoteRejected):
            out.setdefault(e.rfq_id, "EXPIRED" if e.quote_id else f"REJECTED:{e.reason.value}")
        elif isinstance(e, QuoteResponse) and e.action is QuoteAction.DECLINE:
            out.setdefault(e.rfq_id, "DECLINED")
    return out


def test_same_seed_same_deals_and_one_outcome_per_rfq(instruments: list[Instrument]) -> None:
    events = Desk(instruments, 2024).run(300)
    assert events == Desk(instruments, 2024).run(300)
    rfqs = [e for e in events if isinstance(e, Rfq)]
    outcomes = first_outcomes(events)
    still_live = {e.rfq_id for e in events[-30:] if isinstance(e, Quote)}
    assert {r.rfq_id for r in rfqs} - set(outcomes) <= still_live
    kinds = Counter(o.split(":")[0] for o in outcomes.values())
    assert kinds["TRADED"] > 20 and kinds["DECLINED"] > 5 and kinds["EXPIRED"] > 0
    trades = [e for e in events if isinstance(e, TradeBooked)]
    assert len({t.rfq_id for t in trades}) == len(trades)  # never two trades for one RFQ
    assert all(outcomes[t.rfq_id] == "TRADED" for t in trades)


def quote_200_btc(instruments: list[Instrument], regime: str) -> Quote | QuoteRejected:
    s = Settings()
    market = MarketSim(
        instruments,
        s.sim.model_copy(update={"start_regime": regime, "stale_prob": 0.0, "crossed_prob": 0.0, "update_prob": 1.0}),
        99,
    )
    updates = market.step(T0)
    book = ConsolidatedBook("BTC/USD", [u for u in updates if u.symbol == "BTC/USD"], T0, 2000)
    rfq = Rfq("e", T0, "t", "r-200", "ACME", "BTC/USD", qty_base=Decimal("200"))
    return QuoteEngine(s.quote, s.clients, IdFactory.from_seed(1, "q")).quote_rfq(rfq, book, T0)


def test_200_btc_sweeps_several_venues_and_runs_dry_in_stress(instruments: list[Instrument]) -> None:
    normal = quote_200_btc(instruments, "normal")
    assert isinstance(normal, Quote) and len(normal.venues_used) == 4
    assert normal.depth_ask_base > 200 and normal.spread_impact_bps > 5
    stressed = quote_200_btc(instruments, "stressed")
    assert isinstance(stressed, QuoteRejected) and stressed.reason.value == "INSUFFICIENT_DEPTH"
