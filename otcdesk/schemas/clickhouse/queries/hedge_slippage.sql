-- hedge_slippage: Hedge slippage against the arrival mid and against the locked price, by venue
-- What each venue's hedge fills cost the desk, in basis points weighted by fill notional:
-- against the consolidated mid when the client's quote was built (`vs_mid_bps`: the market's
-- move plus the book walked) and against the price locked with the client (`vs_locked_bps`:
-- negative while the hedge stays inside the spread the client paid). Positive = a cost: a hedge
-- BUY above the reference, a hedge SELL below it. Venue fees are not in these figures (see
-- fill_quality). Fills count once per fill_id; only executions (exec_type FILL).
-- One row per deal and venue from deal_venues (the deal's locked price and mid with its fills'
-- sums by venue, kept by materialized views): the bps come from the deal-level sums. A deal whose
-- row cannot be trusted (a redelivered copy, a fill re-reported, fills straddling the window's edge,
-- a row not merged yet, ...: 0006_deal_venues.sql) is recomputed from the raw fills and trades,
-- reading only that deal's granules. Those deals are found first (passes/hedge_recount.sql) and
-- sent with this query as the external table `hedge_recount` (otcdesk/analytics/reports.py runs
-- both): 18.16 would run the subquery again at every place it is used, each time over every deal.
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
SELECT
    venue,
    symbol,
    sum(fill_count) AS fills,
    sum(qty) AS qty_base,
    sum(notional) AS notional_quote,
    -- Decimal bps: cut to 6 decimals before dividing so Decimal128 cannot overflow
    round(toDecimal128(sum(cost_vs_mid) * 10000, 6) / toDecimal128(sum(at_mid), 6), 2) AS vs_mid_bps,
    round(toDecimal128(sum(cost_vs_locked) * 10000, 6) / toDecimal128(sum(at_locked), 6), 2) AS vs_locked_bps,
    round(toDecimal128(max(worst) * 10000, 6), 2) AS worst_vs_mid_bps
FROM
(
    -- (deal, venue) rows from deal_venues: the largest part of each month as it is (no FINAL), the
    -- deals to recount (a row in another part, not merged yet, among them) go to the raw branch below
    SELECT
        arrayElement(['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN'], slot) AS venue,
        symbol,
        slot_fills AS fill_count,
        toDecimal128(slot_qty, 12) AS qty,
        toDecimal128(slot_notional, 22) AS notional,
        toDecimal128(sign * (slot_notional - mid * slot_qty), 22) AS cost_vs_mid,
        toDecimal128(mid * slot_qty, 22) AS at_mid,
        toDecimal128(sign * (slot_notional - price * slot_qty), 22) AS cost_vs_locked,
        toDecimal128(price * slot_qty, 22) AS at_locked,
        toDecimal128((arrayElement(worst_prices, slot) - sign * mid) / mid, 10) AS worst
    FROM
    (
        SELECT
            finalizeAggregation(fill_symbol) AS symbol,
            if(finalizeAggregation(fill_side) = 'BUY', 1, -1) AS sign,
            finalizeAggregation(trade_price) AS price,
            finalizeAggregation(trade_mid) AS mid,
            finalizeAggregation(fill_sums) AS sums,
            finalizeAggregation(fill_worst) AS worst_prices
        FROM
        (
            SELECT
                deal,
                fill_symbol, fill_side, trade_price, trade_mid, fill_sums, fill_worst,
                finalizeAggregation(first_fill_us) AS first_us,
                finalizeAggregation(last_fill_us) AS last_us
            FROM {db}.deal_venues
            WHERE month >= toYYYYMM(toDateTime(greatest(intDiv(%(since_us)s, 1000000), 0), 'UTC'))
                  AND month <= toYYYYMM(toDateTime(least(intDiv(%(until_us)s, 1000000), 4102444800), 'UTC'))
              AND _part IN (SELECT argMax(name, rows) FROM system.parts
                    WHERE database = '{db}' AND table = 'deal_venues' AND active GROUP BY partition)
        )
        -- every other row the first pass flags (a copy, a re-report, several kinds, an odd venue,
        -- fills without a trade) is in hedge_recount, or holds no fill (its sums are empty)
        WHERE first_us >= %(since_us)s AND last_us < %(until_us)s
          AND deal NOT IN (SELECT deal FROM hedge_recount)
    )
    ARRAY JOIN sums.1 AS slot, sums.2 AS slot_fills, sums.3 AS slot_qty, sums.4 AS slot_notional
    UNION ALL
    -- the deals deal_venues cannot answer (hedge_recount), from the raw events: fills once per
    -- fill_id (the first copy read), each with its deal's trade read last, their rows read through
    -- PREWHERE on rfq_id: the fills of the window's months, the trades of any month (a deal's trade
    -- may lie in an earlier month)
    SELECT
        fill_venue AS venue,
        symbol,
        toUInt64(1) AS fill_count,
        toDecimal128(fill_qty_base, 12) AS qty,
        toDecimal128(price_quote * fill_qty_base, 22) AS notional,
        toDecimal128(sign * (price_quote - arrival_mid_quote) * fill_qty_base, 22) AS cost_vs_mid,
        toDecimal128(arrival_mid_quote * fill_qty_base, 22) AS at_mid,
        toDecimal128(sign * (price_quote - locked_price_quote) * fill_qty_base, 22) AS cost_vs_locked,
        toDecimal128(locked_price_quote * fill_qty_base, 22) AS at_locked,
        toDecimal128(sign * (price_quote - arrival_mid_quote) / arrival_mid_quote, 10) AS worst
    FROM
    (
        SELECT rfq_id, CAST(venue AS String) AS fill_venue, symbol, if(side = 'BUY', 1, -1) AS sign, price_quote,
               qty_base AS fill_qty_base
        FROM {db}.fills FINAL
        PREWHERE rfq_id IN (SELECT rfq_id FROM hedge_recount)
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
        PREWHERE rfq_id IN (SELECT rfq_id FROM hedge_recount)
        ORDER BY rfq_id, _offset DESC
        LIMIT 1 BY rfq_id
    ) AS booked USING rfq_id
)
GROUP BY venue, symbol
ORDER BY venue, symbol
