"""Client acceptance stage: quotes and client responses on `quotes` -> trades on `trades`.

A client's acceptance is fill-or-kill against its quote (`otcdesk.acceptance`): an accepted
quote becomes a TradeBooked with the locked price (the desk's internal booking); a refused one
(expired, unknown, wrong side/price/qty, twice) gets a QuoteRejected and is dead-lettered. A
quote nobody answers expires with a QuoteRejected(QUOTE_EXPIRED) stamped at its deadline, by a
sweep that starts once the worker's group has read the backlog it found at start.

Quote, response and outcome of a deal share the rfq_id key and so one partition of `quotes`:
the live quotes are kept in faust Tables co-partitioned with it (changelog-backed), so a
restarted worker restores them instead of refusing acceptances of quotes it forgot.
"""

from __future__ import annotations

import asyncio
import logging

from otcdesk.acceptance import Outcome, QuoteBook
from otcdesk.errors import RejectedError
from otcdesk.events import Event, Quote, QuoteAction, QuoteRejected, QuoteResponse, RejectReason, TradeBooked
from otcdesk.ids import CausalIds
from otcdesk.settings import Settings, get_settings
from otcdesk.validation import validate_response
from streams.backlog import Backlog
from streams.stage import Stage

log = logging.getLogger(__name__)


def outcome_of(event: Event | None) -> Outcome | None:
    if isinstance(event, TradeBooked):
        return Outcome.TRADED
    if isinstance(event, QuoteResponse) and event.action is QuoteAction.DECLINE:
        return Outcome.DECLINED
    if isinstance(event, QuoteRejected) and event.reason is RejectReason.QUOTE_EXPIRED:
        return Outcome.EXPIRED
    return None


class AcceptanceStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("acceptance", settings)
        self.ids = CausalIds()
        self.book = QuoteBook(settings.quote, self.ids)
        app = self.stage.app
        self.quotes = self.stage.table("live-quotes", settings.topics.partitions)
        self.outcomes = self.stage.table("outcomes", settings.topics.partitions)
        self._restored: set[bytes] = set()
        self._restored_all = False
        self.backlog = Backlog(settings, "quotes", settings.group("acceptance"))
        self.stage.agent("quotes", self.on_quotes)
        app.timer(settings.quote.expiry_sweep_ms / 1000)(self.sweep)

    def _restore(self, key: bytes) -> None:
        if key in self._restored:
            return
        self._restored.add(key)
        quote = self.quotes.get(key)
        if isinstance(quote, Quote):
            self.book.restore(quote, outcome_of(self.outcomes.get(key)))

    async def on_quotes(self, event: Event) -> list[Event]:
        key = event.key.encode()
        self._restore(key)
        if isinstance(event, Quote):
            self.quotes[key] = event
            self.book.add(event)
            return []
        if isinstance(event, QuoteRejected):
            if outcome_of(event) is Outcome.EXPIRED and outcome_of(self.outcomes.get(key)) is None:
                self.outcomes[key] = event  # our own expiry sweep, made durable
            return []
        if isinstance(event, QuoteResponse):
            return self.on_response(key, event)
        raise RejectedError("wrong_event", f"{type(event).__name__} on quotes")

    def on_response(self, key: bytes, response: QuoteResponse) -> list[Event]:
        validate_response(response)
        booked = self.outcomes.get(key)
        if isinstance(booked, TradeBooked) and booked.event_id == self._trade_event_id(response):
            # The same acceptance again (redelivered after a crash): its trade may never have
            # reached `trades` (the outcome's changelog write and the trade's send are separate),
            # so send the very same trade again; consumers drop it by event_id if they have it.
            return [booked]
        if isinstance(booked, QuoteResponse) and booked.event_id == response.event_id:
            return []  # the same decline again (a redelivery): its outcome is stored already
        self.ids.rebase(response.event_id)
        result = self.book.accept(response, response.ts_us)
        if result is None:  # a valid decline: the response is the outcome
            self.outcomes[key] = response
            return []
        if isinstance(result, TradeBooked):
            self.outcomes[key] = result
            return [result]
        if outcome_of(result) is Outcome.EXPIRED and outcome_of(self.outcomes.get(key)) is None:
            self.outcomes[key] = result  # the late acceptance is what expired it
        raise RejectedError(result.reason.value.lower(), result.detail, replies=(result,))

    def _trade_event_id(self, response: QuoteResponse) -> str:
        """The event id the trade of `response` gets (CausalIds rebased on the response)."""
        ids = CausalIds()
        ids.rebase(response.event_id)
        return ids.new()

    async def sweep(self) -> None:
        """Expire quotes past valid_until, with a grace in wall time for acceptances in flight.

        Not before the backlog present at start is read (`Backlog`): after a restart, an answer
        still unread there would otherwise find its quote expired by this sweep."""
        if not self.backlog.done and not await asyncio.to_thread(self.backlog.read):
            return
        if not self._restored_all:  # after a restart: quotes nobody answered still expire
            self._restored_all = True
            for key in list(self.quotes.keys()):
                self._restore(key)
        clock = self.settings.clock()
        grace_us = int(self.settings.quote.expiry_grace_ms * 1000 * clock.speed)
        for quote_id in self.book.due(clock.now_us() - grace_us):
            self.ids.rebase(f"expire:{quote_id}")
            expired = self.book.expire_quote(quote_id)
            if expired is not None:
                await self.stage.send(expired)
        await asyncio.sleep(0)


def build(settings: Settings | None = None) -> Stage:
    return AcceptanceStage(settings or get_settings()).stage
