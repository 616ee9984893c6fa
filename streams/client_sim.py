"""Simulated clients: answer the desk's quotes to their own profiles (`otcdesk.clients`).

Each simulated client accepts, declines or lets a quote expire by its price sensitivity, after
its own latency (sim time). The decision is drawn from a generator seeded by the session seed
and the quote id, so it does not depend on the order in which quotes of different partitions
reach this stage. Quotes for clients without a profile (people using `otcdesk quote accept`)
are left alone.

Restart: the answers waiting for their sim time are in memory. At start, before any quote is
handled, the stage reads `quotes` from offset 0 to its end offsets of that moment
(`TopicFold(once=True)`) and answers again every quote of its clients that has no response on
the topic: the same answer at the same sim time, ids included (both derive from the quote). A
quote answered once is not answered twice by this process. New quotes are answered meanwhile,
without waiting for that read (a late answer is an expired quote): a quote answered before the
crash and redelivered before the read reaches its response is answered again, identically, and
the acceptance takes the same answer twice as one.
"""

from __future__ import annotations

import asyncio
import logging

from otcdesk.clients import ClientSim
from otcdesk.events import Event, Quote, QuoteResponse
from otcdesk.ids import CausalIds, derived_rng
from otcdesk.settings import Settings, get_settings
from streams.fold import TopicFold
from streams.stage import Stage

log = logging.getLogger(__name__)


class ClientSimStage:
    def __init__(self, settings: Settings, *, rebuild: bool = True) -> None:
        self.settings = settings
        self.stage = Stage("client-sim", settings)
        self.clients = ClientSim(settings.seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols)
        self._pending: set[asyncio.Task[None]] = set()
        self.handled: set[str] = set()  # quote ids answered (or let expire) by this process
        self._quotes: dict[str, Quote] = {}
        self._answered: set[str] = set()
        self.rebuilt = asyncio.Event()  # the quotes of the topic without a response answered again
        if rebuild:
            self._fold = TopicFold(settings, "quotes", self.read_back, once=True)
            self.stage.app.task(self._rebuild)
        else:
            self.rebuilt.set()
        self.stage.ready_after(self.rebuilt)
        self.stage.agent("quotes", self.on_quote)

    def read_back(self, event: Event) -> None:
        if isinstance(event, Quote):
            self._quotes.setdefault(event.quote_id, event)
        elif isinstance(event, QuoteResponse):
            self._answered.add(event.quote_id)

    async def _rebuild(self) -> None:
        """Answer again the quotes of the topic that have no response (module docstring)."""
        await self._fold.run()
        await self.resume()
        self.rebuilt.set()

    async def resume(self) -> None:
        """Answer the quotes read back that have no response on the topic."""
        self.handled |= self._answered
        todo = [q for q in self._quotes.values() if q.quote_id not in self._answered]
        for quote in sorted(todo, key=lambda q: (q.ts_us, q.quote_id)):
            await self.on_quote(quote)
        log.info("client-sim read back %d quotes, %d unanswered", len(self._quotes), len(todo))
        self._quotes, self._answered = {}, set()

    async def on_quote(self, event: Event) -> list[Event]:
        if not isinstance(event, Quote) or event.client_id not in self.clients.profiles:
            return []
        if event.quote_id in self.handled:
            return []  # a redelivery, or answered before a restart
        self.handled.add(event.quote_id)
        ids = CausalIds()
        ids.rebase(event.event_id)
        rng = derived_rng(self.settings.seed, f"respond:{event.quote_id}")
        at_us, response = self.clients.respond(event, event.ts_us, rng=rng, ids=ids)
        if response is not None:
            task = asyncio.ensure_future(self._answer_at(at_us, response))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return []

    async def _answer_at(self, at_us: int, response: QuoteResponse) -> None:
        await self.settings.clock().sleep_until_async(at_us)
        await self.stage.send(response)


def build(settings: Settings | None = None) -> Stage:
    return ClientSimStage(settings or get_settings()).stage
