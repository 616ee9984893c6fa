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
-- The newest deals are found first (passes/blotter_deals.sql) and sent with this query as the
-- external table `blotter_deals` (otcdesk/analytics/reports.py runs both: 18.16 would run an IN's
-- subquery again at every table and nesting level). Every event of those deals is then read with
-- `rfq_id IN blotter_deals` (the event tables are ordered by rfq_id: only their granules) and
-- folded by one GROUP BY rfq_id, so the cost follows `limit`, not the history. A deal booked twice
-- (two trade events) is placed by its newest trade and shows the last one read, as ever; the
-- newest `limit` trades are taken before that choice, so such a deal can leave a screen one row
-- short. The quote shown is the one whose quote_id the trade names, among the quotes of the
-- deal's RFQ.
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
    argMaxIf(quote, ord, src = 1) AS trade_quote,
    indexOf(groupArrayIf(quote, src = 2), trade_quote) AS quote_at,
    if(argMaxIf(client_side, ord, src = 1) = 'BUY', 1, -1) AS sign,
    argMaxIf(price, ord, src = 1) AS price_quote,
    argMaxIf(fee, ord, src = 1) AS fee_quote,
    sumIf(qty, src = 3 AND is_fill = 1) AS hedged_qty_base,
    sumIf(qty * price, src = 3 AND is_fill = 1) AS hedged_notional,
    sumIf(fee, src = 3 AND is_fill = 1) AS fees_quote,
    sign * (price_quote * hedged_qty_base - hedged_notional) - fees_quote + fee_quote AS pnl_exact,
    argMaxIf(at_us, ord, src = 1) AS trade_us,
    argMaxIf(recon_state, ord, src = 5) AS last_status,
    argMaxIf(break_count, ord, src = 5) AS recon_breaks
SELECT
    toString(toDateTime(intDiv(trade_us, 1000000), 'UTC')) AS booked_at,
    rfq_id,
    argMaxIf(client, ord, src = 1) AS client_id,
    argMaxIf(sym, ord, src = 1) AS symbol,
    argMaxIf(client_side, ord, src = 1) AS side,
    argMaxIf(qty, ord, src = 1) AS qty_base,
    price_quote,
    -- the quote the trade locked (decimals travel as text through arrays on 18.16)
    toDecimal128(if(quote_at = 0, '0', arrayElement(groupArrayIf(bid, src = 2), quote_at)), 10) AS quote_bid_quote,
    toDecimal128(if(quote_at = 0, '0', arrayElement(groupArrayIf(ask, src = 2), quote_at)), 10) AS quote_ask_quote,
    hedged_qty_base,
    round(toDecimal128(hedged_notional, 12) / greatest(hedged_qty_base, toDecimal128('0.000000000001', 12)), 10)
        AS avg_fill_price_quote,
    fees_quote,
    -- round() is wrong on 18.16 at large scales: the exact value (scale 22) is cut to 20 first
    round(toDecimal128(pnl_exact, 20), 10) AS pnl_quote,
    argMaxIf(leg_state, (at_us, state_rank, confirmed), src = 4 AND leg_name = 'BASE') AS base_leg,
    argMaxIf(leg_state, (at_us, state_rank, confirmed), src = 4 AND leg_name = 'QUOTE') AS quote_leg,
    if(recon_breaks > 0, concat(last_status, ' (', toString(recon_breaks), ')'), last_status) AS recon_status
FROM
(
    -- one row per event of the newest deals, every table in the same columns (src says which):
    -- the trades (the last one read wins: ord = _offset)
    SELECT rfq_id, toUInt8(1) AS src, toInt64(_offset) AS ord, toInt64(ts_us) AS at_us, CAST(quote_id AS String) AS quote,
        CAST(client_id AS String) AS client, CAST(symbol AS String) AS sym, CAST(side AS String) AS client_side,
        toDecimal128(qty_base, 12) AS qty, toDecimal128(price_quote, 10) AS price, toDecimal128(fee_quote, 10) AS fee,
        CAST('' AS String) AS bid, CAST('' AS String) AS ask, toUInt8(0) AS is_fill, CAST('' AS String) AS leg_name,
        CAST('' AS String) AS leg_state, toUInt64(0) AS state_rank, toInt32(0) AS confirmed,
        CAST('' AS String) AS recon_state, toUInt64(0) AS break_count
    FROM {db}.trades FINAL
    WHERE ts_us >= %(since_us)s AND ts_us < %(until_us)s
      AND ts >= toDateTime(intDiv(%(since_us)s, 1000000), 'UTC')
      AND ts <= toDateTime(least(intDiv(%(until_us)s, 1000000), 4294967295), 'UTC')
      AND rfq_id IN blotter_deals
    UNION ALL
    -- the quotes of those deals (the trade's quote is picked by its quote_id)
    SELECT rfq_id, toUInt8(2) AS src, toInt64(0) AS ord, toInt64(ts_us) AS at_us, CAST(quote_id AS String) AS quote,
        CAST('' AS String) AS client, CAST('' AS String) AS sym, CAST('' AS String) AS client_side,
        toDecimal128(toDecimal128('0', 12), 12) AS qty, toDecimal128(toDecimal128('0', 10), 10) AS price, toDecimal128(toDecimal128('0', 10), 10) AS fee,
        CAST(bid_price_quote AS String) AS bid, CAST(ask_price_quote AS String) AS ask, toUInt8(0) AS is_fill, CAST('' AS String) AS leg_name,
        CAST('' AS String) AS leg_state, toUInt64(0) AS state_rank, toInt32(0) AS confirmed,
        CAST('' AS String) AS recon_state, toUInt64(0) AS break_count
    FROM {db}.quotes FINAL
    WHERE rfq_id IN blotter_deals
    UNION ALL
    -- their fills, once per fill_id (the first copy read)
    SELECT rfq_id, toUInt8(3) AS src, toInt64(0) AS ord, toInt64(ts_us) AS at_us, CAST('' AS String) AS quote,
        CAST('' AS String) AS client, CAST('' AS String) AS sym, CAST('' AS String) AS client_side,
        toDecimal128(qty_base, 12) AS qty, toDecimal128(price_quote, 10) AS price, toDecimal128(fee, 10) AS fee,
        CAST('' AS String) AS bid, CAST('' AS String) AS ask, toUInt8(CAST(exec_type AS String) = 'FILL') AS is_fill, CAST('' AS String) AS leg_name,
        CAST('' AS String) AS leg_state, toUInt64(0) AS state_rank, toInt32(0) AS confirmed,
        CAST('' AS String) AS recon_state, toUInt64(0) AS break_count
    FROM
    (
        SELECT rfq_id, ts_us, exec_type, qty_base, price_quote, fee
        FROM {db}.fills FINAL
        WHERE rfq_id IN blotter_deals
        ORDER BY _offset
        LIMIT 1 BY rfq_id, fill_id
    )
    UNION ALL
    -- their settlement events (a leg's latest state: latest ts_us, then machine order, then confirmations)
    SELECT rfq_id, toUInt8(4) AS src, toInt64(0) AS ord, toInt64(ts_us) AS at_us, CAST('' AS String) AS quote,
        CAST('' AS String) AS client, CAST('' AS String) AS sym, CAST('' AS String) AS client_side,
        toDecimal128(toDecimal128('0', 12), 12) AS qty, toDecimal128(toDecimal128('0', 10), 10) AS price, toDecimal128(toDecimal128('0', 10), 10) AS fee,
        CAST('' AS String) AS bid, CAST('' AS String) AS ask, toUInt8(0) AS is_fill, CAST(leg AS String) AS leg_name,
        CAST(state AS String) AS leg_state, toUInt64(indexOf(%(settlement_states)s, CAST(state AS String))) AS state_rank, toInt32(confirmations) AS confirmed,
        CAST('' AS String) AS recon_state, toUInt64(0) AS break_count
    FROM {db}.settlements FINAL
    WHERE rfq_id IN blotter_deals
    UNION ALL
    -- their reconciliation results (the highest revision wins: ord = revision)
    SELECT rfq_id, toUInt8(5) AS src, toInt64(revision) AS ord, toInt64(ts_us) AS at_us, CAST('' AS String) AS quote,
        CAST('' AS String) AS client, CAST('' AS String) AS sym, CAST('' AS String) AS client_side,
        toDecimal128(toDecimal128('0', 12), 12) AS qty, toDecimal128(toDecimal128('0', 10), 10) AS price, toDecimal128(toDecimal128('0', 10), 10) AS fee,
        CAST('' AS String) AS bid, CAST('' AS String) AS ask, toUInt8(0) AS is_fill, CAST('' AS String) AS leg_name,
        CAST('' AS String) AS leg_state, toUInt64(0) AS state_rank, toInt32(0) AS confirmed,
        CAST(status AS String) AS recon_state, toUInt64(length(breaks.kind)) AS break_count
    FROM {db}.recon FINAL
    WHERE rfq_id IN blotter_deals
) AS events
GROUP BY rfq_id
HAVING countIf(src = 1) > 0
ORDER BY trade_us DESC, rfq_id
LIMIT %(limit)s
