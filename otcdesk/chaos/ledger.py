"""What a session left on its topics and in ClickHouse, counted so that two runs can be compared.

A faulted run must hold on every topic exactly what the clean run of the same seed holds: each
event as many times (a producer retry that doubles one, or a record lost with a broker, shows as a
difference). Events are counted by event_id, a dead letter by what it is about (its id names the
offset of the refused record, which another interleaving of writers moves). In ClickHouse every
event of the topics is stored once: its FINAL rows == its distinct ids == the topics' distinct ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from otcdesk.chaos.session_faults import read_topic
from otcdesk.db.rows import TABLES
from otcdesk.db.runner import DriverRunner
from otcdesk.events import DeadLetter, Event
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import ALL_TOPICS, Settings


def identity(event: Event) -> str:
    if isinstance(event, DeadLetter):
        refused = (event.raw_value or b"").hex()
        return f"{event.consumer_group}|{event.source_topic}|{event.key}|{event.reason}|{refused}"
    return event.event_id


@dataclass
class TopicLedger:
    """Per desk topic: how many times each event is on it; events by table (for ClickHouse)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    undecodable: Counter[str] = field(default_factory=Counter)
    by_table: dict[str, set[str]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values()) + sum(self.undecodable.values())

    def rows(self) -> dict[str, tuple[int, int]]:
        """topic -> (records, distinct events)."""
        return {t: (sum(c.values()) + self.undecodable[t], len(c)) for t, c in self.counts.items()}


def read_ledger(settings: Settings, topics: Sequence[str] = ALL_TOPICS) -> TopicLedger:
    ledger, serde = TopicLedger(), default_serde()
    for topic in topics:
        counts: Counter[str] = Counter()
        for msg in read_topic(settings, topic):
            try:
                event = serde.decode(msg.value())
            except DecodeError:
                ledger.undecodable[topic] += 1
                continue
            counts[identity(event)] += 1
            ledger.by_table.setdefault(TABLES[type(event)], set()).add(event.event_id)
        ledger.counts[topic] = counts
    return ledger


def compare(clean: TopicLedger, faulted: TopicLedger) -> dict[str, tuple[int, int]]:
    """topic -> (lost, doubled): copies of an event the faulted run has fewer / more of than the
    clean one (0, 0 on every topic: the same records)."""
    out = {}
    for topic in sorted(set(clean.counts) | set(faulted.counts)):
        a, b = clean.counts.get(topic, Counter()), faulted.counts.get(topic, Counter())
        out[topic] = (
            sum((a - b).values()) + max(0, clean.undecodable[topic] - faulted.undecodable[topic]),
            sum((b - a).values()) + max(0, faulted.undecodable[topic] - clean.undecodable[topic]),
        )
    return out


@dataclass(frozen=True)
class StoredTable:
    expected: int  # distinct event ids of the table's events on the topics
    final: int  # rows of the FINAL view
    distinct: int  # distinct event ids stored
    missing: int  # ids on the topics and not stored

    @property
    def doubled(self) -> int:
        return self.final - self.distinct


def stored(runner: DriverRunner, database: str, ledger: TopicLedger) -> dict[str, StoredTable]:
    out = {}
    for table in sorted(set(TABLES.values())):
        ids = {str(r[0]) for r in runner.query(f"SELECT event_id FROM {database}.{table} FINAL")}
        ((final,),) = runner.query(f"SELECT count() FROM {database}.{table} FINAL")
        expected = ledger.by_table.get(table, set())
        out[table] = StoredTable(len(expected), int(final), len(ids), len(expected - ids))
    return out
