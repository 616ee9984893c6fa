-- hedge_slippage: Hedge slippage against the arrival mid and against the locked price, by venue
-- What each venue's hedge fills cost the desk, in basis points weighted by fill notional:
-- against the consolidated mid when the client's quote was built (`vs_mid_bps`: the market's
-- move plus the book walked) and against the price locked with the client (`vs_locked_bps`:
-- negative while the hedge stays inside the spread the client paid). Positive = a cost: a hedge
-- BUY above the reference, a hedge SELL below it. Venue fees are not in these figures (see
-- fill_quality). Fills count once per fill_id; only executions (exec_type FILL).
-- columns:
--   venue           the venue
--   symbol          desk symbol
--   fills           executions
--   qty_base        quantity filled
--   notional_quote  price * quantity of those fills
--   vs_mid_bps      sign * (fill price - arrival mid) / arrival mid
--   vs_locked_bps   sign * (fill price - locked price) / locked price
--   worst_vs_mid_bps    the single worst fill against the mid
-- params:
--   since_us        fills at or after this event time (epoch us)
--   until_us        fills before this event time (epoch us)
WITH
    if(side = 'BUY', 1, -1) AS sign,
    sign * (price_quote - arrival_mid_quote) AS cost_vs_mid,
    sign * (price_quote - locked_price_quote) AS cost_vs_locked
SELECT
    venue,
    symbol,
    count() AS fills,
    sum(fill_qty_base) AS qty_base,
    sum(price_quote * fill_qty_base) AS notional_quote,
    -- Decimal bps: cut to 6 decimals before dividing so Decimal128 cannot overflow
    round(toDecimal128(sum(cost_vs_mid * fill_qty_base) * 10000, 6)
          / toDecimal128(sum(arrival_mid_quote * fill_qty_base), 6), 2) AS vs_mid_bps,
    round(toDecimal128(sum(cost_vs_locked * fill_qty_base) * 10000, 6)
          / toDecimal128(sum(locked_price_quote * fill_qty_base), 6), 2) AS vs_locked_bps,
    round(toDecimal128(max(cost_vs_mid / arrival_mid_quote) * 10000, 6), 2) AS worst_vs_mid_bps
FROM
(
    SELECT rfq_id, venue, symbol, side, price_quote, qty_base AS fill_qty_base
    FROM {db}.fills FINAL
    WHERE exec_type = 'FILL' AND ts_us >= %(since_us)s AND ts_us < %(until_us)s
      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
    ORDER BY _offset
    LIMIT 1 BY rfq_id, fill_id
) AS executed
ALL INNER JOIN
(
    SELECT rfq_id, price_quote AS locked_price_quote, arrival_mid_quote
    FROM {db}.trades FINAL
    ORDER BY rfq_id, _offset DESC
    LIMIT 1 BY rfq_id
) AS booked USING rfq_id
GROUP BY venue, symbol
ORDER BY venue, symbol
