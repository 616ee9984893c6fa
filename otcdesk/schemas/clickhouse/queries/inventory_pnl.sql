-- inventory_pnl: Desk inventory and P&L over time, per symbol
-- The desk's position in each symbol at the end of every time bucket, and its P&L marked to
-- market: client trades move the position against the client (a client BUY is a desk sale) and
-- bring the notional plus the client fee in cash; hedge fills move it back and cost price times
-- quantity plus the venue fee. P&L = cash + position * mark, with the mark the latest price seen
-- in the bucket (a venue's touch mid from `prices`, else the trade's arrival mid or the fill
-- price). Positions and cash accumulate from the first event in the log, whatever `since_us`;
-- only buckets with activity or prices get a row. Running sums without window functions (18.16):
-- each bucket is joined to every earlier bucket of its symbol and summed. USDT counts at par.
-- columns:
--   bucket_start    bucket start, UTC
--   bucket_start_us bucket start (epoch us)
--   symbol          desk symbol
--   inventory_base  desk position at the end of the bucket (negative = short)
--   mark_quote      price it is marked at
--   cash_quote      cash from trades and hedges so far
--   pnl_quote       cash + inventory * mark
-- params:
--   since_us        buckets starting at or after this event time (epoch us)
--   until_us        events before this event time (epoch us)
--   bucket_us       bucket width (us)
SELECT
    toString(toDateTime(intDiv(upto_us, 1000000), 'UTC')) AS bucket_start,
    upto_us AS bucket_start_us,
    symbol,
    sum(moved_base) AS inventory_base,
    any(mark_at) AS mark_quote,
    round(toDecimal128(sum(moved_cash), 20), 10) AS cash_quote,
    round(toDecimal128(sum(moved_cash) + sum(moved_base) * any(mark_at), 20), 10) AS pnl_quote
FROM
(
    -- what each bucket moved: position and cash
    SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us, sum(d_base) AS moved_base,
           sum(d_cash) AS moved_cash
    FROM
    (
        -- a client BUY: the desk delivers base, receives notional + fee (signs flip on a SELL)
        SELECT symbol, ts_us,
               toDecimal128(if(side = 'BUY', -1, 1) * qty_base, 12) AS d_base,
               toDecimal128(if(side = 'BUY', 1, -1) * notional_quote + fee_quote, 22) AS d_cash
        FROM {db}.trades FINAL
        WHERE ts_us < %(until_us)s
          AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
        UNION ALL
        -- a hedge BUY: the desk receives base, pays price * quantity + the venue fee
        SELECT symbol, ts_us,
               toDecimal128(if(side = 'BUY', 1, -1) * qty_base, 12) AS d_base,
               toDecimal128(if(side = 'BUY', -1, 1) * price_quote * qty_base - fee, 22) AS d_cash
        FROM
        (
            SELECT symbol, ts_us, side, qty_base, price_quote, fee
            FROM {db}.fills FINAL
            WHERE exec_type = 'FILL' AND ts_us < %(until_us)s
              AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
            ORDER BY _offset
            LIMIT 1 BY rfq_id, fill_id
        )
    )
    GROUP BY symbol, bucket_us
) AS moves
ALL INNER JOIN
(
    -- every bucket to report, with its mark: the latest price of the bucket
    SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS upto_us, argMax(mark, ts_us) AS mark_at
    FROM
    (
        SELECT symbol, ts_us, toDecimal128(arrival_mid_quote, 10) AS mark
        FROM {db}.trades FINAL
        WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
          AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
          AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
        UNION ALL
        SELECT symbol, ts_us, toDecimal128(price_quote, 10) AS mark
        FROM {db}.fills FINAL
        WHERE exec_type = 'FILL' AND ts_us >= %(since_us)s AND ts_us < %(until_us)s
          AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
          AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
        UNION ALL
        SELECT symbol, ts_us,
               toDecimal128((arrayElement(bids.price_quote, 1) + arrayElement(asks.price_quote, 1)) / 2, 10) AS mark
        FROM {db}.prices FINAL
        WHERE notEmpty(bids.price_quote) AND notEmpty(asks.price_quote) AND ts_us >= %(since_us)s AND ts_us < %(until_us)s
          AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
          AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
    )
    GROUP BY symbol, upto_us
) AS buckets USING symbol
WHERE bucket_us <= upto_us
GROUP BY symbol, upto_us
ORDER BY upto_us, symbol
