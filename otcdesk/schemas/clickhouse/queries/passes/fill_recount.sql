-- fill_recount: The deals fill_quality recomputes from the raw orders and fills
-- The first pass of fill_quality: the deals (as deal_orders' key, cityHash64(rfq_id)) whose
-- order rows cannot be trusted: a row of deal_orders or deal_hedge outside the table's largest
-- part (not merged yet), an order whose reports are not all distinct fill ids, or a deal whose
-- fill rows are not all distinct fill ids (deal_hedge's counts).
-- columns:
--   deal            the deal's key (cityHash64(rfq_id))
-- params:
SELECT deal FROM {db}.deal_orders
WHERE _part NOT IN (SELECT argMax(name, rows) FROM system.parts
    WHERE database = '{db}' AND table = 'deal_orders' AND active)
   OR finalizeAggregation(reports) != finalizeAggregation(fill_ids)
UNION ALL
SELECT cityHash64(rfq_id) AS deal FROM {db}.deal_hedge
WHERE _part NOT IN (SELECT argMax(name, rows) FROM system.parts
    WHERE database = '{db}' AND table = 'deal_hedge' AND active)
   OR finalizeAggregation(fill_rows) != finalizeAggregation(fill_ids)
