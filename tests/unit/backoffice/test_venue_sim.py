"""The venue simulator: level walking, limit, IOC remainder, fees, latency, rejects and faults."""

from __future__ import annotations

import random
from decimal import Decimal as D

from otcdesk.events import ExecType, HedgeOrder, OrderState, Side, Venue
from otcdesk.settings import VenueSimSettings
from otcdesk.venue_sim import execute, is_venue_report

from .conftest import T0, book, make_instruments

INSTRUMENTS = make_instruments()
NO_REJECTS = VenueSimSettings(reject_prob=0.0)


def order(qty: str, limit: str, side: Side = Side.BUY, venue: Venue = Venue.BINANCE) -> HedgeOrder:
    return HedgeOrder(
        "ev-o",
        T0,
        "hedger",
        "rfq-1",
        "o-1",
        "trade-1",
        venue,
        "BTC/USD",
        side,
        D(qty),
        D(limit),
        0,
        1,
        OrderState.WORKING,
        D(0),
        D(0),
    )


BOOK = book(Venue.BINANCE, [("94999", "1"), ("94998", "2")], [("95001", "0.5"), ("95002", "1"), ("95010", "5")])


def run(o: HedgeOrder, settings: VenueSimSettings = NO_REJECTS, seed: int = 1):
    return execute(o, BOOK, INSTRUMENTS[(o.venue, o.symbol)], settings, random.Random(seed))


def test_walks_levels_one_fill_per_level_with_venue_trade_ids():
    result = run(order("1.2", "95005"))
    assert [(f.price_quote, f.qty_base) for f in result.fills] == [(D("95001"), D("0.5")), (D("95002"), D("0.7"))]
    assert len({f.fill_id for f in result.fills}) == 2 and all(f.fill_id.startswith("binance-") for f in result.fills)
    assert all(f.order_ts_us == result.arrival_us > T0 for f in result.fills)
    assert result.report.state is OrderState.FILLED and is_venue_report(result.report)
    assert result.report.avg_fill_price_quote == ((D("0.5") * 95001 + D("0.7") * 95002) / D("1.2")).quantize(D("1e-10"))


def test_limit_stops_the_walk_and_the_rest_is_cancelled():
    result = run(order("3", "95002"))  # 95010 is beyond the limit
    assert sum(f.qty_base for f in result.fills) == D("1.5")
    assert all(f.price_quote <= D("95002") for f in result.fills)
    assert result.report.state is OrderState.CANCELLED and result.report.filled_qty_base == D("1.5")


def test_sell_walks_bids_down_to_the_limit():
    result = run(order("5", "94998", Side.SELL))
    assert [f.price_quote for f in result.fills] == [D("94999"), D("94998")]
    assert result.report.filled_qty_base == D("3")  # depth ran out


def test_taker_fee_is_schedule_rate_times_notional_in_venue_quote_ccy():
    result = run(order("0.5", "95001"))
    (fill,) = result.fills
    assert fill.fee == D("0.001") * D("95001") * D("0.5") and fill.fee_currency == "USDT"
    kraken = execute(
        order("0.5", "95001", venue=Venue.KRAKEN),
        BOOK,
        INSTRUMENTS[(Venue.KRAKEN, "BTC/USD")],
        NO_REJECTS,
        random.Random(1),
    )
    assert kraken.fills[0].fee_currency == "USD" and kraken.fills[0].fee == D("123.5013")


def test_rejects_are_seeded_and_reported():
    result = run(order("1", "95005"), VenueSimSettings(reject_prob=1.0))
    (fill,) = result.fills
    assert fill.exec_type is ExecType.REJECT and fill.qty_base == 0 and fill.reject_reason
    assert result.report.state is OrderState.REJECTED
    assert run(order("0.000001", "95005")).report.state is OrderState.REJECTED  # below the lot


def test_same_seed_same_execution_and_latency_per_venue():
    assert run(order("1", "95005"), seed=4) == run(order("1", "95005"), seed=4)
    fast = [run(order("1", "95005"), seed=s).arrival_us - T0 for s in range(50)]
    slow = [
        execute(
            order("1", "95005", venue=Venue.KRAKEN),
            BOOK,
            INSTRUMENTS[(Venue.KRAKEN, "BTC/USD")],
            NO_REJECTS,
            random.Random(s),
        ).arrival_us
        - T0
        for s in range(50)
    ]
    assert sorted(fast)[25] < sorted(slow)[25]


def test_fault_injection_drops_duplicates_and_overcharges():
    dropped = run(order("1.2", "95005"), VenueSimSettings(reject_prob=0, drop_fill_prob=1.0))
    assert dropped.fills == () and dropped.report.filled_qty_base == D("1.2")
    duped = run(order("0.5", "95005"), VenueSimSettings(reject_prob=0, duplicate_fill_prob=1.0))
    assert len(duped.fills) == 2 and duped.fills[0].fill_id == duped.fills[1].fill_id
    assert duped.fills[0].event_id != duped.fills[1].event_id
    over = run(order("0.5", "95005"), VenueSimSettings(reject_prob=0, fee_overcharge_prob=1.0))
    assert over.fills[0].fee == (D("0.001") * D("95001") * D("0.5") * D("1.5")).quantize(D("1e-8"))
