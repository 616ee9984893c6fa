"""One typed settings object for the whole desk, read from the environment (and CLI flags).

Every knob lives here; modules receive a `Settings` (or one of its sections) instead of reading
constants or `os.environ` themselves. Environment variables use the `OTCDESK_` prefix and `__`
for sections (`OTCDESK_QUOTE__TTL_MS=3000`); the two addresses a user of an external stack gives
keep their plain names, `KAFKA_BOOTSTRAP` and `CLICKHOUSE_URL`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

StackKind = Literal["local", "docker", "external"]

#: Lifecycle topics are keyed by rfq_id and share one partition count (co-partitioned).
LIFECYCLE_TOPICS = ("rfq", "rfq-priced", "quotes", "trades", "orders", "fills", "settlements", "recon")
#: The nine topics of the product card plus `rfq-priced`, the aggregator's output to the quote engine.
ALL_TOPICS = ("rfq", "prices", "rfq-priced", "quotes", "trades", "orders", "fills", "settlements", "recon", "dlq")

_REPO_ROOT = Path(__file__).resolve().parent.parent


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Section):
    partitions: int = Field(6, ge=1, description="partitions of every lifecycle topic (co-partitioned)")
    prices_partitions: int = Field(6, ge=1)
    dlq_partitions: int = Field(1, ge=1, description="like Kafka Connect: one partition keeps DLQ order")
    replication_factor: int = Field(1, ge=1)
    retention_ms: int = Field(7 * 24 * 3600 * 1000, description="lifecycle topics")
    prices_retention_ms: int = Field(24 * 3600 * 1000, description="market data is re-creatable")
    dlq_retention_ms: int = Field(90 * 24 * 3600 * 1000, description="dead letters wait for a human")


class KafkaSecurity(_Section):
    """Passed through to every client (confluent-kafka, aiokafka via faust)."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None


class LocalStackSettings(_Section):
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    clickhouse_native_port: int = 9000
    clickhouse_http_port: int = 8123
    ready_timeout_s: float = 90.0
    kafka_heap: str = "-Xms256m -Xmx1g"


class QuoteSettings(_Section):
    ttl_ms: int = Field(5000, ge=100, description="firm-quote lifetime in sim time")
    stale_book_ms: int = Field(2000, ge=1, description="a venue book older than this is excluded")
    max_qty_base: dict[str, Decimal] = {"BTC": Decimal("500"), "ETH": Decimal("10000")}
    min_qty_base: dict[str, Decimal] = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}
    # -- front office (pricing, quoting, acceptance): see otcdesk/quoting.py for the formula --
    tier_base_bps: dict[str, Decimal] = Field(
        {"A": Decimal("2"), "B": Decimal("4"), "C": Decimal("8")},
        description="half-spread by client tier, bps of mid",
    )
    size_tier_bps: tuple[tuple[Decimal, Decimal], ...] = Field(
        ((Decimal("0"), Decimal("0")), (Decimal("1000000"), Decimal("1")),
         (Decimal("5000000"), Decimal("2.5")), (Decimal("20000000"), Decimal("5")),
         (Decimal("50000000"), Decimal("10"))),
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
        "ACME": Decimal("60000000"), "BLUEFIN": Decimal("25000000"),
        "CORVUS": Decimal("3000000"), "DELTAX": Decimal("15000000"),
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
        "calm": {"normal": 1.0}, "normal": {"calm": 0.6, "stressed": 0.4}, "stressed": {"normal": 1.0},
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


class Settings(BaseSettings):
    """Everything configurable about a desk, its stack and its clients."""

    model_config = SettingsConfigDict(
        env_prefix="OTCDESK_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    stack: StackKind = "local"
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "OTCDESK_KAFKA_BOOTSTRAP")
    )
    clickhouse_url: str = Field(
        "clickhouse://default@127.0.0.1:9000/otcdesk",
        validation_alias=AliasChoices("CLICKHOUSE_URL", "OTCDESK_CLICKHOUSE_URL"),
    )
    state_dir: Path = _REPO_ROOT / ".otcdesk"
    repo_root: Path = _REPO_ROOT
    seed: int = 7
    symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    sim_speed: float = Field(1.0, gt=0, description="simulation clock speed factor (1 = real time)")

    topics: TopicSettings = TopicSettings()
    security: KafkaSecurity = KafkaSecurity()
    local: LocalStackSettings = LocalStackSettings()
    quote: QuoteSettings = QuoteSettings()
    clients: ClientSettings = ClientSettings()
    sim: SimSettings = SimSettings()

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
            password=url.password or "",
            database=(url.path or "/otcdesk").lstrip("/") or "otcdesk",
        )


class ClickHouseEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    user: str
    password: str
    database: str


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
