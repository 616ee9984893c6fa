"""Burrow's lag rules as pure functions: a window of commit samples in, a status out.

No Kafka here, so every rule is tested with crafted histories (tests/unit/test_lag_rules.py).
The rules follow LinkedIn Burrow's `calculatePartitionStatus` (core/internal/evaluator/caching.go)
with its current order: STOP, REWIND (unless recovered), OK if the lag was ever zero, STALL, WARN.

Kafka keeps only the latest commit of a partition and no commit time, so the window is built by
sampling (see `record`): a sample is stored when the committed offset moved, or, while a live
member owns the partition, at least every `min_gap_s` seconds (a live consumer re-commits its
position; this is what lets STALL be told apart from STOP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

#: Burrow's default `intervals`: the window is the last 10 commits of a partition.
WINDOW = 10
#: A trend needs two points: with fewer samples the partition is OK (Burrow's minimum-complete idea).
MIN_SAMPLES = 2
#: Heartbeat sample spacing for an unchanged offset under a live member: about three faust
#: commit intervals (2.8 s), so a consumer that is progressing has moved its offset by then.
MIN_GAP_S = 10.0


class PartitionStatus(str, Enum):
    """Per-partition verdict, least to most bad (Burrow's partition statuses)."""

    OK = "OK"
    WARN = "WARN"
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"


class GroupStatus(str, Enum):
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


def record(window: Sequence[Sample], observed: Sample, *, consumer_alive: bool,
           min_gap_s: float = MIN_GAP_S, size: int = WINDOW) -> tuple[Sample, ...]:
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


def evaluate_partition(window: Sequence[Sample], current_lag: int, now: float) -> PartitionStatus:
    """Burrow's partition rules, oldest sample first. Zero current lag is never an error."""
    if current_lag <= 0 or len(window) < MIN_SAMPLES:
        return PartitionStatus.OK
    if _stopped(window, now):
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


def evaluate_group(statuses: Sequence[PartitionStatus], *, exists: bool, members: int,
                   total_lag: int) -> GroupStatus:
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
    return all(b.lag >= a.lag for a, b in zip(window, window[1:]))
