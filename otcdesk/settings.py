"""One typed settings object for the whole desk, read from the environment (and CLI flags).

Every knob lives here; modules receive a `Settings` (or one of its sections) instead of reading
constants or `os.environ` themselves. Environment variables use the `OTCDESK_` prefix and `__`
for sections (`OTCDESK_QUOTE__TTL_MS=3000`); the two addresses a user of an external stack gives
keep their plain names, `KAFKA_BOOTSTRAP` and `CLICKHOUSE_URL`.
"""

from __future__ import annotations

import json
import os
import ssl
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from otcdesk.clock import AnchoredClock, desk_clock
from otcdesk.db.read_only import ReadOnlyLimits

StackKind = Literal["local", "docker", "external"]

#: Lifecycle topics are keyed by rfq_id and share one partition count (co-partitioned).
LIFECYCLE_TOPICS = ("rfq", "rfq-priced", "quotes", "trades", "orders", "fills", "settlements", "recon")
#: The nine topics of the product card plus `rfq-priced`, the aggregator's output to the quote engine.
ALL_TOPICS = ("rfq", "prices", "rfq-priced", "quotes", "trades", "orders", "fills", "settlements", "recon", "dlq")
#: Topics that steer the stages of a simulated session and hold no desk facts (not stored in ClickHouse).
CONTROL_TOPICS = ("watermarks",)

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_state_dir() -> Path:
    """`.otcdesk/` of the checkout the package runs from; installed from a wheel (no checkout
    around it: nothing may land in site-packages) `$XDG_STATE_HOME/otcdesk`, by default
    `~/.local/state/otcdesk`. The package's own data never comes from here (otcdesk.resources)."""
    if (_REPO_ROOT / "pyproject.toml").is_file():
        return _REPO_ROOT / ".otcdesk"
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "otcdesk"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: `streams.LAYOUTS` by name (tests/unit/test_layouts.py keeps the two the same)
Layout = Literal["per-stage", "offices", "desks"]


class TopicSettings(_Section):
    partitions: int = Field(6, ge=1, description="partitions of every lifecycle topic (co-partitioned)")
    prices_partitions: int = Field(6, ge=1)
    dlq_partitions: int = Field(1, ge=1, description="like Kafka Connect: one partition keeps DLQ order")
    replication_factor: int | None = Field(
        None,
        ge=1,
        description=("None: from the cluster's size, 3 on a cluster of 3 or more brokers, else as many as it has"),
    )
    min_insync_replicas: int | None = Field(
        None, ge=1, description=("None: a majority of the replicas from replication factor 3 on (2 of 3), else 1")
    )
    retention_ms: int = Field(7 * 24 * 3600 * 1000, description="lifecycle topics")
    prices_retention_ms: int = Field(24 * 3600 * 1000, description="market data is re-creatable")
    dlq_retention_ms: int = Field(90 * 24 * 3600 * 1000, description="dead letters wait for a human")

    def replication(self, brokers: int) -> tuple[int, int]:
        """(replication factor, min.insync.replicas) of the desk's topics on a cluster of `brokers`:
        with acks=all, a write survives the loss of any broker once two of three replicas have it."""
        factor = self.replication_factor or min(3, max(1, brokers))
        return factor, self.min_insync_replicas or (factor // 2 + 1 if factor >= 3 else 1)


class KafkaSecurity(_Section):
    """How every Kafka client of the desk logs in: one mapping per client library, from these
    fields (otcdesk.kafka.client_config, streams.fold.aiokafka_auth, streams.app.broker_credentials).

    Secrets are SecretStr: `repr`, `str` and `model_dump_json()` print `**********`; only those
    three mappings call `get_secret_value()`. Inconsistent combinations are refused here, because
    each library would otherwise resolve them its own way (librdkafka ignores SASL fields under
    PLAINTEXT while faust's SASL credentials switch to SASL_PLAINTEXT).
    """

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) that signed the brokers' certificates")
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM), for brokers that require one")
    ssl_keyfile: Path | None = Field(None, description="the client certificate's private key (PEM)")
    ssl_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        sasl, tls = self.protocol.startswith("SASL_"), self.protocol.endswith("SSL")
        sasl_fields = (self.sasl_mechanism, self.sasl_username, self.sasl_password)
        if sasl and not all(sasl_fields):
            raise ValueError(f"protocol {self.protocol} needs sasl_mechanism, sasl_username and sasl_password")
        if not sasl and any(sasl_fields):
            raise ValueError(f"SASL settings given but protocol is {self.protocol} (use SASL_PLAINTEXT or SASL_SSL)")
        if not tls and any((self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile, self.ssl_key_password)):
            raise ValueError(f"TLS files given but protocol is {self.protocol} (use SSL or SASL_SSL)")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile) or (self.ssl_key_password and not self.ssl_keyfile):
            raise ValueError("a client certificate needs ssl_certfile and ssl_keyfile together")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS context of the Python clients (aiokafka, faust); None when the protocol has no TLS.
        librdkafka reads the same files by path instead. Without ssl_cafile: the system's CAs."""
        if not self.protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile and self.ssl_keyfile:
            password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, password)
        return context


class LocalStackSettings(_Section):
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    clickhouse_native_port: int = 9000
    clickhouse_http_port: int = 8123
    ready_timeout_s: float = 90.0
    kafka_heap: str = "-Xms256m -Xmx1g"
    brokers: int | None = Field(
        None,
        ge=1,
        le=5,
        description=(
            "Kafka nodes of the local stack (`stack up --brokers 3`): each a broker and a KRaft voter, node n on "
            "kafka_port + 2(n-1) and kafka_controller_port + 2(n-1); None: as many as its data was formatted for, "
            "else 1"
        ),
    )
    kafka_cluster_heap: str = Field("-Xms128m -Xmx512m", description="heap of each node when there are several")

    @field_validator("brokers")
    @classmethod
    def _odd(cls, brokers: int | None) -> int | None:
        if brokers is not None and brokers % 2 == 0:
            raise ValueError(
                f"brokers must be odd (every node is a KRaft voter: a quorum of {brokers} "
                f"tolerates no more failures than one of {brokers - 1}), got {brokers}"
            )
        return brokers


class QuoteSettings(_Section):
    ttl_ms: int = Field(
        5000,
        ge=100,
        description=(
            "firm-quote lifetime: event time in a simulated session, wall time live (the clock of whoever answers)"
        ),
    )
    stale_book_ms: int = Field(2000, ge=1, description="a venue book older than this is excluded")
    live_book_lag_ms: int = Field(
        1000,
        ge=0,
        description=(
            "live only: wall ms a book may lag the desk clock on top of stale_book_ms, the feed-to-stage "
            "latency (a desk paced faster than the wall would otherwise find every book stale)"
        ),
    )
    expiry_grace_ms: int = Field(
        1000,
        ge=0,
        description=(
            "live only: wall ms past valid_until an acceptance still counts, the client-to-desk latency "
            "(in stream time the watermarks say when every answer is in)"
        ),
    )
    max_qty_base: dict[str, Decimal] = {"BTC": Decimal("500"), "ETH": Decimal("10000")}
    min_qty_base: dict[str, Decimal] = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}
    # -- front office (pricing, quoting, acceptance): see otcdesk/quoting.py for the formula --
    tier_base_bps: dict[str, Decimal] = Field(
        {"A": Decimal("2"), "B": Decimal("4"), "C": Decimal("8")},
        description="half-spread by client tier, bps of mid",
    )
    size_tier_bps: tuple[tuple[Decimal, Decimal], ...] = Field(
        (
            (Decimal("0"), Decimal("0")),
            (Decimal("1000000"), Decimal("1")),
            (Decimal("5000000"), Decimal("2.5")),
            (Decimal("20000000"), Decimal("5")),
            (Decimal("50000000"), Decimal("10")),
        ),
        description="(notional at mid in quote ccy, bps): the highest threshold reached applies",
    )
    impact_coef_bps: Decimal = Field(
        Decimal("10"), ge=0, description="impact bps = coef * sqrt(qty / fresh depth of the side)"
    )
    vol_sigmas: Decimal = Field(Decimal("0.5"), ge=0, description="sigmas of mid move over the hedge horizon")
    hedge_horizon_s: Decimal = Field(Decimal("30"), gt=0, description="time the desk carries the risk")
    vol_window: int = Field(120, ge=2, description="mids kept per symbol for realised volatility")
    vol_min_points: int = Field(10, ge=2, description="below this, the default volatility is used")
    vol_sample_ms: int = Field(1000, ge=0, description="min spacing of mids kept (filters book noise)")
    vol_default_bps_per_sqrt_s: Decimal = Field(Decimal("1"), ge=0)
    inventory_limit_base: dict[str, Decimal] = Field(
        {"BTC": Decimal("250"), "ETH": Decimal("5000")},
        description="position at which the skew reaches max_skew_bps",
    )
    max_skew_bps: Decimal = Field(Decimal("5"), ge=0)
    notional_quantum_quote: Decimal = Field(Decimal("0.01"), gt=0, description="trade notional rounding")
    client_fee_bps: Decimal = Field(Decimal("0"), ge=0, description="0 = all-in price (fee in spread)")
    max_slippage_tolerance_bps: Decimal = Field(Decimal("20"), ge=0, description="as B2C2's 0-20 bps")


class ClientSettings(_Section):
    """Client static data the desk keeps: tier (prices the base spread) and credit limit."""

    tiers: dict[str, str] = {"ACME": "A", "BLUEFIN": "B", "CORVUS": "C", "DELTAX": "B"}
    default_tier: str = "C"
    credit_limit_quote: dict[str, Decimal] = {
        "ACME": Decimal("60000000"),
        "BLUEFIN": Decimal("25000000"),
        "CORVUS": Decimal("3000000"),
        "DELTAX": Decimal("15000000"),
    }
    default_credit_limit_quote: Decimal = Decimal("1000000")
    rfq_per_s: float = Field(0.5, gt=0, description="load generator: mean RFQ arrival rate (sim time)")


class SimSettings(_Section):
    """Market simulator (otcdesk.market): volatility regimes, venue basis, L2 depth, faults."""

    start_price_quote: dict[str, Decimal] = {"BTC/USD": Decimal("95000"), "ETH/USD": Decimal("3500")}
    step_ms: int = Field(250, ge=1, description="feed cadence the producer calls step() at")
    regime_vol_bps_per_sqrt_s: dict[str, float] = {"calm": 0.5, "normal": 1.0, "stressed": 3.0}
    regime_mean_duration_s: dict[str, float] = {"calm": 600.0, "normal": 900.0, "stressed": 120.0}
    regime_next: dict[str, dict[str, float]] = {
        "calm": {"normal": 1.0},
        "normal": {"calm": 0.6, "stressed": 0.4},
        "stressed": {"normal": 1.0},
    }
    regime_depth_factor: dict[str, float] = {"calm": 1.2, "normal": 1.0, "stressed": 0.35}
    regime_spread_factor: dict[str, float] = {"calm": 0.8, "normal": 1.0, "stressed": 4.0}
    start_regime: str = "normal"
    symbol_vol_factor: dict[str, float] = {"BTC/USD": 1.0, "ETH/USD": 1.3}
    basis_std_bps: float = Field(1.5, ge=0, description="per-venue basis to fair, mean-reverting")
    basis_half_life_s: float = Field(60.0, gt=0)
    noise_bps: float = Field(0.3, ge=0, description="per-update jitter of a venue's mid")
    touch_half_spread_bps: float = Field(0.3, gt=0)
    level_step_bps: float = Field(0.8, gt=0, description="mean gap between book levels")
    depth_levels: int = Field(20, ge=1)
    touch_qty_base: dict[str, float] = {"BTC/USD": 1.5, "ETH/USD": 30.0}
    size_growth_per_level: float = Field(0.25, ge=0, description="level i holds touch * (1 + g*i)")
    venue_depth_factor: dict[str, float] = {"BINANCE": 1.0, "OKX": 0.8, "COINBASE": 0.6, "KRAKEN": 0.4}
    update_prob: float = Field(0.9, ge=0, le=1, description="chance a venue publishes at a step")
    stale_prob: float = Field(0.001, ge=0, le=1, description="chance per step a venue goes silent")
    stale_ms_range: tuple[int, int] = (3000, 12000)
    crossed_prob: float = Field(0.002, ge=0, le=1, description="chance an update is crossed")


# -- back office (hedging, venue simulator, settlement, reconciliation) ------------------------


class HedgeSettings(_Section):
    """Hedge executor (otcdesk.hedging): TWAP schedule, smart routing, limit protection.

    Parametrised like NautilusTrader's TWAP (horizon, interval, first clip immediate); the
    horizon grows with the trade's share of the visible depth because a clip that takes a big
    share of the book moves it.
    """

    horizon_s_per_depth: Decimal = Field(
        Decimal("120"),
        gt=0,
        description="horizon of a trade as big as the whole visible depth of its side (linear in qty/depth)",
    )
    min_horizon_s: Decimal = Field(Decimal("10"), ge=0)
    max_horizon_s: Decimal = Field(Decimal("600"), gt=0, description="the desk carries the risk no longer")
    interval_s: Decimal = Field(Decimal("5"), gt=0, description="mean time between clips")
    max_clips: int = Field(60, ge=1)
    size_jitter: Decimal = Field(Decimal("0.2"), ge=0, lt=1, description="clip sizes vary by +/- this fraction")
    time_jitter: Decimal = Field(
        Decimal("0.3"), ge=0, lt=Decimal("0.5"), description="send times vary by +/- this share of the interval"
    )
    participation_cap: Decimal = Field(
        Decimal("0.25"), gt=0, le=1, description="max share of a venue's visible depth (hedge side) per order"
    )
    limit_protection_bps: Decimal = Field(Decimal("10"), ge=0, description="limit = best price +/- this")
    order_timeout_ms: int = Field(5000, ge=1, description="no venue report after this: cancel, re-route the rest")
    netting_enabled: bool = Field(False, description="net opposite deals before hedging (not implemented yet)")


class VenueSimSettings(_Section):
    """Venue simulator (otcdesk.venue_sim): latency, rejects, and faults for recon to find."""

    latency_ms: dict[str, float] = Field(
        {"BINANCE": 15.0, "OKX": 25.0, "COINBASE": 40.0, "KRAKEN": 60.0},
        description="median order latency to the venue (log-normal), sim ms",
    )
    latency_sigma: float = Field(0.5, ge=0)
    default_latency_ms: float = Field(50.0, ge=0)
    reject_prob: float = Field(0.01, ge=0, le=1)
    fee_overcharge_prob: float = Field(0.0, ge=0, le=1, description="fault: a fill charged above the schedule")
    fee_overcharge_factor: Decimal = Field(Decimal("0.5"), gt=0, description="overcharged fee = fee * (1 + this)")
    drop_fill_prob: float = Field(0.0, ge=0, le=1, description="fault: a fill never reported")
    duplicate_fill_prob: float = Field(0.0, ge=0, le=1, description="fault: a fill reported twice")


class StandingInstructions(_Section):
    """A client's standing settlement instructions (SSI), and how the simulated client misbehaves.

    Keys are `ASSET@NETWORK` (`BTC@BTC`, `ETH@ETH`, `USDT@TRON`, `USDT@ETH`, `USD@WIRE`).
    """

    addresses: dict[str, str]
    quote_rail: str = Field("USD@WIRE", description="how the quote leg moves: USD@WIRE, USDT@TRON or USDT@ETH")
    whitelist: tuple[str, ...] = Field((), description="addresses the desk's custody whitelisted for the client")
    wrong_network_prob: float = Field(0.0, ge=0, le=1, description="sim: the client names another chain's address")
    insufficient_funds_prob: float = Field(0.0, ge=0, le=1, description="sim: the client's transfer bounces")
    timeout_prob: float = Field(0.0, ge=0, le=1, description="sim: the client never funds")


def _ssi(addresses: dict[str, str], rail: str, **faults: float) -> StandingInstructions:
    crypto = tuple(a for k, a in addresses.items() if not k.endswith("@WIRE"))
    return StandingInstructions(addresses=addresses, quote_rail=rail, whitelist=crypto, **faults)


class SettlementSettings(_Section):
    """Settlement (otcdesk.settlement): confirmation policy, chain timing, wire cut-off, SSIs.

    Confirmations: per `ASSET@NETWORK`, (amount threshold, confirmations) pairs; the highest
    threshold the amount exceeds applies, the first tier otherwise. Defaults: BTC 1 up to 1 BTC,
    3 up to 10, 6 above (a payment processor's published tiers); ETH 12, 64 (two epochs, about
    finality) above 1,000 ETH; USDT on Ethereum 12 (64 above 5M); USDT on TRON 20 (about
    solidification). The result is never below the chain's minimum.
    """

    confirmation_tiers: dict[str, tuple[tuple[Decimal, int], ...]] = {
        "BTC@BTC": ((Decimal("0"), 1), (Decimal("1"), 3), (Decimal("10"), 6)),
        "ETH@ETH": ((Decimal("0"), 12), (Decimal("1000"), 64)),
        "USDT@ETH": ((Decimal("0"), 12), (Decimal("5000000"), 64)),
        "USDT@TRON": ((Decimal("0"), 20),),
    }
    chain_min_confirmations: dict[str, int] = {"BTC": 1, "ETH": 6, "TRON": 19}
    block_time_s: dict[str, Decimal] = {"BTC": Decimal("600"), "ETH": Decimal("12"), "TRON": Decimal("3")}
    verify_s: Decimal = Field(Decimal("20"), ge=0, description="address screening and whitelist check")
    broadcast_s: Decimal = Field(Decimal("4"), ge=0, description="signing/broadcast until seen in mempools")
    desk_send_s: Decimal = Field(Decimal("30"), ge=0, description="desk treasury's delay to release a transfer")
    client_funding_s: Decimal = Field(Decimal("300"), ge=0, description="mean delay of a client's transfer")
    funding_timeout_s: Decimal = Field(Decimal("14400"), gt=0, description="crypto funds not seen by then")
    deliver_after_receipt: bool = Field(True, description="desk delivers only once the client's leg settled")
    eth_require_checksum: bool = Field(True, description="refuse all-lower/all-upper (unchecksummed) EIP-55")
    wire_cutoff: str = Field("17:00", description="USD wire cut-off, local time of wire_timezone")
    wire_timezone: str = "America/New_York"
    wire_credit_s: Decimal = Field(Decimal("3600"), ge=0, description="a wire released on value date credits after")
    instructions: dict[str, StandingInstructions] = {
        "ACME": _ssi(
            {
                "BTC@BTC": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
                "ETH@ETH": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                "USD@WIRE": "ACME-USD-021000021",
            },
            "USD@WIRE",
        ),
        "BLUEFIN": _ssi(
            {
                "BTC@BTC": "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                "ETH@ETH": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                "USDT@ETH": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            },
            "USDT@ETH",
        ),
        "CORVUS": _ssi(
            {
                "BTC@BTC": "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
                "ETH@ETH": "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
                "USDT@TRON": "TR1b4vW31BmuS87Kv1KDE3YLYAjNp4fxco",
            },
            "USDT@TRON",
            wrong_network_prob=0.1,
            timeout_prob=0.05,
        ),
        "DELTAX": _ssi(
            {
                "BTC@BTC": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
                "ETH@ETH": "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
                "USD@WIRE": "DELTAX-USD-026009593",
            },
            "USD@WIRE",
            insufficient_funds_prob=0.05,
        ),
    }


class ReconSettings(_Section):
    """Reconciliation (otcdesk.recon): tolerances and how long a deal may stay incomplete."""

    price_tolerance_bps: Decimal = Field(Decimal("50"), ge=0, description="|avg fill - locked price| allowed")
    fee_tolerance_bps: Decimal = Field(Decimal("1"), ge=0, description="of the scheduled fee")
    fee_tolerance_quote: Decimal = Field(Decimal("0.0001"), ge=0, description="absolute floor (rounding)")
    fill_timeout_s: Decimal = Field(Decimal("30"), gt=0, description="an order without any report by then")
    deal_timeout_s: Decimal = Field(Decimal("345600"), gt=0, description="4 days: a wire over a weekend")
    judge_every_ms: int = Field(
        1000,
        ge=1,
        description=(
            "a deal with new events is judged at the end of each slot this long (event time): a burst of "
            "fills is judged once"
        ),
    )


class SinkSettings(_Section):
    """ClickHouse sink (consumers/sink.py): one consumer group over every topic, batched inserts.

    Flush when a table's batch reaches `batch_max_rows` or the oldest pending row is
    `batch_max_ms` old: about one insert per second per table at 1k-100k rows, as ClickHouse asks.
    """

    topics: tuple[str, ...] = ALL_TOPICS
    database: str | None = Field(None, description="target database; None = the one in clickhouse_url")
    batch_max_rows: int = Field(10_000, ge=1, description="flush when one table has this many rows")
    batch_max_ms: int = Field(1_000, ge=1, description="flush when the oldest pending row is this old")
    retry_initial_s: float = Field(0.5, gt=0, description="first backoff while ClickHouse is down")
    retry_max_s: float = Field(10.0, gt=0, description="backoff cap")
    report_every_s: float = Field(10.0, gt=0, description="period of the rows/s and lag log line")
    metrics_port: int | None = Field(None, description="Prometheus /metrics port; None = off")
    session_timeout_ms: int = Field(
        10_000, ge=6_000, description="a killed sink's partitions move after this (librdkafka default 45 s)"
    )


class MetricsSettings(_Section):
    """Prometheus /metrics endpoints (otcdesk.metrics, docs/operations.md): one per process.

    `otcdesk run all` serves its own on `base_port` and gives its n-th child (feed, stage
    processes, sink, in its table's order) `base_port + n`; a process started by hand serves only
    when given `--metrics-port`."""

    enabled: bool = Field(True, description="`otcdesk run all` starts the endpoints (off: none)")
    host: str = Field("127.0.0.1", description="address every endpoint binds (0.0.0.0 for a scraper elsewhere)")
    base_port: int = Field(
        9400,
        ge=1,
        le=65535,
        description=("the supervisor's port; its children follow (clear of Kafka 9092-9097, ClickHouse 9000 and 8123)"),
    )


class WebSettings(_Section):
    """`otcdesk web`: the desk in a browser (docs/web.md)."""

    host: str = Field(
        "127.0.0.1",
        description=("address the page listens on: loopback unless told (put authentication in front before widening)"),
    )
    port: int = Field(8700, ge=1, le=65535)
    database: str = Field("", description="ClickHouse database of the history and the reports (default: the desk's)")
    history_deals: int = Field(
        500,
        ge=0,
        le=100_000,
        description=("newest deals of ClickHouse's history the blotter starts with (the live ones come from Kafka)"),
    )
    live_deals: int = Field(2000, ge=1, description="deals the blotter keeps in memory, the newest first")
    replay_s: float = Field(
        300.0,
        ge=0,
        description=("wall seconds of the deal topics the web consumer reads back at start (deals in flight)"),
    )
    client_queue: int = Field(
        512,
        ge=1,
        description=("updates queued per browser; a browser further behind is dropped (it reconnects), not the server"),
    )
    lag_interval_s: float = Field(2.0, gt=0, description="seconds between two lag snapshots on the page")
    quote_wait_s: float = Field(30.0, gt=0, description="seconds the ticket waits for the quote, then the trade")


class Settings(BaseSettings):
    """Everything configurable about a desk, its stack and its clients."""

    # hide_input_in_errors: a validation error would otherwise print the raw input, which for the
    # security section is the password itself (e.g. a misspelt OTCDESK_SECURITY__SASL_PASWORD).
    model_config = SettingsConfigDict(
        env_prefix="OTCDESK_", env_nested_delimiter="__", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    stack: StackKind = "local"
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "OTCDESK_KAFKA_BOOTSTRAP")
    )
    clickhouse_url: str = Field(
        "clickhouse://default@127.0.0.1:9000/otcdesk",
        validation_alias=AliasChoices("CLICKHOUSE_URL", "OTCDESK_CLICKHOUSE_URL"),
    )
    clickhouse_password: SecretStr | None = Field(
        None,
        description=(
            "password of the ClickHouse user in clickhouse_url (OTCDESK_CLICKHOUSE_PASSWORD); unset: the "
            "URL's, else the one the local stack generated and keeps in stack.json"
        ),
    )
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description=(
            "the local stack's state and the desk's own files (logs, faust tables): the checkout's "
            ".otcdesk/, else $XDG_STATE_HOME/otcdesk"
        ),
    )
    repo_root: Path = Field(_REPO_ROOT, description="the checkout: `stack up` runs its servers from infra/")
    seed: int = 7
    namespace: str = Field(
        "",
        pattern=r"^[a-z0-9._-]*$",
        description=("prefix of every topic and consumer group: isolates a test or a benchmark run on a shared broker"),
    )
    symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    time: Literal["wall", "stream"] = Field(
        "wall",
        description=(
            "where a stage's time comes from: the desk clock (live: a real feed, people accepting quotes) "
            "or stream time, the watermarks of its inputs (`otcdesk simulate` sets it for every process "
            "of a session: docs/architecture.md, Stream time)"
        ),
    )
    sim_speed: float = Field(1.0, gt=0, description="desk clock speed factor, live (1 = real time)")
    layout: Layout = Field(
        "desks",
        description=(
            "how `otcdesk run all` and `otcdesk simulate` place the stages in processes (`streams.LAYOUTS`): "
            "pricing, dealing and the back office one process each (sized for a 2-core machine), the front "
            "and the back office one process each, or one process per stage"
        ),
    )
    sim_start_us: int | None = Field(None, description="desk time at the anchor (set by the supervisor)")
    sim_anchor_wall_us: int | None = Field(None, description="wall time (epoch us) the desk clock started at")
    timeout_floor_wall_ms: int = Field(
        3000,
        ge=0,
        description=(
            "live only: no in-flight timeout (hedge order, recon fill) is shorter than this much wall time "
            "at the clock's speed: a 600x clock must not cancel an order whose report is only in flight"
        ),
    )

    topics: TopicSettings = TopicSettings()
    security: KafkaSecurity = KafkaSecurity()
    local: LocalStackSettings = LocalStackSettings()
    quote: QuoteSettings = QuoteSettings()
    clients: ClientSettings = ClientSettings()
    sim: SimSettings = SimSettings()
    hedge: HedgeSettings = HedgeSettings()
    venue_sim: VenueSimSettings = VenueSimSettings()
    settlement: SettlementSettings = SettlementSettings()
    recon: ReconSettings = ReconSettings()
    sink: SinkSettings = SinkSettings()
    metrics: MetricsSettings = MetricsSettings()
    read_only: ReadOnlyLimits = ReadOnlyLimits()
    web: WebSettings = WebSettings()

    # -- resolved endpoints -------------------------------------------------------------------
    def _local_state(self) -> dict[str, object]:
        """Addresses the local stack recorded when it started (it may have picked free ports)."""
        path = self.state_dir / "stack.json"
        if self.stack != "local" or not path.exists():
            return {}
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    def topic(self, name: str) -> str:
        """Kafka name of a desk topic (`rfq` -> `<namespace>rfq`)."""
        return f"{self.namespace}{name}"

    def group(self, stage: str) -> str:
        """Consumer group of a stage: `otcdesk-<namespace><stage>` (`otcdesk lag` lists otcdesk-*)."""
        return f"otcdesk-{self.namespace}{stage}"

    def with_timeout_floor(self) -> Settings:
        """These settings with the in-flight timeouts raised to `timeout_floor_wall_ms` of wall time
        (live only: in stream time nothing is in flight once the watermarks have passed it)."""
        if self.time == "stream":
            return self
        floor_ms = self.timeout_floor_wall_ms * self.sim_speed
        hedge_ms = max(self.hedge.order_timeout_ms, int(floor_ms))
        fill_s = max(self.recon.fill_timeout_s, Decimal(int(floor_ms)) / 1000)
        return self.model_copy(
            update={
                "hedge": self.hedge.model_copy(update={"order_timeout_ms": hedge_ms}),
                "recon": self.recon.model_copy(update={"fill_timeout_s": fill_s}),
            }
        )

    def clock(self) -> AnchoredClock:
        """The desk clock of a live desk: wall time, or sim time paced on it (`sim_speed`, anchored
        by `sim_start_us` and `sim_anchor_wall_us`). Stages in stream time do not read it."""
        return desk_clock(self.sim_start_us, self.sim_anchor_wall_us, self.sim_speed)

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap servers as clients should use them."""
        return str(self._local_state().get("kafka_bootstrap", self.kafka_bootstrap))

    @property
    def clickhouse(self) -> ClickHouseEndpoint:
        state = self._local_state()
        url = urlparse(str(state.get("clickhouse_url", self.clickhouse_url)))
        return ClickHouseEndpoint(
            host=url.hostname or "127.0.0.1",
            port=url.port or 9000,
            user=url.username or "default",
            password=self._clickhouse_password(unquote(url.password or ""), state),
            database=(url.path or "/otcdesk").lstrip("/") or "otcdesk",
        )

    def _clickhouse_password(self, in_url: str, state: dict[str, object]) -> SecretStr:
        """OTCDESK_CLICKHOUSE_PASSWORD, else the URL's, else the local stack's generated one."""
        if self.clickhouse_password is not None:
            return self.clickhouse_password
        return SecretStr(in_url or str(state.get("clickhouse_password", "")))


class ClickHouseEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    user: str
    password: SecretStr = SecretStr("")  # printed as ********** (repr, str, model_dump_json)
    database: str


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
