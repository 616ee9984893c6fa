-- settlement_latency: Settlement latency by chain and leg: p50, p95, max
-- How long a settlement leg takes from the booking of its trade to its SETTLED event, per rail
-- (network and asset: BTC, ETH, TRON, WIRE for the USD wire) and leg (BASE moves the crypto,
-- QUOTE the cash), in seconds of event time. Legs that failed or timed out are counted apart;
-- legs still under way count in `open`. The time is the first SETTLED event of the leg (a replay
-- stores the same event id, FINAL keeps one).
-- columns:
--   network         BTC, ETH, TRON or WIRE
--   asset           what moved (BTC, ETH, USDT, USD)
--   leg             BASE or QUOTE
--   settled         legs settled
--   failed          legs FAILED or TIMED_OUT
--   open            legs still under way
--   p50_s           median seconds from booking to settled
--   p95_s           95th percentile
--   max_s           slowest
-- params:
--   since_us        trades booked at or after this event time (epoch us)
--   until_us        trades booked before this event time (epoch us)
SELECT
    network,
    asset,
    leg,
    countIf(settled_us > 0) AS settled,
    countIf(settled_us = 0 AND leg_failed) AS failed,
    countIf(settled_us = 0 AND NOT leg_failed) AS open,
    round(quantileExactIf(0.5)(settled_us - trade_us, settled_us > 0) / 1000000, 1) AS p50_s,
    round(quantileExactIf(0.95)(settled_us - trade_us, settled_us > 0) / 1000000, 1) AS p95_s,
    round(maxIf(settled_us - trade_us, settled_us > 0) / 1000000, 1) AS max_s
FROM
(
    SELECT
        rfq_id,
        settlement_id,
        any(network) AS network,
        any(asset) AS asset,
        any(leg) AS leg,
        minIf(ts_us, state = 'SETTLED') AS settled_us,
        countIf(state IN ('FAILED', 'TIMED_OUT')) > 0 AS leg_failed
    FROM {db}.settlements FINAL
    GROUP BY rfq_id, settlement_id
) AS legs
ALL INNER JOIN
(
    SELECT rfq_id, ts_us AS trade_us
    FROM {db}.trades FINAL
    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
    ORDER BY rfq_id, _offset DESC
    LIMIT 1 BY rfq_id
) AS booked USING rfq_id
GROUP BY network, asset, leg
ORDER BY network, asset, leg
