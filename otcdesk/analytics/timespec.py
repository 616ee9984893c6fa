"""Times a person types for `otcdesk report`: instants (`2h` ago, an ISO date, epoch us) and
bucket widths (`5m`). Anything else is a UserError with an example, never a traceback."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from otcdesk.errors import UserError

US_PER_S = 1_000_000
_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_EPOCH_US = re.compile(r"\d{13,17}")  # 2001..5138 in epoch microseconds: never a year or a count


def duration_us(text: str, option: str) -> int:
    """`90s`, `5m`, `1.5h`, `2d` as microseconds (> 0)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise UserError(f"{option} {text!r}: give a duration such as 90s, 5m, 1h or 2d")
    return int(float(match.group(1)) * _UNITS_S[match.group(2)] * US_PER_S)


def instant_us(text: str, option: str, now_us: int) -> int:
    """A duration means that long before `now_us`; else an ISO 8601 time (UTC when it names no
    zone) or epoch microseconds."""
    text = text.strip()
    if _DURATION.fullmatch(text):
        return now_us - duration_us(text, option)
    if _EPOCH_US.fullmatch(text):
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{option} {text!r}: give a time such as 2h (ago), 2025-11-24T16:00:00Z or epoch microseconds"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * US_PER_S + when.microsecond
