from __future__ import annotations

from collections import Counter
from decimal import Decimal as D
from itertools import pairwise

from otcdesk.client_sim import ClientSim, default_profiles
from otcdesk.events import Quote, QuoteAction, Rfq, Side, Venue
from otcdesk.serde import default_serde
from otcdesk.settings import ClientSettings

from .conftest import T0


def rfqs(seed: int, n: int) -> list[Rfq]:
    sim = ClientSim(seed)
    now, out = T0, []
    for _ in range(n):
        now = sim.next_arrival_us(now)
        out.append(sim.next_rfq(now))
    return out


def test_rfq_flow_is_deterministic_and_varied() -> None:
    first = rfqs(7, 400)
    assert first == rfqs(7, 400) and first != rfqs(8, 400)
    assert len({r.rfq_id for r in first}) == 400 and all(len(r.rfq_id) == 36 for r in first)
    assert set(Counter(r.client_id for r in first)) == {"ACME", "BLUEFIN", "CORVUS", "DELTAX"}
    assert set(Counter(r.side for r in first)) == {Side.BUY, Side.SELL, Side.TWO_WAY}
    assert {r.symbol for r in first} == {"BTC/USD", "ETH/USD"}
    in_quote_ccy = [r for r in first if r.notional_quote is not None]
    assert in_quote_ccy and all(r.qty_base is None and r.notional_quote % 1000 == 0 for r in in_quote_ccy)
    btc = [r.qty_base for r in first if r.symbol == "BTC/USD" and r.qty_base is not None]
    assert min(btc) > 0 and max(btc) > 50 and all(q % D("0.01") == 0 for q in btc)
    gaps = [b.ts_us - a.ts_us for a, b in pairwise(first)]
    assert 1_000_000 < sum(gaps) / len(gaps) < 3_000_000  # 0.5 RFQ/s on average
    serde = default_serde()
    assert all(serde.decode(serde.encode(r)) == r for r in first[:20])


def test_profiles_take_tier_and_limit_from_settings() -> None:
    custom = ClientSettings(tiers={"ACME": "B"}, credit_limit_quote={"ACME": D("5")})
    acme = {p.name: p for p in default_profiles(custom)}["ACME"]
    assert (acme.tier, acme.credit_limit_quote) == ("B", D("5"))


def quote(client: str, side: Side, spread_bps: int, rfq_id: str = "r") -> Quote:
    mid = D("95000")
    off = mid * spread_bps / 10_000
    return Quote(
        "e",
        T0,
        "qe",
        rfq_id,
        "q-" + rfq_id,
        client,
        "BTC/USD",
        side,
        D("2"),
        mid - off,
        mid + off,
        mid,
        mid,
        mid,
        D(0),
        D(0),
        D(0),
        D(0),
        D(0),
        D(1),
        D(1),
        (Venue.BINANCE,),
        (),
        T0 + 5_000_000,
    )


def test_clients_accept_tight_quotes_and_refuse_wide_ones() -> None:
    sim = ClientSim(3)
    tight = Counter()
    wide = Counter()
    latencies = []
    for i in range(300):
        at, resp = sim.respond(quote("ACME", Side.BUY, 5, f"t{i}"), T0)
        latencies.append(at - T0)
        tight[resp.action if resp else None] += 1
        if resp and resp.action is QuoteAction.ACCEPT and resp.price_quote == D("95047.5") and resp.qty_base == 2:
            tight["exact"] += 1
        _, resp = sim.respond(quote("ACME", Side.TWO_WAY, 100, f"w{i}"), T0)
        wide[resp.action if resp else None] += 1
    assert tight[QuoteAction.ACCEPT] == 300 and tight["exact"] > 280  # a few fat fingers
    assert wide[QuoteAction.ACCEPT] == 0 and wide[QuoteAction.DECLINE] > 150 and wide[None] > 30
    assert min(latencies) > 0 and max(latencies) > 5_000_000  # some answer after the TTL


def test_two_way_rfq_intent_is_kept_and_unknown_clients_are_silent() -> None:
    sim = ClientSim(5)
    two_way = next(r for r in iter(lambda: sim.next_rfq(T0), None) if r.side is Side.TWO_WAY)
    assert sim.respond(quote("NOBODY", Side.BUY, 1), T0) == (T0, None)
    _, resp = sim.respond(quote(two_way.client_id, Side.TWO_WAY, 1, two_way.rfq_id), T0)
    assert resp is not None and resp.side in (Side.BUY, Side.SELL)
