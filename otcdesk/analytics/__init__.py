"""SQL analytics over the ClickHouse event log: named queries, the reports built on them, output.

`queries` loads and renders `schemas/clickhouse/queries/*.sql`, `recon_params` turns the desk's
settings and instruments into the parameters of `recon_breaks`, `reports` says which query each
`otcdesk report` runs and with what, `render` prints results (table, JSON, CSV, PNG plot) and
`adhoc` runs a person's own SQL as the read-only user. See docs/analytics.md.
"""
