-- hit_ratio: Hit ratio by client and size bucket
-- Of the firm quotes the desk sent each client, how many the client took (a trade booked on the
-- quote), per size bucket of the quote's notional at mid. The buckets are the desk's own size
-- tiers of the spread (settings.quote.size_tier_bps): a quote belongs to the highest edge its
-- notional reaches. Quotes count once; a quote whose RFQ was refused has no row here.
-- One row per quote from deal_quote (the quote and whether a trade was booked on it, kept by
-- materialized views; every state idempotent, so redelivered copies count once). Rows of the
-- partitions' largest parts are read as they are; the RFQs that also have rows elsewhere (not
-- merged yet) or a trade row without its quote in the same part (a quote and its trade in two
-- months) are merged here, reading only their granules. A `--since` window reads the months from
-- its start on (a trade comes after its quote).
-- The RFQs to merge are found once (GLOBAL IN: 18.16 builds a plain IN's set again at every
-- nesting level); the merge reads only their rows (PREWHERE on rfq_id, then their states).
-- columns:
--   client_id       the client
--   size_bucket     notional at mid, in quote currency ('1M-5M')
--   quotes          firm quotes sent
--   trades          quotes that became a trade
--   hit_ratio       trades / quotes
--   traded_notional_quote   notional of those trades
-- params:
--   since_us        quotes sent at or after this event time (epoch us)
--   until_us        quotes sent before this event time (epoch us)
--   bucket_edges_quote      lower edge of each bucket, ascending, the first 0
--   bucket_labels   a label per bucket, same order
WITH
    notional_at_mid AS at_mid,  -- a lambda reads a WITH alias, not a column of the subquery (18.16)
    -- a constant (CAST folds once per query; a lambda would convert the edges again on every row)
    CAST(%(bucket_edges_quote)s AS Array(Decimal(38, 2))) AS edges,
    arrayCount(e -> at_mid >= e, edges) AS bucket
SELECT
    client_id,
    arrayElement(%(bucket_labels)s, bucket) AS size_bucket,
    count() AS quotes,
    countIf(is_traded = 1) AS trades,
    round(trades / quotes, 4) AS hit_ratio,
    sumIf(notional_quote, is_traded = 1) AS traded_notional_quote
FROM
(
    -- quotes whose RFQ has all its rows in one part, each with its quote: as they are
    SELECT
        toUInt8(1) AS is_quoted,
        finalizeAggregation(quote_us) AS quoted_us,
        finalizeAggregation(quote_client) AS client_id,
        finalizeAggregation(quote_notional_at_mid) AS notional_at_mid,
        finalizeAggregation(traded) AS is_traded,
        finalizeAggregation(trade_notional) AS notional_quote
    FROM {db}.deal_quote
    WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
      AND rfq_id GLOBAL NOT IN (
        SELECT rfq_id FROM {db}.deal_quote
        WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
          AND (finalizeAggregation(quoted) = 0 OR _part NOT IN (
            SELECT argMax(name, rows) FROM system.parts
            WHERE database = '{db}' AND table = 'deal_quote' AND active GROUP BY partition)))
    UNION ALL
    SELECT
        maxIfMerge(quoted) AS is_quoted,
        minIfMerge(quote_us) AS quoted_us,
        anyIfMerge(quote_client) AS client_id,
        maxIfMerge(quote_notional_at_mid) AS notional_at_mid,
        maxIfMerge(traded) AS is_traded,
        argMaxIfMerge(trade_notional) AS notional_quote
    FROM {db}.deal_quote FINAL  -- folds a month's parts; the GROUP BY folds the months
    PREWHERE rfq_id GLOBAL IN (
        SELECT rfq_id FROM {db}.deal_quote
        WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
          AND (finalizeAggregation(quoted) = 0 OR _part NOT IN (
            SELECT argMax(name, rows) FROM system.parts
            WHERE database = '{db}' AND table = 'deal_quote' AND active GROUP BY partition)))
    WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
    GROUP BY rfq_id, quote_id
) AS quoted
WHERE is_quoted = 1 AND quoted_us >= %(since_us)s AND quoted_us < %(until_us)s
GROUP BY client_id, bucket
ORDER BY client_id, bucket
