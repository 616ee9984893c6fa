-- blotter_deals: The newest deals the blotter shows
-- The first pass of blotter: the `limit` newest deals booked in the window, by trade time then
-- rfq_id, from deal_trade_times (0005: every trade's time and deal, ordered by time, partitioned
-- by month): the `limit`-th newest time from its numeric columns first, then the deals at or
-- after it from the last granules only, so the cost follows `limit`, not the history. blotter
-- reads the result as the external table `blotter_deals` (otcdesk/analytics/reports.py runs both).
-- columns:
--   rfq_id          a deal to show
-- params:
--   since_us        trades booked at or after this event time (epoch us)
--   until_us        trades booked before this event time (epoch us)
--   limit           deals shown (the report passes 2^62 for --limit 0: all)
SELECT rfq_id
FROM {db}.deal_trade_times FINAL
PREWHERE ts_us >= (
    SELECT min(ts_us) FROM (
        SELECT ts_us FROM {db}.deal_trade_times FINAL
        WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
          AND trade_ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
          AND trade_ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
        ORDER BY ts_us DESC
        LIMIT %(limit)s))
WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
  AND trade_ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
  AND trade_ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
ORDER BY ts_us DESC, rfq_id
LIMIT %(limit)s
