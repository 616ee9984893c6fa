-- spread_captured: Spread captured against the spread quoted, by client and symbol
-- What the desk charged over the mid when it quoted (the locked price against the consolidated
-- mid the quote was built on) and how much of it it kept once hedged (the locked price against
-- the average price of the hedge fills), in basis points, weighted by notional. `captured_bps`
-- is measured on the hedged quantity only and before venue fees; `net_bps` is the P&L after
-- venue fees and the client fee. A capture ratio below 1 means the market moved against the desk
-- (or the hedge walked the book) between quote and hedge. Fills count once per fill_id.
-- One row per deal from deal_hedge (the trade and its hedge totals, kept by materialized views),
-- as stored in the table's largest part. The deals to recount - fill rows not all distinct fill
-- ids (a redelivered copy, a fill re-reported), or a row in another part (not merged yet) - are a
-- set found once (GLOBAL IN: 18.16 would rebuild a plain IN's set at every nesting level); their
-- trade comes from deal_hedge with FINAL and their hedge from the raw fills with FINAL, reading
-- only their rows. The two branches are added up in one GROUP BY: no join over every deal.
-- columns:
--   client_id       the client
--   symbol          desk symbol
--   trades          trades booked
--   notional_quote  their notional
--   quoted_bps      sign * (locked price - mid) / mid, the half-spread charged
--   captured_bps    sign * (locked price - avg fill) / locked price, on the hedged quantity
--   capture_ratio   captured_bps / quoted_bps
--   net_bps         P&L after fees / hedged notional at the locked price
--   pnl_quote       P&L in quote currency (recon's formula, USDT at par)
-- params:
--   since_us        trades booked at or after this event time (epoch us)
--   until_us        trades booked before this event time (epoch us)
WITH
    if(side = 'BUY', 1, -1) AS sign,
    price_quote * hedged_qty_base AS hedged_at_locked,
    sign * (hedged_at_locked - hedged_notional) AS edge_quote,
    -- bps as Decimal: both sides cut to 6 decimals so the Decimal128 division cannot overflow,
    -- and a 0 divisor (nothing hedged yet) replaced by 1e-6 (ClickHouse evaluates both branches)
    round(toDecimal128(sum(sign * (price_quote - arrival_mid_quote) * qty_base) * 10000, 6)
          / greatest(toDecimal128(sum(arrival_mid_quote * qty_base), 6), toDecimal128('0.000001', 6)), 2) AS quoted,
    round(toDecimal128(sum(edge_quote) * 10000, 6)
          / greatest(toDecimal128(sum(hedged_at_locked), 6), toDecimal128('0.000001', 6)), 2) AS captured
SELECT
    client_id,
    symbol,
    count() AS trades,
    sum(notional_quote) AS notional_quote,
    quoted AS quoted_bps,
    captured AS captured_bps,
    round(toDecimal128(captured, 6) / greatest(toDecimal128(quoted, 6), toDecimal128('0.000001', 6)), 4) AS capture_ratio,
    round(toDecimal128((sum(edge_quote) - sum(fees_quote) + sum(fee_quote)) * 10000, 6)
          / greatest(toDecimal128(sum(hedged_at_locked), 6), toDecimal128('0.000001', 6)), 2) AS net_bps,
    round(toDecimal128(sum(edge_quote) - sum(fees_quote) + sum(fee_quote), 20), 10) AS pnl_quote
FROM
(
    -- the deals as stored: rows of the largest part whose sums count each fill once
    SELECT
        finalizeAggregation(trade_client) AS client_id,
        finalizeAggregation(trade_symbol) AS symbol,
        finalizeAggregation(trade_side) AS side,
        finalizeAggregation(trade_qty) AS qty_base,
        finalizeAggregation(trade_price) AS price_quote,
        finalizeAggregation(trade_notional) AS notional_quote,
        finalizeAggregation(trade_fee) AS fee_quote,
        finalizeAggregation(trade_mid) AS arrival_mid_quote,
        finalizeAggregation(hedged_qty_base) AS hedged_qty_base,
        finalizeAggregation(hedged_notional) AS hedged_notional,
        finalizeAggregation(fees_quote) AS fees_quote
    FROM {db}.deal_hedge
    PREWHERE rfq_id GLOBAL NOT IN (
        SELECT rfq_id FROM {db}.deal_hedge
        WHERE finalizeAggregation(fill_rows) != finalizeAggregation(fill_ids) OR _part NOT IN (
            SELECT argMax(name, rows) FROM system.parts
            WHERE database = '{db}' AND table = 'deal_hedge' AND active))
    WHERE finalizeAggregation(booked) = 1
      AND finalizeAggregation(trade_us) >= %(since_us)s AND finalizeAggregation(trade_us) < %(until_us)s
    UNION ALL
    -- the deals to recount: the trade merged with FINAL, the hedge from the raw fills (once per
    -- fill_id, the first copy read)
    SELECT
        deal_client AS client_id,
        deal_symbol AS symbol,
        deal_side AS side,
        deal_qty AS qty_base,
        deal_price AS price_quote,
        deal_notional AS notional_quote,
        deal_fee AS fee_quote,
        deal_mid AS arrival_mid_quote,
        exact_hedged_qty AS hedged_qty_base,
        exact_hedged_notional AS hedged_notional,
        exact_fees AS fees_quote
    FROM
    (
        SELECT
            rfq_id,
            finalizeAggregation(trade_client) AS deal_client,
            finalizeAggregation(trade_symbol) AS deal_symbol,
            finalizeAggregation(trade_side) AS deal_side,
            finalizeAggregation(trade_qty) AS deal_qty,
            finalizeAggregation(trade_price) AS deal_price,
            finalizeAggregation(trade_notional) AS deal_notional,
            finalizeAggregation(trade_fee) AS deal_fee,
            finalizeAggregation(trade_mid) AS deal_mid
        FROM {db}.deal_hedge FINAL
        PREWHERE rfq_id GLOBAL IN (
            SELECT rfq_id FROM {db}.deal_hedge
            WHERE finalizeAggregation(fill_rows) != finalizeAggregation(fill_ids) OR _part NOT IN (
                SELECT argMax(name, rows) FROM system.parts
                WHERE database = '{db}' AND table = 'deal_hedge' AND active))
        WHERE finalizeAggregation(booked) = 1
          AND finalizeAggregation(trade_us) >= %(since_us)s AND finalizeAggregation(trade_us) < %(until_us)s
    ) AS recounted_deals
    ANY LEFT JOIN
    (
        SELECT
            rfq_id,
            sumIf(qty_base, exec_type = 'FILL') AS exact_hedged_qty,
            sumIf(qty_base * price_quote, exec_type = 'FILL') AS exact_hedged_notional,
            sumIf(fee, exec_type = 'FILL') AS exact_fees
        FROM
        (
            SELECT rfq_id, exec_type, qty_base, price_quote, fee
            FROM {db}.fills FINAL
            PREWHERE rfq_id GLOBAL IN (
                SELECT rfq_id FROM {db}.deal_hedge
                WHERE finalizeAggregation(fill_rows) != finalizeAggregation(fill_ids) OR _part NOT IN (
                    SELECT argMax(name, rows) FROM system.parts
                    WHERE database = '{db}' AND table = 'deal_hedge' AND active))
            ORDER BY _offset
            LIMIT 1 BY rfq_id, fill_id
        )
        GROUP BY rfq_id
    ) AS recounted_fills USING rfq_id
) AS booked
GROUP BY client_id, symbol
ORDER BY client_id, symbol
