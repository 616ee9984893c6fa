"""The per-quote and per-leg tables (migration 0007) on the real ClickHouse 18.16 server, on
throwaway databases: hit_ratio and settlement_latency equal the same report over the raw events
(tests/fixtures/*_raw.sql) on the session written through the sink's own writer (redelivered
copies included), with quotes, trades and legs split over two months and a leg of another name,
before and after merges, in `--since` windows; on a generated history; and migration 0007
backfills a database that already holds events. The chDB side: tests/unit/test_quote_leg_tables.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from otcdesk.analytics import reports
from otcdesk.db import generate
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.settings import Settings
from tests.integration.test_recon_sql import sink_insert
from tests.unit.test_quote_leg_tables import (
    REPORTS,
    SESSION,
    TABLES,
    VERSION,
    options,
    raw_and_new,
    split_over_months,
    states,
    up_to_mine,
    windows,
)

pytestmark = pytest.mark.integration

GENERATED_FILLS = 40_000


@pytest.fixture(scope="module")
def split_db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_split_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, up_to_mine())
        sink_insert(stack, name, split_over_months(SESSION.event_log()))
        yield name
    finally:  # also when loading failed: the shared server keeps nothing
        server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def generated_db(server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_generated_ql_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, up_to_mine())
        params = reports.get("recon_breaks").params(SESSION.settings, options())
        generate.generate(server, name, GENERATED_FILLS, params, seed=5)
        yield name
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize("name", REPORTS)
def test_report_equals_the_raw_events_on_the_sinks_session(server: DriverRunner, split_db: str, name: str) -> None:
    copies = server.query(f"SELECT count() - uniqExact(event_id) FROM {split_db}.settlements")[0][0]
    assert copies > 0  # the sink's writer stored the redelivered copies
    for opts in windows():
        raw, new = raw_and_new(server, split_db, name, opts)
        assert new == raw, (opts, raw, new)
    assert raw_and_new(server, split_db, name)[0]


def test_answers_stay_the_same_after_merges(server: DriverRunner, split_db: str) -> None:
    before = {(r, o.since_us): raw_and_new(server, split_db, r, o)[1] for r in REPORTS for o in windows()}
    for table in TABLES:
        server.execute(f"OPTIMIZE TABLE {split_db}.{table} FINAL")
    after = {(r, o.since_us): raw_and_new(server, split_db, r, o) for r in REPORTS for o in windows()}
    assert {k: new for k, (_raw, new) in after.items()} == before
    assert all(new == raw for raw, new in after.values())


@pytest.mark.parametrize("name", REPORTS)
def test_report_equals_the_raw_events_on_a_generated_history(
    server: DriverRunner, generated_db: str, name: str
) -> None:
    raw, new = raw_and_new(server, generated_db, name)
    assert raw and new == raw


def test_migration_backfills_a_database_that_already_holds_events(
    stack: Settings, server: DriverRunner, split_db: str
) -> None:
    name = f"otcdesk_it_forward_ql_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, [m for m in up_to_mine() if m.version < VERSION])
        sink_insert(stack, name, split_over_months(SESSION.event_log()))
        assert ("deal_quote",) not in server.query(f"SELECT name FROM system.tables WHERE database = '{name}'")
        outcomes = migrate(server, name, up_to_mine())
        assert (VERSION, "applied") in [(o.version, o.status) for o in outcomes]
        assert states(server, name) == states(server, split_db)
        for report in REPORTS:
            for opts in windows():
                assert raw_and_new(server, name, report, opts)[1] == raw_and_new(server, split_db, report, opts)[0]
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")
