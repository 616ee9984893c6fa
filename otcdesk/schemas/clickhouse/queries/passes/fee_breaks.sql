-- fee_breaks: The FILL rows charged off their instrument's fee schedule
-- A first pass of recon_breaks, run once per instrument of the fee schedule: recon's FEE rule
-- (|fee - scheduled fee| beyond the tolerance, or another currency than the schedule's) over the
-- FILL rows of deal_fill_fees (0010_deal_fill_fees.sql) outside the band of fee rates within which
-- a fill of 1 quote unit or more is charged within tolerance (otcdesk/analytics/recon_params.py
-- `fee_band`, proved against recon's rule). The table is sorted by instrument, currency, small
-- notional and fee rate, so the band is one key range and only the granules outside it are read.
-- Every stored copy of a row is judged; identical copies (same event_id and `_offset`) once.
-- recon_breaks reads the rows as the external table `fee_breaks`: the exact pass looks its kept
-- fills up by (event_id, _offset), and reports the rows of deals that are no candidate directly.
-- columns:
--   event_id        the fill event
--   _offset         the Kafka offset of its copy (with event_id: which copy)
--   rfq_id          its deal
--   fill_id         the fill
--   expected        the scheduled fee and currency, as text
--   actual          the fee charged and its currency, as text
--   detail          the same sentence as the stream's ReconBreak.detail
-- params:
--   fee_key         'VENUE SYMBOL' of the instrument
--   fee_rate        its taker fee rate (fraction of notional)
--   fee_currency    the currency its fees are charged in
--   fee_rate_lo_e12     the band's lowest fee_rate_e12 (recon_params.fee_schedule_runs)
--   fee_rate_hi_e12     its highest; below fee_rate_lo_e12: no band, every fill read
--   fee_tolerance_bps       recon.fee_tolerance_bps, of the scheduled fee
--   fee_tolerance_quote     recon.fee_tolerance_quote, absolute floor of the fee tolerance
SELECT
    event_id,
    _offset,
    rfq_id,
    fill_id,
    concat(toString(scheduled_fee), ' ', %(fee_currency)s) AS expected,
    concat(toString(fee), ' ', fee_currency) AS actual,
    concat('fill ', fill_id, ': fee vs ', venue, ' schedule ', %(fee_rate)s) AS detail
FROM
(
    SELECT
        event_id,
        _offset,
        rfq_id,
        fill_id,
        venue,
        fee,
        fee_currency,
        toDecimal128(%(fee_rate)s, 8) * price_quote * qty_base AS scheduled_raw, -- exact, scale 30
        toDecimal128(scheduled_raw, 8) AS scheduled_floor, -- truncated: fees are never negative
        -- ROUND_HALF_EVEN to 8 decimals as venue_sim.scheduled_fee: 18.16 has no roundBankers
        -- and its round() returns garbage at scale 30, so round half up at scale 20 (the
        -- same result), then one unit less on an exact tie above an even last digit
        toDecimal128(round(toDecimal128(scheduled_raw, 20), 8)
                     - if(toDecimal128(scheduled_raw, 9) = scheduled_raw
                          AND toDecimal128(scheduled_raw, 9) - scheduled_floor = toDecimal128('0.000000005', 9)
                          AND toInt64(scheduled_floor * 100000000) % 2 = 0,
                          toDecimal128('0.00000001', 8), toDecimal128('0', 8)), 8) AS scheduled_fee,
        greatest(toDecimal128(%(fee_tolerance_quote)s, 14),
                 scheduled_fee * toDecimal128(%(fee_tolerance_bps)s, 6) / 10000) AS fee_tolerance
    FROM {db}.deal_fill_fees
    WHERE fee_instrument = %(fee_key)s
      AND NOT (fee_currency = %(fee_currency)s AND small_notional = 0
               AND fee_rate_e12 >= %(fee_rate_lo_e12)s AND fee_rate_e12 <= %(fee_rate_hi_e12)s)
    ORDER BY event_id, _offset
    LIMIT 1 BY event_id, _offset
)
WHERE abs(fee - scheduled_fee) > fee_tolerance OR fee_currency != %(fee_currency)s
