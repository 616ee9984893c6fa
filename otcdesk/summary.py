"""What the desk did, read straight from the topics: RFQs, quotes, outcomes, dead letters.

For a demo or a quick check without ClickHouse: every partition of the lifecycle topics is read
from its first offset by a group-less consumer (nothing committed) and counted by event type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from confluent_kafka import Consumer, TopicPartition

from otcdesk.events import DeadLetter, Quote, QuoteAction, QuoteRejected, QuoteResponse, Rfq, TradeBooked
from otcdesk.kafka import consumer_config, position, require_topics
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings

TOPICS = ("rfq", "quotes", "trades", "dlq")


@dataclass
class DeskSummary:
    rfqs: int = 0
    quotes: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    trades: int = 0
    notional_by_symbol: dict[str, Decimal] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    undecodable: int = 0

    def add(self, event: object) -> None:
        if isinstance(event, Rfq):
            self.rfqs += 1
        elif isinstance(event, Quote):
            self.quotes += 1
        elif isinstance(event, QuoteRejected):
            self.rejects[event.reason.value] += 1
        elif isinstance(event, QuoteResponse):
            self.responses[event.action.value if event.action is not QuoteAction.UNKNOWN else "UNKNOWN"] += 1
        elif isinstance(event, TradeBooked):
            self.trades += 1
            self.notional_by_symbol[event.symbol] = (
                self.notional_by_symbol.get(event.symbol, Decimal(0)) + event.notional_quote
            )
        elif isinstance(event, DeadLetter):
            self.dead_letters[event.reason] += 1

    @property
    def hit_ratio(self) -> float:
        return self.trades / self.quotes if self.quotes else 0.0


def summarize(settings: Settings, timeout_s: float = 10.0) -> DeskSummary:
    consumer = Consumer(consumer_config(settings, "otcdesk-cli-summary"))
    summary = DeskSummary()
    try:
        names = [settings.topic(t) for t in TOPICS]
        meta = require_topics(settings, names, timeout_s).topics
        ends = {}
        for name in names:
            for p in meta[name].partitions:
                ends[(name, p)] = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout_s)[1]
        todo = {k for k, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(n, p, 0) for n, p in todo])
        serde = default_serde()
        while todo:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                topic, partition, offset = position(msg)
                if offset >= ends[(topic, partition)] - 1:
                    todo.discard((topic, partition))
                try:
                    summary.add(serde.decode(msg.value()))
                except DecodeError:
                    summary.undecodable += 1
        return summary
    finally:
        consumer.close()
