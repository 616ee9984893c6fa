-- settlement_latency: Settlement latency by chain and leg: p50, p95, max
-- How long a settlement leg takes from the booking of its trade to its SETTLED event, per rail
-- (network and asset: BTC, ETH, TRON, WIRE for the USD wire) and leg (BASE moves the crypto,
-- QUOTE the cash), in seconds of event time. Legs that failed or timed out are counted apart;
-- legs still under way count in `open`. The time is the first SETTLED event of the leg; the
-- booking time is the trade read last.
-- One row per leg from deal_settlement (the leg's events and its trade's booking time, kept by
-- materialized views; every state idempotent, so redelivered copies count once). Rows of the
-- partitions' largest parts are read as they are; the RFQs that also have rows elsewhere (not
-- merged yet) or leg events without their trade in the same part (a leg settled in the month
-- after its trade) are merged here, reading only their granules. A `--since` window reads the
-- months from its start on (a leg's events come after its trade).
-- The RFQs to merge are found once (GLOBAL IN: 18.16 builds a plain IN's set again at every
-- nesting level); the merge reads only their rows (PREWHERE on rfq_id, then their states).
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
WITH
    -- both levels from one state: one copy of the latencies, not two (the values quantileExact
    -- gives for each level)
    quantilesExactIf(0.5, 0.95)(settled_at - booked_us, settled_at > 0) AS latencies
SELECT
    network,
    asset,
    leg,
    countIf(settled_at > 0) AS settled,
    countIf(settled_at = 0 AND leg_failed) AS failed,
    countIf(settled_at = 0 AND NOT leg_failed) AS open,
    round(latencies[1] / 1000000, 1) AS p50_s,
    round(latencies[2] / 1000000, 1) AS p95_s,
    round(maxIf(settled_at - booked_us, settled_at > 0) / 1000000, 1) AS max_s
FROM
(
    -- legs whose RFQ has all its rows in one part, each row a booked leg with events: as they are
    SELECT
        leg_name AS leg,
        toUInt8(1) AS is_booked,
        finalizeAggregation(trade_us) AS booked_us,
        toUInt8(1) AS has_events,
        finalizeAggregation(leg_network) AS network,
        finalizeAggregation(leg_asset) AS asset,
        finalizeAggregation(settled_us) AS settled_at,
        finalizeAggregation(failed) AS leg_failed
    FROM {db}.deal_settlement
    WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
      AND rfq_id GLOBAL NOT IN (
        SELECT rfq_id FROM {db}.deal_settlement
        WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
          AND (finalizeAggregation(booked) = 0 OR finalizeAggregation(leg_seen) = 0 OR _part NOT IN (
            SELECT argMax(name, rows) FROM system.parts
            WHERE database = '{db}' AND table = 'deal_settlement' AND active GROUP BY partition)))
    UNION ALL
    -- the other RFQs: each leg's states merged over all its rows, the booking over all the RFQ's
    -- legs (a leg the trades view writes no row for, a symbol added to the enum, still finds it)
    SELECT leg, is_booked, booked_us, has_events, network, asset, settled_at, leg_failed
    FROM
    (
        SELECT
            max(leg_booked) AS is_booked,
            maxIf(leg_booked_us, leg_booked = 1) AS booked_us,
            groupArray(leg_name) AS names,
            groupArray(leg_has_events) AS events,
            groupArray(leg_network_name) AS networks,
            groupArray(leg_asset_name) AS assets,
            groupArray(leg_settled_at) AS settled,
            groupArray(leg_failed_flag) AS fails
        FROM
        (
            SELECT
                rfq_id,
                leg_name,
                maxIfMerge(booked) AS leg_booked,
                argMaxIfMerge(trade_us) AS leg_booked_us,
                maxIfMerge(leg_seen) AS leg_has_events,
                anyIfMerge(leg_network) AS leg_network_name,
                anyIfMerge(leg_asset) AS leg_asset_name,
                minIfMerge(settled_us) AS leg_settled_at,
                maxIfMerge(failed) AS leg_failed_flag
            FROM {db}.deal_settlement FINAL  -- folds a month's parts; the GROUP BY folds the months
            PREWHERE rfq_id GLOBAL IN (
                SELECT rfq_id FROM {db}.deal_settlement
                WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
                  AND (finalizeAggregation(booked) = 0 OR finalizeAggregation(leg_seen) = 0 OR _part NOT IN (
                    SELECT argMax(name, rows) FROM system.parts
                    WHERE database = '{db}' AND table = 'deal_settlement' AND active GROUP BY partition)))
            WHERE month >= toStartOfMonth(toDateTime(intDiv(%(since_us)s, 1000000), 'UTC'))
            GROUP BY rfq_id, leg_name
        ) AS merged_legs
        GROUP BY rfq_id
    ) AS merged
    ARRAY JOIN names AS leg, events AS has_events, networks AS network, assets AS asset, settled AS settled_at,
        fails AS leg_failed
) AS legs
WHERE is_booked = 1 AND has_events = 1 AND booked_us >= %(since_us)s AND booked_us < %(until_us)s
GROUP BY network, asset, leg
ORDER BY network, asset, leg
