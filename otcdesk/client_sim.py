"""Simulated clients: who asks for what, how fast they answer, and what price they take. The core
of stage client-sim (`streams/client_sim.py`), and the RFQ flow of a session and of `rfq load`.

Four profiles stand for the usual OTC client mix (the names are fictional):

| client  | kind          | tier | sizes (median BTC / ETH) | answers in (median) | takes up to |
|---------|---------------|------|--------------------------|---------------------|-------------|
| ACME    | hedge fund    | A    | 20 / 300                 | 0.9 s               | 25 bps      |
| BLUEFIN | asset manager | B    | 8 / 150                  | 1.5 s               | 30 bps      |
| CORVUS  | retail broker | C    | 1.5 / 25                 | 2.5 s (often late)  | 50 bps      |
| DELTAX  | prop trader   | B    | 40 / 600                 | 0.3 s               | 22 bps      |

"Takes up to" is the cost of the quote against mid for the side the client wants,
`(ask - mid) / mid` for a buy; each answer draws the threshold +/-30 %. Beyond it the client
declines or simply lets the quote expire. The tolerances allow for venue taker fees (10-26 bps
at the retail tiers ccxt reports), which the desk's fee-inclusive price passes on. Latencies
are log-normal, so a tail answers after the TTL and exercises QUOTE_EXPIRED; a small
`error_prob` sends a wrong price, size or side, so the acceptance rules are exercised too.
Tier and credit limit come from `ClientSettings` (the desk's static data); the behaviour is
here. Every draw comes from the seeded generator.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from itertools import accumulate

from otcdesk.events import Quote, QuoteAction, QuoteResponse, Rfq, Side
from otcdesk.ids import IdFactory, derived_rng
from otcdesk.settings import ClientSettings, SimSettings
from otcdesk.venues.constants import DESK_SYMBOLS

BPS = Decimal(10_000)
D = Decimal
#: Granularity clients ask in (base units), and quote-currency RFQs round to this many USD.
SIZE_QUANTUM_BASE: Mapping[str, Decimal] = {"BTC/USD": D("0.01"), "ETH/USD": D("0.1")}
NOTIONAL_QUANTUM_QUOTE = D("1000")
SYMBOL_WEIGHTS: Mapping[str, float] = {"BTC/USD": 0.65, "ETH/USD": 0.35}
SIDES = (Side.BUY, Side.SELL, Side.TWO_WAY)  # the order of ClientProfile.side_mix
#: Who publishes the RFQs of a simulated session (`otcdesk simulate`); the stages wait for its watermark.
SESSION_RFQ_SOURCE = "simulate"
#: The `source` of the RFQs this simulator generates, whichever program sends them (a session, the
#: load generator, a chaos scenario). The simulated clients answer quotes for these RFQs only: a
#: person or another program asking in a client's name answers its own quotes.
SIMULATED_RFQ_SOURCES = frozenset({"client-sim", SESSION_RFQ_SOURCE, "load", "chaos"})


@dataclass(frozen=True, slots=True)
class ClientProfile:
    name: str
    tier: str
    credit_limit_quote: Decimal
    weight: float  # share of the RFQ flow
    tolerance_bps: Decimal
    decline_prob: float  # out of tolerance: decline (else let it expire)
    latency_median_ms: float
    latency_sigma: float  # of the log-normal
    sizes: Mapping[str, tuple[Decimal, float]]  # symbol -> (median qty_base, log-normal sigma)
    side_mix: tuple[float, float, float]  # BUY, SELL, TWO_WAY
    notional_prob: float  # share of RFQs sized in quote currency
    error_prob: float
    slippage_tolerance_bps: Decimal | None = None


def default_profiles(clients: ClientSettings | None = None) -> tuple[ClientProfile, ...]:
    c = clients or ClientSettings()

    def make(name: str, **behaviour: object) -> ClientProfile:
        tier = c.tiers.get(name, c.default_tier)
        limit = c.credit_limit_quote.get(name, c.default_credit_limit_quote)
        return ClientProfile(name, tier, limit, **behaviour)  # type: ignore[arg-type]  # field overrides by name

    return (
        make(
            "ACME",
            weight=0.3,
            tolerance_bps=D("25"),
            decline_prob=0.7,
            latency_median_ms=900,
            latency_sigma=0.9,
            sizes={"BTC/USD": (D("20"), 1.0), "ETH/USD": (D("300"), 1.0)},
            side_mix=(0.4, 0.4, 0.2),
            notional_prob=0.15,
            error_prob=0.01,
        ),
        make(
            "BLUEFIN",
            weight=0.25,
            tolerance_bps=D("30"),
            decline_prob=0.8,
            latency_median_ms=1500,
            latency_sigma=0.7,
            sizes={"BTC/USD": (D("8"), 0.9), "ETH/USD": (D("150"), 0.9)},
            side_mix=(0.55, 0.35, 0.1),
            notional_prob=0.3,
            error_prob=0.01,
            slippage_tolerance_bps=D("2"),
        ),
        make(
            "CORVUS",
            weight=0.25,
            tolerance_bps=D("50"),
            decline_prob=0.3,
            latency_median_ms=2500,
            latency_sigma=0.6,
            sizes={"BTC/USD": (D("1.5"), 0.8), "ETH/USD": (D("25"), 0.8)},
            side_mix=(0.5, 0.5, 0.0),
            notional_prob=0.5,
            error_prob=0.03,
        ),
        make(
            "DELTAX",
            weight=0.2,
            tolerance_bps=D("22"),
            decline_prob=0.9,
            latency_median_ms=300,
            latency_sigma=0.5,
            sizes={"BTC/USD": (D("40"), 0.7), "ETH/USD": (D("600"), 0.7)},
            side_mix=(0.3, 0.3, 0.4),
            notional_prob=0.0,
            error_prob=0.005,
        ),
    )


class ClientSim:
    """Deterministic RFQ flow and quote responses for the load generator."""

    def __init__(
        self,
        seed: int,
        profiles: Collection[ClientProfile] | None = None,
        *,
        clients: ClientSettings | None = None,
        sim: SimSettings | None = None,
        symbols: Collection[str] = DESK_SYMBOLS,
        source: str = "client-sim",
    ) -> None:
        self.clients = clients or ClientSettings()
        self.profiles = {p.name: p for p in (profiles or default_profiles(self.clients))}
        self._names = sorted(self.profiles)
        self._symbols = sorted(symbols)
        self._ref_price = (sim or SimSettings()).start_price_quote
        self._rng = derived_rng(seed, "clients")
        self._ids = IdFactory.from_seed(seed, "client-ids")
        self._intent: OrderedDict[str, Side] = OrderedDict()  # two-way rfq_id -> side wanted
        self._count = 0
        self.source = source
        # Cumulative weights computed once: `random.choices` with `cum_weights` draws exactly what
        # it draws with `weights` (it accumulates them the same way), without redoing it per RFQ,
        # which was a fifth of the load generator's time.
        self._name_cum = list(accumulate(self.profiles[n].weight for n in self._names))
        self._symbol_cum = {
            p.name: (
                [s for s in self._symbols if s in p.sizes],
                list(accumulate(SYMBOL_WEIGHTS.get(s, 1.0) for s in self._symbols if s in p.sizes)),
            )
            for p in self.profiles.values()
        }
        self._side_cum = {p.name: list(accumulate(p.side_mix)) for p in self.profiles.values()}

    def next_arrival_us(self, now_us: int) -> int:
        """Poisson arrivals at `ClientSettings.rfq_per_s` (sim time)."""
        return now_us + max(1, int(self._rng.expovariate(self.clients.rfq_per_s) * 1_000_000))

    def next_rfq(self, now_us: int) -> Rfq:
        rng = self._rng
        profile = self.profiles[rng.choices(self._names, cum_weights=self._name_cum)[0]]
        symbols, symbol_cum = self._symbol_cum[profile.name]
        symbol = rng.choices(symbols, cum_weights=symbol_cum)[0]
        side = rng.choices(SIDES, cum_weights=self._side_cum[profile.name])[0]
        median, sigma = profile.sizes[symbol]
        quantum = SIZE_QUANTUM_BASE.get(symbol, D("0.01"))
        raw = float(median) * math.exp(sigma * rng.gauss(0.0, 1.0))
        qty = max((D(repr(raw)) / quantum).to_integral_value(ROUND_DOWN) * quantum, quantum)
        qty_base: Decimal | None = qty
        notional: Decimal | None = None
        if rng.random() < profile.notional_prob and symbol in self._ref_price:
            ref = qty * self._ref_price[symbol] / NOTIONAL_QUANTUM_QUOTE
            notional = max(ref.to_integral_value(), D(1)) * NOTIONAL_QUANTUM_QUOTE
            qty_base = None
        rfq_id = self._ids.new()
        if side is Side.TWO_WAY:
            self._remember(rfq_id, rng.choice((Side.BUY, Side.SELL)))
        self._count += 1
        return Rfq(
            event_id=self._ids.new(),
            ts_us=now_us,
            source=self.source,
            rfq_id=rfq_id,
            client_id=profile.name,
            symbol=symbol,
            side=side,
            qty_base=qty_base,
            notional_quote=notional,
            client_ref=f"{profile.name.lower()}-{self._count}",
        )

    def _remember(self, rfq_id: str, side: Side) -> None:
        self._intent[rfq_id] = side
        while len(self._intent) > 100_000:
            self._intent.popitem(last=False)

    def respond(
        self,
        quote: Quote,
        now_us: int,
        *,
        rng: random.Random | None = None,
        ids: IdFactory | None = None,
    ) -> tuple[int, QuoteResponse | None]:
        """When the client answers and what; None = it lets the quote expire (or is unknown).

        A stage passes an `rng` and `ids` derived from the quote itself, so the answer does not
        depend on the order quotes of different partitions happened to arrive in.
        """
        profile = self.profiles.get(quote.client_id)
        if profile is None:
            return now_us, None
        rng = rng or self._rng
        latency_ms = profile.latency_median_ms * math.exp(profile.latency_sigma * rng.gauss(0.0, 1.0))
        at_us = now_us + int(latency_ms * 1000)
        side: Side
        if quote.side in (Side.BUY, Side.SELL):
            side = quote.side
        else:
            wanted = self._intent.pop(quote.rfq_id, None)
            side = wanted or rng.choice((Side.BUY, Side.SELL))
        price = quote.ask_price_quote if side is Side.BUY else quote.bid_price_quote
        mid = quote.mid_price_quote
        cost_bps = (price - mid) / mid * BPS if side is Side.BUY else (mid - price) / mid * BPS
        threshold = profile.tolerance_bps * D(repr(round(rng.uniform(0.7, 1.3), 4)))
        action, qty = QuoteAction.ACCEPT, quote.qty_base
        if cost_bps > threshold:
            if rng.random() >= profile.decline_prob:
                return at_us, None
            action = QuoteAction.DECLINE
        elif rng.random() < profile.error_prob:  # fat finger: one field off
            mistake = rng.choice(("price", "qty", "side"))
            if mistake == "price":
                price += price * 10 / BPS
            elif mistake == "qty":
                qty += SIZE_QUANTUM_BASE.get(quote.symbol, D("0.01"))
            else:
                side = side.opposite
        return at_us, QuoteResponse(
            event_id=(ids or self._ids).new(),
            ts_us=at_us,
            source=self.source,
            rfq_id=quote.rfq_id,
            quote_id=quote.quote_id,
            client_id=quote.client_id,
            action=action,
            side=side,
            price_quote=price,
            qty_base=qty,
            slippage_tolerance_bps=profile.slippage_tolerance_bps,
        )
