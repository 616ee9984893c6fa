"""Typed events: one frozen dataclass per Avro schema in `schemas/avro/<event>/`.

The `.avsc` files are the source of truth; these classes mirror their newest version field for
field (a unit test compares them) so stages work with names and types instead of dicts. Events
are facts in the past tense; `QuoteResponse` is the one command (a client's answer to a quote).
Money and sizes are `Decimal`, times are epoch microseconds (`*_us`), units are in the names.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, TypeVar


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    TWO_WAY = "TWO_WAY"
    UNKNOWN = "UNKNOWN"

    @property
    def opposite(self) -> Side:
        return {Side.BUY: Side.SELL, Side.SELL: Side.BUY}.get(self, self)


class Venue(StrEnum):
    BINANCE = "BINANCE"
    COINBASE = "COINBASE"
    OKX = "OKX"
    KRAKEN = "KRAKEN"
    UNKNOWN = "UNKNOWN"


class RejectReason(StrEnum):
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    QTY_TOO_SMALL = "QTY_TOO_SMALL"
    QTY_TOO_BIG = "QTY_TOO_BIG"
    NO_FRESH_VENUE = "NO_FRESH_VENUE"
    INSUFFICIENT_DEPTH = "INSUFFICIENT_DEPTH"
    CREDIT_LIMIT = "CREDIT_LIMIT"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    UNKNOWN_QUOTE = "UNKNOWN_QUOTE"
    SIDE_MISMATCH = "SIDE_MISMATCH"
    PRICE_MISMATCH = "PRICE_MISMATCH"
    QTY_MISMATCH = "QTY_MISMATCH"
    ALREADY_ACCEPTED = "ALREADY_ACCEPTED"
    INVALID_REQUEST = "INVALID_REQUEST"
    UNKNOWN = "UNKNOWN"


class QuoteAction(StrEnum):
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    UNKNOWN = "UNKNOWN"


class OrderState(StrEnum):
    NEW = "NEW"
    WORKING = "WORKING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"


class ExecType(StrEnum):
    FILL = "FILL"
    REJECT = "REJECT"
    UNKNOWN = "UNKNOWN"


class SettlementLeg(StrEnum):
    BASE = "BASE"
    QUOTE = "QUOTE"
    UNKNOWN = "UNKNOWN"


class TransferDirection(StrEnum):
    DESK_TO_CLIENT = "DESK_TO_CLIENT"
    CLIENT_TO_DESK = "CLIENT_TO_DESK"
    UNKNOWN = "UNKNOWN"


class SettlementState(StrEnum):
    PENDING_INSTRUCTION = "PENDING_INSTRUCTION"
    WALLET_VERIFIED = "WALLET_VERIFIED"
    AWAITING_FUNDS = "AWAITING_FUNDS"
    SENT = "SENT"
    IN_MEMPOOL = "IN_MEMPOOL"
    CONFIRMING = "CONFIRMING"
    SETTLED = "SETTLED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    UNKNOWN = "UNKNOWN"


class BreakKind(StrEnum):
    QUANTITY = "QUANTITY"
    PRICE = "PRICE"
    FEE = "FEE"
    MISSING_FILL = "MISSING_FILL"
    DUPLICATE_FILL = "DUPLICATE_FILL"
    TIMESTAMP_ORDER = "TIMESTAMP_ORDER"
    SETTLEMENT_AMOUNT = "SETTLEMENT_AMOUNT"
    TX_HASH = "TX_HASH"
    CONFIRMATIONS = "CONFIRMATIONS"
    UNKNOWN = "UNKNOWN"


class ReconStatus(StrEnum):
    MATCHED = "MATCHED"
    BROKEN = "BROKEN"
    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"


# -- nested records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookLevel:
    price_quote: Decimal
    qty_base: Decimal


@dataclass(frozen=True, slots=True)
class VenueExclusion:
    venue: Venue
    reason: str


@dataclass(frozen=True, slots=True)
class SweepAllocation:
    side: Side
    venue: Venue
    qty_base: Decimal
    cost_quote: Decimal
    levels_used: int


@dataclass(frozen=True, slots=True)
class ReconBreak:
    kind: BreakKind
    expected: str
    actual: str
    detail: str


# -- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """Fields every event carries; `SCHEMA` names the folder under schemas/avro/."""

    SCHEMA: ClassVar[str] = ""
    TOPIC: ClassVar[str] = ""

    event_id: str
    ts_us: int
    source: str

    @property
    def key(self) -> str:
        """Kafka key: the deal's rfq_id on lifecycle topics."""
        return str(getattr(self, "rfq_id"))  # noqa: B009 - declared by the lifecycle events, not by Event


@dataclass(frozen=True, slots=True)
class Rfq(Event):
    SCHEMA: ClassVar[str] = "rfq"
    TOPIC: ClassVar[str] = "rfq"

    rfq_id: str
    client_id: str
    symbol: str
    side: Side = Side.TWO_WAY
    qty_base: Decimal | None = None
    notional_quote: Decimal | None = None
    client_ref: str | None = None  # schema v2


@dataclass(frozen=True, slots=True)
class PriceUpdate(Event):
    SCHEMA: ClassVar[str] = "price_update"
    TOPIC: ClassVar[str] = "prices"

    venue: Venue
    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    sequence: int
    taker_fee_rate: Decimal
    tick_size_quote: Decimal
    lot_size_base: Decimal

    @property
    def key(self) -> str:
        return f"{self.venue.value}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class RfqPriced(Event):
    SCHEMA: ClassVar[str] = "rfq_priced"
    TOPIC: ClassVar[str] = "rfq-priced"

    rfq_id: str
    client_id: str
    symbol: str
    side: Side
    requested_qty_base: Decimal | None
    requested_notional_quote: Decimal | None
    rfq_event_id: str
    rfq_ts_us: int
    client_ref: str | None
    refusal_reason: RejectReason | None
    refusal_detail: str | None
    qty_base: Decimal
    mid_price_quote: Decimal
    tick_quote: Decimal
    bid_vwap_quote: Decimal | None
    bid_filled_base: Decimal
    bid_cost_quote: Decimal
    ask_vwap_quote: Decimal | None
    ask_filled_base: Decimal
    ask_cost_quote: Decimal
    depth_bid_base: Decimal
    depth_ask_base: Decimal
    venues_used: tuple[Venue, ...]
    venues_excluded: tuple[VenueExclusion, ...]
    allocations: tuple[SweepAllocation, ...]
    priced_at_us: int


@dataclass(frozen=True, slots=True)
class Quote(Event):
    SCHEMA: ClassVar[str] = "quote"
    TOPIC: ClassVar[str] = "quotes"

    rfq_id: str
    quote_id: str
    client_id: str
    symbol: str
    side: Side
    qty_base: Decimal
    bid_price_quote: Decimal
    ask_price_quote: Decimal
    mid_price_quote: Decimal
    vwap_bid_quote: Decimal
    vwap_ask_quote: Decimal
    spread_base_bps: Decimal
    spread_size_bps: Decimal
    spread_impact_bps: Decimal
    spread_vol_bps: Decimal
    skew_bps: Decimal
    depth_bid_base: Decimal
    depth_ask_base: Decimal
    venues_used: tuple[Venue, ...]
    venues_excluded: tuple[VenueExclusion, ...]
    valid_until_us: int


@dataclass(frozen=True, slots=True)
class QuoteRejected(Event):
    SCHEMA: ClassVar[str] = "quote_reject"
    TOPIC: ClassVar[str] = "quotes"

    rfq_id: str
    quote_id: str | None
    client_id: str
    symbol: str
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class QuoteResponse(Event):
    SCHEMA: ClassVar[str] = "quote_response"
    TOPIC: ClassVar[str] = "quotes"

    rfq_id: str
    quote_id: str
    client_id: str
    action: QuoteAction
    side: Side
    price_quote: Decimal
    qty_base: Decimal
    slippage_tolerance_bps: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TradeBooked(Event):
    SCHEMA: ClassVar[str] = "trade"
    TOPIC: ClassVar[str] = "trades"

    rfq_id: str
    trade_id: str
    quote_id: str
    client_id: str
    symbol: str
    side: Side
    qty_base: Decimal
    price_quote: Decimal
    notional_quote: Decimal
    fee_quote: Decimal
    arrival_mid_quote: Decimal


@dataclass(frozen=True, slots=True)
class HedgeOrder(Event):
    SCHEMA: ClassVar[str] = "hedge_order"
    TOPIC: ClassVar[str] = "orders"

    rfq_id: str
    order_id: str
    trade_id: str
    venue: Venue
    symbol: str
    side: Side
    qty_base: Decimal
    limit_price_quote: Decimal
    clip_index: int
    clip_count: int
    state: OrderState
    filled_qty_base: Decimal
    avg_fill_price_quote: Decimal


@dataclass(frozen=True, slots=True)
class Fill(Event):
    SCHEMA: ClassVar[str] = "fill"
    TOPIC: ClassVar[str] = "fills"

    rfq_id: str
    fill_id: str
    order_id: str
    trade_id: str
    venue: Venue
    symbol: str
    side: Side
    exec_type: ExecType
    price_quote: Decimal
    qty_base: Decimal
    fee: Decimal
    fee_currency: str
    reject_reason: str | None
    order_ts_us: int


@dataclass(frozen=True, slots=True)
class SettlementUpdated(Event):
    SCHEMA: ClassVar[str] = "settlement"
    TOPIC: ClassVar[str] = "settlements"

    rfq_id: str
    trade_id: str
    settlement_id: str
    leg: SettlementLeg
    direction: TransferDirection
    asset: str
    network: str
    amount: Decimal
    address: str | None
    tx_hash: str | None
    confirmations: int
    confirmations_required: int
    state: SettlementState
    reason: str | None = None
    value_date: str | None = None


@dataclass(frozen=True, slots=True)
class ReconResult(Event):
    SCHEMA: ClassVar[str] = "recon_result"
    TOPIC: ClassVar[str] = "recon"

    rfq_id: str
    trade_id: str
    status: ReconStatus
    breaks: tuple[ReconBreak, ...]
    booked_qty_base: Decimal
    hedged_qty_base: Decimal
    avg_fill_price_quote: Decimal
    slippage_bps: Decimal
    pnl_quote: Decimal
    fees_quote: Decimal
    revision: int


@dataclass(frozen=True, slots=True)
class DeadLetter(Event):
    SCHEMA: ClassVar[str] = "dead_letter"
    TOPIC: ClassVar[str] = "dlq"

    source_topic: str
    source_partition: int
    source_offset: int
    source_key: bytes | None
    raw_value: bytes | None
    reason: str
    error_class: str
    error_message: str
    consumer_group: str

    @property
    def key(self) -> str:
        return (self.source_key or b"").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class TopicPosition:
    topic: str
    partition: int
    next_offset: int


@dataclass(frozen=True, slots=True)
class WatermarkAdvanced(Event):
    """A producer of a simulated session sends no more records with an event time before `ts_us`
    (stream time, docs/architecture.md "Stream time"). A control record, not a desk fact: it lives
    on the `watermarks` topic and is never stored in ClickHouse."""

    SCHEMA: ClassVar[str] = "watermark"
    TOPIC: ClassVar[str] = "watermarks"

    next_us: int | None
    input_us: int | None
    positions: tuple[TopicPosition, ...]

    @property
    def key(self) -> str:
        return self.source


#: The desk's facts: one ClickHouse table each.
EVENT_TYPES: tuple[type[Event], ...] = (
    Rfq,
    PriceUpdate,
    RfqPriced,
    Quote,
    QuoteRejected,
    QuoteResponse,
    TradeBooked,
    HedgeOrder,
    Fill,
    SettlementUpdated,
    ReconResult,
    DeadLetter,
)
#: Records that only steer the stages of a session.
CONTROL_TYPES: tuple[type[Event], ...] = (WatermarkAdvanced,)
BY_SCHEMA: dict[str, type[Event]] = {cls.SCHEMA: cls for cls in (*EVENT_TYPES, *CONTROL_TYPES)}

E = TypeVar("E", bound=Event)
C = TypeVar("C", bound=type)
R = TypeVar("R")
_Converter = Callable[[Any], Any]


def cache_per_class(fn: Callable[[C], R]) -> Callable[[C], R]:
    """`functools.cache` for a function of one class, typed as the function it wraps: mypy does not
    take a `type[X]` of a dataclass that defines `__hash__` as Hashable, so the cache's own
    signature would refuse every call with one."""
    return functools.cache(fn)


def _converter(hint: Any) -> _Converter | None:
    """How to turn fastavro's value into the field's declared type (None: use as is)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = _converter(args[0])
        return (lambda v: tuple(item(x) for x in v)) if item else tuple
    if origin in (typing.Union, types.UnionType):
        inner = _converter(args[0])
        return (lambda v: None if v is None else inner(v)) if inner else None
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        fields = _converters(hint)
        return lambda v: hint(**{k: (fields[k](x) if k in fields else x) for k, x in v.items()})
    return None


@cache_per_class
def _converters(cls: type) -> dict[str, _Converter]:
    hints = typing.get_type_hints(cls)
    found = {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}
    return {name: conv for name, conv in found.items() if conv is not None}


def from_avro(cls: type[E], record: dict[str, Any]) -> E:
    """Build a typed event from a decoded Avro record (fastavro's dict)."""
    convert = _converters(cls)
    return cls(**{k: (convert[k](v) if k in convert else v) for k, v in record.items()})


@cache_per_class
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    """Tuples of nested records become lists of dicts (nested records hold only scalars)."""
    if type(value) is not tuple:
        return value
    return [{n: getattr(v, n) for n in _field_names(type(v))} if dataclasses.is_dataclass(v) else v for v in value]


def to_avro(event: Event) -> dict[str, Any]:
    """The event as a plain record fastavro can write (enums are `str` already)."""
    return {name: _plain(getattr(event, name)) for name in _field_names(type(event))}
