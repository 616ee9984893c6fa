"""Feeds and load generator on the real broker, driven through the `otcdesk` command.

Other runs may publish to `prices` and `rfq` at the same time, so each test reads only the
range of offsets its own command added and picks its events by a start epoch or seed no other
run uses; the expected events are computed in-process from the same seed (determinism through
the broker, not only in memory).
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from otcdesk.client_sim import ClientSim
from otcdesk.events import Event, PriceUpdate, Rfq, Venue
from otcdesk.kafka import consumer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.venues.providers import offline_instruments
from producers.feeds.recording import read_recording
from producers.feeds.sim import SimFeedPlan, sim_updates
from producers.load import LoadPlan

pytestmark = pytest.mark.integration
OTCDESK = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "otcdesk"
SERDE = default_serde()
ALL_KEYS = {
    f"{v.value}:{s}" for v in (Venue.BINANCE, Venue.COINBASE, Venue.OKX, Venue.KRAKEN) for s in ("BTC/USD", "ETH/USD")
}


def otcdesk(*args: str, timeout_s: float = 120) -> str:
    done = subprocess.run([str(OTCDESK), *args], capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr
    return done.stdout


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer(consumer_config(settings, "test-feeds-offsets"))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def read_since(settings: Settings, topic: str, start: dict[int, int]) -> list[tuple[bytes, Event]]:
    """(key, event) of every decodable record between `start` and the end offsets now."""
    end = end_offsets(settings, topic)
    consumer = Consumer(consumer_config(settings, "test-feeds-reader"))
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in end if end[p] > start.get(p, 0)])
    got, left = [], {p: end[p] - start.get(p, 0) for p in end if end[p] > start.get(p, 0)}
    deadline_s = time.monotonic() + 60
    try:
        while any(n > 0 for n in left.values()):
            assert time.monotonic() < deadline_s, f"stalled, still to read {left}"
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() or msg.offset() >= end[msg.partition()]:
                    continue
                left[msg.partition()] -= 1
                try:
                    got.append((msg.key(), SERDE.decode(msg.value())))
                except DecodeError:
                    continue  # dead-letter probes of other tests
    finally:
        consumer.close()
    return got


def unique_start_us() -> int:
    """A sim start no other run uses (a random second in 2030), so its events are ours alone."""
    return 1_893_456_000_000_000 + random.randrange(10**8) * 1_000_000


def sim_events_of(got: list[tuple[bytes, Event]], start_us: int, span_s: float) -> list[tuple[bytes, PriceUpdate]]:
    return [
        (k, e)
        for k, e in got
        if isinstance(e, PriceUpdate)
        and e.source == "feed-sim"
        and start_us <= e.ts_us < start_us + int(span_s * 1_000_000)
    ]


def test_sim_feed_publishes_the_seeded_updates_of_4_venues_x_2_symbols(stack: Settings) -> None:
    start_us, before = unique_start_us(), end_offsets(stack, "prices")
    out = otcdesk(
        "feed", "run", "--source", "sim", "--no-sleep", "--duration", "5", "--seed", "21", "--start-us", str(start_us)
    )
    mine = sim_events_of(read_since(stack, "prices", before), start_us, 5)
    assert {key.decode() for key, _ in mine} == ALL_KEYS
    assert all(key.decode() == event.key for key, event in mine)
    plan = SimFeedPlan(start_us, stack.sim.step_ms, 5, 1.0, sleep=False)
    expected = list(sim_updates(offline_instruments().values(), stack.sim, 21, plan))
    assert sorted(e.event_id for _, e in mine) == sorted(e.event_id for e in expected)
    assert {e.event_id: e for _, e in mine} == {e.event_id: e for e in expected}
    assert f"published {len(expected)} price updates" in out and "failed 0" in out


def test_ccxt_feed_on_the_fixture_server_publishes_every_venue(stack: Settings, tmp_path: Path) -> None:
    record, before = tmp_path / "ccxt.jsonl", end_offsets(stack, "prices")
    otcdesk(
        "feed", "run", "--source", "ccxt", "--fixtures", "--duration", "3", "--interval", "0.5", "--record", str(record)
    )
    published = {u.event_id: u for u in read_recording(record)}
    mine = [(k, e) for k, e in read_since(stack, "prices", before) if e.event_id in published]
    assert len(mine) == len(published) > 0
    assert {e.venue for _, e in mine} == {Venue.BINANCE, Venue.COINBASE, Venue.OKX, Venue.KRAKEN}
    assert all(key.decode() == e.key and e == published[e.event_id] for key, e in mine)
    assert all(e.bids and e.asks and e.source == "venues.ccxt" for _, e in mine)


def test_rfq_load_delivers_the_seeded_schedule(stack: Settings) -> None:
    seed, start_us, before = random.randrange(10**6, 10**7), unique_start_us(), end_offsets(stack, "rfq")
    out = otcdesk(
        "rfq",
        "load",
        "--rate",
        "200",
        "--duration",
        "2",
        "--seed",
        str(seed),
        "--start-us",
        str(start_us),
        "--speed",
        "1",
    )
    plan = LoadPlan(200, 2, start_us, 1.0)
    sim = ClientSim(seed, clients=stack.clients, sim=stack.sim, symbols=stack.symbols, source="load")
    expected = {r.rfq_id: r for r in (sim.next_rfq(plan.event_ts_us(i)) for i in range(plan.count))}
    got = {e.rfq_id: (k, e) for k, e in read_since(stack, "rfq", before) if isinstance(e, Rfq) and e.rfq_id in expected}
    assert len(got) == 400
    assert all(key.decode() == rfq_id and e == expected[rfq_id] for rfq_id, (key, e) in got.items())
    assert "sent 400/400, acked 400, failed 0" in out


def test_replay_republishes_a_recording_shifted_to_a_new_epoch(stack: Settings, tmp_path: Path) -> None:
    record, recorded_at = tmp_path / "sim.jsonl", unique_start_us()
    otcdesk(
        "feed",
        "run",
        "--source",
        "sim",
        "--no-sleep",
        "--duration",
        "2",
        "--seed",
        "5",
        "--start-us",
        str(recorded_at),
        "--record",
        str(record),
    )
    recorded = list(read_recording(record))
    replay_at, before = unique_start_us(), end_offsets(stack, "prices")
    out = otcdesk(
        "feed", "run", "--source", "replay", "--file", str(record), "--speed", "20", "--start-us", str(replay_at)
    )
    mine = sim_events_of(read_since(stack, "prices", before), replay_at, 2)
    shift = replay_at - recorded_at
    assert sorted((e.event_id, e.ts_us - shift) for _, e in mine) == sorted((u.event_id, u.ts_us) for u in recorded)
    assert f"published {len(recorded)} price updates" in out
