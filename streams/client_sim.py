"""Simulated clients: answer the desk's quotes to their own profiles (`otcdesk.clients`).

Each simulated client accepts, declines or lets a quote expire by its price sensitivity, after
its own latency (sim time). The decision is drawn from a generator seeded by the session seed
and the quote id, so it does not depend on the order in which quotes of different partitions
reach this stage. Quotes for clients without a profile (people using `otcdesk quote accept`)
are left alone.
"""

from __future__ import annotations

import asyncio

from otcdesk.clients import ClientSim
from otcdesk.events import Event, Quote, QuoteResponse
from otcdesk.ids import CausalIds, derived_rng
from otcdesk.settings import Settings, get_settings
from streams.stage import Stage


class ClientSimStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("client-sim", settings)
        self.clients = ClientSim(settings.seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols)
        self._pending: set[asyncio.Task[None]] = set()
        self.stage.agent("quotes", self.on_quote)

    async def on_quote(self, event: Event) -> list[Event]:
        if not isinstance(event, Quote) or event.client_id not in self.clients.profiles:
            return []
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
