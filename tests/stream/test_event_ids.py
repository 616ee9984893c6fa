"""Property: two different events never share an event id, whatever is redelivered, restarted or
rebuilt, and a restart changes nothing a stage says.

Hypothesis draws a stage's inputs from a small pool (so the same event comes again, and different
events reuse an rfq_id or a quote), redelivers some, kills the stage after any of them (with its
watermarks anywhere in between) and starts a new one that reads its inputs and its own outputs
back, as `streams.stage` does at start. Everything both incarnations sent must be one content
per event id, and the same as what one uninterrupted stage sent. In stream time a stage handles
records in event-time order; live, as they come (the desk clock held still here), so a copy can
arrive after the state that decided its answer has changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from otcdesk.clock import FixedClock
from otcdesk.events import Event, QuoteAction, Rfq, Side, Venue
from otcdesk.settings import Settings
from otcdesk.streamtime import END_US
from streams.acceptance import AcceptanceStage
from streams.aggregator import Aggregator
from streams.stage import Stage
from streams.testing import StageHarness
from tests.stream.test_frontoffice_agents import T0, _book, _quote, _response

Step = tuple[str, Event]
STREAM = Settings().model_copy(update={"namespace": "tc-", "time": "stream"})
LIVE = Settings().model_copy(update={"namespace": "tc-", "time": "wall"})


def _live(stage: Stage) -> Stage:
    stage.processor.clock = FixedClock(T0 + 10_000)
    return stage


def _sent(harness: StageHarness) -> list[tuple[str, bytes]]:
    return [(s.event.event_id, s.value) for s in harness.sent if s.topic != "watermarks"]


def _feed(harness: StageHarness, steps: list[Step], *, read_back: bool) -> None:
    live = not harness.stage.stream_time
    for topic, event in steps:
        if read_back and harness.stage.settings.topic(topic) in harness.stage._consumed:
            harness.read_back(topic, event)
        else:  # a fold reads its topic from the first offset by itself
            harness.put(topic, event)
        if live and not read_back:
            asyncio.run(harness.run())  # live: handled as it comes


def _straight(build: Callable[[], Stage], steps: list[Step]) -> list[tuple[str, bytes]]:
    harness = StageHarness(build())
    _feed(harness, steps, read_back=False)
    harness.advance_all(END_US)
    asyncio.run(harness.run())
    return _sent(harness)


def _killed(build: Callable[[], Stage], steps: list[Step], kill_after: int, kill_us: int) -> list[tuple[str, bytes]]:
    first = StageHarness(build())
    _feed(first, steps[:kill_after], read_back=False)
    first.advance_all(kill_us)
    asyncio.run(first.run())
    second = StageHarness(build())
    for sent in first.sent:
        if sent.topic != "watermarks":
            second.read_back(sent.topic, sent.event)
    _feed(second, steps[:kill_after], read_back=True)
    _feed(second, steps[kill_after:], read_back=False)
    second.advance_all(END_US)
    asyncio.run(second.run())
    return _sent(first) + _sent(second)


def _check(build: Callable[[], Stage], steps: list[Step], kill_after: int, kill_us: int) -> None:
    kill_after = min(kill_after, len(steps))
    # A watermark promises that nothing before it is still to come: the kill's is at most the
    # earliest record the killed stage had not read yet.
    kill_us = min([kill_us, *(event.ts_us for _, event in steps[kill_after:])])
    killed = _killed(build, steps, kill_after, kill_us)
    contents: dict[str, set[bytes]] = {}
    for event_id, value in killed:
        contents.setdefault(event_id, set()).add(value)
    assert all(len(values) == 1 for values in contents.values()), "one event id, two events"
    assert {i: v.pop() for i, v in contents.items()} == dict(_straight(build, steps))


def _rfq(rfq: int, version: int) -> Rfq:
    """RFQ `version` under rfq_id `rfq`: the same pair is the same event (a copy)."""
    qty = D("-1") if version == 3 else D(version + 1)
    return Rfq(
        f"e-rfq-{rfq}-{version}",
        T0 + 1000 * (rfq + version),
        "simulate",
        f"rfq-{rfq}",
        "ACME",
        "BTC/USD",
        Side.BUY,
        qty,
        None,
        None,
    )


RFQ_POOL = [("rfq", _rfq(r, v)) for r in range(3) for v in range(4)]
BOOK_POOL = [
    ("prices", _book(venue, mid, T0 + 1500 * i))
    for i, (venue, mid) in enumerate(((Venue.BINANCE, "95000"), (Venue.OKX, "95010"), (Venue.KRAKEN, "94990")))
]
PROPERTY = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    st.lists(st.sampled_from(RFQ_POOL + BOOK_POOL), max_size=14),
    st.integers(0, 14),
    st.integers(0, 8).map(lambda k: T0 + 1000 * k),
    st.booleans(),
)
def test_the_aggregator_gives_one_answer_per_event_id_through_redeliveries_and_restarts(
    steps: list[Step], kill_after: int, kill_us: int, live: bool
) -> None:
    build = (lambda: _live(Aggregator(LIVE).stage)) if live else (lambda: Aggregator(STREAM).stage)
    _check(build, steps, kill_after, kill_us)


def _quotes_pool() -> list[Step]:
    quotes = [_quote(), _quote(rfq_id="rfq-2", quote_id="q-2", event_id="e-q2", side=Side.TWO_WAY)]
    valid_until = quotes[0].valid_until_us
    responses = [
        _response(),
        _response(event_id="e-r-late", ts_us=valid_until + 5),
        _response(event_id="e-r-decline", action=QuoteAction.DECLINE, ts_us=T0 + 2500),
        _response(event_id="e-r-price", price_quote=D("95000")),
        _response(event_id="e-r2", rfq_id="rfq-2", quote_id="q-2", side=Side.SELL, price_quote=D("94900")),
        _response(event_id="e-r2-other", rfq_id="rfq-2", quote_id="q-2", client_id="OTHER", ts_us=T0 + 2600),
        replace(_response(), event_id="e-r-unknown", quote_id="q-none", rfq_id="rfq-none"),
    ]
    return [("quotes", e) for e in (*quotes, *responses)]


@PROPERTY
@given(
    st.lists(st.sampled_from(_quotes_pool()), max_size=14),
    st.integers(0, 14),
    st.sampled_from([T0, T0 + 2500, T0 + 3500, T0 + 6_000_000, END_US]),
    st.booleans(),
)
def test_acceptance_gives_one_answer_per_event_id_through_redeliveries_and_restarts(
    steps: list[Step], kill_after: int, kill_us: int, live: bool
) -> None:
    build = (lambda: _live(AcceptanceStage(LIVE).stage)) if live else (lambda: AcceptanceStage(STREAM).stage)
    _check(build, steps, kill_after, kill_us)
