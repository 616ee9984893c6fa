"""Burrow's lag rules as pure functions: a window of commits in, a status out.

No Kafka here, so every rule is tested with crafted histories (tests/unit/test_lag_rules.py).
The rules are those of LinkedIn Burrow 1.9 (the current release line; `calculatePartitionStatus`
in core/internal/evaluator/caching.go), in its order: STOP unless the lag was zero at a recent log
end, REWIND unless recovered, OK if the lag was ever zero, STALL, WARN. Burrow 1.2.1 (Debian's)
checked REWIND only when the lag was never zero and never forgave a recovered rewind.

The window of a partition is built the way Burrow's in-memory storage builds it (`store_commit`):
every commit read from `__consumer_offsets` with the broker's commit timestamp, a commit less than
`MIN_DISTANCE_S` after the stored one replacing it. A one-shot run cannot see commits, so it
samples the committed offset instead (`record`): a sample is stored when the offset moved, or,
while a live member owns the partition, at least every `min_gap_s` (a live consumer re-commits
its position; this is what lets STALL be told apart from STOP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

#: Burrow's default `intervals`: the window is the last 10 commits of a partition.
WINDOW = 10
#: A trend needs two points: with fewer samples the partition is OK (Burrow's minimum-complete idea).
MIN_SAMPLES = 2
#: Burrow's `min-distance`: a commit closer than this to the stored one replaces it.
MIN_DISTANCE_S = 1.0
#: Burrow's `offset-refresh`: the log end of each partition is recorded this often (the ring of the
#: last `WINDOW` log ends is what the "lag was zero recently" exemption on STOP reads).
OFFSET_REFRESH_S = 10.0
#: Sampled windows only: heartbeat spacing for an unchanged offset under a live member, many faust
#: commit intervals (1 s), so a consumer that is progressing has moved its offset by then.
MIN_GAP_S = 10.0


class PartitionStatus(StrEnum):
    """Per-partition verdict, least to most bad (Burrow's partition statuses)."""

    OK = "OK"
    WARN = "WARN"
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"


class GroupStatus(StrEnum):
    """Per-group verdict: Burrow's NOTFOUND/OK/WARN/ERR plus STOPPED (no member while lag > 0)."""

    NOTFOUND = "NOTFOUND"
    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"
    STOPPED = "STOPPED"


#: Partition statuses that make the whole group ERR (Burrow: anything worse than WARN).
ERROR_STATUSES = frozenset({PartitionStatus.STOP, PartitionStatus.STALL, PartitionStatus.REWIND})
#: Group statuses an alert should fire on (exit code 1 of `otcdesk lag`).
ALERT_STATUSES = frozenset({GroupStatus.ERR, GroupStatus.STOPPED})


@dataclass(frozen=True)
class Sample:
    """One observed commit: committed offset, when we saw it (epoch seconds), lag at that moment."""

    offset: int
    ts: float
    lag: int


def clamp_lag(log_end_offset: int | None, committed: int | None) -> int | None:
    """LEO - committed, never negative (a commit past the end after truncation reads as 0, as in
    Redpanda Console); None when either side is unknown (kafka-consumer-groups.sh prints "-")."""
    if log_end_offset is None or committed is None:
        return None
    return max(0, log_end_offset - committed)


def record(
    window: Sequence[Sample],
    observed: Sample,
    *,
    consumer_alive: bool,
    min_gap_s: float = MIN_GAP_S,
    size: int = WINDOW,
) -> tuple[Sample, ...]:
    """The window after one observation: append when the offset moved or a live member's heartbeat
    is due; never when time did not move forward (same run, clock step back). Keeps the last `size`."""
    if not window:
        return (observed,)
    last = window[-1]
    if observed.ts <= last.ts:
        return tuple(window)
    moved = observed.offset != last.offset
    heartbeat = consumer_alive and observed.ts - last.ts >= min_gap_s
    if not (moved or heartbeat):
        return tuple(window)
    return (*window, observed)[-size:]


def store_commit(
    window: Sequence[Sample], commit: Sample, *, min_distance_s: float = MIN_DISTANCE_S, size: int = WINDOW
) -> tuple[Sample, ...]:
    """The window after one commit, as Burrow's storage keeps it: an older commit than the stored
    one is dropped (a replay), one within `min_distance_s` replaces the stored one but keeps its
    timestamp (so frequent committers still grow the window), anything else is appended."""
    if not window:
        return (commit,)
    last = window[-1]
    if commit.ts < last.ts:
        return tuple(window)
    if commit.ts - last.ts < min_distance_s:
        return (*window[:-1], Sample(commit.offset, last.ts, commit.lag))
    return (*window, commit)[-size:]


def record_end(
    ring: Sequence[tuple[float, int]], ts: float, end: int, *, every_s: float = OFFSET_REFRESH_S, size: int = WINDOW
) -> tuple[tuple[float, int], ...]:
    """The ring of (time, log end) after one refresh: a new entry at most every `every_s`."""
    if ring and ts - ring[-1][0] < every_s:
        return tuple(ring)
    return (*ring, (ts, end))[-size:]


def evaluate_partition(
    window: Sequence[Sample], current_lag: int, now: float, recent_ends: Sequence[int] = ()
) -> PartitionStatus:
    """Burrow's partition rules, oldest sample first. Zero current lag is never an error.
    `recent_ends` are the partition's last log ends (Burrow's broker-offset ring)."""
    if current_lag <= 0 or len(window) < MIN_SAMPLES:
        return PartitionStatus.OK
    if _stopped(window, now) and not _recent_lag_zero(window, recent_ends):
        return PartitionStatus.STOP
    if _rewound(window):
        return PartitionStatus.REWIND
    if any(s.lag <= 0 for s in window):
        return PartitionStatus.OK  # Rule 1: caught up at some point in the window
    if _stalled(window):
        return PartitionStatus.STALL
    if _lag_not_decreasing(window):
        return PartitionStatus.WARN
    return PartitionStatus.OK


def evaluate_group(statuses: Sequence[PartitionStatus], *, exists: bool, members: int, total_lag: int) -> GroupStatus:
    """STOPPED (nobody consumes, work is waiting) outranks ERR: it names the cause, and Burrow would
    report the same group ERR once its partitions turn STOP."""
    if not exists:
        return GroupStatus.NOTFOUND
    if members == 0 and total_lag > 0:
        return GroupStatus.STOPPED
    if any(s in ERROR_STATUSES for s in statuses):
        return GroupStatus.ERR
    if PartitionStatus.WARN in statuses:
        return GroupStatus.WARN
    return GroupStatus.OK


def _stopped(window: Sequence[Sample], now: float) -> bool:
    """Rule 3: silent for longer than the window spans."""
    first, last = window[0].ts, window[-1].ts
    return now - last > last - first


def _recent_lag_zero(window: Sequence[Sample], recent_ends: Sequence[int]) -> bool:
    """The exemption on STOP: the last commit was at or past one of the recent log ends, so the
    consumer was caught up a few refreshes ago (an idle consumer commits nothing)."""
    return any(end <= window[-1].offset for end in recent_ends)


def _rewound(window: Sequence[Sample]) -> bool:
    """Rule 2: an offset went backwards and no later sample climbed back to where it was (a
    rebalance replaying a few records and recovering is not held against the consumer)."""
    for i in range(1, len(window)):
        before = window[i - 1].offset
        if window[i].offset < before and max(s.offset for s in window[i:]) < before:
            return True
    return False


def _stalled(window: Sequence[Sample]) -> bool:
    """Rule 4: commits keep coming with one and the same offset."""
    return len({s.offset for s in window}) == 1


def _lag_not_decreasing(window: Sequence[Sample]) -> bool:
    """Rule 5: offsets advance but the lag never goes down between consecutive samples."""
    return all(b.lag >= a.lag for a, b in pairwise(window))
