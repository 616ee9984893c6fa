"""Malformed messages for every input topic of the stages, generated from one seed.

A generation fuzzer, not a search: each message is a valid desk event (or its wire bytes) broken
in one named way, so every message has a known reason to be dead-lettered and known stages that
must do it. `random.Random(seed)` rather than hypothesis: 10,000 messages in well under a second,
the same ones for the same seed, and no test dependency for `otcdesk chaos fuzz`.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import cast

from fastavro import schemaless_writer

from otcdesk.events import (
    Event,
    HedgeOrder,
    OrderState,
    QuoteAction,
    QuoteResponse,
    Rfq,
    Side,
    TradeBooked,
    Venue,
    to_avro,
)
from otcdesk.serde import MAGIC, default_serde

#: Which stages read which topic through `Stage.handle` (streams/*.py); prices and the folds
#: (TopicFold) are state, not input, and skip bytes they cannot read.
CONSUMERS: dict[str, frozenset[str]] = {
    "rfq": frozenset({"aggregator"}),
    "rfq-priced": frozenset({"quote-engine"}),
    "quotes": frozenset({"acceptance", "client-sim"}),
    "trades": frozenset({"hedger", "settlement", "recon"}),
    "orders": frozenset({"hedger", "venue-sim", "recon"}),
    "fills": frozenset({"hedger", "recon"}),
    "settlements": frozenset({"recon"}),
}
T0 = 1_741_096_800_000_000
FAR_FUTURE_US = 32_503_680_000_000_000  # year 3000
HUGE_STRING = 100_000  # characters: well under Kafka's 1 MB message limit, far over any id rule


@dataclass(frozen=True)
class Malformed:
    topic: str  # desk topic name, without the namespace
    key: bytes
    value: bytes
    kind: str
    reason: str  # prefix the dead letter's reason must have
    stages: frozenset[str]  # every one of these must dead-letter it


def _templates(n: int) -> dict[str, Event]:
    """One valid event of each type the value faults start from; ids unique per message."""
    rfq_id, trade_id = f"fuzz-{n}", f"fuzz-trade-{n}"
    return {
        "rfq": Rfq(f"fuzz-e-{n}", T0, "fuzz", rfq_id, "ACME", "BTC/USD", Side.BUY, Decimal("2"), None, None),
        "quotes": QuoteResponse(
            f"fuzz-e-{n}",
            T0,
            "fuzz",
            rfq_id,
            f"fuzz-q-{n}",
            "ACME",
            QuoteAction.ACCEPT,
            Side.BUY,
            Decimal("95000"),
            Decimal("2"),
            None,
        ),
        "trades": TradeBooked(
            f"fuzz-e-{n}",
            T0,
            "fuzz",
            rfq_id,
            trade_id,
            f"fuzz-q-{n}",
            "ACME",
            "BTC/USD",
            Side.BUY,
            Decimal("2"),
            Decimal("95000"),
            Decimal("190000"),
            Decimal("0"),
            Decimal("95000"),
        ),
        "orders": HedgeOrder(
            f"fuzz-e-{n}",
            T0,
            "hedger",
            rfq_id,
            f"fuzz-o-{n}",
            trade_id,
            Venue.OKX,
            "BTC/USD",
            Side.BUY,
            Decimal("2"),
            Decimal("95000"),
            0,
            1,
            OrderState.WORKING,
            Decimal("0"),
            Decimal("0"),
        ),
    }


def wire(event: Event, **overrides: object) -> bytes:
    """Single-object Avro of `event` with fields replaced, without the encoder's range checks."""
    schema = default_serde().catalog.latest(event.SCHEMA)
    out = io.BytesIO(MAGIC + schema.fingerprint)
    out.seek(0, io.SEEK_END)
    schemaless_writer(out, schema.parsed, to_avro(event) | overrides)
    return out.getvalue()


Fault = Callable[[Event, random.Random], tuple[bytes, bytes]]  # (key, value) of a broken `event`

#: kind -> (reason prefix, every consumer refuses it?, how it breaks a valid event).
WIRE_FAULTS: dict[str, tuple[str, bool, Fault]] = {
    "random_bytes": ("decode:", True, lambda e, rng: (e.key.encode(), rng.randbytes(rng.randint(0, 64)))),
    "bad_magic": (
        "decode:bad_magic",
        True,
        lambda e, rng: (e.key.encode(), bytes([0xC3, rng.choice([0, 2, 0xFF])]) + wire(e)[2:]),
    ),
    "unknown_fingerprint": (
        "decode:unknown_fingerprint",
        True,
        lambda e, rng: (e.key.encode(), MAGIC + rng.randbytes(8) + wire(e)[10:]),
    ),
    "truncated": ("decode:", True, lambda e, rng: (e.key.encode(), (d := wire(e))[: rng.randrange(10, len(d) - 1)])),
    "trailing_bytes": (
        "decode:trailing_bytes",
        True,
        lambda e, rng: (e.key.encode(), wire(e) + rng.randbytes(rng.randint(1, 16))),
    ),
}
VALUE_FAULTS: dict[str, tuple[str, bool, Fault]] = {
    "wrong_key": ("invalid:wrong_key", True, lambda e, rng: (f"fuzz-other-{rng.randrange(10**9)}".encode(), wire(e))),
    "huge_decimal": (
        "decode:decimal_overflow",
        True,
        lambda e, rng: (e.key.encode(), wire(e, qty_base=Decimal(10) ** 30 + rng.randrange(10**6))),
    ),
    "negative_qty": (
        "invalid:non_positive_qty_base",
        False,
        lambda e, rng: (e.key.encode(), wire(e, qty_base=Decimal(-rng.randint(1, 10**6)))),
    ),
    "far_future": (
        "invalid:bad_timestamp",
        False,
        lambda e, rng: (e.key.encode(), wire(e, ts_us=FAR_FUTURE_US + rng.randrange(10**12))),
    ),
    "unknown_symbol": (
        "invalid:unknown_symbol",
        False,
        lambda e, rng: (e.key.encode(), wire(e, symbol=f"X{rng.randrange(10**6)}/ZZZ")),
    ),
}
#: The value faults a topic's stages check (validation.py, the stages' own guards).
VALUE_KINDS = {
    "rfq": tuple(VALUE_FAULTS),
    "quotes": ("wrong_key", "huge_decimal", "negative_qty", "far_future"),
    "trades": ("wrong_key", "huge_decimal", "negative_qty"),
    "orders": ("wrong_key", "huge_decimal"),
}


def generate(count: int, seed: int, topics: tuple[str, ...] = tuple(CONSUMERS)) -> list[Malformed]:
    """`count` malformed messages spread evenly over `topics`, reproducible from `seed`.

    Every kind a topic can take has the same weight there; a few huge strings (100k-character
    ids) are mixed in on `rfq`, whose aggregator checks id lengths."""
    rng = random.Random(seed)
    out: list[Malformed] = []
    for n in range(count):
        topic = topics[n % len(topics)]
        consumers = CONSUMERS[topic]
        templates = _templates(n)
        kinds = [*WIRE_FAULTS, *VALUE_KINDS.get(topic, ("wrong_event",))]
        kind = rng.choice(kinds)
        if kind == "wrong_event":  # a valid event of another type: all but client-sim (it ignores non-quotes) refuse it
            stranger = templates["trades"] if topic == "rfq" else templates["rfq"]
            out.append(
                Malformed(
                    topic,
                    stranger.key.encode(),
                    wire(stranger),
                    kind,
                    "invalid:wrong_event",
                    consumers - {"client-sim"},
                )
            )
            continue
        event = templates.get(topic) or templates[rng.choice(("rfq", "trades"))]
        reason, every, fault = WIRE_FAULTS.get(kind) or VALUE_FAULTS[kind]
        key, value = fault(event, rng)
        out.append(Malformed(topic, key, value, kind, reason, consumers if every else frozenset({_checker(topic)})))
    for n in range(0, count, max(count // 10, 1)):  # ~10 huge strings
        rfq = replace(cast(Rfq, _templates(n)["rfq"]), rfq_id="x" * HUGE_STRING)
        out[n] = Malformed("rfq", rfq.key.encode(), wire(rfq), "huge_string", "invalid:bad_rfq_id", CONSUMERS["rfq"])
    return out


def _checker(topic: str) -> str:
    """The stage whose validation catches a bad value on `topic`."""
    return {"rfq": "aggregator", "quotes": "acceptance", "trades": "settlement"}[topic]
