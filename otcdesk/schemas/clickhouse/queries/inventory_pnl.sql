-- inventory_pnl: Desk inventory and P&L over time, per symbol
-- The desk's position in each symbol at the end of every time bucket, and its P&L marked to
-- market: client trades move the position against the client (a client BUY is a desk sale) and
-- bring the notional plus the client fee in cash; hedge fills move it back and cost price times
-- quantity plus the venue fee. P&L = cash + position * mark, with the mark the latest price seen
-- in the bucket (a venue's touch mid from `prices`, else the trade's arrival mid or the fill
-- price). Positions and cash accumulate from the first event in the log, whatever `since_us`;
-- only buckets with activity or prices get a row. Fills count once per fill_id. Running sums
-- without window functions (18.16): each bucket is joined to every earlier bucket of its symbol
-- and summed. USDT counts at par.
-- Read from per-deal minutes (0009): whole minutes before `until_us` come from
-- deal_inventory_cells (every deal's moves, summed as stored) and deal_inventory_marks (the
-- latest mark per symbol and minute). A deal whose rows are not all distinct (a redelivered copy,
-- a fill re-reported under its id), whose check row is not in the largest part (not merged yet),
-- or that has rows in the minute `until_us` cuts, has its stored moves subtracted and is
-- recounted from the raw rows with FINAL, reading only its granules; marks from that minute on
-- are read raw. A bucket that is not whole minutes reads every row raw, as the query before
-- 0009 did.
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
    sum(part_base) AS inventory_base,
    any(mark_at) AS mark_quote,
    round(toDecimal128(sum(part_cash), 20), 10) AS cash_quote,
    round(toDecimal128(sum(part_cash) + sum(part_base) * any(mark_at), 20), 10) AS pnl_quote
FROM
(
    -- what each bucket moved: position, cash and rows (the trade events and fill ids counted);
    -- the branches sit right under the join: 18.16 builds an IN set for the index once for every
    -- enclosing level
    -- every deal's whole minutes before the cut, as stored (sums need no FINAL)
    SELECT symbol, intDiv(cell_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us,
           sumMerge(moved_base) AS part_base, sumMerge(moved_cash) AS part_cash, sumMerge(moved_rows) AS part_rows
    FROM {db}.deal_inventory_cells
    WHERE cell_us < if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0))
    GROUP BY symbol, bucket_us
    UNION ALL
    -- less what the deals to recount stored: the deals whose rows are not all distinct, those
    -- with a row in another part than the largest (not merged yet), and those with rows in
    -- the minute the cut falls in (rows after the cut count nowhere)
    SELECT symbol, intDiv(cell_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us,
           -sumMerge(moved_base) AS part_base, -sumMerge(moved_cash) AS part_cash, -sumMerge(moved_rows) AS part_rows
    FROM {db}.deal_inventory_cells
    WHERE cell_us < if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0))
      AND rfq_id IN (
        SELECT rfq_id FROM {db}.deal_inventory_checks
        WHERE finalizeAggregation(event_rows) != finalizeAggregation(event_ids) OR _part NOT IN (
            SELECT argMax(name, rows) FROM system.parts
            WHERE database = '{db}' AND table = 'deal_inventory_checks' AND active)
        UNION ALL
        SELECT rfq_id FROM {db}.deal_inventory_cells
        WHERE cell_us = if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0)) AND %(bucket_us)s % 60000000 = 0)
    GROUP BY symbol, bucket_us
    UNION ALL
    -- plus the same deals recounted from the raw rows before until_us, each fill id once
    -- a client BUY: the desk delivers base, receives notional + fee (signs flip on a SELL)
    SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us,
           sum(toDecimal128(if(side = 'BUY', -1, 1) * qty_base, 12)) AS part_base,
           sum(toDecimal128(if(side = 'BUY', 1, -1) * notional_quote + fee_quote, 22)) AS part_cash,
           toInt64(count()) AS part_rows
    FROM {db}.trades FINAL
    WHERE ts_us < if(%(bucket_us)s % 60000000 = 0, toInt64(%(until_us)s), toInt64(0))
      AND ts <= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0, toInt64(%(until_us)s), toInt64(0)), 1000000), 4294967295), 'UTC')
      AND rfq_id IN (
        SELECT rfq_id FROM {db}.deal_inventory_checks
        WHERE finalizeAggregation(event_rows) != finalizeAggregation(event_ids) OR _part NOT IN (
            SELECT argMax(name, rows) FROM system.parts
            WHERE database = '{db}' AND table = 'deal_inventory_checks' AND active)
        UNION ALL
        SELECT rfq_id FROM {db}.deal_inventory_cells
        WHERE cell_us = if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0)) AND %(bucket_us)s % 60000000 = 0)
    GROUP BY symbol, bucket_us
    UNION ALL
    -- a hedge BUY: the desk receives base, pays price * quantity + the venue fee
    SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us,
           sum(toDecimal128(if(side = 'BUY', 1, -1) * qty_base, 12)) AS part_base,
           sum(toDecimal128(if(side = 'BUY', -1, 1) * price_quote * qty_base - fee, 22)) AS part_cash,
           toInt64(count()) AS part_rows
    FROM
    (
        SELECT symbol, ts_us, side, qty_base, price_quote, fee
        FROM {db}.fills FINAL
        WHERE exec_type = 'FILL' AND ts_us < if(%(bucket_us)s % 60000000 = 0, toInt64(%(until_us)s), toInt64(0))
          AND ts <= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0, toInt64(%(until_us)s), toInt64(0)), 1000000), 4294967295), 'UTC')
          AND rfq_id IN (
            SELECT rfq_id FROM {db}.deal_inventory_checks
            WHERE finalizeAggregation(event_rows) != finalizeAggregation(event_ids) OR _part NOT IN (
                SELECT argMax(name, rows) FROM system.parts
                WHERE database = '{db}' AND table = 'deal_inventory_checks' AND active)
            UNION ALL
            SELECT rfq_id FROM {db}.deal_inventory_cells
            WHERE cell_us = if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0)) AND %(bucket_us)s % 60000000 = 0)
        ORDER BY _offset
        LIMIT 1 BY rfq_id, fill_id
    )
    GROUP BY symbol, bucket_us
    UNION ALL
    -- a bucket that is not whole minutes: every row from the raw tables (the branches above read
    -- nothing then, and these read no partition otherwise)
    SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us,
           sum(toDecimal128(if(side = 'BUY', -1, 1) * qty_base, 12)) AS part_base,
           sum(toDecimal128(if(side = 'BUY', 1, -1) * notional_quote + fee_quote, 22)) AS part_cash,
           toInt64(count()) AS part_rows
    FROM {db}.trades FINAL
    WHERE ts_us < if(%(bucket_us)s % 60000000 = 0, toInt64(0), toInt64(%(until_us)s))
      AND ts <= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0, toInt64(0), toInt64(%(until_us)s)), 1000000), 4294967295), 'UTC')
    GROUP BY symbol, bucket_us
    UNION ALL
    SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS bucket_us,
           sum(toDecimal128(if(side = 'BUY', 1, -1) * qty_base, 12)) AS part_base,
           sum(toDecimal128(if(side = 'BUY', -1, 1) * price_quote * qty_base - fee, 22)) AS part_cash,
           toInt64(count()) AS part_rows
    FROM
    (
        SELECT symbol, ts_us, side, qty_base, price_quote, fee
        FROM {db}.fills FINAL
        WHERE exec_type = 'FILL' AND ts_us < if(%(bucket_us)s % 60000000 = 0, toInt64(0), toInt64(%(until_us)s))
          AND ts <= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0, toInt64(0), toInt64(%(until_us)s)), 1000000), 4294967295), 'UTC')
        ORDER BY _offset
        LIMIT 1 BY rfq_id, fill_id
    )
    GROUP BY symbol, bucket_us
) AS moves
ALL INNER JOIN
(
    -- every bucket to report, with its mark: the latest price of the bucket (at the same
    -- microsecond, the first in the raw tables' order: smallest rfq_id or venue, then event_id)
    SELECT symbol, upto_us, argMax(mark, mark_us) AS mark_at
    FROM
    (
        -- whole minutes before the cut, from the minute of since_us on
        SELECT symbol, intDiv(cell_us, %(bucket_us)s) * %(bucket_us)s AS upto_us,
               argMinMerge(mark) AS mark, maxMerge(mark_us) AS mark_us
        FROM {db}.deal_inventory_marks
        WHERE cell_us < if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0))
          AND cell_us >= intDiv(%(since_us)s, 60000000) * 60000000
        GROUP BY symbol, upto_us
        UNION ALL
        -- from the cut on, the raw rows
        SELECT symbol, intDiv(ts_us, %(bucket_us)s) * %(bucket_us)s AS upto_us,
               argMin(raw_mark, tuple(-ts_us, first_key, event_id)) AS mark, max(ts_us) AS mark_us
        FROM
        (
            SELECT symbol, ts_us, rfq_id AS first_key, event_id, toDecimal128(arrival_mid_quote, 10) AS raw_mark
            FROM {db}.trades FINAL
            WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
              AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
              AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
              AND ts_us >= if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0))
              AND ts >= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0,
                    toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0)), 1000000), 4294967295), 'UTC')
            UNION ALL
            SELECT symbol, ts_us, rfq_id AS first_key, event_id, toDecimal128(price_quote, 10) AS raw_mark
            FROM {db}.fills FINAL
            WHERE exec_type = 'FILL' AND ts_us >= %(since_us)s AND ts_us < %(until_us)s
              AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
              AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
              AND ts_us >= if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0))
              AND ts >= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0,
                    toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0)), 1000000), 4294967295), 'UTC')
            UNION ALL
            SELECT symbol, ts_us, CAST(venue AS String) AS first_key, event_id,
                   toDecimal128((arrayElement(bids.price_quote, 1) + arrayElement(asks.price_quote, 1)) / 2, 10) AS raw_mark
            FROM {db}.prices FINAL
            WHERE notEmpty(bids.price_quote) AND notEmpty(asks.price_quote)
              AND ts_us >= %(since_us)s AND ts_us < %(until_us)s
              AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
              AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
              AND ts_us >= if(%(bucket_us)s % 60000000 = 0, toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0))
              AND ts >= toDateTime(least(intDiv(if(%(bucket_us)s % 60000000 = 0,
                    toInt64(intDiv(%(until_us)s, 60000000) * 60000000), toInt64(0)), 1000000), 4294967295), 'UTC')
        )
        GROUP BY symbol, upto_us
    )
    GROUP BY symbol, upto_us
    HAVING max(mark_us) >= %(since_us)s
) AS buckets USING symbol
WHERE bucket_us <= upto_us
GROUP BY symbol, upto_us
HAVING sum(part_rows) > 0
ORDER BY upto_us, symbol
