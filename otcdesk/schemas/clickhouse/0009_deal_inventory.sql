-- 0009: what inventory_pnl reads instead of re-deduplicating every fill: the desk's moves per
-- deal and minute, a per-deal check that says which deals need a recount from raw, and the marks
-- per symbol and minute, each kept by materialized views on trades, fills and prices
-- (docs/clickhouse.md, "Inventory and P&L from per-deal minutes").
--
-- deal_inventory_cells (rfq_id, cell_us, symbol): what the deal's rows of that minute moved,
--   sumState of the same Decimal terms as the raw query (position at scale 12, cash at scale 22)
--   and of the row count. Sums are additive, so the report sums every stored row without FINAL.
-- deal_inventory_checks (rfq_id): event_rows = count() of the trade rows and FILL rows inserted,
--   event_ids = uniqUpTo(16) of their identity (a trade's event_id, a fill's fill_id), hashed.
--   event_rows = event_ids means every row the views summed is a distinct trade event or fill id:
--   the deal's sums are exactly "each trade event once, each fill id once". Otherwise (a
--   redelivered copy, a fill re-reported under its id, more than 16 rows, a hash collision) the
--   report subtracts the deal's stored sums and recounts it from the raw rows with FINAL and the
--   first copy per fill_id; `trades` and `fills` are ordered by rfq_id, so only its granules.
-- deal_inventory_marks (symbol, cell_us): the minute's latest mark (a trade's arrival mid, a
--   fill's price, a venue's touch mid) and its time; idempotent, so copies of an event change
--   nothing. Marks at the same latest microsecond go to the first in the raw tables' order (the
--   smallest rfq_id then event_id; for prices the smallest venue then event_id), as the raw query
--   reads them: argMin(mark, (-ts_us, rfq_id or venue, event_id)).
-- A minute divides every bucket the report is usually asked for; another bucket width is answered
-- from the raw rows (correct, slower).
--
-- Order of statements, so that concurrent inserts are never summed twice unnoticed: the checks'
-- views exist before the cells' views, and the checks are backfilled after the cells. A row the
-- cells count twice (a view and the backfill) was inserted before the cells' backfill read, so
-- the checks count it twice too and the deal is recounted; a row the checks count twice and the
-- cells once only costs a recount. Statements are IF NOT EXISTS except the backfills; a failed
-- run is repaired by re-running the file (a backfill run twice flags every deal it touched for a
-- recount: correct, slower, until the tables are rebuilt).
CREATE TABLE IF NOT EXISTS {db}.deal_inventory_checks
(
    rfq_id String,
    event_rows AggregateFunction(count),
    event_ids AggregateFunction(uniqUpTo(16), UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY rfq_id;

CREATE TABLE IF NOT EXISTS {db}.deal_inventory_cells
(
    rfq_id String,
    cell_us Int64,
    symbol String,
    moved_base AggregateFunction(sum, Decimal(38, 12)),
    moved_cash AggregateFunction(sum, Decimal(38, 22)),
    moved_rows AggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (rfq_id, cell_us, symbol);

CREATE TABLE IF NOT EXISTS {db}.deal_inventory_marks
(
    symbol String,
    cell_us Int64,
    mark AggregateFunction(argMin, Decimal(38, 10), Tuple(Int64, String, String)),
    mark_us AggregateFunction(max, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (symbol, cell_us);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_checks_trades TO {db}.deal_inventory_checks
AS SELECT rfq_id, countState() AS event_rows, uniqUpToState(16)(cityHash64('trade', event_id)) AS event_ids
FROM {db}.trades
GROUP BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_checks_fills TO {db}.deal_inventory_checks
AS SELECT rfq_id, countState() AS event_rows, uniqUpToState(16)(cityHash64('fill', fill_id)) AS event_ids
FROM {db}.fills
WHERE exec_type = 'FILL'
GROUP BY rfq_id;

-- a client BUY: the desk delivers base, receives notional + fee (signs flip on a SELL)
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_cells_trades TO {db}.deal_inventory_cells
AS SELECT
    rfq_id,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    symbol,
    sumState(toDecimal128(if(side = 'BUY', -1, 1) * qty_base, 12)) AS moved_base,
    sumState(toDecimal128(if(side = 'BUY', 1, -1) * notional_quote + fee_quote, 22)) AS moved_cash,
    sumState(toInt64(1)) AS moved_rows
FROM {db}.trades
GROUP BY rfq_id, cell_us, symbol;

-- a hedge BUY: the desk receives base, pays price * quantity + the venue fee
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_cells_fills TO {db}.deal_inventory_cells
AS SELECT
    rfq_id,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    symbol,
    sumState(toDecimal128(if(side = 'BUY', 1, -1) * qty_base, 12)) AS moved_base,
    sumState(toDecimal128(if(side = 'BUY', -1, 1) * price_quote * qty_base - fee, 22)) AS moved_cash,
    sumState(toInt64(1)) AS moved_rows
FROM {db}.fills
WHERE exec_type = 'FILL'
GROUP BY rfq_id, cell_us, symbol;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_marks_trades TO {db}.deal_inventory_marks
AS SELECT
    symbol,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    argMinState(toDecimal128(arrival_mid_quote, 10), tuple(-ts_us, rfq_id, event_id)) AS mark,
    maxState(ts_us) AS mark_us
FROM {db}.trades
GROUP BY symbol, cell_us;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_marks_fills TO {db}.deal_inventory_marks
AS SELECT
    symbol,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    argMinState(toDecimal128(price_quote, 10), tuple(-ts_us, rfq_id, event_id)) AS mark,
    maxState(ts_us) AS mark_us
FROM {db}.fills
WHERE exec_type = 'FILL'
GROUP BY symbol, cell_us;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_inventory_marks_prices TO {db}.deal_inventory_marks
AS SELECT
    symbol,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    argMinState(toDecimal128((arrayElement(bids.price_quote, 1) + arrayElement(asks.price_quote, 1)) / 2, 10),
        tuple(-ts_us, CAST(venue AS String), event_id))
        AS mark,
    maxState(ts_us) AS mark_us
FROM {db}.prices
WHERE notEmpty(bids.price_quote) AND notEmpty(asks.price_quote)
GROUP BY symbol, cell_us;

-- backfill: the rows stored before the views existed; the cells first, the checks last (above)
INSERT INTO {db}.deal_inventory_cells (rfq_id, cell_us, symbol, moved_base, moved_cash, moved_rows)
SELECT
    rfq_id,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    symbol,
    sumState(toDecimal128(if(side = 'BUY', -1, 1) * qty_base, 12)),
    sumState(toDecimal128(if(side = 'BUY', 1, -1) * notional_quote + fee_quote, 22)),
    sumState(toInt64(1))
FROM {db}.trades
GROUP BY rfq_id, cell_us, symbol;

INSERT INTO {db}.deal_inventory_cells (rfq_id, cell_us, symbol, moved_base, moved_cash, moved_rows)
SELECT
    rfq_id,
    intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    symbol,
    sumState(toDecimal128(if(side = 'BUY', 1, -1) * qty_base, 12)),
    sumState(toDecimal128(if(side = 'BUY', -1, 1) * price_quote * qty_base - fee, 22)),
    sumState(toInt64(1))
FROM {db}.fills
WHERE exec_type = 'FILL'
GROUP BY rfq_id, cell_us, symbol;

INSERT INTO {db}.deal_inventory_marks (symbol, cell_us, mark, mark_us)
SELECT symbol, intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    argMinState(toDecimal128(arrival_mid_quote, 10), tuple(-ts_us, rfq_id, event_id)), maxState(ts_us)
FROM {db}.trades
GROUP BY symbol, cell_us;

INSERT INTO {db}.deal_inventory_marks (symbol, cell_us, mark, mark_us)
SELECT symbol, intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    argMinState(toDecimal128(price_quote, 10), tuple(-ts_us, rfq_id, event_id)), maxState(ts_us)
FROM {db}.fills
WHERE exec_type = 'FILL'
GROUP BY symbol, cell_us;

INSERT INTO {db}.deal_inventory_marks (symbol, cell_us, mark, mark_us)
SELECT symbol, intDiv(ts_us, 60000000) * 60000000 AS cell_us,
    argMinState(toDecimal128((arrayElement(bids.price_quote, 1) + arrayElement(asks.price_quote, 1)) / 2, 10),
        tuple(-ts_us, CAST(venue AS String), event_id)),
    maxState(ts_us)
FROM {db}.prices
WHERE notEmpty(bids.price_quote) AND notEmpty(asks.price_quote)
GROUP BY symbol, cell_us;

INSERT INTO {db}.deal_inventory_checks (rfq_id, event_rows, event_ids)
SELECT rfq_id, countState(), uniqUpToState(16)(cityHash64('trade', event_id))
FROM {db}.trades
GROUP BY rfq_id;

INSERT INTO {db}.deal_inventory_checks (rfq_id, event_rows, event_ids)
SELECT rfq_id, countState(), uniqUpToState(16)(cityHash64('fill', fill_id))
FROM {db}.fills
WHERE exec_type = 'FILL'
GROUP BY rfq_id;
