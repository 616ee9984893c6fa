-- 0008: deal_bounds, one row per deal (rfq_id) of bounds that can prove a deal free of every
-- reconciliation break, kept by four materialized views as the sink inserts trades, orders, fills
-- and settlements. recon_breaks.sql first selects the deals these bounds cannot prove clean (the
-- candidates), then runs its exact per-event rules over the raw events of the candidates only
-- (docs/clickhouse.md, "recon_breaks: candidates first").
--
-- Tolerances, the fee schedule and the lots are parameters of the report, so nothing here decides
-- a break: the report compares these bounds with its parameters, and a deal whose bounds are not
-- conclusive is a candidate. A candidate costs time, never a wrong result.
-- AggregatingMergeTree of 24 cheap states (counts, min, max, sums, uniqUpTo of 64-bit hashes):
--   trade_*            the trade (trade_rows = 1, else the deal is a candidate)
--   fill_keys          per fill row 1, per FILL row 2: its fill_id, and its economics (recon's twin
--   fill_distinct      key), against the distinct ones: equal = no copy, no re-report, no twin,
--                      so the sums below are the kept fills' (exact up to 32 keys, else candidate)
--   hedged_base        the sum over FILL rows (QUANTITY, and MISSING_FILL's "got")
--   fill_price_*       min and max FILL price: the average lies between (PRICE)
--   fill_stamp_us, desk_sent_us, after_trade_us   the earliest stamps (TIMESTAMP_ORDER)
--   order_ids          distinct order ids of orders and fills, up to 1: a single order
--   order_kinds        bit 1 a desk report, bit 2 a venue report (an unanswered order)
--   order_reported     the largest filled_qty_base reported (MISSING_FILL: reported <= got)
--   fee_key_*          cityHash64('VENUE SYMBOL|fee currency') of FILL rows: one instrument
--   fee_rate_*         min and max fee / (price * qty) charged, and the largest fill notional:
--   fill_notional_hi   |fee - rate * notional| <= notional_hi * max |rate charged - rate|
--   leg_amounts        distinct 'LEG|amount' of the settlement events and of the trade's two
--                      expected legs: 2 = every event at the trade's amount
--   base_latest, quote_latest   max(ts_us * 2 + SETTLED): odd = the leg's latest is SETTLED
--   settlement_flags   events FAILED, TIMED_OUT or UNKNOWN, or SETTLED on a chain network
-- Fixed here, checked by the report against its parameters (every deal a candidate if they
-- differ): the venue report prefix 'venue:' (venue_sim.VENUE_SOURCE_PREFIX) and the chain networks
-- BTC, ETH, TRON (settlement.policy.CRYPTO_NETWORKS, whose legs need tx hash and confirmation
-- checks the report leaves to its exact pass).
-- A row inserted twice (a redelivery, or the backfill below racing the views) only raises counts
-- and sums, which makes its deal a candidate; the other states are idempotent.
--
-- Every view writes every column (the other views' states empty through -If with a false
-- condition): 18.16 refuses a view's block that lacks a column of its target table.
-- Statements are IF NOT EXISTS except the backfills: a failed run is repaired by re-running the
-- file (the backfills then only raise counts, which make deals candidates, never wrong).
CREATE TABLE IF NOT EXISTS {db}.deal_bounds
(
    rfq_id String,
    trade_rows AggregateFunction(countIf, UInt8),
    trade_us AggregateFunction(maxIf, Int64, UInt8),
    trade_qty AggregateFunction(maxIf, Decimal(28, 12), UInt8),
    trade_price AggregateFunction(maxIf, Decimal(28, 10), UInt8),
    fill_keys AggregateFunction(sumIf, UInt64, UInt8),
    fill_distinct AggregateFunction(uniqUpToArrayIf(32), Array(UInt64), UInt8),
    hedged_base AggregateFunction(sumIf, Decimal(28, 12), UInt8),
    fill_price_lo AggregateFunction(minIf, Decimal(28, 10), UInt8),
    fill_price_hi AggregateFunction(maxIf, Decimal(28, 10), UInt8),
    fill_stamp_us AggregateFunction(minIf, Int64, UInt8),
    after_trade_us AggregateFunction(minIf, Int64, UInt8),
    fee_key_lo AggregateFunction(minIf, UInt64, UInt8),
    fee_key_hi AggregateFunction(maxIf, UInt64, UInt8),
    fee_rate_lo AggregateFunction(minIf, Decimal(38, 18), UInt8),
    fee_rate_hi AggregateFunction(maxIf, Decimal(38, 18), UInt8),
    fill_notional_hi AggregateFunction(maxIf, Decimal(38, 22), UInt8),
    order_ids AggregateFunction(uniqUpToIf(1), UInt64, UInt8),
    order_kinds AggregateFunction(groupBitOrIf, UInt8, UInt8),
    order_reported AggregateFunction(maxIf, Decimal(28, 12), UInt8),
    desk_sent_us AggregateFunction(minIf, Int64, UInt8),
    leg_amounts AggregateFunction(uniqUpToArrayIf(2), Array(UInt64), UInt8),
    base_latest AggregateFunction(maxIf, Int64, UInt8),
    quote_latest AggregateFunction(maxIf, Int64, UInt8),
    settlement_flags AggregateFunction(countIf, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_bounds_trades TO {db}.deal_bounds
AS SELECT
    rfq_id,
    countIfState(toUInt8(1)) AS trade_rows,
    maxIfState(ts_us, toUInt8(1)) AS trade_us,
    maxIfState(qty_base, toUInt8(1)) AS trade_qty,
    maxIfState(price_quote, toUInt8(1)) AS trade_price,
    sumIfState(toUInt64(0), toUInt8(0)) AS fill_keys,
    uniqUpToArrayIfState(32)(emptyArrayUInt64(), toUInt8(0)) AS fill_distinct,
    sumIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS hedged_base,
    minIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS fill_price_lo,
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS fill_price_hi,
    minIfState(toInt64(0), toUInt8(0)) AS fill_stamp_us,
    minIfState(toInt64(0), toUInt8(0)) AS after_trade_us,
    minIfState(toUInt64(0), toUInt8(0)) AS fee_key_lo,
    maxIfState(toUInt64(0), toUInt8(0)) AS fee_key_hi,
    minIfState(toDecimal128('0', 18), toUInt8(0)) AS fee_rate_lo,
    maxIfState(toDecimal128('0', 18), toUInt8(0)) AS fee_rate_hi,
    maxIfState(toDecimal128('0', 22), toUInt8(0)) AS fill_notional_hi,
    uniqUpToIfState(1)(toUInt64(0), toUInt8(0)) AS order_ids,
    groupBitOrIfState(toUInt8(0), toUInt8(0)) AS order_kinds,
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS order_reported,
    minIfState(toInt64(0), toUInt8(0)) AS desk_sent_us,
    uniqUpToArrayIfState(2)([cityHash64(concat('BASE|', toString(toDecimal128(qty_base, 12)))), cityHash64(concat('QUOTE|', toString(toDecimal128(if(toString(side) = 'BUY', notional_quote + fee_quote, notional_quote - fee_quote), 12))))], toUInt8(1)) AS leg_amounts,
    maxIfState(toInt64(0), toUInt8(0)) AS base_latest,
    maxIfState(toInt64(0), toUInt8(0)) AS quote_latest,
    countIfState(toUInt8(0)) AS settlement_flags
FROM {db}.trades
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_bounds_orders TO {db}.deal_bounds
AS SELECT
    rfq_id,
    countIfState(toUInt8(0)) AS trade_rows,
    maxIfState(toInt64(0), toUInt8(0)) AS trade_us,
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS trade_qty,
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS trade_price,
    sumIfState(toUInt64(0), toUInt8(0)) AS fill_keys,
    uniqUpToArrayIfState(32)(emptyArrayUInt64(), toUInt8(0)) AS fill_distinct,
    sumIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS hedged_base,
    minIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS fill_price_lo,
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS fill_price_hi,
    minIfState(toInt64(0), toUInt8(0)) AS fill_stamp_us,
    minIfState(toInt64(0), toUInt8(0)) AS after_trade_us,
    minIfState(toUInt64(0), toUInt8(0)) AS fee_key_lo,
    maxIfState(toUInt64(0), toUInt8(0)) AS fee_key_hi,
    minIfState(toDecimal128('0', 18), toUInt8(0)) AS fee_rate_lo,
    maxIfState(toDecimal128('0', 18), toUInt8(0)) AS fee_rate_hi,
    maxIfState(toDecimal128('0', 22), toUInt8(0)) AS fill_notional_hi,
    uniqUpToIfState(1)(cityHash64(order_id), toUInt8(1)) AS order_ids,
    groupBitOrIfState(toUInt8(if(startsWith(source, 'venue:'), 2, 1)), toUInt8(1)) AS order_kinds,
    maxIfState(filled_qty_base, toUInt8(1)) AS order_reported,
    minIfState(ts_us, toUInt8(NOT startsWith(source, 'venue:'))) AS desk_sent_us,
    uniqUpToArrayIfState(2)(emptyArrayUInt64(), toUInt8(0)) AS leg_amounts,
    maxIfState(toInt64(0), toUInt8(0)) AS base_latest,
    maxIfState(toInt64(0), toUInt8(0)) AS quote_latest,
    countIfState(toUInt8(0)) AS settlement_flags
FROM {db}.orders
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_bounds_fills TO {db}.deal_bounds
AS WITH
    -- the economics of a FILL as recon keys its twins (otcdesk/recon.py `_unique`)
    cityHash64(concat('economics|', order_id, '|', toString(venue), '|', toString(price_quote), '|',
                      toString(qty_base), '|', toString(fee), '|', toString(ts_us))) AS economics,
    cityHash64(concat(toString(venue), ' ', symbol, '|', fee_currency)) AS fee_key,
    -- the fee rate charged, fee / (price * qty), Decimal at 18 decimals over bounded operands so
    -- the division cannot overflow (a throw would fail the sink's insert): a fee outside
    -- [0, 1e9] or a notional under 1e-8 gets the rate 1e9, which no schedule is near
    qty_base * price_quote AS fill_notional,
    fee >= toDecimal128('0', 10) AND fee <= toDecimal128('1000000000', 10)
        AND fill_notional >= toDecimal128('0.00000001', 22) AS fee_bounded,
    if(fee_bounded,
       toDecimal128(if(fee_bounded, fee, toDecimal128('0', 10)), 18)
           / toDecimal128(if(fee_bounded, fill_notional, toDecimal128('1', 22)), 8),
       toDecimal128('1000000000', 18)) AS fee_rate
SELECT
    rfq_id,
    countIfState(toUInt8(0)) AS trade_rows,
    maxIfState(toInt64(0), toUInt8(0)) AS trade_us,
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS trade_qty,
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS trade_price,
    sumIfState(toUInt64(if(toString(exec_type) = 'FILL', 2, 1)), toUInt8(1)) AS fill_keys,
    uniqUpToArrayIfState(32)(if(toString(exec_type) = 'FILL', [cityHash64(concat('id|', fill_id)), economics], [cityHash64(concat('id|', fill_id))]), toUInt8(1)) AS fill_distinct,
    sumIfState(qty_base, toUInt8(toString(exec_type) = 'FILL')) AS hedged_base,
    minIfState(price_quote, toUInt8(toString(exec_type) = 'FILL')) AS fill_price_lo,
    maxIfState(price_quote, toUInt8(toString(exec_type) = 'FILL')) AS fill_price_hi,
    minIfState(least(ts_us, order_ts_us), toUInt8(1)) AS fill_stamp_us,
    minIfState(ts_us, toUInt8(1)) AS after_trade_us,
    minIfState(fee_key, toUInt8(toString(exec_type) = 'FILL')) AS fee_key_lo,
    maxIfState(fee_key, toUInt8(toString(exec_type) = 'FILL')) AS fee_key_hi,
    minIfState(fee_rate, toUInt8(toString(exec_type) = 'FILL')) AS fee_rate_lo,
    maxIfState(fee_rate, toUInt8(toString(exec_type) = 'FILL')) AS fee_rate_hi,
    maxIfState(qty_base * price_quote, toUInt8(toString(exec_type) = 'FILL')) AS fill_notional_hi,
    uniqUpToIfState(1)(cityHash64(order_id), toUInt8(1)) AS order_ids,
    groupBitOrIfState(toUInt8(0), toUInt8(0)) AS order_kinds,
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS order_reported,
    minIfState(toInt64(0), toUInt8(0)) AS desk_sent_us,
    uniqUpToArrayIfState(2)(emptyArrayUInt64(), toUInt8(0)) AS leg_amounts,
    maxIfState(toInt64(0), toUInt8(0)) AS base_latest,
    maxIfState(toInt64(0), toUInt8(0)) AS quote_latest,
    countIfState(toUInt8(0)) AS settlement_flags
FROM {db}.fills
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_bounds_settlements TO {db}.deal_bounds
AS SELECT
    rfq_id,
    countIfState(toUInt8(0)) AS trade_rows,
    maxIfState(toInt64(0), toUInt8(0)) AS trade_us,
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS trade_qty,
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS trade_price,
    sumIfState(toUInt64(0), toUInt8(0)) AS fill_keys,
    uniqUpToArrayIfState(32)(emptyArrayUInt64(), toUInt8(0)) AS fill_distinct,
    sumIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS hedged_base,
    minIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS fill_price_lo,
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)) AS fill_price_hi,
    minIfState(toInt64(0), toUInt8(0)) AS fill_stamp_us,
    minIfState(ts_us, toUInt8(1)) AS after_trade_us,
    minIfState(toUInt64(0), toUInt8(0)) AS fee_key_lo,
    maxIfState(toUInt64(0), toUInt8(0)) AS fee_key_hi,
    minIfState(toDecimal128('0', 18), toUInt8(0)) AS fee_rate_lo,
    maxIfState(toDecimal128('0', 18), toUInt8(0)) AS fee_rate_hi,
    maxIfState(toDecimal128('0', 22), toUInt8(0)) AS fill_notional_hi,
    uniqUpToIfState(1)(toUInt64(0), toUInt8(0)) AS order_ids,
    groupBitOrIfState(toUInt8(0), toUInt8(0)) AS order_kinds,
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)) AS order_reported,
    minIfState(toInt64(0), toUInt8(0)) AS desk_sent_us,
    uniqUpToArrayIfState(2)([cityHash64(concat(toString(leg), '|', toString(toDecimal128(amount, 12))))], toUInt8(1)) AS leg_amounts,
    maxIfState(ts_us * 2 + (toString(state) = 'SETTLED'), toUInt8(toString(leg) = 'BASE')) AS base_latest,
    maxIfState(ts_us * 2 + (toString(state) = 'SETTLED'), toUInt8(toString(leg) = 'QUOTE')) AS quote_latest,
    countIfState(toUInt8(has(['FAILED', 'TIMED_OUT', 'UNKNOWN'], toString(state)) OR (toString(state) = 'SETTLED' AND has(['BTC', 'ETH', 'TRON'], network)))) AS settlement_flags
FROM {db}.settlements
GROUP BY rfq_id;

-- backfill: the events stored before the views existed

INSERT INTO {db}.deal_bounds (rfq_id, trade_rows, trade_us, trade_qty, trade_price, fill_keys, fill_distinct, hedged_base, fill_price_lo, fill_price_hi, fill_stamp_us, after_trade_us, fee_key_lo, fee_key_hi, fee_rate_lo, fee_rate_hi, fill_notional_hi, order_ids, order_kinds, order_reported, desk_sent_us, leg_amounts, base_latest, quote_latest, settlement_flags)
SELECT
    rfq_id,
    countIfState(toUInt8(1)),
    maxIfState(ts_us, toUInt8(1)),
    maxIfState(qty_base, toUInt8(1)),
    maxIfState(price_quote, toUInt8(1)),
    sumIfState(toUInt64(0), toUInt8(0)),
    uniqUpToArrayIfState(32)(emptyArrayUInt64(), toUInt8(0)),
    sumIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    minIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    minIfState(toUInt64(0), toUInt8(0)),
    maxIfState(toUInt64(0), toUInt8(0)),
    minIfState(toDecimal128('0', 18), toUInt8(0)),
    maxIfState(toDecimal128('0', 18), toUInt8(0)),
    maxIfState(toDecimal128('0', 22), toUInt8(0)),
    uniqUpToIfState(1)(toUInt64(0), toUInt8(0)),
    groupBitOrIfState(toUInt8(0), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    uniqUpToArrayIfState(2)([cityHash64(concat('BASE|', toString(toDecimal128(qty_base, 12)))), cityHash64(concat('QUOTE|', toString(toDecimal128(if(toString(side) = 'BUY', notional_quote + fee_quote, notional_quote - fee_quote), 12))))], toUInt8(1)),
    maxIfState(toInt64(0), toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    countIfState(toUInt8(0))
FROM {db}.trades
GROUP BY rfq_id;

INSERT INTO {db}.deal_bounds (rfq_id, trade_rows, trade_us, trade_qty, trade_price, fill_keys, fill_distinct, hedged_base, fill_price_lo, fill_price_hi, fill_stamp_us, after_trade_us, fee_key_lo, fee_key_hi, fee_rate_lo, fee_rate_hi, fill_notional_hi, order_ids, order_kinds, order_reported, desk_sent_us, leg_amounts, base_latest, quote_latest, settlement_flags)
SELECT
    rfq_id,
    countIfState(toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    sumIfState(toUInt64(0), toUInt8(0)),
    uniqUpToArrayIfState(32)(emptyArrayUInt64(), toUInt8(0)),
    sumIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    minIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    minIfState(toUInt64(0), toUInt8(0)),
    maxIfState(toUInt64(0), toUInt8(0)),
    minIfState(toDecimal128('0', 18), toUInt8(0)),
    maxIfState(toDecimal128('0', 18), toUInt8(0)),
    maxIfState(toDecimal128('0', 22), toUInt8(0)),
    uniqUpToIfState(1)(cityHash64(order_id), toUInt8(1)),
    groupBitOrIfState(toUInt8(if(startsWith(source, 'venue:'), 2, 1)), toUInt8(1)),
    maxIfState(filled_qty_base, toUInt8(1)),
    minIfState(ts_us, toUInt8(NOT startsWith(source, 'venue:'))),
    uniqUpToArrayIfState(2)(emptyArrayUInt64(), toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    countIfState(toUInt8(0))
FROM {db}.orders
GROUP BY rfq_id;

INSERT INTO {db}.deal_bounds (rfq_id, trade_rows, trade_us, trade_qty, trade_price, fill_keys, fill_distinct, hedged_base, fill_price_lo, fill_price_hi, fill_stamp_us, after_trade_us, fee_key_lo, fee_key_hi, fee_rate_lo, fee_rate_hi, fill_notional_hi, order_ids, order_kinds, order_reported, desk_sent_us, leg_amounts, base_latest, quote_latest, settlement_flags)
WITH
    -- the economics of a FILL as recon keys its twins (otcdesk/recon.py `_unique`)
    cityHash64(concat('economics|', order_id, '|', toString(venue), '|', toString(price_quote), '|',
                      toString(qty_base), '|', toString(fee), '|', toString(ts_us))) AS economics,
    cityHash64(concat(toString(venue), ' ', symbol, '|', fee_currency)) AS fee_key,
    -- the fee rate charged, fee / (price * qty), Decimal at 18 decimals over bounded operands so
    -- the division cannot overflow (a throw would fail the sink's insert): a fee outside
    -- [0, 1e9] or a notional under 1e-8 gets the rate 1e9, which no schedule is near
    qty_base * price_quote AS fill_notional,
    fee >= toDecimal128('0', 10) AND fee <= toDecimal128('1000000000', 10)
        AND fill_notional >= toDecimal128('0.00000001', 22) AS fee_bounded,
    if(fee_bounded,
       toDecimal128(if(fee_bounded, fee, toDecimal128('0', 10)), 18)
           / toDecimal128(if(fee_bounded, fill_notional, toDecimal128('1', 22)), 8),
       toDecimal128('1000000000', 18)) AS fee_rate
SELECT
    rfq_id,
    countIfState(toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    sumIfState(toUInt64(if(toString(exec_type) = 'FILL', 2, 1)), toUInt8(1)),
    uniqUpToArrayIfState(32)(if(toString(exec_type) = 'FILL', [cityHash64(concat('id|', fill_id)), economics], [cityHash64(concat('id|', fill_id))]), toUInt8(1)),
    sumIfState(qty_base, toUInt8(toString(exec_type) = 'FILL')),
    minIfState(price_quote, toUInt8(toString(exec_type) = 'FILL')),
    maxIfState(price_quote, toUInt8(toString(exec_type) = 'FILL')),
    minIfState(least(ts_us, order_ts_us), toUInt8(1)),
    minIfState(ts_us, toUInt8(1)),
    minIfState(fee_key, toUInt8(toString(exec_type) = 'FILL')),
    maxIfState(fee_key, toUInt8(toString(exec_type) = 'FILL')),
    minIfState(fee_rate, toUInt8(toString(exec_type) = 'FILL')),
    maxIfState(fee_rate, toUInt8(toString(exec_type) = 'FILL')),
    maxIfState(qty_base * price_quote, toUInt8(toString(exec_type) = 'FILL')),
    uniqUpToIfState(1)(cityHash64(order_id), toUInt8(1)),
    groupBitOrIfState(toUInt8(0), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    uniqUpToArrayIfState(2)(emptyArrayUInt64(), toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    countIfState(toUInt8(0))
FROM {db}.fills
GROUP BY rfq_id;

INSERT INTO {db}.deal_bounds (rfq_id, trade_rows, trade_us, trade_qty, trade_price, fill_keys, fill_distinct, hedged_base, fill_price_lo, fill_price_hi, fill_stamp_us, after_trade_us, fee_key_lo, fee_key_hi, fee_rate_lo, fee_rate_hi, fill_notional_hi, order_ids, order_kinds, order_reported, desk_sent_us, leg_amounts, base_latest, quote_latest, settlement_flags)
SELECT
    rfq_id,
    countIfState(toUInt8(0)),
    maxIfState(toInt64(0), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    sumIfState(toUInt64(0), toUInt8(0)),
    uniqUpToArrayIfState(32)(emptyArrayUInt64(), toUInt8(0)),
    sumIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    minIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 10)), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    minIfState(ts_us, toUInt8(1)),
    minIfState(toUInt64(0), toUInt8(0)),
    maxIfState(toUInt64(0), toUInt8(0)),
    minIfState(toDecimal128('0', 18), toUInt8(0)),
    maxIfState(toDecimal128('0', 18), toUInt8(0)),
    maxIfState(toDecimal128('0', 22), toUInt8(0)),
    uniqUpToIfState(1)(toUInt64(0), toUInt8(0)),
    groupBitOrIfState(toUInt8(0), toUInt8(0)),
    maxIfState(CAST('0' AS Decimal(28, 12)), toUInt8(0)),
    minIfState(toInt64(0), toUInt8(0)),
    uniqUpToArrayIfState(2)([cityHash64(concat(toString(leg), '|', toString(toDecimal128(amount, 12))))], toUInt8(1)),
    maxIfState(ts_us * 2 + (toString(state) = 'SETTLED'), toUInt8(toString(leg) = 'BASE')),
    maxIfState(ts_us * 2 + (toString(state) = 'SETTLED'), toUInt8(toString(leg) = 'QUOTE')),
    countIfState(toUInt8(has(['FAILED', 'TIMED_OUT', 'UNKNOWN'], toString(state)) OR (toString(state) = 'SETTLED' AND has(['BTC', 'ETH', 'TRON'], network))))
FROM {db}.settlements
GROUP BY rfq_id;
