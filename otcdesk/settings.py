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
LIFECYCLE_TOPICS = ("rfq", "quotes", "trades", "orders", "fills", "settlements", "recon")
ALL_TOPICS = ("rfq", "prices", "quotes", "trades", "orders", "fills", "settlements", "recon", "dlq")

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
