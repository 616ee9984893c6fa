"""Faults injected into a seeded desk session (scenarios 1 and 6): seeded kill moments, replayed slices,
and the lifecycle invariants read back from the topics.

A session is a function of its seed, so a fault is judged against a clean run of the same seed
(the digest), and, independently of any clean run, against invariants that hold for every
session: every RFQ has one final outcome, no deal is booked twice, every trade is hedged to its
quantity or its recon result says why not.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, Message, TopicPartition

from otcdesk.errors import DeskError
from otcdesk.events import (
    Event,
    QuoteAction,
    QuoteRejected,
    QuoteResponse,
    ReconResult,
    ReconStatus,
    RejectReason,
    TradeBooked,
)
from otcdesk.ids import derived_rng
from otcdesk.kafka import EventProducer, consumer_config, position
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.simulate import SessionSummary

if TYPE_CHECKING:
    from otcdesk.session import SessionRunner

#: The topics a replay re-publishes a slice of: every input of a desk stage but `prices`
#: (a book replayed is older than the latest, and the books ignore it by design).
REPLAYED = ("rfq", "quotes", "trades", "orders", "fills", "settlements", "recon")
#: Topics whose distinct event ids a replay must not change (what the desk writes).
WRITTEN = ("quotes", "trades", "orders", "fills", "settlements", "recon")


def summary_differences(
    before: SessionSummary, after: SessionSummary, lines_before: Sequence[str], lines_after: Sequence[str]
) -> list[str]:
    """Summary fields that differ between two runs of one session, and `deal_lines` if any deal's
    line does. Dead-letter counts (and the digest, which covers them) are left out: a record the
    desk refused once is refused again when it comes again (a replay, a restarted client-sim's
    answer), at a new offset, with a dead letter of its own."""
    a, b = asdict(before), asdict(after)
    fields = [k for k in a if k not in ("dead_letters", "digest") and a[k] != b[k]]
    return fields + (["deal_lines"] if list(lines_before) != list(lines_after) else [])


def kill_schedule(names: Sequence[str], seed: int, rounds: int = 1) -> list[tuple[str, float]]:
    """Each process killed `rounds` times at seeded moments (share of the RFQs published, in
    (0.05, 0.95)), in time order: the same seed kills at the same moments."""
    rng = derived_rng(seed, "chaos:kill")
    kills = [(name, round(rng.uniform(0.05, 0.95), 3)) for _ in range(rounds) for name in names]
    return sorted(kills, key=lambda k: (k[1], k[0]))


def read_topic(settings: Settings, topic: str, timeout_s: float = 10.0) -> list[Message]:
    """Every record of `topic` (namespaced here) up to its end offsets now, partition by partition."""
    name = settings.topic(topic)
    consumer = Consumer(consumer_config(settings, "otcdesk.chaos-read"))
    try:
        meta = consumer.list_topics(name, timeout=timeout_s).topics[name]
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout_s)[1] for p in meta.partitions
        }
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(name, p, 0) for p in todo])
        out: list[Message] = []
        while todo:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                out.append(msg)
                _topic, partition, offset = position(msg)
                if offset >= ends[partition] - 1:
                    todo.discard(partition)
        return out
    finally:
        consumer.close()


def decoded(messages: Iterable[Message]) -> list[Event]:
    serde, out = default_serde(), []
    for msg in messages:
        try:
            out.append(serde.decode(msg.value()))
        except DecodeError:
            continue  # bad bytes are the stages' business (dead letters)
    return out


def event_ids(settings: Settings, topics: Sequence[str] = WRITTEN) -> dict[str, set[str]]:
    """Distinct event ids per topic: what a replay must leave unchanged."""
    return {t: {e.event_id for e in decoded(read_topic(settings, t))} for t in topics}


def replay_slice(
    settings: Settings,
    seed: int,
    share: float = 0.3,
    topics: Sequence[str] = REPLAYED,
    producer: EventProducer | None = None,
) -> int:
    """Publish again a slice of each topic: the middle `share` of every partition's records,
    shuffled across topics and partitions by a seeded generator (duplicates, out of order),
    same keys, values and headers. Returns how many records were re-published."""
    picked: list[Message] = []
    for topic in topics:
        by_partition: dict[int, list[Message]] = defaultdict(list)
        for msg in read_topic(settings, topic):
            by_partition[position(msg)[1]].append(msg)
        for msgs in by_partition.values():
            start = int(len(msgs) * (1 - share) / 2)
            picked += msgs[start : start + max(1, int(len(msgs) * share))]
    random.Random(seed).shuffle(picked)
    producer = producer or EventProducer(settings)
    for msg in picked:
        producer.produce_bytes(position(msg)[0], msg.key(), msg.value(), msg.headers())
    producer.flush()
    return len(picked)


@dataclass(frozen=True, slots=True)
class Invariants:
    """The invariants any session's topics must hold (docs/reliability.md); each list names the offenders."""

    rfqs: int
    without_outcome: list[str]
    two_outcomes: list[str]  # e.g. traded and expired
    booked_twice: list[str]  # RFQs with more than one distinct trade
    not_hedged_nor_flagged: list[str]  # deals whose recon says neither hedged to qty nor a break

    @property
    def hold(self) -> bool:
        return not (self.without_outcome or self.two_outcomes or self.booked_twice or self.not_hedged_nor_flagged)


def check_invariants(settings: Settings, rfq_ids: Iterable[str]) -> Invariants:
    """Read `quotes`, `trades` and `recon` back and check every RFQ of the session."""
    quotes = decoded(read_topic(settings, "quotes"))
    trades = [e for e in decoded(read_topic(settings, "trades")) if isinstance(e, TradeBooked)]
    results: dict[str, ReconResult] = {}
    for r in decoded(read_topic(settings, "recon")):
        if isinstance(r, ReconResult) and (r.rfq_id not in results or r.revision > results[r.rfq_id].revision):
            results[r.rfq_id] = r
    trade_ids: dict[str, set[str]] = defaultdict(set)
    for t in trades:
        trade_ids[t.rfq_id].add(t.trade_id)
    # final outcomes: a trade, a decline, an expiry; a quote engine's refusal (no quote) is one too
    kinds: dict[str, set[str]] = defaultdict(set, {r: {"TRADED"} for r in trade_ids})
    refused = set()
    for e in quotes:
        if isinstance(e, QuoteResponse) and e.action is QuoteAction.DECLINE:
            kinds[e.rfq_id].add("DECLINED")
        elif isinstance(e, QuoteRejected) and e.reason is RejectReason.QUOTE_EXPIRED:
            kinds[e.rfq_id].add("EXPIRED")
        elif isinstance(e, QuoteRejected) and not e.quote_id:
            refused.add(e.rfq_id)
    ids = sorted(rfq_ids)
    # MATCHED: complete, hedged to the booked quantity within a lot; BROKEN: the breaks say why not
    unflagged = [r for r in trade_ids if r not in results or results[r].status is ReconStatus.PENDING]
    return Invariants(
        len(ids),
        [r for r in ids if not kinds.get(r) and r not in refused],
        sorted(r for r in ids if len(kinds.get(r, ())) > 1),
        sorted(r for r, t in trade_ids.items() if len(t) > 1),
        sorted(unflagged),
    )


def drain(
    settings: Settings, stages: Sequence[str], topics: Sequence[str] = REPLAYED, timeout_s: float = 120.0
) -> float:
    """Wall seconds until every stage's group has committed the end of `topics` (it consumed them)."""
    from consumers.lag import LagMonitor

    names, monitor, started = {settings.topic(t) for t in topics}, LagMonitor(settings), time.monotonic()
    while time.monotonic() - started < timeout_s:
        groups = monitor.snapshot([settings.group(s) for s in stages])
        lags = [
            0 if p.lag is None and not p.log_end_offset else p.lag
            for g in groups
            for p in g.partitions
            if p.topic in names
        ]
        if lags and all(lag == 0 for lag in lags):
            return time.monotonic() - started
        time.sleep(1.0)
    raise DeskError(f"the stages did not consume {', '.join(topics)} within {timeout_s:.0f} s")


@dataclass
class ReplayCheck:
    """Scenario 6, run on a finished session (`run_session(then=...)`) while its stages still run:
    a slice of every topic published again, consumed by every stage, and what changed."""

    seed: int
    share: float = 0.3
    before: SessionSummary | None = None
    ids_before: dict[str, set[str]] = field(default_factory=dict)
    replayed: int = 0
    drain_s: float = 0.0
    _runner: SessionRunner | None = None
    _lines: list[str] = field(default_factory=list)

    def __call__(self, runner: SessionRunner) -> None:
        self._runner = runner
        self.before = runner.tally.summary()
        self._lines = runner.tally.deal_lines()
        self.ids_before = event_ids(runner.settings, (*WRITTEN, "dlq"))
        self.replayed = replay_slice(runner.settings, self.seed, self.share, producer=runner.producer)
        self.drain_s = drain(runner.settings, runner.stages)

    def changed(self, after: SessionSummary) -> list[str]:
        """What differs after the replay: summary fields, and `deals` if any deal's line changed.

        Dead letters are not compared: a replayed record that was refused is refused again,
        with a dead letter of its own (its own offset); the new-dead-letter count says how many."""
        if self.before is None or self._runner is None:
            return ["no replay"]
        return summary_differences(self.before, after, self._lines, self._runner.tally.deal_lines())

    def new_ids(self, settings: Settings) -> dict[str, int]:
        """Event ids per topic that were not there before the replay: 0 on every topic the desk
        writes; `dlq` counts the replayed records refused again."""
        after = event_ids(settings, tuple(self.ids_before))
        return {t: len(after[t] - self.ids_before[t]) for t in self.ids_before}
