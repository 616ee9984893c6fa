"""The lag monitor: the numbers of kafka-consumer-groups.sh, lag in seconds and Burrow's verdicts.

Offsets are read the way Kafka's own `ConsumerGroupCommand --describe` reads them, so the figures
match it at the same moment: DescribeConsumerGroups for members and assignments, OffsetFetch for
the committed offsets, ListOffsets(latest, read_uncommitted) for the log-end offsets. The rows are
the assigned partitions plus every partition with a commit, as in the Java tool.

Lag in time is the age of the oldest unconsumed record: a throwaway consumer (assign only, no
group join, never commits) reads the record AT the committed offset and we take now minus its
timestamp. The commit windows Burrow's rules read come from a `LagHistory`: followed commit by
commit from `__consumer_offsets` once `follow_commits()` is called (`--watch`, `--serve`),
otherwise sampled per snapshot (a one-shot run, kept in `state_dir/lag-history.json`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription, OffsetSpec

from consumers.commit_feed import CommitFeed
from consumers.lag_history import FollowedHistory, Key, LagHistory
from consumers.lag_rules import (
    ALERT_STATUSES,
    GroupStatus,
    PartitionStatus,
    Sample,
    clamp_lag,
    evaluate_group,
    evaluate_partition,
)
from otcdesk.errors import TransientError
from otcdesk.kafka import check_broker, client_config, position, unreachable
from otcdesk.settings import Settings

DESK_GROUP_PREFIX = "otcdesk-"
#: Not `otcdesk-*` on purpose: the probe never joins or commits, so this group never exists, and
#: if it ever did it must not show up among the desk's groups.
PROBE_GROUP = "otcdesk.lag-probe"
HISTORY_FILE = "lag-history.json"

#: The names kafka-consumer-groups.sh prints in its STATE column.
_STATE_NAMES: dict[Enum, str] = {
    ConsumerGroupState.STABLE: "Stable",
    ConsumerGroupState.EMPTY: "Empty",
    ConsumerGroupState.DEAD: "Dead",
    ConsumerGroupState.PREPARING_REBALANCING: "PreparingRebalance",
    ConsumerGroupState.COMPLETING_REBALANCING: "CompletingRebalance",
    ConsumerGroupState.UNKNOWN: "Unknown",
}

__all__ = ["GroupLag", "Key", "LagHistory", "LagMonitor", "PartitionLag", "exit_code"]


@dataclass(frozen=True)
class PartitionLag:
    """One row: the Java tool's columns plus lag in seconds and Burrow's partition verdict."""

    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int | None
    lag: int | None
    lag_seconds: float | None
    status: PartitionStatus
    consumer_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "current_offset": self.current_offset,
            "log_end_offset": self.log_end_offset,
            "lag": self.lag,
            "lag_seconds": self.lag_seconds,
            "status": self.status.value,
            "consumer_id": self.consumer_id,
        }


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    members: int
    status: GroupStatus
    partitions: tuple[PartitionLag, ...]

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    @property
    def max_lag_seconds(self) -> float | None:
        """The oldest wait in the group; unknown if any lagging partition's age is unknown."""
        ages = [p.lag_seconds for p in self.partitions if p.lag is not None]
        if not ages or any(a is None for a in ages):
            return None
        return max(a for a in ages if a is not None)

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "state": self.state,
            "members": self.members,
            "status": self.status.value,
            "total_lag": self.total_lag,
            "partitions": [p.as_json() for p in self.partitions],
        }


def exit_code(groups: Iterable[GroupLag]) -> int:
    """1 when an alert should fire (a group ERR or STOPPED), else 0; NOTFOUND and WARN are 0."""
    return 1 if any(g.status in ALERT_STATUSES for g in groups) else 0


# -- reading Kafka ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _GroupOffsets:
    """What the broker says about one group, before any arithmetic."""

    group: str
    exists: bool
    state: str
    members: int
    owners: Mapping[tuple[str, int], str]  # assigned partition -> consumer id
    committed: Mapping[tuple[str, int], int]


class LagMonitor:
    """Reads one consistent snapshot of the selected groups per `snapshot()` call."""

    def __init__(self, settings: Settings, history: LagHistory | None = None, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.history = history if history is not None else LagHistory()
        self.timeout_s = timeout_s
        self._conf = client_config(settings)  # librdkafka's log goes to otcdesk.librdkafka (quiet)
        self._admin = AdminClient(self._conf)

    # public ----------------------------------------------------------------------------------
    def follow_commits(self, offset_refresh_s: float | None = None) -> FollowedHistory:
        """From now on the windows are every commit read from `__consumer_offsets` (Burrow's way)."""
        history = FollowedHistory(feed=CommitFeed(self._conf, PROBE_GROUP, self.timeout_s))
        if offset_refresh_s is not None:
            history.offset_refresh_s = offset_refresh_s
        self.history = history
        return history

    def close(self) -> None:
        if isinstance(self.history, FollowedHistory) and self.history.feed is not None:
            self.history.feed.close()
            self.history.feed = None

    def ping(self, timeout_s: float = 5.0) -> None:
        """Fail fast with one line when nothing answers, instead of a timeout per request."""
        check_broker(self.settings, timeout_s)

    def select_groups(self, groups: Sequence[str] = (), all_groups: bool = False) -> list[str]:
        """Explicit `--group`s as given; else every group on the broker (`--all`) or the desk's."""
        if groups:
            return sorted(set(groups))
        listed = self._wait(self._admin.list_consumer_groups(request_timeout=self.timeout_s), "list groups")
        names = sorted({g.group_id for g in listed.valid})
        return names if all_groups else [n for n in names if n.startswith(DESK_GROUP_PREFIX)]

    def snapshot(self, groups: Sequence[str]) -> list[GroupLag]:
        if not groups:
            return []
        raw = [self._group_offsets(g, d) for g, d in self._describe(groups).items()]
        partitions = {tp for g in raw for tp in (*g.owners, *g.committed)}
        ends = self.log_end_offsets(partitions)
        now = time.time()
        waiting = {(tp, off) for g in raw for tp, off in g.committed.items() if (clamp_lag(ends.get(tp), off) or 0) > 0}
        stamps = read_timestamps(self._conf, waiting, self.timeout_s)
        self.history.refresh(self.log_end_offsets, ends, now)
        self.history.expire(now)
        return [self._evaluate(g, ends, stamps, now) for g in sorted(raw, key=lambda g: g.group)]

    # steps -----------------------------------------------------------------------------------
    def _describe(self, groups: Sequence[str]) -> dict[str, ConsumerGroupDescription | None]:
        futures = self._admin.describe_consumer_groups(list(groups), request_timeout=self.timeout_s)
        out: dict[str, ConsumerGroupDescription | None] = {}
        for group, future in futures.items():
            try:
                out[group] = future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    raise self._unreachable("describe groups", exc) from None
                out[group] = None
        return out

    def _group_offsets(self, group: str, desc: ConsumerGroupDescription | None) -> _GroupOffsets:
        owners = {
            (tp.topic, tp.partition): m.member_id
            for m in (desc.members if desc else [])
            for tp in m.assignment.topic_partitions
        }
        committed = self.committed(group) if desc is not None else {}
        state = _STATE_NAMES.get(desc.state, str(desc.state)) if desc else "Dead"
        members = len(desc.members) if desc else 0
        exists = not (state == "Dead" and members == 0 and not committed)
        return _GroupOffsets(group, exists, state, members, owners, committed)

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        """Only real commits: librdkafka reports "no commit" as a negative offset (-1001)."""
        request = [ConsumerGroupTopicPartitions(group)]
        future = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)[group]
        result = self._wait(future, f"committed offsets of {group}")
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or []
            if tp.error is None and tp.offset >= 0
        }

    def log_end_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """ListOffsets(latest) read_uncommitted = the high watermark, exactly what the Java tool asks.
        A partition the broker cannot answer for (topic deleted) has no LEO: "-" as in the tool."""
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}
        if not request:
            return {}
        futures = self._admin.list_offsets(
            request, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=self.timeout_s
        )
        ends: dict[tuple[str, int], int] = {}
        for tp, future in futures.items():
            try:
                ends[(tp.topic, tp.partition)] = future.result().offset
            except KafkaException as exc:
                if exc.args[0].code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN):
                    raise self._unreachable("list offsets", exc) from None
        return ends

    def _evaluate(
        self,
        g: _GroupOffsets,
        ends: Mapping[tuple[str, int], int],
        stamps: Mapping[tuple[tuple[str, int], int], float],
        now: float,
    ) -> GroupLag:
        rows = [self._partition(g, tp, ends.get(tp), stamps, now) for tp in sorted({*g.owners, *g.committed})]
        status = evaluate_group(
            [r.status for r in rows], exists=g.exists, members=g.members, total_lag=sum(r.lag or 0 for r in rows)
        )
        return GroupLag(g.group, g.state, g.members, status, tuple(rows))

    def _partition(
        self,
        g: _GroupOffsets,
        tp: tuple[str, int],
        end: int | None,
        stamps: Mapping[tuple[tuple[str, int], int], float],
        now: float,
    ) -> PartitionLag:
        committed = g.committed.get(tp)
        lag = clamp_lag(end, committed)
        status = PartitionStatus.OK  # no commit, or no LEO: Burrow has no window for it either
        if committed is not None and lag is not None:
            window = self.history.observe((g.group, *tp), Sample(committed, now, lag), tp in g.owners)
            status = evaluate_partition(window, lag, now, self.history.recent_ends(tp))
        return PartitionLag(
            tp[0],
            tp[1],
            committed,
            end,
            lag,
            _age(lag, stamps.get((tp, committed or 0)), now),
            status,
            g.owners.get(tp),
        )

    # errors ----------------------------------------------------------------------------------
    def _wait(self, future: Any, what: str) -> Any:
        try:
            return future.result()
        except KafkaException as exc:
            raise self._unreachable(what, exc) from None

    def _unreachable(self, what: str, exc: KafkaException) -> TransientError:
        """One short line: librdkafka's reason without its "Failed to get metadata: Local: " prefixes."""
        reason = str(exc.args[0].str()).replace("Failed to get metadata: ", "").replace("Local: ", "")
        return unreachable(self.settings, f"{what}: {reason}")


def _age(lag: int | None, record_ms: float | None, now: float) -> float | None:
    """Seconds the oldest unconsumed record has waited: 0 when caught up, None when unknown."""
    if lag is None:
        return None
    if lag == 0:
        return 0.0
    if record_ms is None:
        return None
    return round(max(0.0, now - record_ms / 1000.0), 3)


def read_timestamps(
    conf: Mapping[str, Any], positions: Iterable[tuple[tuple[str, int], int]], timeout_s: float
) -> dict[tuple[tuple[str, int], int], float]:
    """Timestamp (epoch ms) of the record at each (partition, offset), read by assignment only.

    The consumer never subscribes (no group join) and never commits, so the monitor cannot move
    anybody's offsets. Several groups may wait at different offsets of one partition: it starts
    at the lowest and seeks forward to the next. read_uncommitted, and a control marker or a
    record deleted by retention yields the next readable record (an age a little too young).
    """
    queues: dict[tuple[str, int], list[int]] = {}
    for tp, offset in positions:
        queues.setdefault(tp, []).append(offset)
    queues = {tp: sorted(set(offsets)) for tp, offsets in queues.items()}
    if not queues:
        return {}
    consumer = Consumer(
        dict(conf)
        | {
            "group.id": PROBE_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_uncommitted",
            "fetch.wait.max.ms": 50,
        }
    )
    found: dict[tuple[tuple[str, int], int], float] = {}
    try:
        consumer.assign([TopicPartition(t, p, q[0]) for (t, p), q in queues.items()])
        deadline = time.monotonic() + timeout_s
        while queues and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=len(queues), timeout=0.2):
                topic, partition, offset = position(msg)
                tp = (topic, partition)
                queue = queues.get(tp)
                if msg.error() or not queue or offset < queue[0]:
                    continue  # an error, a finished partition, or a record fetched before a seek
                kind, ms = msg.timestamp()
                while queue and queue[0] <= offset:
                    offset = queue.pop(0)
                    if kind != TIMESTAMP_NOT_AVAILABLE:
                        found[(tp, offset)] = float(ms)
                if queue:
                    consumer.seek(TopicPartition(tp[0], tp[1], queue[0]))
                else:
                    del queues[tp]
                    consumer.pause([TopicPartition(*tp)])
    finally:
        consumer.close()
    return found
