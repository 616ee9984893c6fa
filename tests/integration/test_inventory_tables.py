"""inventory_pnl over the per-deal minutes of 0009 on the real ClickHouse 18.16 server, on
throwaway databases: the report equals the query over the raw events (tests/fixtures/
inventory_pnl_raw.sql) on the faulted session written through the sink's own writer (copies
included: those deals recounted from raw), after more copies and a fill re-reported in another
minute, for every window and bucket of tests/unit/test_inventory_tables.py, and on a generated
history; 0009 backfills a database that already holds events. The chDB side:
tests/unit/test_inventory_tables.py."""

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
from tests.recon_session import INSTRUMENTS, build_session
from tests.unit.test_inventory_tables import MIGRATIONS, add_copies, answers, check_every_window, recounted

pytestmark = pytest.mark.integration

SESSION = build_session()
GENERATED_FILLS = 40_000


@pytest.fixture()
def scratch(server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_inventory_{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:  # also when loading failed: the shared server keeps nothing
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_report_equals_the_raw_events_on_the_session_and_more_copies(
    stack: Settings, server: DriverRunner, scratch: str
) -> None:
    migrate(server, scratch, MIGRATIONS)
    sink_insert(stack, scratch, SESSION.event_log())
    before = recounted(server, scratch)
    assert before  # the session's redelivered copies: the recount path runs
    raw, new = answers(server, scratch, reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000))
    assert raw and new == raw
    check_every_window(server, scratch)
    add_copies(server, scratch)
    assert recounted(server, scratch) > before
    check_every_window(server, scratch)


def test_report_equals_the_raw_events_on_a_generated_history(server: DriverRunner, scratch: str) -> None:
    migrate(server, scratch, MIGRATIONS)
    params = reports.get("recon_breaks").params(SESSION.settings, reports.ReportOptions(instruments=INSTRUMENTS))
    generate.generate(server, scratch, GENERATED_FILLS, params, seed=5)
    assert not recounted(server, scratch)  # every deal answered from its stored minutes
    check_every_window(server, scratch)


def test_migration_backfills_a_database_that_already_holds_events(
    stack: Settings, server: DriverRunner, scratch: str
) -> None:
    migrate(server, scratch, [m for m in MIGRATIONS if m.version < 9])
    sink_insert(stack, scratch, SESSION.event_log())
    outcomes = migrate(server, scratch, MIGRATIONS)
    assert (9, "applied") in [(o.version, o.status) for o in outcomes]
    check_every_window(server, scratch)
