-- 0007: deal_quote (one row per quote) and deal_settlement (one row per settlement leg), each kept
-- by two materialized views, so hit_ratio and settlement_latency read one row per quote / per leg
-- and group it by low-cardinality keys, instead of joining millions of quotes with trades, or of
-- settlement legs with trades, by a string key (docs/clickhouse.md, "Per-quote and per-leg tables").
--
-- deal_quote, key (rfq_id, quote_id): a quote and the trade booked on it share both (a trade is
-- booked on a quote of its own RFQ), so the view on quotes and the view on trades write the same key.
--   quoted          max(1) over quotes: the quote exists
--   quote_us        min(ts_us) of the quote event; quote_client any(client_id)
--   quote_notional_at_mid   max(qty_base * mid_price_quote): the notional at mid, not its size
--                   bucket (the buckets are the report's parameters)
--   traded          max(trade_id != '') over trades
--   trade_notional  argMax(notional_quote, _offset) of the trades with a trade_id
-- deal_settlement, key (rfq_id, leg_name): the settlement events of a leg (BASE, QUOTE) and the
-- trade's booking time, which the view on trades writes once per leg the settlement planner plays
-- (arrayJoin(['BASE', 'QUOTE']); a test checks it against the SettlementLeg enum). A leg of any
-- other name (UNKNOWN, a symbol a newer schema adds) has no booking in its row: the report merges
-- such RFQs at read time and takes the booking from the RFQ's other rows.
--   booked          max(1) over trades; trade_us argMax(ts_us, _offset): the trade read last
--   leg_seen        max(1) over settlements: the leg has events
--   leg_network, leg_asset  any(...) of the leg's events (the same on every event of a leg)
--   settled_us      min(ts_us) of the SETTLED events; failed max(state IN (FAILED, TIMED_OUT))
-- Every state is idempotent (min, max, any, argMax): a redelivered copy of an event (same event_id,
-- or the same fact under another event id) changes nothing, so no sum or count needs a recount.
-- A leg is one settlement id per (rfq_id, leg) as the settlement planner emits them; the planner
-- never re-plans a leg under a new settlement id.
--
-- Partitions: PARTITION BY toYYYYMM(month), `month` the first day of the month of the row's own
-- events (the quote's or the trade's or the settlement event's), so a `--since` window reads only
-- the months from its start on (a trade comes after its quote, a leg's events after its trade).
-- A quote or leg whose rows lie in two parts (not merged yet, or in two months: a trade booked
-- just after a month's end on a quote of the month before) is folded at read time with -Merge and
-- GROUP BY, only for the RFQs that need it (docs/clickhouse.md): rows in a part other than its
-- partition's largest, and rows that miss their other half in their part (a trade row without its
-- quote, a leg's events without its trade).
--
-- Every view writes every column (the other view's states empty through the -If combinator with
-- a false condition): 18.16 refuses a view's block that lacks a column of its target table.
-- Statements are IF NOT EXISTS except the backfills; a failed run is repaired by re-running the
-- file: the backfills write idempotent states only.
CREATE TABLE IF NOT EXISTS {db}.deal_quote
(
    rfq_id String,
    quote_id String,
    month Date,
    quoted AggregateFunction(maxIf, UInt8, UInt8),
    quote_us AggregateFunction(minIf, Int64, UInt8),
    quote_client AggregateFunction(anyIf, String, UInt8),
    quote_notional_at_mid AggregateFunction(maxIf, Decimal(38, 22), UInt8),
    traded AggregateFunction(maxIf, UInt8, UInt8),
    trade_notional AggregateFunction(argMaxIf, Decimal(28, 10), Int64, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (rfq_id, quote_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_quote_quotes TO {db}.deal_quote
AS SELECT
    rfq_id,
    quote_id,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(1)) AS quoted,
    minIfState(ts_us, toUInt8(1)) AS quote_us,
    anyIfState(client_id, toUInt8(1)) AS quote_client,
    maxIfState(qty_base * mid_price_quote, toUInt8(1)) AS quote_notional_at_mid,
    maxIfState(toUInt8(1), toUInt8(0)) AS traded,
    argMaxIfState(bid_price_quote, _offset, toUInt8(0)) AS trade_notional
FROM {db}.quotes
GROUP BY rfq_id, quote_id, month;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_quote_trades TO {db}.deal_quote
AS SELECT
    rfq_id,
    quote_id,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(0)) AS quoted,
    minIfState(ts_us, toUInt8(0)) AS quote_us,
    anyIfState(client_id, toUInt8(0)) AS quote_client,
    maxIfState(qty_base * price_quote, toUInt8(0)) AS quote_notional_at_mid,
    maxIfState(toUInt8(trade_id != ''), toUInt8(1)) AS traded,
    argMaxIfState(notional_quote, _offset, toUInt8(trade_id != '')) AS trade_notional
FROM {db}.trades
GROUP BY rfq_id, quote_id, month;

CREATE TABLE IF NOT EXISTS {db}.deal_settlement
(
    rfq_id String,
    leg_name String,
    month Date,
    booked AggregateFunction(maxIf, UInt8, UInt8),
    trade_us AggregateFunction(argMaxIf, Int64, Int64, UInt8),
    leg_seen AggregateFunction(maxIf, UInt8, UInt8),
    leg_network AggregateFunction(anyIf, String, UInt8),
    leg_asset AggregateFunction(anyIf, String, UInt8),
    settled_us AggregateFunction(minIf, Int64, UInt8),
    failed AggregateFunction(maxIf, UInt8, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(month)
ORDER BY (rfq_id, leg_name);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_settlement_trades TO {db}.deal_settlement
AS SELECT
    rfq_id,
    arrayJoin(['BASE', 'QUOTE']) AS leg_name,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(1)) AS booked,
    argMaxIfState(ts_us, _offset, toUInt8(1)) AS trade_us,
    maxIfState(toUInt8(1), toUInt8(0)) AS leg_seen,
    anyIfState('', toUInt8(0)) AS leg_network,
    anyIfState('', toUInt8(0)) AS leg_asset,
    minIfState(ts_us, toUInt8(0)) AS settled_us,
    maxIfState(toUInt8(1), toUInt8(0)) AS failed
FROM {db}.trades
GROUP BY rfq_id, leg_name, month;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_settlement_legs TO {db}.deal_settlement
AS SELECT
    rfq_id,
    CAST(leg AS String) AS leg_name,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(0)) AS booked,
    argMaxIfState(ts_us, _offset, toUInt8(0)) AS trade_us,
    maxIfState(toUInt8(1), toUInt8(1)) AS leg_seen,
    anyIfState(network, toUInt8(1)) AS leg_network,
    anyIfState(asset, toUInt8(1)) AS leg_asset,
    minIfState(ts_us, toUInt8(state = 'SETTLED')) AS settled_us,
    maxIfState(toUInt8(state IN ('FAILED', 'TIMED_OUT')), toUInt8(1)) AS failed
FROM {db}.settlements
GROUP BY rfq_id, leg_name, month;

-- backfill: the quotes, trades and settlements stored before the views existed
INSERT INTO {db}.deal_quote (
    rfq_id, quote_id, month, quoted, quote_us, quote_client, quote_notional_at_mid, traded, trade_notional)
SELECT
    rfq_id,
    quote_id,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(1)),
    minIfState(ts_us, toUInt8(1)),
    anyIfState(client_id, toUInt8(1)),
    maxIfState(qty_base * mid_price_quote, toUInt8(1)),
    maxIfState(toUInt8(1), toUInt8(0)),
    argMaxIfState(bid_price_quote, _offset, toUInt8(0))
FROM {db}.quotes
GROUP BY rfq_id, quote_id, month;

INSERT INTO {db}.deal_quote (
    rfq_id, quote_id, month, quoted, quote_us, quote_client, quote_notional_at_mid, traded, trade_notional)
SELECT
    rfq_id,
    quote_id,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(0)),
    minIfState(ts_us, toUInt8(0)),
    anyIfState(client_id, toUInt8(0)),
    maxIfState(qty_base * price_quote, toUInt8(0)),
    maxIfState(toUInt8(trade_id != ''), toUInt8(1)),
    argMaxIfState(notional_quote, _offset, toUInt8(trade_id != ''))
FROM {db}.trades
GROUP BY rfq_id, quote_id, month;

INSERT INTO {db}.deal_settlement (
    rfq_id, leg_name, month, booked, trade_us, leg_seen, leg_network, leg_asset, settled_us, failed)
SELECT
    rfq_id,
    arrayJoin(['BASE', 'QUOTE']) AS leg_name,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(1)),
    argMaxIfState(ts_us, _offset, toUInt8(1)),
    maxIfState(toUInt8(1), toUInt8(0)),
    anyIfState('', toUInt8(0)),
    anyIfState('', toUInt8(0)),
    minIfState(ts_us, toUInt8(0)),
    maxIfState(toUInt8(1), toUInt8(0))
FROM {db}.trades
GROUP BY rfq_id, leg_name, month;

INSERT INTO {db}.deal_settlement (
    rfq_id, leg_name, month, booked, trade_us, leg_seen, leg_network, leg_asset, settled_us, failed)
SELECT
    rfq_id,
    CAST(leg AS String) AS leg_name,
    toStartOfMonth(toDateTime(intDiv(ts_us, 1000000), 'UTC')) AS month,
    maxIfState(toUInt8(1), toUInt8(0)),
    argMaxIfState(ts_us, _offset, toUInt8(0)),
    maxIfState(toUInt8(1), toUInt8(1)),
    anyIfState(network, toUInt8(1)),
    anyIfState(asset, toUInt8(1)),
    minIfState(ts_us, toUInt8(state = 'SETTLED')),
    maxIfState(toUInt8(state IN ('FAILED', 'TIMED_OUT')), toUInt8(1))
FROM {db}.settlements
GROUP BY rfq_id, leg_name, month
