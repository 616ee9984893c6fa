"""`streams.fold.TopicFold.read_to_end` on the real broker: it returns once the fold has applied
every record the broker held when it was called, on every partition, however unevenly the fold
fetches them."""

from __future__ import annotations

import asyncio
import time

import pytest

from otcdesk.clients import ClientSim
from otcdesk.clock import wall_now_us
from otcdesk.events import Event
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings
from streams.fold import TopicFold
from tests.integration.desk import namespace

pytestmark = pytest.mark.integration


def test_read_to_end_returns_once_every_record_then_on_the_broker_is_applied(stack: Settings) -> None:
    with namespace(stack) as settings:
        clients = ClientSim(3, source="test")

        def apply(event: Event) -> None:
            time.sleep(0.005)  # a busy stage: a burst takes a while (2 s) to apply

        fold = TopicFold(settings, "rfq", apply)

        async def scenario() -> tuple[int, int]:
            task = asyncio.ensure_future(fold.run())
            await asyncio.wait_for(fold.caught_up.wait(), 60)
            await asyncio.wait_for(fold.read_to_end(), 10)  # nothing there: at once

            def burst() -> None:
                with EventProducer(settings) as producer:  # flushed (on the broker) when it returns
                    for i in range(400):  # keyed by rfq_id: every partition gets some
                        producer.produce(clients.next_rfq(wall_now_us() + i))

            await asyncio.to_thread(burst)
            during = fold.applied
            await asyncio.wait_for(fold.read_to_end(), 60)
            after = fold.applied
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return during, after

        during, after = asyncio.run(scenario())
        assert during < 400, "the burst was applied before read_to_end was asked: nothing tested"
        assert after == 400
