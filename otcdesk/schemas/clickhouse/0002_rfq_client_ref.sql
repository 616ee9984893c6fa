-- 0002: rfq Avro schema v2 adds the optional client_ref (the client's own order reference).
--
-- One statement only: ClickHouse DDL is not transactional and 18.16 has no
-- `ADD COLUMN IF NOT EXISTS`, so a file that failed halfway could not be re-run. With a single
-- statement a failure means nothing changed, and the migrator records the file only on success.
ALTER TABLE {db}.rfq ADD COLUMN client_ref Nullable(String) AFTER notional_quote;
