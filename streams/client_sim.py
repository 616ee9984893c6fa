"""Simulated clients: answer the desk's quotes to their own profiles (`otcdesk.clients`).

Each simulated client accepts, declines or lets a quote expire by its price sensitivity, after
its own latency: the answer is a timer at the quote's time plus that latency, and carries that
time. The decision is drawn from a generator seeded by the session seed and the quote id, so it
does not depend on the order in which quotes of different partitions reach this stage. Quotes for
clients without a profile (people using `otcdesk quote accept`) are left alone.

Restart: the answers waiting for their time are timers, rebuilt by reading `quotes` from the
first offset; an answer already on the topic is not sent again (`Stage`: same ids, known ids).
"""

from __future__ import annotations

from otcdesk.clients import ClientSim
from otcdesk.events import Event, Quote, QuoteResponse
from otcdesk.ids import CausalIds, derived_rng
from otcdesk.settings import Settings, get_settings
from streams.stage import Stage

QUOTES_RANK, ANSWER_RANK = 0, 1


class ClientSimStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("client-sim", settings, outputs=("quotes",))
        self.clients = ClientSim(settings.seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols)
        self.handled: set[str] = set()  # quote ids answered (or let expire)
        self.stage.consume("quotes", self.on_quote, rank=QUOTES_RANK, waits_for=("quote-engine",))

    async def on_quote(self, event: Event) -> list[Event]:
        if not isinstance(event, Quote) or event.client_id not in self.clients.profiles:
            return []
        if event.quote_id in self.handled:
            return []  # a redelivery
        self.handled.add(event.quote_id)
        ids = CausalIds()
        ids.rebase(event.event_id)
        rng = derived_rng(self.settings.seed, f"respond:{event.quote_id}")
        at_us, response = self.clients.respond(event, event.ts_us, rng=rng, ids=ids)
        if response is not None:
            self.stage.at(at_us, f"answer:{event.quote_id}", self._answer(response), rank=ANSWER_RANK)
        return []

    @staticmethod
    def _answer(response: QuoteResponse):  # noqa: ANN205 - a timer callback
        async def answer(_due_us: int) -> list[Event]:
            return [response]

        return answer


def build(settings: Settings | None = None) -> Stage:
    return ClientSimStage(settings or get_settings()).stage
