-- spread_captured: Spread captured against the spread quoted, by client and symbol
-- What the desk charged over the mid when it quoted (the locked price against the consolidated
-- mid the quote was built on) and how much of it it kept once hedged (the locked price against
-- the average price of the hedge fills), in basis points, weighted by notional. `captured_bps`
-- is measured on the hedged quantity only and before venue fees; `net_bps` is the P&L after
-- venue fees and the client fee. A capture ratio below 1 means the market moved against the desk
-- (or the hedge walked the book) between quote and hedge. Fills count once per fill_id.
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
    SELECT rfq_id, client_id, symbol, side, qty_base, price_quote, notional_quote, fee_quote, arrival_mid_quote
    FROM {db}.trades FINAL
    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
    ORDER BY rfq_id, _offset DESC
    LIMIT 1 BY rfq_id
) AS booked
ANY LEFT JOIN
(
    SELECT
        rfq_id,
        sumIf(qty_base, exec_type = 'FILL') AS hedged_qty_base,
        sumIf(qty_base * price_quote, exec_type = 'FILL') AS hedged_notional,
        sumIf(fee, exec_type = 'FILL') AS fees_quote
    FROM
    (
        SELECT rfq_id, exec_type, qty_base, price_quote, fee
        FROM {db}.fills FINAL
        ORDER BY _offset
        LIMIT 1 BY rfq_id, fill_id
    )
    GROUP BY rfq_id
) AS hedge USING rfq_id
GROUP BY client_id, symbol
ORDER BY client_id, symbol
