"""A stage's pending work in one order: input records and timers, by (event time, rank, stable key).

Records wait in one heap per input, timers in one more; the next item is the smallest head. The
stable key breaks ties between items of the same time and rank: a record's event id, a timer's
key. It never involves arrival order or Kafka offsets, which differ from run to run.

A timer has a key; scheduling a key again replaces its earlier time (the stale entry stays in the
heap and is skipped), so a stage re-files a deal's next wake-up without tracking it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

#: `Item.source` of a timer.
TIMER = -1


@dataclass(order=True, slots=True)
class Item:
    ts_us: int
    rank: int
    tiebreak: str
    seq: int
    source: int = field(compare=False)  # input index, or TIMER
    payload: Any = field(compare=False)
    key: str | None = field(default=None, compare=False)  # a timer's key


class EventQueue:
    def __init__(self, inputs: int) -> None:
        self._records: list[list[Item]] = [[] for _ in range(inputs)]
        self._timers: list[Item] = []
        self._timer_seq: dict[str, int] = {}  # key -> seq of its live entry
        self._seq = 0

    def __len__(self) -> int:
        return sum(map(len, self._records)) + len(self._timer_seq)

    def push(self, index: int, ts_us: int, rank: int, tiebreak: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._records[index], Item(ts_us, rank, tiebreak, self._seq, index, payload))

    def schedule(self, key: str, due_us: int, rank: int, payload: Any) -> None:
        """Timer `key` at `due_us` (replacing any earlier time of the same key)."""
        self._seq += 1
        self._timer_seq[key] = self._seq
        heapq.heappush(self._timers, Item(due_us, rank, key, self._seq, TIMER, payload, key))

    def cancel(self, key: str) -> None:
        self._timer_seq.pop(key, None)

    def scheduled(self, key: str) -> bool:
        return key in self._timer_seq

    def head(self, index: int) -> Item | None:
        heap = self._records[index]
        return heap[0] if heap else None

    def timer_head(self) -> Item | None:
        timers = self._timers
        while timers and self._timer_seq.get(timers[0].key or "") != timers[0].seq:
            heapq.heappop(timers)  # replaced or cancelled
        return timers[0] if timers else None

    def peek(self, timers_until_us: int | None = None) -> Item | None:
        """The smallest pending item; timers only if due by `timers_until_us` when it is given."""
        best = self.timer_head()
        if best is not None and timers_until_us is not None and best.ts_us > timers_until_us:
            best = None
        for heap in self._records:
            if heap and (best is None or heap[0] < best):
                best = heap[0]
        return best

    def pop(self, item: Item) -> None:
        """Remove `item`, a head returned by `peek` or `head`."""
        if item.source == TIMER:
            heapq.heappop(self._timers)
            if self._timer_seq.get(item.key or "") == item.seq:
                del self._timer_seq[item.key or ""]
        else:
            heapq.heappop(self._records[item.source])
