"""Publishing RFQs from users' own code: the same validation the CLI uses.

    from otcdesk.client import publish_rfq
    rfq_id = publish_rfq("ACME", "BTC/USD", "buy", qty_base="200")

An RFQ is sized in base units (`qty_base`) or quote units (`notional_quote`), never both; a
missing side asks for a two-way price. The rfq_id is client-chosen like at real LPs (a UUID of at
most 36 characters; one is made when not given) and is the Kafka key of the whole deal. Ids take
no control characters (`otcdesk.validation.id_problem`). `publish_rfq` returns only once the
broker has acknowledged the RFQ: a missing `rfq` topic is a TopicMissingError at once, a broker
that does not answer a TransientError, a refused record a DeliveryError (all `DeskError`s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal, InvalidOperation

from otcdesk.errors import UserError
from otcdesk.events import Rfq, Side
from otcdesk.follow import DealFollower
from otcdesk.kafka import EventProducer, require_topics
from otcdesk.settings import Settings, get_settings
from otcdesk.validation import MAX_CLIENT_ID_LEN, MAX_ID_LEN, id_problem

MAX_SCALE = 12  # decimal(28, 12) on the wire


def check_id(what: str, value: str | None, limit: int) -> None:
    """UserError `<what> must ...` unless `value` is an id a person may give (`id_problem`)."""
    problem = id_problem(value, limit)
    if problem is not None:
        raise UserError(f"{what} {problem}")


def _decimal(name: str, value: Decimal | str | int | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise UserError(f"{name} must be a decimal string or Decimal, not a float ({value!r})")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise UserError(f"{name} is not a number: {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise UserError(f"{name} must be a positive finite number, got {value}")
    if -amount.as_tuple().exponent > MAX_SCALE:  # type: ignore[operator]  # finite: the exponent is an int
        raise UserError(f"{name} has more than {MAX_SCALE} decimals: {value}")
    if amount >= Decimal(10) ** 16:
        raise UserError(f"{name} is too large: {value}")
    return amount


def _side(side: str | Side | None) -> Side:
    if side is None or str(side).strip() == "":
        return Side.TWO_WAY
    try:
        parsed = Side(str(side).strip().upper().replace("-", "_"))
    except ValueError:
        raise UserError(f"side must be buy, sell or two-way, got {side!r}") from None
    if parsed is Side.UNKNOWN:
        raise UserError("side must be buy, sell or two-way")
    return parsed


def build_rfq(
    client_id: str,
    symbol: str,
    side: str | Side | None = None,
    *,
    qty_base: Decimal | str | int | None = None,
    notional_quote: Decimal | str | int | None = None,
    rfq_id: str | None = None,
    client_ref: str | None = None,
    settings: Settings | None = None,
    ts_us: int | None = None,
    source: str = "client",
) -> Rfq:
    """A validated Rfq event; UserError (one line) on bad input."""
    settings = settings or get_settings()
    check_id("client id", client_id, MAX_CLIENT_ID_LEN)
    if symbol.upper() not in settings.symbols:
        raise UserError(f"unknown symbol {symbol!r}; the desk quotes {', '.join(settings.symbols)}")
    qty, notional = _decimal("qty", qty_base), _decimal("notional", notional_quote)
    if (qty is None) == (notional is None):
        raise UserError("give exactly one size: qty (base units) or notional (quote units)")
    rfq_id = rfq_id or str(uuid.uuid4())
    check_id("rfq id", rfq_id, MAX_ID_LEN)
    if client_ref is not None:
        check_id("client ref", client_ref, MAX_CLIENT_ID_LEN)
    return Rfq(
        event_id=str(uuid.uuid4()),
        ts_us=ts_us if ts_us is not None else time.time_ns() // 1000,
        source=source,
        rfq_id=rfq_id,
        client_id=client_id.strip(),
        symbol=symbol.upper(),
        side=_side(side),
        qty_base=qty,
        notional_quote=notional,
        client_ref=client_ref,
    )


def publish_rfq(
    client_id: str,
    symbol: str,
    side: str | Side | None = None,
    *,
    qty_base: Decimal | str | int | None = None,
    notional_quote: Decimal | str | int | None = None,
    rfq_id: str | None = None,
    client_ref: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Validate, publish to `rfq` (idempotent producer, acknowledged by the broker), return the rfq_id."""
    settings = settings or get_settings()
    rfq = build_rfq(
        client_id,
        symbol,
        side,
        qty_base=qty_base,
        notional_quote=notional_quote,
        rfq_id=rfq_id,
        client_ref=client_ref,
        settings=settings,
    )
    send_rfq(rfq, settings)
    return rfq.rfq_id


def send_rfq(rfq: Rfq, settings: Settings, follow: bool = False) -> DealFollower | None:
    """Publish a built RFQ and return once the broker acknowledged it; with `follow`, a follower of
    the deal's quotes and trades positioned before the RFQ went out (so it misses no answer)."""
    deal_topics = [settings.topic("quotes"), settings.topic("trades")] if follow else []
    require_topics(settings, [settings.topic(Rfq.TOPIC), *deal_topics])
    follower = DealFollower(settings, rfq.rfq_id, deal_topics) if follow else None
    with EventProducer(settings) as producer:  # leaving the block confirms the broker's acknowledgement
        producer.produce(rfq)
    return follower


async def publish_rfq_async(*args: object, **kwargs: object) -> str:
    """`publish_rfq` without blocking the event loop (the delivery wait runs in a thread)."""
    return await asyncio.to_thread(publish_rfq, *args, **kwargs)  # type: ignore[arg-type]  # forwarded as given
