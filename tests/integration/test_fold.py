"""`streams.fold` on the real broker: `read_to_end` (a stage's start-up read) hands over every
record the broker held when it was called, each partition in offset order, and nothing after;
`Followers` (the stage's group-less reads) says when it has read what a topic held at its start,
and keeps reading."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import ConsumerRecord

from otcdesk.client_sim import ClientSim
from otcdesk.clock import wall_now_us
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings
from streams.fold import Followers, read_to_end
from tests.integration.desk import namespace

pytestmark = pytest.mark.integration


def _publish(settings: Settings, clients: ClientSim, n: int) -> None:
    with EventProducer(settings) as producer:  # flushed (on the broker) when it returns
        for i in range(n):  # keyed by rfq_id: every partition gets some
            producer.produce(clients.next_rfq(wall_now_us() + i))


def test_read_to_end_hands_over_what_the_broker_held_in_offset_order_and_nothing_after(stack: Settings) -> None:
    with namespace(stack) as settings:
        clients = ClientSim(3, source="test")
        _publish(settings, clients, 300)
        seen: list[ConsumerRecord] = []
        ends_first: list[bool] = []

        def on_record(record: ConsumerRecord) -> None:
            if len(seen) == 50:
                _publish(settings, clients, 20)  # written during the read: not part of it
            seen.append(record)

        ends = asyncio.run(
            read_to_end(settings, [settings.topic("rfq")], on_record, lambda e: ends_first.append(not seen))
        )
        assert ends_first == [True]  # the ends are known before any record
        assert sum(ends.values()) == 300 == len(seen)
        by_partition: dict[int, list[int]] = {}
        for record in seen:
            by_partition.setdefault(record.partition, []).append(record.offset)
        assert len(by_partition) > 1
        assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())


def test_followers_catch_up_with_the_start_then_keep_reading_only_the_partitions_asked(stack: Settings) -> None:
    with namespace(stack) as settings:
        clients = ClientSim(4, source="test")
        _publish(settings, clients, 200)
        every, some = Followers(settings), Followers(settings)
        got: dict[str, list[ConsumerRecord]] = {"every": [], "some": []}
        caught_up = every.follow("rfq", got["every"].append)
        some.follow("rfq", got["some"].append, partitions=[0])

        async def scenario() -> int:
            tasks = [asyncio.ensure_future(f.run()) for f in (every, some)]
            await asyncio.wait_for(caught_up.wait(), 60)
            at_catch_up = len(got["every"])
            await asyncio.to_thread(_publish, settings, clients, 50)
            for _ in range(300):
                if len(got["every"]) == 250:
                    break
                await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return at_catch_up

        at_catch_up = asyncio.run(scenario())
    assert at_catch_up >= 200 and len(got["every"]) == 250
    assert got["some"] and {r.partition for r in got["some"]} == {0}
