"""ClickHouse event log: versioned DDL migrations, client factory, event <-> row conversion.

`migrate` applies schemas/clickhouse/*.sql, `client` builds connected runners from the settings,
`rows` turns typed events into rows of their tables and back, `runner` hides the engine (a real
server through clickhouse-driver, or chDB in-process).
"""
