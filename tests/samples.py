"""One realistic event of every type: the "200 BTC BUY for ACME" deal, end to end."""

from __future__ import annotations

from decimal import Decimal as D

from otcdesk.events import (
    BookLevel, BreakKind, DeadLetter, Event, ExecType, Fill, HedgeOrder, OrderState, PriceUpdate,
    Quote, QuoteAction, RfqPriced, SweepAllocation, QuoteRejected, QuoteResponse, ReconBreak, ReconResult, ReconStatus,
    RejectReason, Rfq, SettlementLeg, SettlementState, SettlementUpdated, Side, TradeBooked,
    TransferDirection, Venue, VenueExclusion,
)

T0 = 1_764_000_000_000_000  # 2025-11-24T16:00:00Z in epoch microseconds
RFQ_ID = "5b0c7f0e-3c4a-4f43-9a57-6f4f1f0c2a11"


def sample_events() -> list[Event]:
    return [
        Rfq("e-rfq", T0, "cli", RFQ_ID, "ACME", "BTC/USD", Side.BUY, D("200"), None, "acme-order-1"),
        PriceUpdate("e-px", T0 - 500, "feed-sim", Venue.BINANCE, "BTC/USD",
                    (BookLevel(D("95000.00"), D("1.25000")), BookLevel(D("94999.99"), D("2.50000"))),
                    (BookLevel(D("95000.01"), D("0.75000")), BookLevel(D("95000.50"), D("3.10000"))),
                    42, D("0.001"), D("0.01"), D("0.00001")),
        RfqPriced("e-priced", T0 + 600, "aggregator", RFQ_ID, "ACME", "BTC/USD", Side.BUY, D("200"), None,
                  "e-rfq", T0, "acme-order-1", None, None, D("200"), D("95000.005"), D("0.1"),
                  D("94780.11"), D("200"), D("18956022.00"), D("95312.45"), D("200"), D("19062490.00"),
                  D("180.5"), D("176.25"), (Venue.BINANCE, Venue.COINBASE, Venue.OKX),
                  (VenueExclusion(Venue.KRAKEN, "stale"),),
                  (SweepAllocation(Side.BUY, Venue.BINANCE, D("120"), D("11437494.00"), 18),
                   SweepAllocation(Side.SELL, Venue.OKX, D("200"), D("18956022.00"), 20)), T0),
        Quote("e-q", T0 + 800, "quote-engine", RFQ_ID, "q-1", "ACME", "BTC/USD", Side.BUY, D("200"),
              D("94512.30"), D("95620.70"), D("95000.005"), D("94780.11"), D("95312.45"),
              D("5"), D("10"), D("15.25"), D("2.5"), D("-1.125"), D("180.5"), D("176.25"),
              (Venue.BINANCE, Venue.COINBASE, Venue.OKX), (VenueExclusion(Venue.KRAKEN, "stale"),),
              T0 + 5_800_000),
        QuoteRejected("e-qr", T0 + 900, "quote-engine", RFQ_ID, None, "ACME", "BTC/USD",
                      RejectReason.INSUFFICIENT_DEPTH, "asked 2000 BTC, 176.25 BTC available on fresh venues"),
        QuoteResponse("e-resp", T0 + 2_000_000, "client-sim", RFQ_ID, "q-1", "ACME", QuoteAction.ACCEPT,
                      Side.BUY, D("95620.70"), D("200"), None),
        TradeBooked("e-t", T0 + 2_000_500, "acceptance", RFQ_ID, "t-1", "q-1", "ACME", "BTC/USD", Side.BUY,
                    D("200"), D("95620.70"), D("19124140.00"), D("0"), D("95000.005")),
        HedgeOrder("e-o", T0 + 2_100_000, "hedger", RFQ_ID, "o-1", "t-1", Venue.OKX, "BTC/USD", Side.BUY,
                   D("12.50000000"), D("95100.0"), 0, 16, OrderState.PARTIALLY_FILLED, D("10"), D("95010.2")),
        Fill("e-f", T0 + 2_150_000, "venue-sim", RFQ_ID, "okx-778", "o-1", "t-1", Venue.OKX, "BTC/USD",
             Side.BUY, ExecType.FILL, D("95010.2"), D("10"), D("1425.153"), "USDT", None, T0 + 2_120_000),
        SettlementUpdated("e-s", T0 + 3_000_000, "settlement", RFQ_ID, "t-1", "s-1", SettlementLeg.BASE,
                          TransferDirection.DESK_TO_CLIENT, "BTC", "bitcoin", D("200"),
                          "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "ab" * 32, 2, 6,
                          SettlementState.CONFIRMING, None, None),
        ReconResult("e-r", T0 + 9_000_000, "recon", RFQ_ID, "t-1", ReconStatus.BROKEN,
                    (ReconBreak(BreakKind.FEE, "1425.153", "1567.668", "fill okx-778 fee over schedule"),),
                    D("200"), D("200"), D("95012.4"), D("-63.6"), D("121660.00"), D("28512.3"), 1),
        DeadLetter("e-d", T0 + 100, "otcdesk-quote-engine", "rfq", 3, 1234, RFQ_ID.encode(), b"\x00garbage",
                   "decode:bad_magic", "DecodeError", "bad_magic: 0067", "otcdesk-quote-engine"),
    ]
