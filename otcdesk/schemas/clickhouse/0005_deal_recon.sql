-- 0005: deal_recon, each deal's latest reconciliation result (the `recon` row of the highest
-- revision), kept by a materialized view as the sink inserts recon results, so breaks_over_time
-- reads one row per deal instead of grouping every result by rfq_id (docs/clickhouse.md,
-- "Per-deal tables"); and deal_trade_times, the trades' times in time order, from which the
-- blotter finds its newest deals (below).
--
-- A ReplacingMergeTree ORDER BY rfq_id whose version is the revision, not an AggregatingMergeTree
-- of argMax states: a merge keeps the row of the highest revision, which is what
-- `argMax(..., revision)` picks, and FINAL of a ReplacingMergeTree of plain columns is a cheap
-- single pass (about 0.2 s for 2.5M deals on 18.16) where argMax states of strings cost seconds.
-- `version` is the revision shifted into UInt64 (18.16 takes only unsigned integers, Date and
-- DateTime as the version). Exact under redelivery: a copy of a result has the same revision
-- and the same content, so whichever copy a merge keeps, the answer is the same. Equal revisions
-- of different results (not sent by the recon stage, which numbers its results) keep the one
-- inserted last. No partition key: a deal's results may fall in different months, and a
-- ReplacingMergeTree replaces only inside one partition.
--
-- The views select every column of their table from the event table directly (18.16 loses the columns of a
-- view over a renaming subquery). The backfills read the rows already stored; rows a view also
-- wrote while they ran are replaced like any redelivered copy. Statements are IF NOT EXISTS
-- except the backfills, which are idempotent: a failed run is repaired by re-running the file.
CREATE TABLE IF NOT EXISTS {db}.deal_recon
(
    rfq_id String,
    version UInt64,
    judged_us Int64,
    status LowCardinality(String),
    break_kinds Array(LowCardinality(String))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY rfq_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_recon_results TO {db}.deal_recon
AS SELECT
    rfq_id,
    toUInt64(toInt64(revision) + 2147483648) AS version,
    ts_us AS judged_us,
    status,
    breaks.kind AS break_kinds
FROM {db}.recon;

-- backfill: the results stored before the view existed
INSERT INTO {db}.deal_recon (rfq_id, version, judged_us, status, break_kinds)
SELECT rfq_id, toUInt64(toInt64(revision) + 2147483648), ts_us, status, breaks.kind
FROM {db}.recon;

-- deal_trade_times: every trade's time and deal, ordered by time, so the blotter finds the newest
-- deals without reading the trades table (ordered by rfq_id: a FINAL over every trade, merging
-- string keys, is ~0.3 s at 2.5M trades on 18.16 and the blotter needs that set in each of its
-- branches). The key is numeric (ts_us, cityHash64(event_id)): FINAL merges numbers, a
-- redelivered copy (same event) collapses into one row, and the blotter's
-- `ts_us >= <the N-th newest time>` condition selects only the last granules by the primary key.
-- Partitioned by month of the trade time like `trades`, so a `--since` window reads only the
-- months it touches (a copy has the same time, hence the same partition). A 64-bit hash
-- collision between two trades of the same microsecond would hide one of them from the blotter.
CREATE TABLE IF NOT EXISTS {db}.deal_trade_times
(
    ts_us Int64,
    event_key UInt64,
    rfq_id String,
    trade_ts DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(trade_ts)
ORDER BY (ts_us, event_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deal_trade_times_trades TO {db}.deal_trade_times
AS SELECT
    ts_us,
    cityHash64(event_id) AS event_key,
    rfq_id,
    toDateTime(intDiv(ts_us, 1000000), 'UTC') AS trade_ts
FROM {db}.trades;

-- backfill: the trades stored before the view existed (copies collapse like redelivered events)
INSERT INTO {db}.deal_trade_times (ts_us, event_key, rfq_id, trade_ts)
SELECT ts_us, cityHash64(event_id), rfq_id, toDateTime(intDiv(ts_us, 1000000), 'UTC')
FROM {db}.trades;
