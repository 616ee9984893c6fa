-- hedge_recount: The deals hedge_slippage recomputes from the raw fills and trades
-- The first pass of hedge_slippage: the deals of the window's months whose deal_venues row cannot
-- be trusted (0006_deal_venues.sql): a row in a part other than its month's largest (not merged
-- yet), a redelivered copy or a fill re-reported (rows != fill ids), fills of several kinds or an
-- odd venue, fills without a trade in the month, fills straddling the window's edge. Their deal
-- key too, with which hedge_slippage leaves them out of its deal_venues branch.
-- columns:
--   rfq_id          a deal to recompute
--   deal            its key in deal_venues (cityHash64(rfq_id))
-- params:
--   since_us        fills at or after this event time (epoch us)
--   until_us        fills before this event time (epoch us)
SELECT rfq_id, deal
FROM
(
    SELECT
        rfq_id,
        deal,
        _part NOT IN (SELECT argMax(name, rows) FROM system.parts
        WHERE database = '{db}' AND table = 'deal_venues' AND active GROUP BY partition) AS unmerged,
        finalizeAggregation(fill_rows) AS rows_in,
        finalizeAggregation(fill_ids) AS ids_in,
        finalizeAggregation(fill_kinds) AS kinds,
        finalizeAggregation(odd_venue) AS odd,
        finalizeAggregation(booked) AS has_trade,
        finalizeAggregation(first_fill_us) AS first_us,
        finalizeAggregation(last_fill_us) AS last_us
    FROM {db}.deal_venues
    WHERE month >= toYYYYMM(toDateTime(greatest(intDiv(%(since_us)s, 1000000), 0), 'UTC'))
      AND month <= toYYYYMM(toDateTime(least(intDiv(%(until_us)s, 1000000), 4102444800), 'UTC'))
)
WHERE unmerged OR rows_in != ids_in OR kinds > 1 OR odd = 1 OR (rows_in > 0 AND has_trade = 0)
   OR (kinds = 1 AND first_us < %(until_us)s AND last_us >= %(since_us)s
       AND NOT (first_us >= %(since_us)s AND last_us < %(until_us)s))
