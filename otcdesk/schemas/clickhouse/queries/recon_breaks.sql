-- recon_breaks: Reconciliation breaks recomputed from the raw event tables
-- One row per break, by the rules of the streaming reconciliation (otcdesk/recon.py `assess`),
-- from trades, orders, fills and settlements only (and the per-deal tables their views keep): the
-- `recon` table is not read, so the two can be compared (tests/unit/test_recon_sql.py and
-- tests/integration/test_recon_sql.py prove they
-- agree deal by deal and kind by kind on a session with injected faults). Events are deduplicated
-- by event_id as FINAL would (the copy inserted last: the latest `inserted_at`, then the latest
-- offset), with LIMIT 1 BY over the candidates' rows: FINAL would merge every granule the
-- candidates touch, which over millions of deals is most of each table; "arrival order" (which copy of a fill counts, the latest order report on
-- a tie, the first settlement before the trade) is the Kafka offset the sink stored in `_offset`,
-- the order in which the recon stage read the deal's single partition.
-- A deal is judged at `as_of_us`, or when it is 0 at its own latest event time, as the stage does
-- when an event arrives; the stage's timer judges open deals at the desk clock, which `as_of_us`
-- reproduces. Differences from otcdesk/recon.py, on purpose or by necessity (docs/clickhouse.md):
-- a fill reported again under its fill_id whose first copy was itself an economic twin of another
-- fill is counted as one group here; the average fill price is truncated at 12 decimals before
-- the price check (recon divides with 28 significant digits); a symbol no instrument lists gets no
-- QUANTITY check (recon raises KeyError); the texts (expected, actual, detail) print decimals
-- without trailing zeros and the DUPLICATE_FILL detail is one sentence for both causes, so they
-- are not byte-equal to the stream's.
-- First passes, so that a desk whose deals are clean does not group every event by rfq_id:
-- passes/recon_candidates.sql finds the deals whose per-deal bounds cannot prove them free of
-- every break but FEE, and passes/fee_breaks.sql the FILL rows charged off schedule (read from
-- deal_fill_fees by fee rate, once per instrument). This query reads them as the external tables
-- `recon_candidates` and `fee_breaks`, sent with it (otcdesk/analytics/reports.py runs the passes),
-- applies its exact rules to the candidates' events only (`rfq_id IN recon_candidates` in each
-- table's PREWHERE, a kept fill's fee looked up in `fee_breaks`), and reports the fee_breaks rows
-- of every other deal as they are. With no candidate and no fee break it is not run at all.
-- The bounds hold whatever the parameters, so the result is the one pass over every deal would
-- give (tests/unit/test_recon_candidates.py compares the two).
-- columns:
--   rfq_id          the deal
--   trade_id        its trade
--   kind            QUANTITY, PRICE, FEE, MISSING_FILL, DUPLICATE_FILL, TIMESTAMP_ORDER,
--                   SETTLEMENT_AMOUNT, TX_HASH or CONFIRMATIONS (otcdesk.events.BreakKind)
--   subject         what the break is about: a fill_id (FEE, TIMESTAMP_ORDER, and the fill
--                   kept for DUPLICATE_FILL), an order_id (MISSING_FILL), a settlement_id
--                   (TIMESTAMP_ORDER), a leg BASE/QUOTE (settlement kinds), '' deal-wide
--   expected        what the desk expected, as text
--   actual          what the event log says, as text
--   detail          the same sentence as the stream's ReconBreak.detail
--   judged_at_us    the instant the deal was judged (epoch us)
-- params:
--   since_us        deals booked at or after this event time (epoch us)
--   until_us        deals booked before this event time (epoch us)
--   as_of_us        judge every deal at this instant; 0 = each at its latest event time
--   price_tolerance_bps     recon.price_tolerance_bps, |avg fill - locked price| allowed
--   fill_timeout_us         recon.fill_timeout_s in us: an order report with fills absent
--   deal_timeout_us         recon.deal_timeout_s in us: what is still missing becomes a break
--   venue_source_prefix     `source` prefix of a venue's order report (venue_sim)
--   settlement_states       SettlementState symbols in machine order (ties of a leg's latest)
--   lot_symbols     desk symbols
--   lot_sizes       their hedge lot (hedging.hedge_lot: the coarsest lot of the venues)
--   tier_rails      'ASSET@NETWORK' rails with confirmation tiers (settings.settlement)
--   tier_thresholds     per rail, the amount thresholds in ascending order
--   tier_confirmations  per rail, the confirmations of each threshold
--   min_conf_networks   networks with a minimum number of confirmations
--   min_conf_values     that minimum (1 for a network not listed)
--   crypto_networks     networks whose settled legs need a tx hash and confirmations
--   tx_hash_regex   `^(?:NETWORK:(?:format)|...)$` of settlement.policy.TX_HASH_FORMATS
-- 18.16 rules this text follows (docs/clickhouse.md): a lambda reads only its arguments, constants
-- and WITH aliases (a column read only inside a lambda is not delivered: "Unknown identifier"), and
-- never in a SELECT that aggregates; single conditional breaks use arraySlice([b], 1, flag); no
-- decimal in groupArray nor in a GROUP BY key next to others (the server crashes); `greatest`
-- takes two arguments; joined subqueries are aliased (the current engine requires it).
SELECT
    rfq_id,
    trade_id,
    kind,
    subject,
    replaceRegexpAll(expected_text, '(\\.[0-9]*[1-9])0+\\b|\\.0+\\b', '\\1') AS expected,
    replaceRegexpAll(actual_text, '(\\.[0-9]*[1-9])0+\\b|\\.0+\\b', '\\1') AS actual,
    replaceRegexpAll(detail_text, '(\\.[0-9]*[1-9])0+\\b|\\.0+\\b', '\\1') AS detail,
    judged_at_us
FROM
(
-- the candidates, by the exact rules (its own subquery: a current engine gives a WITH before a
-- UNION to every branch)
SELECT *
FROM
(
WITH
    -- per deal: the trade, its hedge and its settlement legs (the joins below)
    order_checks AS orders_to_check,
    fill_times AS fills_to_check,
    settlement_events AS settlement_events_read,
    legs_seen AS legs_present,
    leg_amounts AS legs_amount,
    leg_states AS legs_state,
    leg_reasons AS legs_reason,
    trade_us AS booked_us,
    if(%(as_of_us)s > 0, toInt64(%(as_of_us)s), greatest(trade_us, greatest(hedge_last_us, legs_last_us))) AS judged_at_us,
    judged_at_us - trade_us >= %(deal_timeout_us)s AS timed_out,
    if(side = 'BUY', 1, -1) AS sign,
    if(side = 'BUY', notional_quote + fee_quote, notional_quote - fee_quote) AS quote_leg_amount,
    has(%(lot_symbols)s, symbol) AS known_symbol,
    toDecimal128(arrayElement(%(lot_sizes)s, greatest(indexOf(%(lot_symbols)s, symbol), 1)), 12) AS lot,
    -- avg = notional / hedged: the notional (scale 22) is cut to 12 decimals first, or the
    -- Decimal128 division overflows; the divisor is never 0 (ClickHouse evaluates both branches)
    toDecimal128(hedged_notional, 12) / greatest(hedged_base, toDecimal128('0.000000000001', 12)) AS avg_fill,
    sign * (avg_fill - price_quote) * 10000 / price_quote AS slippage_bps,
    known_symbol AND hedged_base - qty_base >= lot AS over_hedged,
    known_symbol AND NOT over_hedged AND timed_out AND qty_base - hedged_base >= lot AS under_hedged,
    hedged_base > 0 AND abs(slippage_bps) > toDecimal128(%(price_tolerance_bps)s, 6) AS price_off,
    ['BASE', 'QUOTE'] AS leg_names,
    [toString(qty_base), toString(quote_leg_amount)] AS leg_expected,
    arrayMap(l -> indexOf(legs_present, l), leg_names) AS leg_at,
    arrayConcat(
        -- arraySlice([b], 1, flag): [b] when flag is 1, else an empty array of b's type
        arraySlice([('QUANTITY', '', toString(qty_base), toString(hedged_base), 'over-hedged beyond lot precision')],
                   1, over_hedged),
        arraySlice([('QUANTITY', '', toString(qty_base), toString(hedged_base), 'under-hedged at deal timeout')],
                   1, under_hedged),
        arraySlice([('PRICE', '', toString(price_quote), toString(round(avg_fill, 10)),
                     concat('avg fill ', toString(round(slippage_bps, 2)), ' bps from locked price (tolerance ',
                            %(price_tolerance_bps)s, ')'))], 1, price_off),
        fill_breaks,
        -- MISSING_FILL; o = (order, reported, got, reported > got, last report us, unanswered, sent us)
        arrayMap(o -> if(o.4 AND judged_at_us - o.5 >= %(fill_timeout_us)s,
                         ('MISSING_FILL', o.1, o.2, o.3, concat('order ', o.1, ': reported filled, fills absent')),
                         ('MISSING_FILL', o.1, 'an execution report', 'none',
                          concat('order ', o.1, ': no fill, reject or venue report after ',
                                 toString(intDiv(%(fill_timeout_us)s, 1000000)), ' s'))),
                 arrayFilter(o -> (o.4 AND judged_at_us - o.5 >= %(fill_timeout_us)s)
                                  OR (o.6 AND judged_at_us - o.7 >= %(fill_timeout_us)s), orders_to_check)),
        -- TIMESTAMP_ORDER of fills; f = (fill, ts, min(ts, order ts), order sent or 0, before its order)
        arrayMap(f -> ('TIMESTAMP_ORDER', f.1, concat('>= ', toString(if(f.4 > 0, f.4, booked_us))), toString(f.3),
                       concat('fill ', f.1, ' stamped before its order or trade')),
                 arrayFilter(f -> f.2 < booked_us OR f.5, fills_to_check)),
        -- ... and of the first settlement event (arrival order) stamped before the trade
        arrayMap(e -> ('TIMESTAMP_ORDER', e.3, concat('>= ', toString(booked_us)), toString(e.2),
                       concat('settlement ', e.3, ' ', e.4, ' before the trade')),
                 arraySlice(arraySort(arrayFilter(e -> e.2 < booked_us, settlement_events_read)), 1, 1)),
        -- settlement legs; k = 1 BASE, 2 QUOTE; leg_at[k] = 0 when the leg has no event
        arrayMap(k -> ('SETTLEMENT_AMOUNT', leg_names[k], leg_expected[k], '0',
                       concat(leg_names[k], ' leg: no settlement by deal timeout')),
                 arrayFilter(k -> leg_at[k] = 0 AND timed_out, [1, 2])),
        arrayMap(k -> ('SETTLEMENT_AMOUNT', leg_names[k], leg_expected[k], legs_amount[leg_at[k]],
                       concat(leg_names[k], ' leg amount')),
                 arrayFilter(k -> leg_at[k] > 0 AND toDecimal128(leg_expected[k], 12)
                                  != toDecimal128(if(leg_at[k] > 0, legs_amount[leg_at[k]], '0'), 12), [1, 2])),
        arrayMap(k -> ('SETTLEMENT_AMOUNT', leg_names[k], leg_expected[k], '0',
                       concat(leg_names[k], ' leg ', legs_state[leg_at[k]], ': ', legs_reason[leg_at[k]])),
                 arrayFilter(k -> leg_at[k] > 0 AND has(['FAILED', 'TIMED_OUT'], legs_state[leg_at[k]]), [1, 2])),
        arrayMap(k -> ('SETTLEMENT_AMOUNT', leg_names[k], leg_expected[k], '0',
                       concat(leg_names[k], ' leg ', legs_state[leg_at[k]], ' at deal timeout')),
                 arrayFilter(k -> leg_at[k] > 0 AND timed_out
                                  AND NOT has(['SETTLED', 'FAILED', 'TIMED_OUT'], legs_state[leg_at[k]]), [1, 2])),
        chain_breaks
    ) AS breaks,
    arrayJoin(breaks) AS brk
SELECT
    rfq_id,
    trade_id,
    brk.1 AS kind,
    brk.2 AS subject,
    brk.3 AS expected_text,
    brk.4 AS actual_text,
    brk.5 AS detail_text,
    judged_at_us
FROM
(
    SELECT *
    FROM
    (
        SELECT *
        FROM
        (
            -- the trade: the last one read if a deal ever had two, as ReconState keeps
            SELECT rfq_id, trade_id, symbol, side, qty_base, price_quote, notional_quote, fee_quote, ts_us AS trade_us
            FROM
            (
                -- one row per event_id, as FINAL keeps it (the latest insert), over the candidates' rows only
                SELECT *
                FROM {db}.trades
                PREWHERE rfq_id IN recon_candidates
                  AND ts_us >= %(since_us)s AND ts_us < %(until_us)s
                  AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
                  AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
                ORDER BY rfq_id, event_id, inserted_at DESC, _offset DESC
                LIMIT 1 BY rfq_id, event_id
            )
            ORDER BY rfq_id, _offset DESC
            LIMIT 1 BY rfq_id
        ) AS booked
        ANY LEFT JOIN
        (
            -- the hedge per deal, from one row per order
            SELECT
                rfq_id,
                sum(got_base) AS hedged_base,
                sum(got_notional) AS hedged_notional,
                max(last_us) AS hedge_last_us,
                groupArrayArray(breaks_of_order_fills) AS fill_breaks,
                groupArrayArray(times_of_order_fills) AS fill_times,
                groupArrayIf((order_id, toString(reported), toString(got_base), reported > got_base, last_report_us,
                              unanswered, sent_us), is_order) AS order_checks
            FROM
            (
                -- each order with its kept fills (fills of an order never seen too)
                SELECT
                    rfq_id,
                    order_id,
                    sumIf(qty_base, exec_type = 'FILL') AS got_base,
                    sumIf(qty_base * price_quote, exec_type = 'FILL') AS got_notional,
                    greatest(max(fill_last_us), any(order_last_us)) AS last_us,
                    any(has_desk) OR any(has_venue) AS is_order,
                    any(reported_qty) AS reported,
                    any(order_last_us) AS last_report_us,
                    any(has_desk) AND NOT any(has_venue) AND countIf(kept_fill_id != '') = 0 AS unanswered,
                    any(sent_at_us) AS sent_us,
                    groupArrayArray(breaks_of_fill) AS breaks_of_order_fills,
                    groupArrayIf((kept_fill_id, ts_us, least(ts_us, order_ts_us), if(has_desk, sent_at_us, 0),
                                  has_desk AND least(ts_us, order_ts_us) < sent_at_us),
                                 kept_fill_id != '') AS times_of_order_fills
                FROM
                (
                    -- per order: sent when, and the filled quantity of the desk's and the venue's
                    -- latest report (latest = event time, then arrival)
                    SELECT
                        rfq_id,
                        order_id,
                        countIf(NOT is_venue) > 0 AS has_desk,
                        countIf(is_venue) > 0 AS has_venue,
                        minIf(ts_us, NOT is_venue) AS sent_at_us,
                        greatest(argMaxIf(filled_qty_base, (ts_us, _offset), NOT is_venue),
                                 argMaxIf(filled_qty_base, (ts_us, _offset), is_venue)) AS reported_qty,
                        max(ts_us) AS order_last_us
                    FROM
                    (
                        SELECT rfq_id, order_id, ts_us, _offset, filled_qty_base,
                               startsWith(source, %(venue_source_prefix)s) AS is_venue
                        FROM
                        (
                            -- one row per event_id, as FINAL keeps it (the latest insert), over the candidates' rows only
                            SELECT *
                            FROM {db}.orders
                            PREWHERE rfq_id IN recon_candidates
                            ORDER BY rfq_id, event_id, inserted_at DESC, _offset DESC
                            LIMIT 1 BY rfq_id, event_id
                        )
                    )
                    GROUP BY rfq_id, order_id
                ) AS order_states
                ALL FULL OUTER JOIN
                (
                    -- the fills that count, with their own breaks: a fee off schedule (the kept copy's row
                    -- in the fee_breaks pass) and duplicates
                    SELECT
                        *,
                        ('FEE', kept_fill_id, fee_expected, fee_actual, fee_detail) AS fee_break,
                        ('DUPLICATE_FILL', kept_fill_id, '1', '2',
                         concat('fill ', kept_fill_id, ' reported again (same fill_id or identical economics)')) AS duplicate_break,
                        arrayConcat(arrayResize([duplicate_break], duplicates, duplicate_break),
                                    arraySlice([fee_break], 1, fee_off)) AS breaks_of_fill
                    FROM
                    (
                        -- one per economics (recon's second dedup): the first fill_id read, and
                        -- every other copy counted as a duplicate
                        SELECT
                            rfq_id,
                            argMin(fill_id, first_arrival) AS kept_fill_id,
                            argMin(first, first_arrival) AS kept,
                            kept.1 AS order_id,
                            kept.2 AS venue,
                            kept.3 AS symbol,
                            kept.4 AS exec_type,
                            kept.5 AS price_quote,
                            kept.6 AS qty_base,
                            kept.7 AS fee,
                            kept.8 AS fee_currency,
                            kept.9 AS ts_us,
                            kept.10 AS order_ts_us,
                            kept.11 AS kept_event_id,
                            kept.12 AS kept_offset,
                            max(last_us) AS fill_last_us,
                            toUInt64(sum(copies) - 1) AS duplicates
                        FROM
                        (
                            -- one per fill_id (recon's first dedup): its first copy read
                            SELECT
                                rfq_id,
                                fill_id,
                                argMin((order_id, venue, symbol, exec_type, price_quote, qty_base, fee, fee_currency,
                                        ts_us, order_ts_us, event_id, _offset), (_offset, ts_us, event_id)) AS first,
                                min((_offset, ts_us, event_id)) AS first_arrival,
                                count() AS copies,
                                max(ts_us) AS last_us,
                                -- the economics key of a FILL, decimals as text (a Decimal128 key
                                -- next to others crashes 18.16); other fills are their own group
                                if(first.4 = 'FILL',
                                   concat(first.1, '|', first.2, '|', toString(first.5), '|', toString(first.6), '|',
                                          toString(first.7), '|', toString(first.9)),
                                   concat('not a fill|', fill_id)) AS economics
                            FROM
                            (
                                -- one row per event_id, as FINAL keeps it (the latest insert), over the candidates' rows only
                                SELECT *
                                FROM {db}.fills
                                PREWHERE rfq_id IN recon_candidates
                                ORDER BY rfq_id, event_id, inserted_at DESC, _offset DESC
                                LIMIT 1 BY rfq_id, event_id
                            )
                            GROUP BY rfq_id, fill_id
                        )
                        GROUP BY rfq_id, economics
                    ) AS kept_copies
                    ANY LEFT JOIN
                    (
                        SELECT event_id AS kept_event_id, _offset AS kept_offset, toUInt8(1) AS fee_off,
                               expected AS fee_expected, actual AS fee_actual, detail AS fee_detail
                        FROM fee_breaks
                    ) AS fees_off USING (kept_event_id, kept_offset)
                ) AS kept_fills USING (rfq_id, order_id)
                GROUP BY rfq_id, order_id
            )
            GROUP BY rfq_id
        ) AS hedge USING rfq_id
    ) AS deals
    ANY LEFT JOIN
    (
        -- settlement legs per deal: amounts and states as text (no decimals in groupArray on 18.16)
        SELECT
            rfq_id,
            groupArray(leg) AS legs_seen,
            groupArray(toString(leg_amount)) AS leg_amounts,
            groupArray(leg_state) AS leg_states,
            groupArray(leg_reason) AS leg_reasons,
            groupArrayArray(leg_chain_breaks) AS chain_breaks,
            groupArrayArray(leg_events) AS settlement_events,
            max(leg_last_us) AS legs_last_us
        FROM
        (
            -- on-chain checks of a settled leg: tx hash format, confirmations
            WITH leg_amount AS amount_to_tier
            SELECT
                *,
                indexOf(%(tier_rails)s, concat(leg_asset, '@', leg_network)) AS rail_at,
                arrayElement(arrayElement(%(tier_confirmations)s, rail_at),
                             greatest(1, arrayCount(t -> amount_to_tier > toDecimal128(t, 10),
                                                    arrayElement(%(tier_thresholds)s, rail_at)))) AS tier_required,
                if(has(%(min_conf_networks)s, leg_network),
                   arrayElement(%(min_conf_values)s, indexOf(%(min_conf_networks)s, leg_network)), 1) AS chain_min,
                greatest(leg_confirmations_required, greatest(tier_required, chain_min)) AS required,
                leg_state = 'SETTLED' AND has(%(crypto_networks)s, leg_network) AS settled_on_chain,
                arrayConcat(
                    arraySlice([('TX_HASH', leg, concat(leg_network, ' tx hash'), ifNull(leg_tx_hash, 'None'),
                                 concat(leg, ' leg settled'))],
                               1, settled_on_chain
                                  AND NOT match(concat(leg_network, ':', ifNull(leg_tx_hash, '')), %(tx_hash_regex)s)),
                    arraySlice([('CONFIRMATIONS', leg, toString(required), toString(leg_confirmations),
                                 concat(leg, ' leg settled early'))],
                               1, settled_on_chain AND leg_confirmations < required)
                ) AS leg_chain_breaks
            FROM
            (
                -- each leg's latest status: by event time, progress through the state machine,
                -- confirmations, then arrival
                SELECT
                    rfq_id,
                    leg,
                    argMax((amount, state, network, asset, tx_hash, confirmations, confirmations_required, reason),
                           (ts_us, indexOf(%(settlement_states)s, state), confirmations, -_offset)) AS latest,
                    latest.1 AS leg_amount,
                    latest.2 AS leg_state,
                    latest.3 AS leg_network,
                    latest.4 AS leg_asset,
                    latest.5 AS leg_tx_hash,
                    latest.6 AS leg_confirmations,
                    latest.7 AS leg_confirmations_required,
                    ifNull(latest.8, 'None') AS leg_reason,
                    groupArray((_offset, ts_us, settlement_id, state)) AS leg_events,
                    max(ts_us) AS leg_last_us
                FROM
                (
                    -- one row per event_id, as FINAL keeps it (the latest insert), over the candidates' rows only
                    SELECT *
                    FROM {db}.settlements
                    PREWHERE rfq_id IN recon_candidates
                    ORDER BY rfq_id, event_id, inserted_at DESC, _offset DESC
                    LIMIT 1 BY rfq_id, event_id
                )
                GROUP BY rfq_id, leg
            )
        )
        GROUP BY rfq_id
    ) AS legs USING rfq_id
) AS deals_and_legs
) AS exact
UNION ALL
-- the FEE breaks of the deals that are no candidate (their bounds prove every other rule kept,
-- their fills each stored once): the fee_breaks pass's rows, with the deal's trade and latest
-- event time from deal_marks
SELECT
    rfq_id,
    trade_id,
    'FEE' AS kind,
    fill_id AS subject,
    expected AS expected_text,
    actual AS actual_text,
    detail AS detail_text,
    if(%(as_of_us)s > 0, toInt64(%(as_of_us)s), last_us) AS judged_at_us
FROM
(
    SELECT rfq_id, fill_id, expected, actual, detail
    FROM fee_breaks
    WHERE rfq_id NOT IN recon_candidates
) AS fees_off
ALL INNER JOIN
(
    SELECT
        rfq_id,
        maxIfMerge(trade_id) AS trade_id,
        maxIfMerge(trade_us) AS trade_us,
        maxMerge(last_us) AS last_us
    FROM {db}.deal_marks
    PREWHERE rfq_id IN (SELECT rfq_id FROM fee_breaks)
    GROUP BY rfq_id
) AS marks USING rfq_id
WHERE trade_us >= %(since_us)s AND trade_us < %(until_us)s
)
ORDER BY rfq_id, kind, subject, expected, actual
