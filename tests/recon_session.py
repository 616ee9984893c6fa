"""A small simulated desk session with injected faults, built from the pure cores (no broker).

Fourteen deals are hedged by the real `HedgeTracker` against the venue simulator's `execute`,
settled by the real `SettlementPlanner`, then most of them get one fault a reconciliation must
find (an overcharged fee, a dropped fill, a duplicate, a short or long hedge, a price beyond
tolerance, a wrong settlement amount, a missing tx hash, broken timestamps, ...). `Session`
holds the events in arrival order with their Kafka provenance, and the streaming recon's verdict
(`ReconState`, judged at each deal's latest event time as the recon stage does, or at a given
instant as its timer does). Shared by the SQL recon tests (chDB and the 18.16 server) and the
analytics report tests.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal as D

from otcdesk.db import rows
from otcdesk.db.runner import SqlRunner
from otcdesk.events import (
    BookLevel,
    Event,
    ExecType,
    Fill,
    HedgeOrder,
    OrderState,
    PriceUpdate,
    Quote,
    ReconResult,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    Side,
    TradeBooked,
    Venue,
)
from otcdesk.hedging import HedgeTracker, plan_twap
from otcdesk.instruments import Instrument
from otcdesk.recon import ReconState, reconcile
from otcdesk.settings import Settings
from otcdesk.settlement.planner import SettlementPlanner
from otcdesk.venue_sim import execute
from tests.instruments import instrument_list
from tests.samples import sample_events

T0 = 1_764_000_000_000_000  # Monday 2025-11-24 16:00 UTC, 11:00 in New York: wires credit the same day
US_PER_S = 1_000_000
DEAL_GAP_US = 600 * US_PER_S
MIDS = {"BTC/USD": D("95000"), "ETH/USD": D("3500")}
INSTRUMENTS: dict[tuple[Venue, str], Instrument] = {(i.venue, i.symbol): i for i in instrument_list()}
#: Instruments the analytics queries are given (the same ones the "stream" used).
Breaks = Counter[tuple[str, str, str]]  # (rfq_id, kind, subject) -> count


#: Each venue's mid against the desk's, in bps: with the fee schedules, buys route to Kraken and
#: OKX first and sells to Binance, so every venue-level report has several venues.
VENUE_BASIS_BPS = {Venue.BINANCE: 10, Venue.OKX: 0, Venue.KRAKEN: -12, Venue.COINBASE: 0}


def _book(venue: Venue, symbol: str, ts_us: int) -> PriceUpdate:
    """A ladder around the venue's mid, 10 levels every 0.01 % of mid, thin enough that the
    hedger's participation cap spreads a deal over clips and venues."""
    step = MIDS[symbol] / 10_000
    mid = MIDS[symbol] + step * VENUE_BASIS_BPS[venue]
    qty = D("0.4") if symbol == "BTC/USD" else D("8")
    bids = tuple(BookLevel(mid - step * (i + 1), qty) for i in range(10))
    asks = tuple(BookLevel(mid + step * (i + 1), qty) for i in range(10))
    inst = INSTRUMENTS[(venue, symbol)]
    return PriceUpdate(
        f"px-{venue}-{symbol}-{ts_us}",
        ts_us,
        "test",
        venue,
        symbol,
        bids,
        asks,
        1,
        inst.taker_fee_rate,
        inst.tick_size_quote,
        inst.lot_size_base,
    )


@dataclass(frozen=True)
class Deal:
    trade: TradeBooked
    quote: Quote
    orders: tuple[HedgeOrder, ...]
    fills: tuple[Fill, ...]
    settlements: tuple[SettlementUpdated, ...]

    def events(self) -> list[Event]:
        """Arrival order: the trade, the hedge as it happened, then the settlement of both legs."""
        hedge = sorted((*self.orders, *self.fills), key=lambda e: e.ts_us)
        return [self.trade, *hedge, *self.settlements]


def hedge_and_settle(
    index: int, client: str, symbol: str, side: Side, qty: str, price: str, settings: Settings
) -> Deal:
    """One deal through the real cores: quote and trade, TWAP hedge filled by the venue simulator,
    both settlement legs."""
    t0 = T0 + index * DEAL_GAP_US
    rfq_id = f"rfq-{index:02d}"
    q, p = D(qty), D(price)
    notional = (q * p).quantize(D("0.01"), ROUND_HALF_EVEN)
    trade = TradeBooked(
        f"ev-trade-{index}",
        t0,
        "acceptance",
        rfq_id,
        f"trade-{index:02d}",
        f"quote-{index:02d}",
        client,
        symbol,
        side,
        q,
        p,
        notional,
        D("0"),
        MIDS[symbol],
    )
    books = {venue: _book(venue, symbol, t0) for venue in Venue if (venue, symbol) in INSTRUMENTS}
    rng = random.Random(index)
    plan = plan_twap(trade, books, INSTRUMENTS, settings.hedge, rng, t0)
    tracker = HedgeTracker(trade, plan, INSTRUMENTS, settings.hedge)
    orders: list[HedgeOrder] = []
    fills: list[Fill] = []
    now = t0
    while not tracker.progress().done and now < t0 + 3_600 * US_PER_S:
        for order in tracker.due_orders(books, now):
            orders.append(order)
            ex = execute(order, books[order.venue], INSTRUMENTS[(order.venue, symbol)], settings.venue_sim, rng)
            for fill in ex.fills:
                fills.append(fill)
                if (update := tracker.on_fill(fill)) is not None:
                    orders.append(update)
            orders.append(ex.report)
            if (update := tracker.on_venue_report(ex.report)) is not None:
                orders.append(update)
        now += US_PER_S
    ssi = settings.settlement.instructions[client]
    settlements = SettlementPlanner(settings.settlement).plan(trade, ssi, rng, now)
    return Deal(trade, _quote_of(trade, t0 - 2 * US_PER_S), tuple(orders), tuple(fills), settlements)


def _quote_of(trade: TradeBooked, ts_us: int) -> Quote:
    template = next(e for e in sample_events() if isinstance(e, Quote))
    half = (
        trade.price_quote - trade.arrival_mid_quote
        if trade.side is Side.BUY
        else trade.arrival_mid_quote - trade.price_quote
    )
    return replace(
        template,
        event_id=f"ev-{trade.quote_id}",
        ts_us=ts_us,
        rfq_id=trade.rfq_id,
        quote_id=trade.quote_id,
        client_id=trade.client_id,
        symbol=trade.symbol,
        side=trade.side,
        qty_base=trade.qty_base,
        mid_price_quote=trade.arrival_mid_quote,
        bid_price_quote=trade.arrival_mid_quote - abs(half),
        ask_price_quote=trade.arrival_mid_quote + abs(half),
        valid_until_us=ts_us + 5 * US_PER_S,
    )


# -- faults ----------------------------------------------------------------------------------------


def _executed(deal: Deal) -> list[Fill]:
    return [f for f in deal.fills if f.exec_type is ExecType.FILL]


def _last_leg(deal: Deal, leg: SettlementLeg) -> SettlementUpdated:
    return [s for s in deal.settlements if s.leg is leg][-1]


def _swap_settlement(deal: Deal, old: SettlementUpdated, new: SettlementUpdated) -> Deal:
    return replace(deal, settlements=tuple(new if s is old else s for s in deal.settlements))


def overcharged_fee(deal: Deal) -> Deal:
    fill = _executed(deal)[0]
    return replace(deal, fills=tuple(replace(f, fee=f.fee * D("1.5")) if f is fill else f for f in deal.fills))


def dropped_fill(deal: Deal) -> Deal:
    fill = _executed(deal)[-1]
    return replace(deal, fills=tuple(f for f in deal.fills if f is not fill))


def duplicate_fills(deal: Deal) -> Deal:
    """A venue reporting a fill twice (same fill_id, new event), and one under another id."""
    first, second = _executed(deal)[:2]
    again = replace(first, event_id="ev-dup-same-id")
    twin = replace(second, event_id="ev-dup-other-id", fill_id=f"{second.fill_id}-twin")
    return replace(deal, fills=(*deal.fills, again, twin))


def over_hedged(deal: Deal) -> Deal:
    fill = _executed(deal)[0]
    extra = replace(
        fill,
        event_id="ev-extra-fill",
        fill_id=f"{fill.fill_id}-extra",
        qty_base=D("0.5"),
        fee=(fill.fee / fill.qty_base * D("0.5")).quantize(D("1e-8"), ROUND_HALF_EVEN),
    )
    return replace(deal, fills=(*deal.fills, extra))


def short_hedge(deal: Deal) -> Deal:
    """The last clip never happened: under-hedged, a break only once the deal times out."""
    last = max(o.clip_index for o in deal.orders)
    gone = {o.order_id for o in deal.orders if o.clip_index == last}
    return replace(
        deal,
        orders=tuple(o for o in deal.orders if o.order_id not in gone),
        fills=tuple(f for f in deal.fills if f.order_id not in gone),
    )


def wrong_quote_amount(deal: Deal) -> Deal:
    leg = _last_leg(deal, SettlementLeg.QUOTE)
    return _swap_settlement(deal, leg, replace(leg, amount=leg.amount - D("100")))


def missing_tx_hash(deal: Deal) -> Deal:
    leg = _last_leg(deal, SettlementLeg.BASE)
    return _swap_settlement(deal, leg, replace(leg, tx_hash=None))


def broken_timestamps(deal: Deal) -> Deal:
    """A fill stamped before its order was sent, and a settlement event before the trade."""
    fill = _executed(deal)[0]
    sent = min(o.ts_us for o in deal.orders if o.order_id == fill.order_id)
    early = replace(fill, order_ts_us=sent - 1)
    first = deal.settlements[0]
    return replace(
        _swap_settlement(deal, first, replace(first, ts_us=deal.trade.ts_us - 1)),
        fills=tuple(early if f is fill else f for f in deal.fills),
    )


def few_confirmations(deal: Deal) -> Deal:
    leg = _last_leg(deal, SettlementLeg.BASE)
    return _swap_settlement(deal, leg, replace(leg, confirmations=1))


def unanswered_order(deal: Deal) -> Deal:
    """An order no venue ever answered, sent late: missing only after the fill timeout."""
    model = deal.orders[0]
    end = max(e.ts_us for e in deal.events())
    lost = replace(
        model,
        event_id="ev-lost-order",
        order_id="order-lost",
        ts_us=end - US_PER_S,
        state=OrderState.WORKING,
        filled_qty_base=D("0"),
        avg_fill_price_quote=D("0"),
    )
    return replace(deal, orders=(*deal.orders, lost))


def failed_base_leg(deal: Deal) -> Deal:
    leg = _last_leg(deal, SettlementLeg.BASE)
    return _swap_settlement(deal, leg, replace(leg, state=SettlementState.FAILED, reason="NETWORK: reorg"))


Fault = Callable[[Deal], Deal]

#: (client, symbol, side, qty, locked price, fault) per deal. Prices carry the desk's spread;
#: deal 6 is locked 2 % away from the market, far beyond the 50 bps price tolerance.
PLAN: tuple[tuple[str, str, Side, str, str, Fault | None], ...] = (
    ("ACME", "BTC/USD", Side.BUY, "4", "95100", None),
    ("BLUEFIN", "BTC/USD", Side.SELL, "3", "94900", None),
    ("ACME", "BTC/USD", Side.BUY, "2.5", "95100", overcharged_fee),
    ("DELTAX", "BTC/USD", Side.BUY, "3", "95100", dropped_fill),
    ("ACME", "BTC/USD", Side.SELL, "4", "94900", duplicate_fills),
    ("BLUEFIN", "BTC/USD", Side.BUY, "2", "95100", over_hedged),
    ("ACME", "BTC/USD", Side.BUY, "2", "96900", None),
    ("ACME", "BTC/USD", Side.BUY, "3", "95100", wrong_quote_amount),
    ("BLUEFIN", "BTC/USD", Side.SELL, "2", "94900", missing_tx_hash),
    ("ACME", "BTC/USD", Side.BUY, "2", "95100", broken_timestamps),
    ("ACME", "BTC/USD", Side.BUY, "4", "95100", few_confirmations),
    ("DELTAX", "BTC/USD", Side.SELL, "3", "94900", unanswered_order),
    ("CORVUS", "ETH/USD", Side.BUY, "40", "3503", None),
    ("ACME", "BTC/USD", Side.BUY, "6", "95100", short_hedge),
    ("BLUEFIN", "BTC/USD", Side.BUY, "1.5", "95100", failed_base_leg),
)


# -- the session ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    deals: tuple[Deal, ...]
    settings: Settings

    def arrivals(self) -> list[Event]:
        """Every event in the order the recon stage receives them, deal after deal."""
        return [e for deal in self.deals for e in deal.events()]

    def stream_results(self, as_of_us: int = 0, revision: int = 1) -> list[ReconResult]:
        """The streaming recon's result per deal: every event fed to a `ReconState` in arrival
        order, judged at the deal's latest event time (`as_of_us` 0, the stage's event path) or
        at `as_of_us` (the stage's timer)."""
        out = []
        for deal in self.deals:
            state = ReconState(deal.trade.rfq_id)
            for event in deal.events():
                state.add(event)
            assert state.trade is not None
            now_us = as_of_us or max(e.ts_us for e in deal.events())
            out.append(
                reconcile(
                    state.trade,
                    state.orders,
                    state.fills,
                    state.settlements,
                    INSTRUMENTS,
                    self.settings,
                    now_us,
                    revision,
                )
            )
        return out

    def recon_log(self) -> list[ReconResult]:
        """What the recon stage sends to `recon`: each deal's result at its last event (revision
        1), then, for a deal the timeout changes, the timer's result (revision 2)."""
        first = self.stream_results()
        late = self.stream_results(self.timeout_us, revision=2)
        return first + [b for a, b in zip(first, late, strict=True) if (a.status, a.breaks) != (b.status, b.breaks)]

    def event_log(self) -> list[Event]:
        """Every event the analytics tables get: market data, quotes (taken or not), the deals'
        lifecycle events in arrival order, and the reconciliation's results."""
        quotes = [d.quote for d in self.deals] + self.unanswered_quotes()
        return [*self.books(), *quotes, *self.arrivals(), *self.recon_log()]

    @property
    def timeout_us(self) -> int:
        """An instant past every deal's timeout: unanswered orders and unfinished hedges break."""
        last = max(d.trade.ts_us for d in self.deals)
        return last + int(self.settings.recon.deal_timeout_s * US_PER_S) + 1

    def books(self) -> list[PriceUpdate]:
        """Market data: every venue's book of each deal's symbol at the deal's start and end."""
        out = []
        for deal in self.deals:
            end = max(e.ts_us for e in (*deal.orders, *deal.fills)) + US_PER_S
            for venue in Venue:
                if (venue, deal.trade.symbol) in INSTRUMENTS:
                    out += [_book(venue, deal.trade.symbol, ts) for ts in (deal.trade.ts_us - US_PER_S, end)]
        return out

    def unanswered_quotes(self) -> list[Quote]:
        """Quotes the clients let expire (for the hit ratio): one per deal, ten times its size."""
        return [
            replace(
                d.quote,
                event_id=f"{d.quote.event_id}-x",
                quote_id=f"{d.quote.quote_id}-x",
                rfq_id=f"{d.trade.rfq_id}-x",
                qty_base=d.quote.qty_base * 10,
            )
            for d in self.deals
        ]


def build_session(settings: Settings | None = None) -> Session:
    settings = settings or Settings()
    deals = []
    for index, (client, symbol, side, qty, price, fault) in enumerate(PLAN):
        deal = hedge_and_settle(index, client, symbol, side, qty, price, settings)
        deals.append(fault(deal) if fault else deal)
    return Session(tuple(deals), settings)


# -- into ClickHouse, as the sink writes it ---------------------------------------------------------


def sink_rows(events: Iterable[Event], *, redeliver_every: int = 7) -> dict[type[Event], list[tuple[object, ...]]]:
    """Rows exactly as the sink builds them (`rows.to_row` with Kafka provenance, one offset
    counter per topic in arrival order), per event type; every `redeliver_every`-th event is there
    twice, as a sink restarted between insert and commit stores it (FINAL must see it once)."""
    offsets: Counter[str] = Counter()
    batches: dict[type[Event], list[tuple[object, ...]]] = {}
    for n, event in enumerate(events):
        for _copy in range(2 if redeliver_every and n % redeliver_every == 0 else 1):
            row = rows.to_row(event, rows.Provenance(event.TOPIC, 0, offsets[event.TOPIC]))
            offsets[event.TOPIC] += 1
            batches.setdefault(type(event), []).append(row)
    return batches


def insert_all(runner: SqlRunner, database: str, events: Iterable[Event]) -> None:
    for cls, batch in sink_rows(events).items():
        runner.insert(f"{database}.{rows.table_of(cls)}", rows.columns(cls), batch)


def expected_breaks(results: Sequence[ReconResult]) -> Breaks:
    """(rfq_id, kind, subject) of every break, the subject read from the break's detail text."""
    return Counter((r.rfq_id, b.kind.value, subject_of(b.kind.value, b.detail)) for r in results for b in r.breaks)


def subject_of(kind: str, detail: str) -> str:
    """What a break is about, as recon_breaks names it: the fill, order, settlement or leg id
    (DUPLICATE_FILL names the fill that was kept), '' for deal-wide breaks (QUANTITY, PRICE)."""
    words = detail.replace(":", " ").split()
    if kind == "DUPLICATE_FILL" and "identical" in words:
        return words[words.index("to") + 1]
    if words[0] in ("fill", "order", "settlement"):
        return words[1]
    if words[0] in ("BASE", "QUOTE"):
        return words[0]
    return ""


def load_session(runner: SqlRunner, database: str, session: Session) -> None:
    """A fresh event log in `database` holding the whole session."""
    from otcdesk.db.migrate import migrate

    migrate(runner, database)
    insert_all(runner, database, session.event_log())


def sql_breaks(runner: SqlRunner, database: str, session: Session, as_of_us: int = 0) -> Breaks:
    """recon_breaks' (rfq_id, kind, subject) counts, with the session's settings and instruments."""
    from otcdesk.analytics import reports
    from otcdesk.analytics.recon_params import recon_params

    params = {"since_us": 0, "until_us": 2**62, **recon_params(session.settings, INSTRUMENTS, as_of_us)}
    rows = reports.query_rows(runner, database, reports.get("recon_breaks"), params)
    return Counter((rfq_id, kind, subject) for rfq_id, _trade, kind, subject, *_rest in rows)


def recon_table_breaks(runner: SqlRunner, database: str) -> Breaks:
    """(rfq_id, kind) of the breaks in each deal's latest result in the `recon` table (subject '')."""
    rows = runner.query(
        f"SELECT rfq_id, kind FROM (SELECT rfq_id, argMax(breaks.kind, revision) AS kinds"
        f" FROM {database}.recon FINAL GROUP BY rfq_id) ARRAY JOIN kinds AS kind"
    )
    return Counter((rfq_id, kind, "") for rfq_id, kind in rows)


def without_subjects(breaks: Breaks) -> Breaks:
    out: Breaks = Counter()
    for (rfq_id, kind, _subject), n in breaks.items():
        out[(rfq_id, kind, "")] += n
    return out
