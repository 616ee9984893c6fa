"""Instruments with the venues' real rules (otcdesk/venues/recorded/README.md) and book helpers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from otcdesk.events import BookLevel, PriceUpdate, Rfq, Side, Venue
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings
from tests.instruments import instrument_list

T0 = 1_764_000_000_000_000


def make_instruments() -> list[Instrument]:
    return instrument_list()


@pytest.fixture()
def instruments() -> list[Instrument]:
    return make_instruments()


@pytest.fixture()
def settings() -> Settings:
    return Settings()


def update(
    venue: Venue,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
    *,
    ts_us: int = T0,
    fee: str = "0",
    symbol: str = "BTC/USD",
    tick: str = "0.01",
    lot: str = "0.00001",
    sequence: int = 1,
) -> PriceUpdate:
    """A PriceUpdate from (price, qty) string pairs, best first."""
    return PriceUpdate(
        f"px-{venue}-{sequence}",
        ts_us,
        "test",
        venue,
        symbol,
        tuple(BookLevel(D(p), D(q)) for p, q in bids),
        tuple(BookLevel(D(p), D(q)) for p, q in asks),
        sequence,
        D(fee),
        D(tick),
        D(lot),
    )


def rfq(
    side: Side = Side.BUY,
    qty: str | None = "1",
    *,
    notional: str | None = None,
    client: str = "ACME",
    symbol: str = "BTC/USD",
    rfq_id: str = "rfq-1",
) -> Rfq:
    return Rfq(
        "e-" + rfq_id,
        T0,
        "test",
        rfq_id,
        client,
        symbol,
        side,
        D(qty) if qty is not None else None,
        D(notional) if notional is not None else None,
    )
