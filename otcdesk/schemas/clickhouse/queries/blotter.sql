-- blotter: Deals with their quote, hedge, P&L, settlement state and reconciliation status
-- One row per booked trade, newest first, the newest `limit` deals only (a screen, not an export:
-- `otcdesk report blotter --limit 0` shows every deal): what the client got (locked price against the quote's
-- two-way price), how the desk hedged it (quantity and average price
-- of the fills, venue fees), the deal's P&L in quote currency (USDT at par), where each settlement
-- leg stands and what the streaming reconciliation said last (the `recon` table's highest
-- revision). Fills count once per fill_id (the first copy read); recon_breaks also drops a fill
-- repeating another's economics under a new id, so a deal with such a DUPLICATE_FILL shows a
-- larger hedge here than in recon. P&L = sign * (price * hedged - fill notional) - fees + client
-- fee, sign +1 for a client BUY (otcdesk/recon.py), rounded half up to 10 decimals (recon rounds
-- half even: they differ only on an exact tie).
-- The newest deals are found first from the trades' times alone (one numeric column, the months
-- the window touches); everything else is read for those deals only (`rfq_id IN` them: the event
-- tables are ordered by rfq_id, so only their granules), so the cost follows `limit`, not the
-- history. A deal booked twice (two trade events) is placed by its newest trade and shows the
-- last one read, as ever; the newest `limit` trades are taken before that choice, so such a deal
-- can leave a screen one row short.
-- columns:
--   booked_at       trade time, UTC
--   rfq_id          the deal
--   client_id       the client
--   symbol          desk symbol
--   side            the client's side
--   qty_base        booked quantity
--   price_quote     locked price
--   quote_bid_quote     the quote's bid
--   quote_ask_quote     the quote's ask
--   hedged_qty_base     quantity filled on the venues
--   avg_fill_price_quote    average fill price (0 before any fill)
--   fees_quote      venue fees of the fills
--   pnl_quote       the deal's P&L
--   base_leg        latest state of the BASE settlement leg ('' before any event)
--   quote_leg       latest state of the QUOTE leg
--   recon_status    MATCHED, BROKEN or PENDING ('' before any result), and how many breaks
-- params:
--   since_us        trades booked at or after this event time (epoch us)
--   until_us        trades booked before this event time (epoch us)
--   settlement_states   SettlementState symbols in machine order (ties of a leg's latest status)
--   limit           deals shown, the newest by trade time then rfq_id (the report passes 2^62 for --limit 0: all)
WITH
    if(side = 'BUY', 1, -1) AS sign,
    sign * (price_quote * hedged_qty_base - hedged_notional) - fees_quote + fee_quote AS pnl_exact
SELECT
    toString(toDateTime(intDiv(trade_us, 1000000), 'UTC')) AS booked_at,
    rfq_id,
    client_id,
    symbol,
    side,
    qty_base,
    price_quote,
    bid_price_quote AS quote_bid_quote,
    ask_price_quote AS quote_ask_quote,
    hedged_qty_base,
    round(toDecimal128(hedged_notional, 12) / greatest(hedged_qty_base, toDecimal128('0.000000000001', 12)), 10)
        AS avg_fill_price_quote,
    fees_quote,
    -- round() is wrong on 18.16 at large scales: the exact value (scale 22) is cut to 20 first
    round(toDecimal128(pnl_exact, 20), 10) AS pnl_quote,
    base_leg,
    quote_leg,
    if(recon_breaks > 0, concat(last_status, ' (', toString(recon_breaks), ')'), last_status) AS recon_status
FROM
(
    SELECT *
    FROM
    (
        SELECT *
        FROM
        (
            SELECT *
            FROM
            (
                -- the trade: the last one read if a deal ever had two
                SELECT rfq_id, trade_id, quote_id, client_id, symbol, side, qty_base, price_quote, fee_quote,
                       ts_us AS trade_us
                FROM {db}.trades FINAL
                WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
                  AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
                  AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
                  AND rfq_id IN (
                    SELECT rfq_id
                    FROM {db}.trades FINAL
                    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
                      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
                      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
                    ORDER BY ts_us DESC, rfq_id
                    LIMIT %(limit)s)
                ORDER BY rfq_id, _offset DESC
                LIMIT 1 BY rfq_id
            ) AS booked
            ANY LEFT JOIN
            (
                SELECT quote_id, bid_price_quote, ask_price_quote
                FROM {db}.quotes FINAL
                WHERE rfq_id IN (
                    SELECT rfq_id
                    FROM {db}.trades FINAL
                    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
                      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
                      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
                    ORDER BY ts_us DESC, rfq_id
                    LIMIT %(limit)s)
            ) AS quoted USING quote_id
        ) AS deals
        ANY LEFT JOIN
        (
            SELECT
                rfq_id,
                sumIf(qty_base, exec_type = 'FILL') AS hedged_qty_base,
                sumIf(qty_base * price_quote, exec_type = 'FILL') AS hedged_notional,
                sumIf(fee, exec_type = 'FILL') AS fees_quote
            FROM
            (
                SELECT rfq_id, exec_type, qty_base, price_quote, fee
                FROM {db}.fills FINAL
                WHERE rfq_id IN (
                    SELECT rfq_id
                    FROM {db}.trades FINAL
                    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
                      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
                      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
                    ORDER BY ts_us DESC, rfq_id
                    LIMIT %(limit)s)
                ORDER BY _offset
                LIMIT 1 BY rfq_id, fill_id
            )
            GROUP BY rfq_id
        ) AS hedge USING rfq_id
    ) AS hedged_deals
    ANY LEFT JOIN
    (
        SELECT
            rfq_id,
            argMaxIf(state, (ts_us, indexOf(%(settlement_states)s, state), confirmations), leg = 'BASE') AS base_leg,
            argMaxIf(state, (ts_us, indexOf(%(settlement_states)s, state), confirmations), leg = 'QUOTE') AS quote_leg
        FROM {db}.settlements FINAL
        WHERE rfq_id IN (
            SELECT rfq_id
            FROM {db}.trades FINAL
            WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
              AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
              AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
            ORDER BY ts_us DESC, rfq_id
            LIMIT %(limit)s)
        GROUP BY rfq_id
    ) AS legs USING rfq_id
) AS settled_deals
ANY LEFT JOIN
(
    SELECT rfq_id, argMax(status, revision) AS last_status, argMax(length(breaks.kind), revision) AS recon_breaks
    FROM {db}.recon FINAL
    WHERE rfq_id IN (
        SELECT rfq_id
        FROM {db}.trades FINAL
        WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
          AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
          AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
        ORDER BY ts_us DESC, rfq_id
        LIMIT %(limit)s)
    GROUP BY rfq_id
) AS reconciled USING rfq_id
ORDER BY trade_us DESC, rfq_id
LIMIT %(limit)s
