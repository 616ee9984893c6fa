"""The stage metrics (otcdesk.metrics) counted where every stage passes: records taken (decoded or
not, through the faust agent's `test_context`), handler time, records produced, dead letters by
reason, event-time delay, and the quote engine's latency in desk time. A restarted stage's
start-up read is not counted again. The series are process-wide, so each test reads deltas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

from prometheus_client import REGISTRY

from otcdesk.events import Quote, RfqPriced
from otcdesk.settings import Settings
from otcdesk.streamtime import END_US
from streams.aggregator import Aggregator
from streams.quote_engine import QuoteEngineStage
from streams.testing import StageHarness
from tests.stream.conftest import wire
from tests.stream.test_frontoffice_agents import T0, Venue, _book, _priced, _rfq


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _deltas(series: dict[str, tuple[str, dict[str, str]]]) -> Callable[[], dict[str, float]]:
    """A function returning how much each series moved since this call."""
    before = {key: _value(name, **labels) for key, (name, labels) in series.items()}
    return lambda: {key: round(_value(name, **labels) - before[key], 9) for key, (name, labels) in series.items()}


def _delay(stage: str) -> float:
    return _value("otcdesk_stage_event_time_delay_seconds", stage=stage)


def test_the_aggregator_counts_what_it_takes_handles_sends_and_dead_letters(stream_settings: Settings) -> None:
    agg = Aggregator(stream_settings)
    harness = StageHarness(agg.stage)
    stage = {"stage": "aggregator"}
    moved = _deltas(
        {
            "rfq in": ("otcdesk_stage_events_in_total", {**stage, "topic": "rfq", "type": "rfq"}),
            "garbage in": ("otcdesk_stage_events_in_total", {**stage, "topic": "rfq", "type": "undecodable"}),
            "books in": ("otcdesk_stage_events_in_total", {**stage, "topic": "prices", "type": "price_update"}),
            "handled rfq": ("otcdesk_stage_handler_seconds_count", {**stage, "type": "rfq"}),
            "priced out": ("otcdesk_stage_events_out_total", {**stage, "topic": "rfq-priced", "type": "rfq_priced"}),
            "dlq out": ("otcdesk_stage_events_out_total", {**stage, "topic": "dlq", "type": "dead_letter"}),
            "marks out": ("otcdesk_stage_events_out_total", {**stage, "topic": "watermarks", "type": "watermark"}),
            "undecodable": ("otcdesk_stage_dead_letters_total", {**stage, "reason": "decode:unknown_fingerprint"}),
            "invalid": ("otcdesk_stage_dead_letters_total", {**stage, "reason": "invalid:non_positive_qty_base"}),
        }
    )
    delays = []

    async def run() -> None:
        harness.put("prices", _book(Venue.BINANCE, "95000"))
        harness.put("prices", _book(Venue.OKX, "95010"))
        harness.put("prices", _book(Venue.KRAKEN, "99000", ts_us=T0 + 5000))
        async with agg.stage.app.agents["aggregator_rfq"].test_context() as rfqs:
            await rfqs.put(value=wire(_rfq()), key=b"rfq-1")
            await rfqs.put(value=b"\xc3\x01garbage-bytes", key=b"junk")
            await rfqs.put(value=wire(_rfq(rfq_id="rfq-neg", event_id="e-neg", qty_base=D("-1"))), key=b"rfq-neg")
        harness.advance("simulate", to_us=END_US)
        harness.advance("feed", to_us=T0 + 500)  # the books at T0 go, the RFQs and the later book wait
        await harness.run()
        delays.append(_delay("aggregator"))
        harness.advance("feed", to_us=T0 + 10_000)
        await harness.run()
        delays.append(_delay("aggregator"))

    asyncio.run(run())
    assert moved() == {
        "rfq in": 2,
        "garbage in": 1,
        "books in": 3,
        "handled rfq": 2,
        "priced out": 1,
        "dlq out": 2,
        "marks out": len(harness.marks),
        "undecodable": 1,
        "invalid": 1,
    }
    # handled up to T0 while the inputs had reached T0 + 5 ms; then everything handled
    assert delays == [0.005, 0.0]


def test_quote_latency_is_desk_time_from_the_rfq_and_a_restart_counts_nothing_again(stream_settings: Settings) -> None:
    books = [_book(Venue.BINANCE, "95000"), _book(Venue.KRAKEN, "95005")]
    priced = replace(_priced(_rfq(), books), ts_us=T0 + 1000 + 250_000)  # handled 250 ms after the RFQ
    assert isinstance(priced, RfqPriced) and priced.rfq_ts_us == T0 + 1000
    big = _priced(_rfq(rfq_id="rfq-big", event_id="e-big", qty_base=D("1000")), books)  # a reject: not timed
    stage = {"stage": "quote-engine"}
    moved = _deltas(
        {
            "latency count": ("otcdesk_quote_latency_seconds_count", {}),
            "latency sum": ("otcdesk_quote_latency_seconds_sum", {}),
            "in": ("otcdesk_stage_events_in_total", {**stage, "topic": "rfq-priced", "type": "rfq_priced"}),
            "quotes out": ("otcdesk_stage_events_out_total", {**stage, "topic": "quotes", "type": "quote"}),
            "rejects out": ("otcdesk_stage_events_out_total", {**stage, "topic": "quotes", "type": "quote_reject"}),
        }
    )
    first = StageHarness(QuoteEngineStage(stream_settings).stage)
    first.put("rfq-priced", priced)
    first.put("rfq-priced", big)
    first.advance_all(T0 + 500_000)
    asyncio.run(first.run())
    assert moved() == {"latency count": 1, "latency sum": 0.25, "in": 2, "quotes out": 1, "rejects out": 1}

    # a restart: the stage reads its input and its outputs again at start, sends and counts nothing
    second = StageHarness(QuoteEngineStage(stream_settings).stage)
    for event in (priced, big):
        second.read_back("rfq-priced", event)
    for event in first.sent_events("quotes"):
        second.read_back("quotes", event)
    second.advance_all(T0 + 500_000)
    asyncio.run(second.run())
    assert second.sent_events("quotes") == [] and any(isinstance(q, Quote) for q in first.sent_events("quotes"))
    assert moved() == {"latency count": 1, "latency sum": 0.25, "in": 2, "quotes out": 1, "rejects out": 1}


def test_the_event_time_delay_is_per_stage_and_zero_before_anything_is_handled(stream_settings: Settings) -> None:
    harness = StageHarness(Aggregator(stream_settings).stage)
    harness.put("prices", _book(Venue.BINANCE, "95000"))  # offered, not released: no handled time yet
    assert _delay("aggregator") == 0.0
