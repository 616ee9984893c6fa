"""Scenario 3: the broker stopped (SIGTERM) and started again mid-session.

A throwaway broker (PLAINTEXT, its own ports and data directory; the shared stack is untouched)
carries a seeded `otcdesk simulate` session: feed, every stage under the supervisor, RFQs
published on time. Once a share of the RFQs is out, the broker is stopped, kept down `down_s`,
and started on the same data and ports. Nothing is done to the desk's processes: they must
reconnect by themselves. Judged on the topics: every RFQ published once and answered, no trade
booked twice.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from confluent_kafka import Consumer, TopicPartition

from otcdesk.chaos.figures import Figures
from otcdesk.chaos.flow import stop_session
from otcdesk.events import Event, Rfq, TradeBooked
from otcdesk.kafka import consumer_config, position
from otcdesk.serde import DecodeError, default_serde
from otcdesk.session import SessionRunner
from otcdesk.settings import Settings
from otcdesk.simulate import SessionPlan
from otcdesk.stack.throwaway import ThrowawayBroker

NAMESPACE = "chaos.broker-"


def run(
    settings: Settings,
    home: Path,
    *,
    rfqs: int = 20,
    speed: float = 60.0,
    at_share: float = 0.4,
    down_s: float = 5.0,
    seed: int = 7,
    namespace: str = NAMESPACE,
    say: Callable[[str], None] = print,
    timeout_s: float = 600.0,
) -> Figures:
    broker = ThrowawayBroker(home / "broker", settings)
    broker.start()
    figures = Figures("broker-restart", faults=1, detail={"down_s": down_s})
    try:
        with mock.patch.dict(os.environ, broker.env()):  # the supervisor's children inherit it
            runner = SessionRunner(
                broker.settings(),
                SessionPlan(seed=seed, speed=speed, rfqs=rfqs, namespace=namespace, faults=False),
                startup_s=25.0,
                with_sink=False,
            )
            runner.supervisor.logs = home / "logs"
            runner.prepare()
            try:
                runner.start()
                _drive(runner, broker, figures, at_share, down_s, say, timeout_s)
                restarts = {c.name: c.restarts for c in runner.supervisor.children if c.restarts}
                running = all(c.state in ("running", "finished") for c in runner.supervisor.children)
            finally:
                stop_session(runner)
            trades, published = _read_back(runner.settings)
    finally:
        broker.stop()
    tally = runner.tally
    doubled = sum(n - 1 for n in trades.values() if n > 1)
    figures.processed = tally.events
    figures.lost = (rfqs - tally.answered) + (rfqs - len(published))
    figures.duplicated = doubled + sum(n - 1 for n in published.values() if n > 1)
    figures.detail |= {
        "rfqs": rfqs,
        "published": runner.published,
        "on_topic": len(published),
        "answered": tally.answered,
        "outcomes": tally.summary().outcomes,
        "trades": sum(trades.values()),
        "restarts": restarts,
        "all_running": running,
    }
    return figures


def _drive(
    runner: SessionRunner,
    broker: ThrowawayBroker,
    figures: Figures,
    at_share: float,
    down_s: float,
    say: Callable[[str], None],
    timeout_s: float,
) -> None:
    """Run the session; stop and restart the broker once `at_share` of the RFQs are out."""
    deadline = time.monotonic() + timeout_s
    back_at: float | None = None
    events_then = 0
    while time.monotonic() < deadline:
        for line in runner.step():
            say(line)
        if back_at is None and runner.published >= at_share * len(runner.rfqs):
            events_then = runner.tally.events
            broker.stop()
            say(f"broker stopped with {runner.published} RFQs out, {runner.tally.answered} answered")
            down_until = time.monotonic() + down_s
            while time.monotonic() < down_until:
                for line in runner.step(0.5):
                    say(line)
            figures.detail["restart_s"] = round(broker.start(), 1)
            back_at = time.monotonic()
            say(f"broker back (same data, same ports) in {figures.detail['restart_s']} s")
        if back_at is not None and not figures.recover_s and runner.tally.events > events_then:
            figures.recover_s.append(time.monotonic() - back_at)  # the desk's first new event
        if runner.published == len(runner.rfqs) and runner.tally.answered == len(runner.rfqs):
            return


def _read_back(settings: Settings) -> tuple[Counter[str], Counter[str]]:
    """Distinct TradeBooked per rfq_id and copies of each RFQ's event, read to the end offsets."""
    trades: dict[str, set[str]] = {}
    rfqs: Counter[str] = Counter()
    consumer = Consumer(consumer_config(settings, "otcdesk.chaos-read-back"))
    names = [settings.topic(t) for t in (Rfq.TOPIC, TradeBooked.TOPIC)]
    meta = consumer.list_topics(timeout=10).topics
    parts = [TopicPartition(n, p, 0) for n in names for p in meta[n].partitions]
    left = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
    left = {k: end for k, end in left.items() if end > 0}
    consumer.assign(parts)
    serde = default_serde()
    deadline = time.monotonic() + 120
    while left and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 1.0):
            if msg.error():
                continue
            topic, partition, offset = position(msg)
            if offset + 1 >= left.get((topic, partition), 0):
                left.pop((topic, partition), None)
            try:
                event: Event = serde.decode(msg.value())
            except DecodeError:
                continue
            if isinstance(event, TradeBooked):
                trades.setdefault(event.rfq_id, set()).add(event.trade_id)
            elif isinstance(event, Rfq):
                rfqs[event.rfq_id] += 1
    consumer.close()
    return Counter({r: len(ids) for r, ids in trades.items()}), rfqs
