-- hit_ratio: Hit ratio by client and size bucket
-- Of the firm quotes the desk sent each client, how many the client took (a trade booked on the
-- quote), per size bucket of the quote's notional at mid. The buckets are the desk's own size
-- tiers of the spread (settings.quote.size_tier_bps): a quote belongs to the highest edge its
-- notional reaches. Quotes count once (FINAL); a quote whose RFQ was refused has no row here.
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
    qty_base * mid_price_quote AS notional_at_mid,
    arrayMap(e -> toDecimal128(e, 2), %(bucket_edges_quote)s) AS edges,
    arrayCount(e -> notional_at_mid >= e, edges) AS bucket
SELECT
    client_id,
    arrayElement(%(bucket_labels)s, bucket) AS size_bucket,
    count() AS quotes,
    countIf(trade_id != '') AS trades,
    round(trades / quotes, 4) AS hit_ratio,
    sumIf(notional_quote, trade_id != '') AS traded_notional_quote
FROM
(
    SELECT quote_id, client_id, qty_base, mid_price_quote
    FROM {db}.quotes FINAL
    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
) AS quoted
ANY LEFT JOIN
(
    SELECT quote_id, trade_id, notional_quote
    FROM {db}.trades FINAL
) AS traded USING quote_id
GROUP BY client_id, bucket
ORDER BY client_id, bucket
