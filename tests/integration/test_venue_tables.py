"""Migration 0006's deal_venues and deal_orders on the real ClickHouse 18.16 server, on throwaway
databases: hedge_slippage and fill_quality equal the same reports over the raw events
(tests/fixtures/*_raw.sql) on the faulted session written through the sink's own writer (copies and
re-reported fills: recomputed from raw), with every event delivered twice, with windows that cut
deals in two, on a generated history (every deal answered from its row), and after the migration
backfilled a database that already held events; a `--since` window outside the history reads none
of deal_venues' months. The chDB side: tests/unit/test_venue_tables.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from otcdesk.analytics import reports
from otcdesk.db import generate
from otcdesk.db.migrate import load_migrations, migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.settings import Settings
from tests.integration.test_recon_sql import sink_insert
from tests.unit.test_venue_tables import (
    GENERATED_FILLS,
    ON_VENUE_TABLES,
    OPTIONS,
    SESSION,
    answers,
    untrusted_deals,
    windows,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def session_db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_venues_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name)
        sink_insert(stack, name, SESSION.event_log())
        yield name
    finally:  # also when loading failed: the shared server keeps nothing
        server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def twice_db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_venues_twice_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name)
        sink_insert(stack, name, SESSION.event_log())
        sink_insert(stack, name, SESSION.event_log())
        yield name
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def generated_db(server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_venues_gen_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name)
        params = reports.get("recon_breaks").params(SESSION.settings, OPTIONS)
        generate.generate(server, name, GENERATED_FILLS, params, seed=5)
        yield name
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize("name", ON_VENUE_TABLES)
def test_report_equals_the_raw_events_on_the_sinks_session(server: DriverRunner, session_db: str, name: str) -> None:
    assert untrusted_deals(server, session_db)
    for options in windows(server, session_db):
        raw, venue = answers(server, session_db, name, options)
        assert venue == raw, options
    assert answers(server, session_db, name, OPTIONS)[0]


@pytest.mark.parametrize("name", ON_VENUE_TABLES)
def test_every_event_delivered_twice_counts_once(
    server: DriverRunner, session_db: str, twice_db: str, name: str
) -> None:
    raw, venue = answers(server, twice_db, name, OPTIONS)
    assert venue == raw == answers(server, session_db, name, OPTIONS)[0]


@pytest.mark.parametrize("name", ON_VENUE_TABLES)
def test_report_equals_the_raw_events_on_a_generated_history(
    server: DriverRunner, generated_db: str, name: str
) -> None:
    assert untrusted_deals(server, generated_db) == 0
    for options in windows(server, generated_db):
        raw, venue = answers(server, generated_db, name, options)
        assert venue == raw, options
    assert answers(server, generated_db, name, OPTIONS)[1]


def test_migration_backfills_a_database_that_already_holds_events(
    stack: Settings, server: DriverRunner, session_db: str
) -> None:
    name = f"otcdesk_it_venues_fwd_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, [m for m in load_migrations() if m.version < 6])
        sink_insert(stack, name, SESSION.event_log())
        assert ("deal_venues",) not in server.query(f"SELECT name FROM system.tables WHERE database = '{name}'")
        assert (6, "applied") in [(o.version, o.status) for o in migrate(server, name)]
        for report in ON_VENUE_TABLES:
            raw, venue = answers(server, name, report, OPTIONS)
            assert venue == raw == answers(server, session_db, report, OPTIONS)[1]
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_a_since_window_reads_none_of_the_months_outside_it(stack: Settings, generated_db: str) -> None:
    """The generated history lies in November 2026: a window from December on reads none of
    deal_venues' parts nor of the fills (both passes counted): only the part list and what the
    empty recount set leaves of the trades' index."""
    from otcdesk.db import client

    reader = client.report_reader(stack, generated_db)
    try:
        december = reports.ReportOptions(since_us=1_796_083_200_000_000)  # 2026-12-01 UTC
        result = reports.run(reader, generated_db, reports.get("hedge_slippage"), stack, december)
        read = reader.rows_read
        everything = reports.run(reader, generated_db, reports.get("hedge_slippage"), stack, reports.ReportOptions())
        read_all = reader.rows_read - read
    finally:
        reader.close()
    assert result.rows == [] and everything.rows
    deals = GENERATED_FILLS // generate.FILLS_PER_DEAL
    assert read <= deals + 16 and deals <= read_all, (read, read_all)
