"""The commit windows and log-end rings Burrow's rules read, kept two ways.

- `LagHistory` samples: each snapshot observes the committed offset (OffsetFetch) and stores it
  by `lag_rules.record`. It is what a one-shot `otcdesk lag` can do (kept in
  `state_dir/lag-history.json` between runs).
- `FollowedHistory` follows: each refresh reads every new commit from `__consumer_offsets`
  (`CommitFeed`) and stores it by `lag_rules.store_commit`, with the broker's commit time, as
  Burrow does. `--watch` and `--serve` use it.

Both keep, per partition, the ring of recent log ends (`lag_rules.record_end`) that Burrow's
"lag was zero recently" exemption on STOP reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from consumers.commit_feed import Commit, CommitFeed
from consumers.lag_rules import (
    MIN_DISTANCE_S,
    MIN_GAP_S,
    OFFSET_REFRESH_S,
    WINDOW,
    Sample,
    clamp_lag,
    record,
    record_end,
    store_commit,
)

Key = tuple[str, str, int]  # group, topic, partition
TP = tuple[str, int]
#: History of a partition not seen for this long is dropped (Burrow's expire-group default).
EXPIRE_S = 7 * 24 * 3600.0
#: Log ends of partitions, read on demand (LagMonitor.log_end_offsets).
EndsReader = Callable[[Iterable[TP]], dict[TP, int]]


@dataclass
class LagHistory:
    """Sampled commit windows, bounded to `WINDOW` samples per group/topic/partition."""

    windows: dict[Key, tuple[Sample, ...]] = field(default_factory=dict)
    ends: dict[TP, tuple[tuple[float, int], ...]] = field(default_factory=dict)
    min_gap_s: float = MIN_GAP_S
    offset_refresh_s: float = OFFSET_REFRESH_S

    def refresh(self, read_ends: EndsReader, ends: Mapping[TP, int], now: float) -> None:
        """Called once per snapshot with the log ends just read."""
        self.note_ends(ends, now)

    def note_ends(self, ends: Mapping[TP, int], now: float) -> None:
        for tp, end in ends.items():
            self.ends[tp] = record_end(self.ends.get(tp, ()), now, end, every_s=self.offset_refresh_s)

    def recent_ends(self, tp: TP) -> tuple[int, ...]:
        return tuple(end for _, end in self.ends.get(tp, ()))

    def observe(self, key: Key, sample: Sample, consumer_alive: bool) -> tuple[Sample, ...]:
        window = record(
            self.windows.get(key, ()), sample, consumer_alive=consumer_alive, min_gap_s=self.min_gap_s, size=WINDOW
        )
        self.windows[key] = window
        return window

    def expire(self, now: float, max_age_s: float = EXPIRE_S) -> None:
        self.windows = {k: w for k, w in self.windows.items() if w and now - w[-1].ts <= max_age_s}
        self.ends = {tp: r for tp, r in self.ends.items() if r and now - r[-1][0] <= max_age_s}

    @classmethod
    def load(cls, path: Path, min_gap_s: float = MIN_GAP_S) -> LagHistory:
        """A missing or unreadable file is an empty history: lag still prints, verdicts start fresh."""
        try:
            doc = json.loads(path.read_text())
            windows = {
                (str(r["group"]), str(r["topic"]), int(r["partition"])): tuple(
                    Sample(int(o), float(ts), int(lag)) for o, ts, lag in r["samples"]
                )[-WINDOW:]
                for r in doc["partitions"]
            }
            ends = {
                (str(r["topic"]), int(r["partition"])): tuple((float(ts), int(e)) for ts, e in r["ends"])[-WINDOW:]
                for r in doc.get("ends", [])
            }
        except (OSError, ValueError, KeyError, TypeError):
            windows, ends = {}, {}
        return cls(windows=windows, ends=ends, min_gap_s=min_gap_s)

    def save(self, path: Path) -> None:
        """Write-then-rename, so a concurrent run or a crash never leaves half a file."""
        rows = [
            {"group": g, "topic": t, "partition": p, "samples": [[s.offset, s.ts, s.lag] for s in w]}
            for (g, t, p), w in sorted(self.windows.items())
        ]
        ends = [{"topic": t, "partition": p, "ends": [list(e) for e in r]} for (t, p), r in sorted(self.ends.items())]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 2, "window": WINDOW, "partitions": rows, "ends": ends}))
        tmp.replace(path)


@dataclass
class FollowedHistory(LagHistory):
    """Windows of every commit read from `__consumer_offsets` (Burrow's storage), not samples."""

    feed: CommitFeed | None = None
    min_distance_s: float = MIN_DISTANCE_S
    commits_read: int = 0

    def refresh(self, read_ends: EndsReader, ends: Mapping[TP, int], now: float) -> None:
        """Reads the commits made so far; a commit's lag is against the freshest log end known,
        as Burrow computes it against its latest broker offset."""
        if self.feed is not None:
            commits = self.feed.drain(read_ends(self.feed.partitions))
            missing = {(c.topic, c.partition) for c in commits if c.offset is not None} - ends.keys()
            self.ingest(commits, {**read_ends(missing), **ends} if missing else ends)
        self.note_ends(ends, now)

    def ingest(self, commits: Iterable[Commit], ends: Mapping[TP, int]) -> None:
        for c in commits:
            if c.offset is None:
                self._forget(c)
                continue
            lag = clamp_lag(ends.get((c.topic, c.partition)), c.offset)
            if lag is None:
                continue  # topic gone: Burrow drops commits for partitions it has no log end for
            key = (c.group, c.topic, c.partition)
            self.windows[key] = store_commit(
                self.windows.get(key, ()), Sample(c.offset, c.ts, lag), min_distance_s=self.min_distance_s
            )
            self.commits_read += 1

    def observe(self, key: Key, sample: Sample, consumer_alive: bool) -> tuple[Sample, ...]:
        """The stored commits; the snapshot's own reading adds nothing to them."""
        return self.windows.get(key, ())

    def _forget(self, c: Commit) -> None:
        if c.topic:
            self.windows.pop((c.group, c.topic, c.partition), None)
        else:
            self.windows = {k: w for k, w in self.windows.items() if k[0] != c.group}
