-- 0010: what recon_breaks reads to find FEE breaks without reading the raw fills of every deal:
-- each FILL row ordered by its instrument and the fee rate it was charged, and per deal the
-- trade and the latest event time (docs/clickhouse.md, "recon_breaks: FEE breaks by fee rate").
--
-- deal_fill_fees (fee_instrument, fee_currency, small_notional, fee_rate_e12): one row per FILL
--   row inserted into fills, with what the fee rule reads. The fee rate is fee / (price * qty) at
--   18 decimals, the notional cut to 8 first (the division of deal_bounds, bounded the same way:
--   a fee outside [0, 1e9] or a notional under 1e-8 gets 1e9, which no schedule is near), kept as
--   fee_rate_e12 = the rate in units of 1e-12, cut, capped at 1000 (an integer: 18.16 never
--   finishes sorting a part on a Decimal128 key); small_notional = a notional under 1 quote
--   unit. Sorted so, the fills of an instrument charged
--   within a band around its scheduled rate are one contiguous key range: the report reads only
--   the granules outside it (passes/fee_breaks.sql, the band from recon_params.fee_band). Plain
--   MergeTree: a row inserted twice is two rows, which the report reads as one copy by
--   (event_id, _offset).
-- deal_marks (rfq_id): the trade's id and event time, and the deal's latest event time over
--   trades, orders, fills and settlements (max states: a copy changes nothing), which a FEE
--   break of a deal the bounds prove otherwise clean reports as its trade and its judged_at_us.
--
-- Every view writes every column (18.16 refuses a view's block that lacks a column of its target
-- table). Statements are IF NOT EXISTS except the backfills; a backfill racing the views writes a
-- row twice, which the report reads once.
CREATE TABLE IF NOT EXISTS {db}.deal_fill_fees
(
    fee_instrument String,
    fee_currency String,
    small_notional UInt8,
    fee_rate_e12 UInt64,
    event_id String,
    _offset Int64,
    rfq_id String,
    fill_id String,
    venue LowCardinality(String),
    price_quote Decimal(28, 10),
    qty_base Decimal(28, 12),
    fee Decimal(28, 10),
    ts DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (fee_instrument, fee_currency, small_notional, fee_rate_e12);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_fill_fees_fills TO {db}.deal_fill_fees
AS WITH
    qty_base * price_quote AS fill_notional,
    fee >= toDecimal128('0', 10) AND fee <= toDecimal128('1000000000', 10)
        AND fill_notional >= toDecimal128('0.00000001', 22) AS fee_bounded,
    if(fee_bounded,
       toDecimal128(if(fee_bounded, fee, toDecimal128('0', 10)), 18)
           / toDecimal128(if(fee_bounded, fill_notional, toDecimal128('1', 22)), 8),
       toDecimal128('1000000000', 18)) AS fee_rate
SELECT
    concat(toString(venue), ' ', symbol) AS fee_instrument,
    fee_currency,
    toUInt8(fill_notional < toDecimal128('1', 22)) AS small_notional,
    toUInt64(least(fee_rate, toDecimal128('1000', 18)) * 1000000000000) AS fee_rate_e12,
    event_id,
    _offset,
    rfq_id,
    fill_id,
    venue,
    price_quote,
    qty_base,
    fee,
    toDateTime(intDiv(ts_us, 1000000), 'UTC') AS ts
FROM {db}.fills
WHERE toString(exec_type) = 'FILL';

CREATE TABLE IF NOT EXISTS {db}.deal_marks
(
    rfq_id String,
    trade_id AggregateFunction(maxIf, String, UInt8),
    trade_us AggregateFunction(maxIf, Int64, UInt8),
    last_us AggregateFunction(max, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_marks_trades TO {db}.deal_marks
AS SELECT
    rfq_id,
    maxIfState(trade_id, toUInt8(1)) AS trade_id,
    maxIfState(ts_us, toUInt8(1)) AS trade_us,
    maxState(ts_us) AS last_us
FROM {db}.trades
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_marks_orders TO {db}.deal_marks
AS SELECT
    rfq_id,
    maxIfState('', toUInt8(0)) AS trade_id,
    maxIfState(toInt64(0), toUInt8(0)) AS trade_us,
    maxState(ts_us) AS last_us
FROM {db}.orders
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_marks_fills TO {db}.deal_marks
AS SELECT
    rfq_id,
    maxIfState('', toUInt8(0)) AS trade_id,
    maxIfState(toInt64(0), toUInt8(0)) AS trade_us,
    maxState(ts_us) AS last_us
FROM {db}.fills
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_marks_settlements TO {db}.deal_marks
AS SELECT
    rfq_id,
    maxIfState('', toUInt8(0)) AS trade_id,
    maxIfState(toInt64(0), toUInt8(0)) AS trade_us,
    maxState(ts_us) AS last_us
FROM {db}.settlements
GROUP BY rfq_id;

-- backfill: the events stored before the views existed

INSERT INTO {db}.deal_fill_fees (fee_instrument, fee_currency, small_notional, fee_rate_e12, event_id, _offset, rfq_id, fill_id, venue, price_quote, qty_base, fee, ts)
WITH
    qty_base * price_quote AS fill_notional,
    fee >= toDecimal128('0', 10) AND fee <= toDecimal128('1000000000', 10)
        AND fill_notional >= toDecimal128('0.00000001', 22) AS fee_bounded,
    if(fee_bounded,
       toDecimal128(if(fee_bounded, fee, toDecimal128('0', 10)), 18)
           / toDecimal128(if(fee_bounded, fill_notional, toDecimal128('1', 22)), 8),
       toDecimal128('1000000000', 18)) AS fee_rate
SELECT
    concat(toString(venue), ' ', symbol),
    fee_currency,
    toUInt8(fill_notional < toDecimal128('1', 22)),
    toUInt64(least(fee_rate, toDecimal128('1000', 18)) * 1000000000000),
    event_id,
    _offset,
    rfq_id,
    fill_id,
    venue,
    price_quote,
    qty_base,
    fee,
    toDateTime(intDiv(ts_us, 1000000), 'UTC')
FROM {db}.fills
WHERE toString(exec_type) = 'FILL';

INSERT INTO {db}.deal_marks (rfq_id, trade_id, trade_us, last_us)
SELECT rfq_id, maxIfState(trade_id, toUInt8(1)), maxIfState(ts_us, toUInt8(1)), maxState(ts_us)
FROM {db}.trades
GROUP BY rfq_id;

INSERT INTO {db}.deal_marks (rfq_id, trade_id, trade_us, last_us)
SELECT rfq_id, maxIfState('', toUInt8(0)), maxIfState(toInt64(0), toUInt8(0)), maxState(ts_us)
FROM {db}.orders
GROUP BY rfq_id;

INSERT INTO {db}.deal_marks (rfq_id, trade_id, trade_us, last_us)
SELECT rfq_id, maxIfState('', toUInt8(0)), maxIfState(toInt64(0), toUInt8(0)), maxState(ts_us)
FROM {db}.fills
GROUP BY rfq_id;

INSERT INTO {db}.deal_marks (rfq_id, trade_id, trade_us, last_us)
SELECT rfq_id, maxIfState('', toUInt8(0)), maxIfState(toInt64(0), toUInt8(0)), maxState(ts_us)
FROM {db}.settlements
GROUP BY rfq_id;
