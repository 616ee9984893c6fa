"""Front office on the real stack: feed, aggregator, quote engine and acceptance as processes.

"200 BTC BUY" for ACME gets a firm quote built from the consolidated books, the CLI accepts it
and a TradeBooked appears with the locked price; a late acceptance gets a typed refusal on
`quotes` (not a dead letter: the desk could read it), and bytes that are not an RFQ are
dead-lettered.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from otcdesk.client import build_rfq
from otcdesk.events import DeadLetter, Quote, QuoteRejected, RejectReason, RfqPriced, Side, TradeBooked
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings
from tests.integration.desk import OTCDESK, TopicReader, env_of, namespace, processes, tails

pytestmark = pytest.mark.integration
STAGES = ("aggregator", "quote-engine", "acceptance")
#: A firm quote's wall seconds here: the CLI's start-up on a loaded 2-core machine takes several.
TTL_MS = 20_000


@pytest.fixture(scope="module")
def desk(stack: Settings, tmp_path_factory):
    logs = tmp_path_factory.mktemp("front-office")
    with namespace(stack) as settings:
        commands = {"feed": ["feed", "run", "--source", "sim", "--start-us", "now", "--duration", "600"]}
        commands |= {s: ["stage", "run", s, "-l", "info"] for s in STAGES}
        settings = settings.model_copy(update={"quote": settings.quote.model_copy(update={"ttl_ms": TTL_MS})})
        with processes(settings, commands, logs, OTCDESK_QUOTE__TTL_MS=str(TTL_MS)) as procs:
            reader = TopicReader(settings, ["rfq-priced", "quotes", "trades", "dlq"])

            def alive() -> None:
                dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
                assert not dead, f"processes died: {dead}\n{tails(logs)}"

            yield settings, reader, alive, logs
            reader.close()


def _publish(settings: Settings, *events) -> None:
    with EventProducer(settings) as producer:
        for event in events:
            producer.produce(event)


def _quote_for(settings: Settings, reader: TopicReader, alive, **rfq_args) -> Quote:
    """Publish RFQs until one is quoted (the first may meet empty books while stages start)."""
    last = None
    for _ in range(30):
        rfq = build_rfq(settings=settings, ts_us=settings.clock().now_us(), **rfq_args)
        _publish(settings, rfq)
        answer = reader.wait_for(
            lambda e, rfq=rfq: e.key == rfq.rfq_id and isinstance(e, (Quote, QuoteRejected)), 60, alive
        )
        if isinstance(answer, Quote):
            return answer
        # While the stages start, books arrive venue by venue: no fresh venue, then thin depth.
        assert answer.reason in (RejectReason.NO_FRESH_VENUE, RejectReason.INSUFFICIENT_DEPTH), answer
        last = answer
        time.sleep(2)
    raise AssertionError(f"never quoted: {last}")


def test_200_btc_buy_is_quoted_from_the_consolidated_book_and_accepted(desk) -> None:
    settings, reader, alive, logs = desk
    quote = _quote_for(settings, reader, alive, client_id="ACME", symbol="BTC/USD", side="buy", qty_base="200")
    assert (quote.side, quote.qty_base, quote.client_id) == (Side.BUY, Decimal("200"), "ACME")
    priced = next(e for e in reader.of(RfqPriced) if e.rfq_id == quote.rfq_id)
    # The aggregator's sweep: 200 BTC from several venues' asks, VWAP = cost / qty, fees included.
    asks = [a for a in priced.allocations if a.side is Side.BUY]
    assert sum(a.qty_base for a in asks) == Decimal("200") and len(asks) >= 2
    assert abs(priced.ask_cost_quote / Decimal(200) - priced.ask_vwap_quote) < Decimal("1e-9")
    assert priced.ask_vwap_quote == quote.vwap_ask_quote and priced.bid_vwap_quote == quote.vwap_bid_quote
    # The quote: VWAP for size plus the explained spread, rounded outward on the tick.
    half = quote.spread_base_bps + quote.spread_size_bps + quote.spread_impact_bps + quote.spread_vol_bps
    expected_ask = quote.vwap_ask_quote + quote.mid_price_quote * (half + quote.skew_bps) / Decimal(10_000)
    assert expected_ask <= quote.ask_price_quote < expected_ask + priced.tick_quote
    assert (
        quote.bid_price_quote
        < quote.vwap_bid_quote
        < quote.mid_price_quote
        < quote.vwap_ask_quote
        < quote.ask_price_quote
    )
    assert quote.valid_until_us == quote.ts_us + settings.quote.ttl_ms * 1000

    done = subprocess.run(
        [*OTCDESK, "quote", "accept", quote.quote_id], env=env_of(settings), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr + tails(logs)
    trade = reader.wait_for(lambda e: isinstance(e, TradeBooked) and e.quote_id == quote.quote_id, 30, alive)
    assert (trade.price_quote, trade.qty_base, trade.side) == (quote.ask_price_quote, Decimal("200"), Side.BUY)
    assert trade.notional_quote == (quote.ask_price_quote * 200).quantize(Decimal("0.01"))
    assert trade.arrival_mid_quote == quote.mid_price_quote and trade.rfq_id == quote.rfq_id


def test_an_acceptance_after_valid_until_gets_a_typed_refusal_not_a_dead_letter(desk) -> None:
    settings, reader, alive, _logs = desk
    quote = _quote_for(settings, reader, alive, client_id="ACME", symbol="ETH/USD", side=None, qty_base="10")
    wait_s = (quote.valid_until_us - settings.clock().now_us()) / 1e6 + settings.quote.expiry_grace_ms / 1000 + 1
    time.sleep(max(wait_s, 0))
    done = subprocess.run(
        [*OTCDESK, "quote", "accept", quote.quote_id, "--side", "sell"],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "QUOTE_EXPIRED" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    refusal = reader.wait_for(
        lambda e: (
            isinstance(e, QuoteRejected)
            and e.quote_id == quote.quote_id
            and e.source == "acceptance"
            and e.ts_us > quote.valid_until_us + 1
        ),
        30,
        alive,
    )
    assert refusal.reason is RejectReason.QUOTE_EXPIRED and refusal.client_id == "ACME"
    assert not any(isinstance(e, TradeBooked) and e.quote_id == quote.quote_id for _, e in reader.events)
    assert not any(isinstance(e, DeadLetter) and e.source_key == quote.rfq_id.encode() for _, e in reader.events)


def test_bad_rfqs_are_dead_lettered_and_answered_where_a_client_waits(desk) -> None:
    settings, reader, alive, _logs = desk
    good = build_rfq("ACME", "BTC/USD", "buy", qty_base="1", settings=settings)
    negative = replace(good, event_id=str(uuid.uuid4()), rfq_id="neg-" + good.rfq_id[:30], qty_base=Decimal("-5"))
    unknown = replace(good, event_id=str(uuid.uuid4()), rfq_id="doge-" + good.rfq_id[:30], symbol="DOGE/USD")
    _publish(settings, negative, unknown)
    with EventProducer(settings) as producer:
        producer.produce_bytes(settings.topic("rfq"), b"garbage-key", b"\xc3\x01 definitely not avro")
    reasons = {}
    for key, reason in (
        (negative.rfq_id, "invalid:non_positive_qty_base"),
        (unknown.rfq_id, "invalid:unknown_symbol"),
        ("garbage-key", "decode:unknown_fingerprint"),
    ):
        letter = reader.wait_for(lambda e, k=key: isinstance(e, DeadLetter) and e.source_key == k.encode(), 60, alive)
        reasons[key] = letter.reason
        assert letter.source_topic == settings.topic("rfq") and letter.raw_value and letter.source_offset >= 0
        assert reason == letter.reason
    reject = reader.wait_for(lambda e: isinstance(e, QuoteRejected) and e.rfq_id == unknown.rfq_id, 60, alive)
    assert reject.reason is RejectReason.UNKNOWN_SYMBOL  # the client still gets an answer
    assert not any(e.key == negative.rfq_id for _, e in reader.events if isinstance(e, (Quote, QuoteRejected)))
