-- 0004: deal_hedge, one row per deal (rfq_id): its trade and the totals of its hedge fills, kept
-- by two materialized views as the sink inserts trades and fills, so a report reads one row per
-- deal instead of re-grouping every fill (docs/clickhouse.md, "Per-deal tables").
--
-- AggregatingMergeTree of per-deal states, read with FINAL (one part per deal once merged):
--   trade_*         argMax(column, _offset): the trade read last, as the reports' "last one read";
--                   idempotent, so a redelivered trade changes nothing (trade_us is its ts_us)
--   booked          max(1) over trades: the deal has a trade
--   fill_rows       count() of the fill rows inserted (a redelivered copy counts again)
--   fill_ids        uniqUpTo(16) of cityHash64(fill_id): distinct fill ids, exact up to 16
--   hedged_*, fees  sumIf(..., exec_type = 'FILL') over the fill rows inserted
-- The sums are exact when fill_rows = fill_ids (every row a distinct fill_id: no copy, no fill
-- re-reported under its id). Otherwise (a copy, a duplicate fill_id, more than 16 fills, a hash
-- collision) the reports recompute that deal from the raw fills with FINAL, reading only the deal's
-- granules (`fills` is ordered by rfq_id). The backfill below may count rows the views also wrote
-- while it ran: such deals are recounted the same way, never summed twice.
--
-- Every view writes every column (the other view's states empty, through the -If combinator with
-- a false condition): 18.16 refuses a view's block that lacks a column of its target table when
-- the insert comes from a client ("Expected column ... while pushing to view").
--
-- Statements are IF NOT EXISTS except the backfills; a failed run is repaired by re-running the
-- file: the backfills only add counts (deals then recounted from raw) and idempotent states.
CREATE TABLE IF NOT EXISTS {db}.deal_hedge
(
    rfq_id String,
    booked AggregateFunction(maxIf, UInt8, UInt8),
    trade_us AggregateFunction(argMaxIf, Int64, Int64, UInt8),
    trade_client AggregateFunction(argMaxIf, String, Int64, UInt8),
    trade_symbol AggregateFunction(argMaxIf, String, Int64, UInt8),
    trade_side AggregateFunction(argMaxIf, String, Int64, UInt8),
    trade_qty AggregateFunction(argMaxIf, Decimal(28, 12), Int64, UInt8),
    trade_price AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8),
    trade_notional AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8),
    trade_fee AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8),
    trade_mid AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8),
    fill_rows AggregateFunction(countIf, UInt8),
    fill_ids AggregateFunction(uniqUpToIf(16), UInt64, UInt8),
    hedged_qty_base AggregateFunction(sumIf, Decimal(28, 12), UInt8),
    hedged_notional AggregateFunction(sumIf, Decimal(38, 22), UInt8),
    fees_quote AggregateFunction(sumIf, Decimal(28, 10), UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_hedge_trades TO {db}.deal_hedge
AS SELECT
    rfq_id,
    maxIfState(toUInt8(1), toUInt8(1)) AS booked,
    argMaxIfState(ts_us, _offset, toUInt8(1)) AS trade_us,
    argMaxIfState(client_id, _offset, toUInt8(1)) AS trade_client,
    argMaxIfState(symbol, _offset, toUInt8(1)) AS trade_symbol,
    argMaxIfState(toString(side), _offset, toUInt8(1)) AS trade_side,
    argMaxIfState(qty_base, _offset, toUInt8(1)) AS trade_qty,
    argMaxIfState(price_quote, _offset, toUInt8(1)) AS trade_price,
    argMaxIfState(notional_quote, _offset, toUInt8(1)) AS trade_notional,
    argMaxIfState(fee_quote, _offset, toUInt8(1)) AS trade_fee,
    argMaxIfState(arrival_mid_quote, _offset, toUInt8(1)) AS trade_mid,
    countIfState(toUInt8(0)) AS fill_rows,
    uniqUpToIfState(16)(toUInt64(0), toUInt8(0)) AS fill_ids,
    sumIfState(qty_base, toUInt8(0)) AS hedged_qty_base,
    sumIfState(qty_base * price_quote, toUInt8(0)) AS hedged_notional,
    sumIfState(fee_quote, toUInt8(0)) AS fees_quote
FROM {db}.trades
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_hedge_fills TO {db}.deal_hedge
AS SELECT
    rfq_id,
    maxIfState(toUInt8(1), toUInt8(0)) AS booked,
    argMaxIfState(ts_us, _offset, toUInt8(0)) AS trade_us,
    argMaxIfState('', _offset, toUInt8(0)) AS trade_client,
    argMaxIfState(symbol, _offset, toUInt8(0)) AS trade_symbol,
    argMaxIfState(toString(side), _offset, toUInt8(0)) AS trade_side,
    argMaxIfState(qty_base, _offset, toUInt8(0)) AS trade_qty,
    argMaxIfState(price_quote, _offset, toUInt8(0)) AS trade_price,
    argMaxIfState(price_quote, _offset, toUInt8(0)) AS trade_notional,
    argMaxIfState(fee, _offset, toUInt8(0)) AS trade_fee,
    argMaxIfState(price_quote, _offset, toUInt8(0)) AS trade_mid,
    countIfState(toUInt8(1)) AS fill_rows,
    uniqUpToIfState(16)(cityHash64(fill_id), toUInt8(1)) AS fill_ids,
    sumIfState(qty_base, toString(exec_type) = 'FILL') AS hedged_qty_base,
    sumIfState(qty_base * price_quote, toString(exec_type) = 'FILL') AS hedged_notional,
    sumIfState(fee, toString(exec_type) = 'FILL') AS fees_quote
FROM {db}.fills
GROUP BY rfq_id;

-- backfill: the trades and fills stored before the views existed
INSERT INTO {db}.deal_hedge (
    rfq_id, booked, trade_us, trade_client, trade_symbol, trade_side, trade_qty, trade_price, trade_notional, trade_fee,
    trade_mid, fill_rows, fill_ids, hedged_qty_base, hedged_notional, fees_quote)
SELECT
    rfq_id,
    maxIfState(toUInt8(1), toUInt8(1)),
    argMaxIfState(ts_us, _offset, toUInt8(1)),
    argMaxIfState(client_id, _offset, toUInt8(1)),
    argMaxIfState(symbol, _offset, toUInt8(1)),
    argMaxIfState(toString(side), _offset, toUInt8(1)),
    argMaxIfState(qty_base, _offset, toUInt8(1)),
    argMaxIfState(price_quote, _offset, toUInt8(1)),
    argMaxIfState(notional_quote, _offset, toUInt8(1)),
    argMaxIfState(fee_quote, _offset, toUInt8(1)),
    argMaxIfState(arrival_mid_quote, _offset, toUInt8(1)),
    countIfState(toUInt8(0)),
    uniqUpToIfState(16)(toUInt64(0), toUInt8(0)),
    sumIfState(qty_base, toUInt8(0)),
    sumIfState(qty_base * price_quote, toUInt8(0)),
    sumIfState(fee_quote, toUInt8(0))
FROM {db}.trades
GROUP BY rfq_id;

INSERT INTO {db}.deal_hedge (
    rfq_id, booked, trade_us, trade_client, trade_symbol, trade_side, trade_qty, trade_price, trade_notional, trade_fee,
    trade_mid, fill_rows, fill_ids, hedged_qty_base, hedged_notional, fees_quote)
SELECT
    rfq_id,
    maxIfState(toUInt8(1), toUInt8(0)),
    argMaxIfState(ts_us, _offset, toUInt8(0)),
    argMaxIfState('', _offset, toUInt8(0)),
    argMaxIfState(symbol, _offset, toUInt8(0)),
    argMaxIfState(toString(side), _offset, toUInt8(0)),
    argMaxIfState(qty_base, _offset, toUInt8(0)),
    argMaxIfState(price_quote, _offset, toUInt8(0)),
    argMaxIfState(price_quote, _offset, toUInt8(0)),
    argMaxIfState(fee, _offset, toUInt8(0)),
    argMaxIfState(price_quote, _offset, toUInt8(0)),
    countIfState(toUInt8(1)),
    uniqUpToIfState(16)(cityHash64(fill_id), toUInt8(1)),
    sumIfState(qty_base, toString(exec_type) = 'FILL'),
    sumIfState(qty_base * price_quote, toString(exec_type) = 'FILL'),
    sumIfState(fee, toString(exec_type) = 'FILL')
FROM {db}.fills
GROUP BY rfq_id;
