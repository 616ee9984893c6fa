-- 0001_init: the event log, one table per event type (Avro schema), v1 of every schema.
--
-- Applied by `otcdesk db migrate` (otcdesk/db/migrate.py), which substitutes {db} with the database
-- from the settings, splits the file on `;` and records the file's checksum in schema_migrations.
-- Never edit this file once applied anywhere: add NNNN_*.sql instead (the migrator refuses a
-- changed file). Every statement runs on ClickHouse 18.16 (Debian, CI) and on a current ClickHouse
-- (docker-compose, chDB in the unit tests); see docs/clickhouse.md for the rules.
--
-- Column rules (tests/unit/test_ddl.py checks them against schemas/avro/*/vN.avsc):
--   Avro string / bytes  -> String          int -> Int32      long (incl. timestamp-micros) -> Int64
--   Avro decimal(P,S)    -> Decimal(P, S)   enum -> LowCardinality(String)
--   ["null", T]          -> Nullable(T)     array<record R> -> Nested(R's fields)
--   array<enum>          -> Array(LowCardinality(String))
-- Every table then adds the same tail:
--   ts          event time as DateTime, only for partitioning and human queries (computed, never sent)
--   _topic, _partition, _offset   Kafka provenance written by the sink ('' / -1 when not from Kafka)
--   inserted_at the version of ReplacingMergeTree: a redelivered event replaces its earlier copy
-- Dedup is by the sorting key, which always ends with event_id; ReplacingMergeTree only dedups
-- inside one partition, and a redelivered event has the same ts_us, hence the same partition.

CREATE DATABASE IF NOT EXISTS {db};

CREATE TABLE IF NOT EXISTS {db}.rfq
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    client_id String,
    symbol String,
    side LowCardinality(String),
    qty_base Nullable(Decimal(28, 12)),
    notional_quote Nullable(Decimal(28, 10)),
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.prices
(
    event_id String,
    ts_us Int64,
    source String,
    venue LowCardinality(String),
    symbol String,
    bids Nested(price_quote Decimal(28, 10), qty_base Decimal(28, 12)),
    asks Nested(price_quote Decimal(28, 10), qty_base Decimal(28, 12)),
    sequence Int64,
    taker_fee_rate Decimal(18, 8),
    tick_size_quote Decimal(28, 10),
    lot_size_base Decimal(28, 12),
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (venue, symbol, ts_us, event_id);

CREATE TABLE IF NOT EXISTS {db}.quotes
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    quote_id String,
    client_id String,
    symbol String,
    side LowCardinality(String),
    qty_base Decimal(28, 12),
    bid_price_quote Decimal(28, 10),
    ask_price_quote Decimal(28, 10),
    mid_price_quote Decimal(28, 10),
    vwap_bid_quote Decimal(28, 10),
    vwap_ask_quote Decimal(28, 10),
    spread_base_bps Decimal(18, 6),
    spread_size_bps Decimal(18, 6),
    spread_impact_bps Decimal(18, 6),
    spread_vol_bps Decimal(18, 6),
    skew_bps Decimal(18, 6),
    depth_bid_base Decimal(28, 12),
    depth_ask_base Decimal(28, 12),
    venues_used Array(LowCardinality(String)),
    venues_excluded Nested(venue LowCardinality(String), reason String),
    valid_until_us Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.quote_rejects
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    quote_id Nullable(String),
    client_id String,
    symbol String,
    reason LowCardinality(String),
    detail String,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.quote_responses
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    quote_id String,
    client_id String,
    action LowCardinality(String),
    side LowCardinality(String),
    price_quote Decimal(28, 10),
    qty_base Decimal(28, 12),
    slippage_tolerance_bps Nullable(Decimal(18, 6)),
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.trades
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    trade_id String,
    quote_id String,
    client_id String,
    symbol String,
    side LowCardinality(String),
    qty_base Decimal(28, 12),
    price_quote Decimal(28, 10),
    notional_quote Decimal(28, 10),
    fee_quote Decimal(28, 10),
    arrival_mid_quote Decimal(28, 10),
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.orders
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    order_id String,
    trade_id String,
    venue LowCardinality(String),
    symbol String,
    side LowCardinality(String),
    qty_base Decimal(28, 12),
    limit_price_quote Decimal(28, 10),
    clip_index Int32,
    clip_count Int32,
    state LowCardinality(String),
    filled_qty_base Decimal(28, 12),
    avg_fill_price_quote Decimal(28, 10),
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.fills
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    fill_id String,
    order_id String,
    trade_id String,
    venue LowCardinality(String),
    symbol String,
    side LowCardinality(String),
    exec_type LowCardinality(String),
    price_quote Decimal(28, 10),
    qty_base Decimal(28, 12),
    fee Decimal(28, 10),
    fee_currency String,
    reject_reason Nullable(String),
    order_ts_us Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.settlements
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    trade_id String,
    settlement_id String,
    leg LowCardinality(String),
    direction LowCardinality(String),
    asset String,
    network String,
    amount Decimal(28, 10),
    address Nullable(String),
    tx_hash Nullable(String),
    confirmations Int32,
    confirmations_required Int32,
    state LowCardinality(String),
    reason Nullable(String),
    value_date Nullable(String),
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

CREATE TABLE IF NOT EXISTS {db}.recon
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    trade_id String,
    status LowCardinality(String),
    breaks Nested(kind LowCardinality(String), expected String, actual String, detail String),
    booked_qty_base Decimal(28, 12),
    hedged_qty_base Decimal(28, 12),
    avg_fill_price_quote Decimal(28, 10),
    slippage_bps Decimal(18, 6),
    pnl_quote Decimal(28, 10),
    fees_quote Decimal(28, 10),
    revision Int32,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);

-- Dead letters: raw key and value bytes kept unchanged in String (ClickHouse strings are bytes).
CREATE TABLE IF NOT EXISTS {db}.dlq
(
    event_id String,
    ts_us Int64,
    source String,
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    source_key Nullable(String),
    raw_value Nullable(String),
    reason String,
    error_class String,
    error_message String,
    consumer_group String,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (source_topic, event_id);
