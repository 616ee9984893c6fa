"""The recorded-prices file: JSON lines, one `PriceUpdate` record per line, decimals as strings.

Why JSON lines and not Avro: a recording is something people grep, diff and cut with `head`;
each line is the Avro record of the event (same field names as `schemas/avro/price_update`),
so nothing new is invented. Decimals are strings because a JSON number is a float to most
readers and money must survive the round trip to the last unit. Keys are sorted and separators
fixed, so the same events always give the same bytes (two recordings of one seed `cmp` equal).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from otcdesk.errors import UserError
from otcdesk.events import BookLevel, PriceUpdate, Venue, to_avro

_DECIMAL_FIELDS = ("taker_fee_rate", "tick_size_quote", "lot_size_base")


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode_line(update: PriceUpdate) -> str:
    """One line (without the newline) holding the update's Avro record."""
    return json.dumps(to_avro(update), default=_json_default, sort_keys=True, separators=(",", ":"))


def _levels(raw: list[dict[str, str]]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(level["price_quote"]), Decimal(level["qty_base"])) for level in raw)


def decode_record(record: dict[str, Any]) -> PriceUpdate:
    """A PriceUpdate from one parsed line; KeyError/ValueError/InvalidOperation if malformed."""
    return PriceUpdate(
        event_id=str(record["event_id"]),
        ts_us=int(record["ts_us"]),
        source=str(record["source"]),
        venue=Venue(record["venue"]),
        symbol=str(record["symbol"]),
        bids=_levels(record["bids"]),
        asks=_levels(record["asks"]),
        sequence=int(record["sequence"]),
        **{name: Decimal(str(record[name])) for name in _DECIMAL_FIELDS},
    )


def read_recording(path: Path) -> Iterator[PriceUpdate]:
    """Updates in file order; a bad line is a UserError naming the file and line number."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield decode_record(json.loads(line))
            except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
                raise UserError(f"{path}:{line_no}: not a PriceUpdate record ({type(exc).__name__}: {exc})") from None


class Recorder:
    """Appends published updates to a recording; a context manager so Ctrl-C still closes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        try:
            self._handle: IO[str] = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None

    def write(self, update: PriceUpdate) -> None:
        self._handle.write(encode_line(update) + "\n")
        self.lines += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
