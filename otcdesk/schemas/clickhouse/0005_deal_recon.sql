-- 0005: deal_recon, each deal's latest reconciliation result (the `recon` row of the highest
-- revision), kept by a materialized view as the sink inserts recon results, so breaks_over_time
-- reads one row per deal instead of grouping every result by rfq_id (docs/clickhouse.md,
-- "Per-deal tables").
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
-- The view selects every column of the table from `recon` directly (18.16 loses the columns of a
-- view over a renaming subquery). The backfill reads the results already stored; results the view
-- also wrote while it ran are replaced like any redelivered copy. Statements are IF NOT EXISTS
-- except the backfill, which is idempotent: a failed run is repaired by re-running the file.
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
