-- 0003: the aggregator's pricing of every RFQ (Avro rfq_priced v1, topic rfq-priced):
-- the consolidated-book VWAPs, depths and per-venue split the quote was built from.
CREATE TABLE IF NOT EXISTS {db}.priced_rfqs
(
    event_id String,
    ts_us Int64,
    source String,
    rfq_id String,
    client_id String,
    symbol String,
    side LowCardinality(String),
    requested_qty_base Nullable(Decimal(28, 12)),
    requested_notional_quote Nullable(Decimal(28, 10)),
    rfq_event_id String,
    rfq_ts_us Int64,
    client_ref Nullable(String),
    refusal_reason LowCardinality(Nullable(String)),
    refusal_detail Nullable(String),
    qty_base Decimal(28, 12),
    mid_price_quote Decimal(28, 10),
    tick_quote Decimal(28, 10),
    bid_vwap_quote Nullable(Decimal(28, 10)),
    bid_filled_base Decimal(28, 12),
    bid_cost_quote Decimal(28, 10),
    ask_vwap_quote Nullable(Decimal(28, 10)),
    ask_filled_base Decimal(28, 12),
    ask_cost_quote Decimal(28, 10),
    depth_bid_base Decimal(28, 12),
    depth_ask_base Decimal(28, 12),
    venues_used Array(LowCardinality(String)),
    venues_excluded Nested(venue LowCardinality(String), reason String),
    allocations Nested(side LowCardinality(String), venue LowCardinality(String), qty_base Decimal(28, 12), cost_quote Decimal(28, 10), levels_used Int32),
    priced_at_us Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_us, 1000000), 'UTC'),
    _topic LowCardinality(String) DEFAULT '',
    _partition Int32 DEFAULT -1,
    _offset Int64 DEFAULT -1,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (rfq_id, event_id);
