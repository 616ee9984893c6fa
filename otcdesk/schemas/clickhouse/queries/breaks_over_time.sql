-- breaks_over_time: Reconciliation breaks by kind over time
-- How many breaks of each kind the streaming reconciliation reports, per time bucket: for every
-- deal its latest result (the `recon` table's highest revision, so a break fixed by late data
-- disappears), bucketed by the event time of that result, i.e. when the break was last
-- confirmed. Use recon_breaks to recompute the breaks from the raw events instead.
-- Each deal's latest result comes from deal_recon (a ReplacingMergeTree by revision kept by a
-- materialized view on `recon`): one row per deal after FINAL, no grouping of the results by
-- deal. The window applies to that latest result, after FINAL.
-- columns:
--   bucket_start    bucket start, UTC
--   bucket_start_us bucket start (epoch us)
--   kind            break kind
--   breaks          breaks of that kind
--   deals           deals with at least one
-- params:
--   since_us        results at or after this event time (epoch us)
--   until_us        results before this event time (epoch us)
--   bucket_us       bucket width (us)
SELECT
    toString(toDateTime(intDiv(bucket_start_us, 1000000), 'UTC')) AS bucket_start,
    bucket_start_us,
    kind,
    count() AS breaks,
    uniqExact(rfq_id) AS deals
FROM
(
    SELECT rfq_id, intDiv(judged_us, %(bucket_us)s) * %(bucket_us)s AS bucket_start_us, break_kinds
    FROM
    (
        SELECT rfq_id, judged_us, break_kinds
        FROM {db}.deal_recon FINAL
    ) AS latest
    WHERE judged_us >= %(since_us)s AND judged_us < %(until_us)s AND notEmpty(break_kinds)
) AS broken
ARRAY JOIN break_kinds AS kind
GROUP BY bucket_start_us, kind
ORDER BY bucket_start_us, kind
