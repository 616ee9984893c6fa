-- 0006: deal_venues (one row per deal and month: its trade and its hedge fills by venue) and
-- deal_orders (one row per hedge order: the desk's order and what the venue answered), kept by
-- materialized views as the sink inserts trades, orders and fills, so hedge_slippage and
-- fill_quality read one precomputed row per deal / per order instead of deduplicating every fill
-- per fill_id and joining fills to trades and orders by string keys (docs/clickhouse.md,
-- "Per-deal tables").
--
-- deal_venues, AggregatingMergeTree ORDER BY rfq_id (then month and deal, which follow from it and
-- the partition: the current engine refuses plain columns outside the key), PARTITION BY the month
-- of the event (a trade or a fill), so a `--since` window reads only the months it touches:
--   deal            cityHash64(rfq_id): the reports exclude deals by a numeric key (cheap IN)
--   booked          max(1) over trades: the row's month holds the deal's trade
--   trade_price, trade_mid   argMax(column, _offset): the trade read last (locked price, arrival mid)
--   fill_rows, fill_ids      count() of the fill rows inserted / uniqUpTo(16) of cityHash64(fill_id)
--   fill_kinds      uniqUpTo(1) of (symbol, side) over the FILL rows: 2 = more than one
--   odd_venue       a FILL on a venue outside the Venue enum (no slot below)
--   fill_symbol, fill_side   the FILL rows' symbol and side (one of each when fill_kinds <= 1)
--   first_fill_us, last_fill_us   the FILL rows' event times (is the deal inside a window)
--   fill_sums       sumMap by venue slot (1-based in the Venue enum): FILL count, qty, qty * price
--   fill_worst      maxIfForEach over the venue slots of sign * price (sign: +1 for a hedge BUY)
-- The report computes each deal's bps from these sums and the deal's locked price and mid (the
-- raw query's per-fill sums factor: sum(sign * (p - mid) * q) = sign * (sum(p * q) - mid * sum(q)),
-- exact in Decimal), then groups the (deal, venue) rows by venue and symbol: no join, no string
-- grouping. A deal is recomputed from the raw fills and trades (FINAL, first copy per fill_id,
-- reading only its granules) when the row cannot be trusted: fill_rows != fill_ids (a redelivered
-- copy, a fill re-reported under its id, more than 16 fill rows, a hash collision), more than one
-- (symbol, side), a venue without slot, fill rows but no trade in the row's month (the deal spans
-- months: also how a fill re-reported in another month is caught), fills straddling the window's
-- edge, or a row outside the largest part of its partition (not merged yet: read without FINAL).
--
-- deal_orders, AggregatingMergeTree ORDER BY (rfq_id, order_id, deal), no partition (an order's fills
-- are summed whatever their month, and the window is on the order's first desk event):
--   sent, order_venue, order_qty, sent_us   the desk's events (source not 'venue:...'): has one,
--                   argMin(venue / qty_base, ts_us), min(ts_us)
--   rejected        a venue report in state REJECTED
--   filled_qty, filled_notional, fees   sumIf(..., exec_type = 'FILL') over the fill rows inserted
--   reports, first_report_us    count() and min(order_ts_us) of the fill rows
--   fill_ids        uniqUpTo(16) of cityHash64(fill_id): with reports, the order's own copy check
-- Orders' states are idempotent (a redelivered order event changes nothing). The fill sums are
-- exact when the deal's fill rows are all distinct fill ids: fill_quality takes that from
-- deal_hedge (0004, one row per deal, also a fill id under two orders) and from the order's own
-- reports = fill_ids (rows a backfill and a view both wrote), and recomputes the other deals from raw.
--
-- Every view writes every column (the other views' states empty, through -If with a false
-- condition or empty arrays): 18.16 refuses a view's block that lacks a column of its target table.
-- The venue slots follow the Avro enum otcdesk.events.Venue, a venue added to it later goes to the
-- raw path until a migration adds its slot.
--
-- Statements are IF NOT EXISTS except the backfills: a failed run is repaired by re-running the
-- file (the backfills only add counts, so such deals are recomputed from raw, and idempotent states).
CREATE TABLE IF NOT EXISTS {db}.deal_venues
(
    rfq_id String,
    month UInt32,
    deal UInt64,
    booked AggregateFunction(maxIf, UInt8, UInt8),
    trade_price AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8),
    trade_mid AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8),
    fill_rows AggregateFunction(countIf, UInt8),
    fill_ids AggregateFunction(uniqUpToIf(16), UInt64, UInt8),
    fill_kinds AggregateFunction(uniqUpToIf(1), UInt64, UInt8),
    odd_venue AggregateFunction(maxIf, UInt8, UInt8),
    fill_symbol AggregateFunction(anyIf, String, UInt8),
    fill_side AggregateFunction(anyIf, String, UInt8),
    first_fill_us AggregateFunction(minIf, Int64, UInt8),
    last_fill_us AggregateFunction(maxIf, Int64, UInt8),
    fill_sums AggregateFunction(sumMap, Array(UInt8), Array(UInt64), Array(Decimal(28, 12)), Array(Decimal(38, 22))),
    fill_worst AggregateFunction(maxIfForEach, Array(Decimal(28, 10)), Array(UInt8))
)
ENGINE = AggregatingMergeTree
PARTITION BY month
ORDER BY (rfq_id, month, deal);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_venues_trades TO {db}.deal_venues
AS SELECT
    rfq_id,
    toYYYYMM(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), toUInt8(1)) AS booked,
    argMaxIfState(price_quote, _offset, toUInt8(1)) AS trade_price,
    argMaxIfState(arrival_mid_quote, _offset, toUInt8(1)) AS trade_mid,
    countIfState(toUInt8(0)) AS fill_rows,
    uniqUpToIfState(16)(toUInt64(0), toUInt8(0)) AS fill_ids,
    uniqUpToIfState(1)(toUInt64(0), toUInt8(0)) AS fill_kinds,
    maxIfState(toUInt8(0), toUInt8(0)) AS odd_venue,
    anyIfState(symbol, toUInt8(0)) AS fill_symbol,
    anyIfState(CAST(side AS String), toUInt8(0)) AS fill_side,
    minIfState(ts_us, toUInt8(0)) AS first_fill_us,
    maxIfState(ts_us, toUInt8(0)) AS last_fill_us,
    sumMapState(emptyArrayUInt8(), emptyArrayUInt64(), arraySlice([qty_base], 1, 0),
                arraySlice([qty_base * price_quote], 1, 0)) AS fill_sums,
    maxIfForEachState(arraySlice([price_quote], 1, 0), emptyArrayUInt8()) AS fill_worst
FROM {db}.trades
GROUP BY rfq_id, month, deal;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_venues_fills TO {db}.deal_venues
AS SELECT
    rfq_id,
    toYYYYMM(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), toUInt8(0)) AS booked,
    argMaxIfState(price_quote, _offset, toUInt8(0)) AS trade_price,
    argMaxIfState(price_quote, _offset, toUInt8(0)) AS trade_mid,
    countIfState(toUInt8(1)) AS fill_rows,
    uniqUpToIfState(16)(cityHash64(fill_id), toUInt8(1)) AS fill_ids,
    uniqUpToIfState(1)(cityHash64(symbol, CAST(side AS String)), CAST(exec_type AS String) = 'FILL') AS fill_kinds,
    maxIfState(toUInt8(indexOf(['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN'], CAST(venue AS String)) = 0),
               CAST(exec_type AS String) = 'FILL') AS odd_venue,
    anyIfState(symbol, CAST(exec_type AS String) = 'FILL') AS fill_symbol,
    anyIfState(CAST(side AS String), CAST(exec_type AS String) = 'FILL') AS fill_side,
    minIfState(ts_us, CAST(exec_type AS String) = 'FILL') AS first_fill_us,
    maxIfState(ts_us, CAST(exec_type AS String) = 'FILL') AS last_fill_us,
    sumMapState(
        arraySlice([toUInt8(indexOf(['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN'], CAST(venue AS String)))], 1,
                   CAST(exec_type AS String) = 'FILL'),
        arraySlice([toUInt64(1)], 1, CAST(exec_type AS String) = 'FILL'),
        arraySlice([qty_base], 1, CAST(exec_type AS String) = 'FILL'),
        arraySlice([qty_base * price_quote], 1, CAST(exec_type AS String) = 'FILL')) AS fill_sums,
    maxIfForEachState(
        arrayMap(v -> if(CAST(side AS String) = 'BUY', price_quote, -price_quote), ['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN']),
        arrayMap(v -> toUInt8(v = CAST(venue AS String) AND CAST(exec_type AS String) = 'FILL'),
                 ['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN'])) AS fill_worst
FROM {db}.fills
GROUP BY rfq_id, month, deal;

CREATE TABLE IF NOT EXISTS {db}.deal_orders
(
    rfq_id String,
    order_id String,
    deal UInt64,
    sent AggregateFunction(maxIf, UInt8, UInt8),
    order_venue AggregateFunction(argMinIf, String, Int64, UInt8),
    order_qty AggregateFunction(argMinIf, Decimal(28, 12), Int64, UInt8),
    sent_us AggregateFunction(minIf, Int64, UInt8),
    rejected AggregateFunction(maxIf, UInt8, UInt8),
    filled_qty AggregateFunction(sumIf, Decimal(28, 12), UInt8),
    filled_notional AggregateFunction(sumIf, Decimal(38, 22), UInt8),
    fees AggregateFunction(sumIf, Decimal(28, 10), UInt8),
    reports AggregateFunction(countIf, UInt8),
    first_report_us AggregateFunction(minIf, Int64, UInt8),
    fill_ids AggregateFunction(uniqUpToIf(16), UInt64, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (rfq_id, order_id, deal);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_orders_orders TO {db}.deal_orders
AS SELECT
    rfq_id,
    order_id,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), NOT startsWith(source, 'venue:')) AS sent,
    argMinIfState(CAST(venue AS String), ts_us, NOT startsWith(source, 'venue:')) AS order_venue,
    argMinIfState(qty_base, ts_us, NOT startsWith(source, 'venue:')) AS order_qty,
    minIfState(ts_us, NOT startsWith(source, 'venue:')) AS sent_us,
    maxIfState(toUInt8(1), startsWith(source, 'venue:') AND CAST(state AS String) = 'REJECTED') AS rejected,
    sumIfState(qty_base, toUInt8(0)) AS filled_qty,
    sumIfState(qty_base * limit_price_quote, toUInt8(0)) AS filled_notional,
    sumIfState(limit_price_quote, toUInt8(0)) AS fees,
    countIfState(toUInt8(0)) AS reports,
    minIfState(ts_us, toUInt8(0)) AS first_report_us,
    uniqUpToIfState(16)(toUInt64(0), toUInt8(0)) AS fill_ids
FROM {db}.orders
GROUP BY rfq_id, order_id, deal;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_orders_fills TO {db}.deal_orders
AS SELECT
    rfq_id,
    order_id,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), toUInt8(0)) AS sent,
    argMinIfState(CAST(venue AS String), ts_us, toUInt8(0)) AS order_venue,
    argMinIfState(qty_base, ts_us, toUInt8(0)) AS order_qty,
    minIfState(ts_us, toUInt8(0)) AS sent_us,
    maxIfState(toUInt8(1), toUInt8(0)) AS rejected,
    sumIfState(qty_base, CAST(exec_type AS String) = 'FILL') AS filled_qty,
    sumIfState(qty_base * price_quote, CAST(exec_type AS String) = 'FILL') AS filled_notional,
    sumIfState(fee, CAST(exec_type AS String) = 'FILL') AS fees,
    countIfState(toUInt8(1)) AS reports,
    minIfState(order_ts_us, toUInt8(1)) AS first_report_us,
    uniqUpToIfState(16)(cityHash64(fill_id), toUInt8(1)) AS fill_ids
FROM {db}.fills
GROUP BY rfq_id, order_id, deal;

-- backfill: the trades, orders and fills stored before the views existed
INSERT INTO {db}.deal_venues (rfq_id, month, deal, booked, trade_price, trade_mid, fill_rows, fill_ids, fill_kinds,
    odd_venue, fill_symbol, fill_side, first_fill_us, last_fill_us, fill_sums, fill_worst)
SELECT
    rfq_id,
    toYYYYMM(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), toUInt8(1)),
    argMaxIfState(price_quote, _offset, toUInt8(1)),
    argMaxIfState(arrival_mid_quote, _offset, toUInt8(1)),
    countIfState(toUInt8(0)),
    uniqUpToIfState(16)(toUInt64(0), toUInt8(0)),
    uniqUpToIfState(1)(toUInt64(0), toUInt8(0)),
    maxIfState(toUInt8(0), toUInt8(0)),
    anyIfState(symbol, toUInt8(0)),
    anyIfState(CAST(side AS String), toUInt8(0)),
    minIfState(ts_us, toUInt8(0)),
    maxIfState(ts_us, toUInt8(0)),
    sumMapState(emptyArrayUInt8(), emptyArrayUInt64(), arraySlice([qty_base], 1, 0),
                arraySlice([qty_base * price_quote], 1, 0)),
    maxIfForEachState(arraySlice([price_quote], 1, 0), emptyArrayUInt8())
FROM {db}.trades
GROUP BY rfq_id, month, deal;

INSERT INTO {db}.deal_venues (rfq_id, month, deal, booked, trade_price, trade_mid, fill_rows, fill_ids, fill_kinds,
    odd_venue, fill_symbol, fill_side, first_fill_us, last_fill_us, fill_sums, fill_worst)
SELECT
    rfq_id,
    toYYYYMM(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), toUInt8(0)),
    argMaxIfState(price_quote, _offset, toUInt8(0)),
    argMaxIfState(price_quote, _offset, toUInt8(0)),
    countIfState(toUInt8(1)),
    uniqUpToIfState(16)(cityHash64(fill_id), toUInt8(1)),
    uniqUpToIfState(1)(cityHash64(symbol, CAST(side AS String)), CAST(exec_type AS String) = 'FILL'),
    maxIfState(toUInt8(indexOf(['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN'], CAST(venue AS String)) = 0),
               CAST(exec_type AS String) = 'FILL'),
    anyIfState(symbol, CAST(exec_type AS String) = 'FILL'),
    anyIfState(CAST(side AS String), CAST(exec_type AS String) = 'FILL'),
    minIfState(ts_us, CAST(exec_type AS String) = 'FILL'),
    maxIfState(ts_us, CAST(exec_type AS String) = 'FILL'),
    sumMapState(
        arraySlice([toUInt8(indexOf(['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN'], CAST(venue AS String)))], 1,
                   CAST(exec_type AS String) = 'FILL'),
        arraySlice([toUInt64(1)], 1, CAST(exec_type AS String) = 'FILL'),
        arraySlice([qty_base], 1, CAST(exec_type AS String) = 'FILL'),
        arraySlice([qty_base * price_quote], 1, CAST(exec_type AS String) = 'FILL')),
    maxIfForEachState(
        arrayMap(v -> if(CAST(side AS String) = 'BUY', price_quote, -price_quote), ['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN']),
        arrayMap(v -> toUInt8(v = CAST(venue AS String) AND CAST(exec_type AS String) = 'FILL'),
                 ['BINANCE', 'COINBASE', 'OKX', 'KRAKEN', 'UNKNOWN']))
FROM {db}.fills
GROUP BY rfq_id, month, deal;

INSERT INTO {db}.deal_orders (rfq_id, order_id, deal, sent, order_venue, order_qty, sent_us, rejected, filled_qty,
    filled_notional, fees, reports, first_report_us, fill_ids)
SELECT
    rfq_id,
    order_id,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), NOT startsWith(source, 'venue:')),
    argMinIfState(CAST(venue AS String), ts_us, NOT startsWith(source, 'venue:')),
    argMinIfState(qty_base, ts_us, NOT startsWith(source, 'venue:')),
    minIfState(ts_us, NOT startsWith(source, 'venue:')),
    maxIfState(toUInt8(1), startsWith(source, 'venue:') AND CAST(state AS String) = 'REJECTED'),
    sumIfState(qty_base, toUInt8(0)),
    sumIfState(qty_base * limit_price_quote, toUInt8(0)),
    sumIfState(limit_price_quote, toUInt8(0)),
    countIfState(toUInt8(0)),
    minIfState(ts_us, toUInt8(0)),
    uniqUpToIfState(16)(toUInt64(0), toUInt8(0))
FROM {db}.orders
GROUP BY rfq_id, order_id, deal;

INSERT INTO {db}.deal_orders (rfq_id, order_id, deal, sent, order_venue, order_qty, sent_us, rejected, filled_qty,
    filled_notional, fees, reports, first_report_us, fill_ids)
SELECT
    rfq_id,
    order_id,
    cityHash64(rfq_id) AS deal,
    maxIfState(toUInt8(1), toUInt8(0)),
    argMinIfState(CAST(venue AS String), ts_us, toUInt8(0)),
    argMinIfState(qty_base, ts_us, toUInt8(0)),
    minIfState(ts_us, toUInt8(0)),
    maxIfState(toUInt8(1), toUInt8(0)),
    sumIfState(qty_base, CAST(exec_type AS String) = 'FILL'),
    sumIfState(qty_base * price_quote, CAST(exec_type AS String) = 'FILL'),
    sumIfState(fee, CAST(exec_type AS String) = 'FILL'),
    countIfState(toUInt8(1)),
    minIfState(order_ts_us, toUInt8(1)),
    uniqUpToIfState(16)(cityHash64(fill_id), toUInt8(1))
FROM {db}.fills
GROUP BY rfq_id, order_id, deal
