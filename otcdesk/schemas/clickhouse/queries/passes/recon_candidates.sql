-- recon_candidates: The deals recon_breaks must judge event by event
-- A first pass of recon_breaks: every deal whose per-deal bounds in deal_bounds
-- (0008_deal_bounds.sql, kept by materialized views) cannot prove it free of every break but FEE,
-- plus every deal with rows in a part of deal_bounds other than its largest (not merged yet, so
-- its states are not final). FEE breaks are the fee_breaks pass's, for every deal: a deal that is
-- no candidate has each fill stored once, so its FEE breaks are exactly its fills off schedule.
-- The bounds hold whatever the parameters: a deal they cannot judge is a candidate, which costs
-- the exact pass time, never a wrong result. recon_breaks reads this result as the external table
-- `recon_candidates` (otcdesk/analytics/reports.py runs the passes, then the report).
-- columns:
--   rfq_id          a deal to judge by the exact rules
-- params:
--   price_tolerance_bps     recon.price_tolerance_bps, |avg fill - locked price| allowed
--   venue_source_prefix     `source` prefix of a venue's order report (venue_sim)
--   settlement_states       SettlementState symbols in machine order
--   lot_sizes       the hedge lot of every desk symbol
--   crypto_networks     networks whose settled legs need a tx hash and confirmations
SELECT rfq_id
FROM
(
    WITH
        -- the finest lot of any symbol: a deal hedged within it is within its own
        arrayReduce('min', arrayMap(x -> toDecimal128(x, 12), %(lot_sizes)s)) AS finest_lot,
        -- the constants deal_bounds was built with are the report's
        (SELECT %(venue_source_prefix)s = 'venue:'
                AND %(crypto_networks)s = ['BTC', 'ETH', 'TRON']
                AND indexOf(%(settlement_states)s, 'SETTLED') > 0
                AND arrayAll(s -> has(['FAILED', 'TIMED_OUT', 'UNKNOWN'], s),
                             arraySlice(%(settlement_states)s, indexOf(%(settlement_states)s, 'SETTLED') + 1)))
            AS same_rules
    SELECT
        rfq_id,
        same_rules AS d_same_rules,
        finest_lot AS d_finest_lot,
        finalizeAggregation(trade_rows) AS d_trade_rows,
        finalizeAggregation(trade_us) AS d_trade_us,
        finalizeAggregation(trade_qty) AS d_qty,
        finalizeAggregation(trade_price) AS d_price,
        finalizeAggregation(fill_keys) AS d_fill_keys,
        finalizeAggregation(fill_distinct) AS d_fill_distinct,
        finalizeAggregation(hedged_base) AS d_hedged_base,
        finalizeAggregation(fill_price_lo) AS d_fill_price_lo,
        finalizeAggregation(fill_price_hi) AS d_fill_price_hi,
        finalizeAggregation(fill_stamp_us) AS d_fill_stamp_us,
        finalizeAggregation(after_trade_us) AS d_after_trade_us,
        finalizeAggregation(order_ids) AS d_order_ids,
        finalizeAggregation(order_kinds) AS d_order_kinds,
        finalizeAggregation(order_reported) AS d_reported,
        finalizeAggregation(desk_sent_us) AS d_desk_sent_us,
        finalizeAggregation(leg_amounts) AS d_leg_amounts,
        finalizeAggregation(base_latest) AS d_base_latest,
        finalizeAggregation(quote_latest) AS d_quote_latest,
        finalizeAggregation(settlement_flags) AS d_settlement_flags
    FROM {db}.deal_bounds
    WHERE _part IN (SELECT argMax(name, rows) FROM system.parts
                    WHERE database = '{db}' AND table = 'deal_bounds' AND active)
)
WHERE NOT (
    d_same_rules
    -- one trade, and fills neither copied, re-reported nor twins: the sums are the kept fills'
    AND d_trade_rows = 1
    AND d_fill_distinct = d_fill_keys
    -- MISSING_FILL: at most one order id over orders and fills, reported <= got, and an order the
    -- desk sent answered by the venue or a fill
    AND d_order_ids <= 1
    AND d_reported <= d_hedged_base
    AND (d_order_kinds != 1 OR d_fill_keys > 0)
    -- TIMESTAMP_ORDER: no fill nor settlement event before the trade, no fill before the order
    AND d_after_trade_us >= d_trade_us
    AND (d_fill_keys = 0 OR bitAnd(d_order_kinds, 1) = 0 OR d_fill_stamp_us >= d_desk_sent_us)
    -- QUANTITY, timed out or not: hedged within the finest lot of the trade
    AND d_hedged_base - d_qty < d_finest_lot AND d_qty - d_hedged_base < d_finest_lot
    -- PRICE: the average fill lies between the lowest and highest FILL price, both within the
    -- tolerance of the locked price (by 2e-8 more below: the exact pass truncates the notional
    -- and the average to 12 decimals, an error under 2e-8 once 0.0001 is hedged)
    AND (d_hedged_base = 0
         OR (d_hedged_base >= toDecimal128('0.0001', 12)
             AND (d_fill_price_hi - d_price) * 10000 < toDecimal128(%(price_tolerance_bps)s, 6) * d_price
             AND (d_price - d_fill_price_lo + toDecimal128('0.00000002', 8)) * 10000
                 < toDecimal128(%(price_tolerance_bps)s, 6) * d_price))
    -- settlement legs: both present with their latest event SETTLED, every event at the
    -- trade's amount, none failed, timed out, unknown or on a chain network
    AND d_leg_amounts = 2
    AND d_base_latest % 2 = 1 AND d_quote_latest % 2 = 1
    AND d_settlement_flags = 0
)
UNION ALL
-- deals with rows in another part, not merged yet: candidates
SELECT rfq_id
FROM {db}.deal_bounds
WHERE _part NOT IN (SELECT argMax(name, rows) FROM system.parts
                    WHERE database = '{db}' AND table = 'deal_bounds' AND active)
