-- fill_quality: Fill quality by venue: fill rate, rejects, fees and latency
-- How well each venue executed the desk's hedge orders: the share of the quantity sent that was
-- filled (IOC orders: the rest was cancelled or rejected), how many orders the venue rejected,
-- what its fees cost in basis points of the filled notional, and how long an order took to reach
-- the venue (its first execution report's `order_ts_us`, the arrival time, minus the desk's first
-- event for the order), in milliseconds. An order is counted once (its first desk event); fills
-- once per fill_id.
-- One row per order from deal_orders (the desk's order and what came back for it, kept by
-- materialized views); the orders of a deal whose fill rows are not all distinct fill ids (a
-- redelivered copy, a fill re-reported: deal_hedge's and the order's own counts), or that has a
-- row not merged yet, are recomputed from the raw orders and fills, reading only their granules.
-- Those deals are found first (passes/fill_recount.sql) and sent with this query as the external
-- table `fill_recount` (otcdesk/analytics/reports.py runs both): 18.16 would run the subquery
-- again at every place it is used.
-- columns:
--   venue           the venue
--   orders          desk orders sent
--   sent_qty_base   quantity they asked for
--   filled_qty_base quantity filled
--   fill_rate       filled / sent
--   rejected        orders the venue rejected
--   fees_quote      venue fees
--   fee_bps         fees / filled notional
--   latency_p50_ms  median arrival latency
--   latency_p95_ms  95th percentile
--   latency_max_ms  worst
-- params:
--   since_us        orders sent at or after this event time (epoch us)
--   until_us        orders sent before this event time (epoch us)
--   venue_source_prefix     `source` prefix of a venue's order report (venue_sim)
SELECT
    venue,
    count() AS orders,
    sum(order_qty_base) AS sent_qty_base,
    sum(fill_qty_base) AS filled_qty_base,
    round(toDecimal128(sum(fill_qty_base), 6) / greatest(toDecimal128(sum(order_qty_base), 6), toDecimal128('0.000001', 6)), 4)
        AS fill_rate,
    sum(was_rejected) AS rejected,
    sum(fill_fees_quote) AS fees_quote,
    round(toDecimal128(sum(fill_fees_quote) * 10000, 6)
          / greatest(toDecimal128(sum(fill_notional_quote), 6), toDecimal128('0.000001', 6)), 2) AS fee_bps,
    round(quantileExactIf(0.5)(latency_us, answered) / 1000, 1) AS latency_p50_ms,
    round(quantileExactIf(0.95)(latency_us, answered) / 1000, 1) AS latency_p95_ms,
    round(maxIf(latency_us, answered) / 1000, 1) AS latency_max_ms
FROM
(
    -- orders from deal_orders: the largest part as it is (no FINAL), without the deals to recount
    SELECT
        venue,
        toDecimal128(order_qty_base, 12) AS order_qty_base,
        toDecimal128(fill_qty_base, 12) AS fill_qty_base,
        toDecimal128(fill_notional_quote, 22) AS fill_notional_quote,
        toDecimal128(fill_fees_quote, 10) AS fill_fees_quote,
        toUInt8(was_rejected) AS was_rejected,
        toUInt8(order_reports > 0) AS answered,
        toInt64(first_report_us - sent_at) AS latency_us
    FROM
    (
        SELECT
            deal,
            finalizeAggregation(sent) AS has_desk_event,
            finalizeAggregation(order_venue) AS venue,
            finalizeAggregation(order_qty) AS order_qty_base,
            finalizeAggregation(sent_us) AS sent_at,
            finalizeAggregation(rejected) AS was_rejected,
            finalizeAggregation(filled_qty) AS fill_qty_base,
            finalizeAggregation(filled_notional) AS fill_notional_quote,
            finalizeAggregation(fees) AS fill_fees_quote,
            finalizeAggregation(reports) AS order_reports,
            finalizeAggregation(fill_ids) AS order_fill_ids,
            finalizeAggregation(first_report_us) AS first_report_us
        FROM {db}.deal_orders
        WHERE _part IN (SELECT argMax(name, rows) FROM system.parts
                    WHERE database = '{db}' AND table = 'deal_orders' AND active)
    )
    WHERE %(venue_source_prefix)s = 'venue:'
      AND has_desk_event = 1 AND sent_at >= %(since_us)s AND sent_at < %(until_us)s
      AND order_reports = order_fill_ids
      AND deal NOT IN (SELECT deal FROM fill_recount)
    UNION ALL
    -- the deals to recount, from the raw orders and fills (the query before deal_orders)
    SELECT
        venue,
        toDecimal128(order_qty_base, 12) AS order_qty_base,
        toDecimal128(fill_qty_base, 12) AS fill_qty_base,
        toDecimal128(fill_notional_quote, 22) AS fill_notional_quote,
        toDecimal128(fill_fees_quote, 10) AS fill_fees_quote,
        toUInt8(was_rejected) AS was_rejected,
        toUInt8(reports > 0) AS answered,
        toInt64(first_report_us - sent_us) AS latency_us
    FROM
    (
        -- each desk order: its first event (sent), and whether the venue rejected it
        SELECT
            rfq_id,
            order_id,
            argMinIf(venue_name, ts_us, NOT is_venue) AS venue,
            argMinIf(qty_base, ts_us, NOT is_venue) AS order_qty_base,
            minIf(ts_us, NOT is_venue) AS sent_us,
            countIf(is_venue AND state = 'REJECTED') > 0 AS was_rejected
        FROM
        (
            SELECT rfq_id, order_id, CAST(venue AS String) AS venue_name, qty_base, ts_us, state,
                   startsWith(source, %(venue_source_prefix)s) AS is_venue
            FROM {db}.orders FINAL
            WHERE rfq_id IN (
            SELECT rfq_id FROM {db}.deal_orders
            WHERE %(venue_source_prefix)s != 'venue:' OR deal IN (SELECT deal FROM fill_recount))
        )
        GROUP BY rfq_id, order_id
        HAVING countIf(NOT is_venue) > 0 AND sent_us >= %(since_us)s AND sent_us < %(until_us)s
    ) AS sent
    ANY LEFT JOIN
    (
        -- what came back for it: executions, fees, the venue's arrival time
        SELECT
            rfq_id,
            order_id,
            sumIf(qty_base, exec_type = 'FILL') AS fill_qty_base,
            sumIf(qty_base * price_quote, exec_type = 'FILL') AS fill_notional_quote,
            sumIf(fee, exec_type = 'FILL') AS fill_fees_quote,
            count() AS reports,
            min(order_ts_us) AS first_report_us
        FROM
        (
            SELECT rfq_id, order_id, exec_type, qty_base, price_quote, fee, order_ts_us
            FROM {db}.fills FINAL
            WHERE rfq_id IN (
            SELECT rfq_id FROM {db}.deal_orders
            WHERE %(venue_source_prefix)s != 'venue:' OR deal IN (SELECT deal FROM fill_recount))
            ORDER BY _offset
            LIMIT 1 BY rfq_id, fill_id
        )
        GROUP BY rfq_id, order_id
    ) AS answered_orders USING (rfq_id, order_id)
)
GROUP BY venue
ORDER BY venue
