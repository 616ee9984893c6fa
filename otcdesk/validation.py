"""Field rules an event must meet before a stage acts on it (`RejectedError` otherwise).

These are contract violations, not business refusals: a negative size or an id longer than the
RFQ convention allows cannot be priced or answered sensibly, so the stage dead-letters the input
(with this reason) instead of guessing. Business refusals (size over the desk limit, no depth,
credit) are answered with a QuoteRejected by the quote engine.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from otcdesk.errors import RejectedError
from otcdesk.events import QuoteAction, QuoteResponse, Rfq, Side

MAX_ID_LEN = 36
MAX_CLIENT_ID_LEN = 64
#: Event times outside this window are corrupt, whatever the simulation clock says.
MIN_TS_US = 946_684_800_000_000  # 2000-01-01
MAX_TS_US = 4_102_444_800_000_000  # 2100-01-01


def control_char(text: str) -> str | None:
    """The first control or format character of `text` (Unicode category Cc or Cf: newline, ESC,
    DEL, zero-width and bidi marks) as `U+XXXX`, or None. Ids end up on terminals, in logs and in
    SQL results: such a character would make them print as something else."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf"):
            return f"U+{ord(char):04X}"
    return None


def id_problem(value: str | None, limit: int) -> str | None:
    """Why `value` cannot be an id someone typed (CLI, `otcdesk.client`), or None: 1..limit
    characters, not blank, no control character."""
    if not value or not value.strip() or len(value) > limit:
        return f"must be 1 to {limit} characters"
    bad = control_char(value)
    return f"must not contain control characters (found {bad})" if bad else None


def _id(name: str, value: str | None, limit: int = MAX_ID_LEN) -> None:
    """The rule of `id_problem`, for ids any producer wrote: the CLI and `otcdesk.client` refuse
    the same ids before sending, a stage dead-letters them."""
    problem = id_problem(value, limit)
    if problem is not None:
        raise RejectedError(f"bad_{name}", f"{name} {problem}, got {value!r:.80}")


def _positive(name: str, value: Decimal | None) -> None:
    if value is not None and (not value.is_finite() or value <= 0):
        raise RejectedError(f"non_positive_{name}", f"{name} must be a positive finite number, got {value}")


def _ts(ts_us: int) -> None:
    if not MIN_TS_US <= ts_us <= MAX_TS_US:
        raise RejectedError("bad_timestamp", f"ts_us {ts_us} outside 2000..2100")


def validate_rfq(rfq: Rfq) -> None:
    _ts(rfq.ts_us)
    _id("rfq_id", rfq.rfq_id)
    _id("client_id", rfq.client_id, MAX_CLIENT_ID_LEN)
    if rfq.side is Side.UNKNOWN:
        raise RejectedError("bad_side", "side is not BUY, SELL or TWO_WAY")
    if (rfq.qty_base is None) == (rfq.notional_quote is None):
        raise RejectedError("bad_size", "exactly one of qty_base and notional_quote must be set")
    _positive("qty_base", rfq.qty_base)
    _positive("notional_quote", rfq.notional_quote)


def validate_response(response: QuoteResponse) -> None:
    _ts(response.ts_us)
    _id("rfq_id", response.rfq_id)
    _id("quote_id", response.quote_id)
    _id("client_id", response.client_id, MAX_CLIENT_ID_LEN)
    if response.action is QuoteAction.UNKNOWN:
        raise RejectedError("bad_action", "action is not ACCEPT or DECLINE")
    if response.action is QuoteAction.ACCEPT:
        if response.side not in (Side.BUY, Side.SELL):
            raise RejectedError("bad_side", f"an acceptance takes BUY or SELL, got {response.side}")
        _positive("qty_base", response.qty_base)
        _positive("price_quote", response.price_quote)
