"""The ClickHouse sink's pure parts: what a batch holds, when it flushes, which offsets it commits.

Kept free of Kafka and ClickHouse so the rules that decide delivery semantics (flush on size or
age, commit exactly `max offset + 1` per partition, back off while the server is down) are
unit-tested without a broker. `consumers/sink.py` drives them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

from otcdesk.events import Event

Row = tuple[Any, ...]
_EXACT = Context(prec=80)  # wider than any Decimal256: scaleb never rounds
TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class SinkOptions:
    """One run's choices (CLI flags): group, target database, drain-and-exit, time limit."""

    group_id: str
    database: str
    once: bool = False
    max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """Flush when one table holds `max_rows` rows or the oldest pending row is `max_ms` old."""

    max_rows: int = 10_000
    max_ms: int = 1_000

    @property
    def max_age_s(self) -> float:
        return self.max_ms / 1000.0


class TableColumns:
    """One table's pending rows held as columns, the form clickhouse-driver's `columnar=True`
    insert takes: a decoder appends each value to its column (`appends`), no row in between.

    `scales` (column index -> Avro scale) names the Decimal columns held as unscaled ints, as the
    sink's decoder reads them (consumers/sink_native.py writes them); a row of Decimals from the
    reference decode is converted on the way in, so a column never mixes the two. Iterating
    yields the rows with those Decimals restored, for writers that take rows (the unit tests' fake)."""

    __slots__ = ("appends", "columns", "count", "scales")

    def __init__(self, width: int, scales: Mapping[int, int] | None = None) -> None:
        self.columns: list[list[Any]] = [[] for _ in range(width)]
        self.appends: tuple[Callable[[Any], None], ...] = tuple(column.append for column in self.columns)
        self.count = 0
        self.scales: Mapping[int, int] = scales or {}

    def add_row(self, row: Row) -> None:
        if self.scales:
            values = list(row)
            for i, scale in self.scales.items():
                values[i] = to_unscaled(values[i], scale)
            row = tuple(values)
        for append, value in zip(self.appends, row, strict=True):
            append(value)
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Row]:
        if not self.scales:
            return zip(*self.columns, strict=True)
        columns = [
            [from_unscaled(v, self.scales[i]) for v in column] if i in self.scales else column
            for i, column in enumerate(self.columns)
        ]
        return zip(*columns, strict=True)


@dataclass
class Batch:
    """Rows waiting for ClickHouse, as columns per event type (one table each), plus the offsets
    they cover. A message always lands here (as its event's row, a dead-letter row, or only as an
    offset when it is skipped) so that committing `max + 1` never skips an unstored record."""

    policy: BatchPolicy
    #: event type -> its Decimal columns held as unscaled ints (TableColumns.scales)
    scales: Mapping[type[Event], Mapping[int, int]] = field(default_factory=dict)
    rows: dict[type[Event], TableColumns] = field(default_factory=dict)
    last_offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)
    started_at: float | None = None  # clock time of the first message of the batch
    messages: int = 0

    def add(
        self, cls: type[Event] | None, row: Row | None, topic: str, partition: int, offset: int, now: float
    ) -> None:
        """Record one consumed message; `cls`/`row` None = consumed but nothing to insert."""
        if cls is not None and row is not None:
            self.table(cls, len(row)).add_row(row)
        self.taken(topic, partition, offset, now)

    def table(self, cls: type[Event], width: int) -> TableColumns:
        """The columns of `cls`'s table, created empty on first use."""
        columns = self.rows.get(cls)
        if columns is None:
            columns = self.rows[cls] = TableColumns(width, self.scales.get(cls))
        return columns

    def taken(self, topic: str, partition: int, offset: int, now: float) -> None:
        """Count one message whose values (if any) are already in their table's columns."""
        self.mark(topic, partition, offset)
        if self.started_at is None:
            self.started_at = now
        self.messages += 1

    def mark(self, topic: str, partition: int, offset: int) -> None:
        """Offsets only move forward: a lower one (never expected) cannot un-cover a higher one."""
        key = (topic, partition)
        self.last_offsets[key] = max(offset, self.last_offsets.get(key, -1))

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    @property
    def empty(self) -> bool:
        return self.messages == 0

    def largest_table(self) -> int:
        return max((len(r) for r in self.rows.values()), default=0)

    def age_s(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    def should_flush(self, now: float) -> bool:
        if self.empty:
            return False
        return self.largest_table() >= self.policy.max_rows or self.age_s(now) >= self.policy.max_age_s

    def time_to_deadline(self, now: float) -> float | None:
        """Seconds until the age trigger fires (None when empty): the poll timeout cap."""
        if self.started_at is None:
            return None
        return max(0.0, self.policy.max_age_s - self.age_s(now))

    def commit_offsets(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset to read) for every partition the batch covers."""
        return commit_positions(self.last_offsets)

    def clear(self) -> None:
        self.rows.clear()
        self.last_offsets.clear()
        self.started_at = None
        self.messages = 0


def commit_positions(last_offsets: Mapping[TopicPartitionKey, int]) -> list[tuple[str, int, int]]:
    """Kafka commits the offset of the *next* record to read: last stored offset + 1."""
    return [(topic, partition, offset + 1) for (topic, partition), offset in sorted(last_offsets.items())]


def transpose(rows: list[Row]) -> list[list[Any]]:
    """Rows to columns for clickhouse-driver's `columnar=True` (no per-row work in the driver)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else []


def backoff(initial_s: float, cap_s: float, factor: float = 2.0) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 10, 10, ... : fast recovery from a blip, no hammering of a dead server."""
    delay = initial_s
    while True:
        yield min(delay, cap_s)
        delay = min(delay * factor, cap_s)


def total_lag(parts: Iterable[tuple[int, int, int]]) -> int:
    """Sum of `partition_lag` over (position, low, high) of every assigned partition."""
    return sum(partition_lag(*part) for part in parts)


def partition_lag(position: int, low: int, high: int) -> int:
    """Lag of one partition: records between where the sink stands and the end of the log.
    A position below zero (nothing consumed or committed yet) counts from the low watermark."""
    start = position if position >= 0 else low
    return max(0, high - max(start, low))


@dataclass
class RateMeter:
    """Rows inserted per table, as totals and as deltas since the previous report."""

    started_at: float
    totals: dict[str, int] = field(default_factory=dict)
    _last_totals: dict[str, int] = field(default_factory=dict)
    _last_at: float | None = None

    def record(self, table: str, rows: int) -> None:
        self.totals[table] = self.totals.get(table, 0) + rows

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def interval(self, now: float) -> tuple[dict[str, int], float]:
        """Rows per table since the last call, and the rate over that interval."""
        since = self._last_at if self._last_at is not None else self.started_at
        delta = {t: n - self._last_totals.get(t, 0) for t, n in self.totals.items()}
        delta = {t: n for t, n in delta.items() if n}
        self._last_totals, self._last_at = dict(self.totals), now
        elapsed = now - since
        return delta, (sum(delta.values()) / elapsed if elapsed > 0 else 0.0)


def to_unscaled(value: Any, scale: int) -> Any:
    """A Decimal (None, or a list of them) as the unscaled int at `scale`, exactly as the driver
    computes it: `int(Decimal(str(x)) * 10**scale)` (truncation toward zero beyond the scale)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [to_unscaled(v, scale) for v in value]
    if isinstance(value, int):
        return value * 10**scale
    numerator, denominator = Decimal(value).as_integer_ratio()
    scaled = abs(numerator) * 10**scale // denominator
    return -scaled if numerator < 0 else scaled


def from_unscaled(value: Any, scale: int) -> Any:
    """The Decimal an unscaled int stands for, at exactly `scale` (as fastavro decodes it)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [from_unscaled(v, scale) for v in value]
    return Decimal(value).scaleb(-scale, _EXACT)
