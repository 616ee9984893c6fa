"""The per-deal / per-order venue tables of migration 0006 on the current engine (chDB):
hedge_slippage (deal_venues) and fill_quality (deal_orders) answer exactly as the same reports over
the raw events (tests/fixtures/*_raw.sql: the queries before these tables) on the faulted session
(redelivered copies and re-reported fills: those deals are recomputed from raw), on the session
with every event delivered twice, on a generated history (every deal answered from its row), with
`--since` / `--until` windows that cut deals in two, and on a database that held events before the
migration (its backfill). The same on the 18.16 server: tests/integration/test_venue_tables.py."""

from __future__ import annotations

import uuid

import pytest

from otcdesk.analytics import reports
from otcdesk.db import generate
from otcdesk.db.migrate import load_migrations, migrate
from otcdesk.db.runner import ChdbRunner, SqlRunner
from tests.recon_session import INSTRUMENTS, insert_all, load_session
from tests.unit.test_deal_tables import FIXTURES, SESSION, raw_and_deal_answers

ON_VENUE_TABLES = ("hedge_slippage", "fill_quality")
GENERATED_FILLS = 4_000
OPTIONS = reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000)


def answers(runner: SqlRunner, db: str, name: str, options: reports.ReportOptions) -> tuple[list, list]:
    from otcdesk.analytics.queries import parse

    params = reports.get(name).params(SESSION.settings, options)
    raw = parse(name, (FIXTURES / f"{name}_raw.sql").read_text()).render(db, params)
    return runner.query(raw), reports.query_rows(runner, db, reports.get(name), params)


def untrusted_deals(runner: SqlRunner, db: str) -> int:
    """Deals of deal_venues whose fill rows are not all distinct fill ids (recomputed from raw)."""
    return runner.query(
        f"SELECT countIf(finalizeAggregation(fill_rows) != finalizeAggregation(fill_ids)) FROM {db}.deal_venues FINAL"
    )[0][0]


def windows(runner: SqlRunner, db: str) -> list[reports.ReportOptions]:
    """Everything, and windows whose edges fall between the fills of a deal."""
    lo, hi = runner.query(f"SELECT min(ts_us), max(ts_us) FROM {db}.fills")[0]
    mid = (lo + hi) // 2
    return [
        OPTIONS,
        reports.ReportOptions(instruments=INSTRUMENTS, since_us=mid),
        reports.ReportOptions(instruments=INSTRUMENTS, until_us=mid),
        reports.ReportOptions(instruments=INSTRUMENTS, since_us=lo + 1, until_us=hi),
    ]


@pytest.fixture(scope="module")
def session_db(chdb: ChdbRunner) -> str:
    name = f"unit_venues_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, SESSION)
    return name


@pytest.fixture(scope="module")
def twice_db(chdb: ChdbRunner) -> str:
    """Every event delivered twice (same event_id): the views count each copy."""
    name = f"unit_venues_twice_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name)
    insert_all(chdb, name, SESSION.event_log())
    insert_all(chdb, name, SESSION.event_log())
    return name


@pytest.fixture(scope="module")
def generated_db(chdb: ChdbRunner) -> str:
    name = f"unit_venues_gen_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name)
    params = reports.get("recon_breaks").params(SESSION.settings, OPTIONS)
    generate.generate(chdb, name, GENERATED_FILLS, params, seed=3)
    return name


@pytest.mark.parametrize("name", ON_VENUE_TABLES)
def test_report_equals_the_raw_events_on_a_session_with_copies(chdb: ChdbRunner, session_db: str, name: str) -> None:
    assert untrusted_deals(chdb, session_db)  # copies and re-reported fills: the raw branch runs
    for options in windows(chdb, session_db):
        raw, venue = answers(chdb, session_db, name, options)
        assert venue == raw, options
    assert answers(chdb, session_db, name, OPTIONS)[0]


@pytest.mark.parametrize("name", ON_VENUE_TABLES)
def test_every_event_delivered_twice_counts_once(chdb: ChdbRunner, session_db: str, twice_db: str, name: str) -> None:
    raw, venue = answers(chdb, twice_db, name, OPTIONS)
    assert venue == raw == answers(chdb, session_db, name, OPTIONS)[0]


@pytest.mark.parametrize("name", ON_VENUE_TABLES)
def test_report_equals_the_raw_events_on_a_generated_history(chdb: ChdbRunner, generated_db: str, name: str) -> None:
    assert untrusted_deals(chdb, generated_db) == 0  # every deal answered from its row
    for options in windows(chdb, generated_db):
        raw, venue = answers(chdb, generated_db, name, options)
        assert venue == raw, options
    assert answers(chdb, generated_db, name, OPTIONS)[1]


def test_generated_history_is_answered_without_the_raw_branch(chdb: ChdbRunner, generated_db: str) -> None:
    """Once merged, no deal needs the raw events: every deal's row is trusted."""
    rows = chdb.query(
        f"SELECT count(), countIf(finalizeAggregation(booked) = 1 AND finalizeAggregation(fill_kinds) = 1"
        f" AND finalizeAggregation(odd_venue) = 0) FROM {generated_db}.deal_venues FINAL"
    )
    assert rows == [(GENERATED_FILLS // generate.FILLS_PER_DEAL,) * 2]
    orders = chdb.query(
        f"SELECT count(), countIf(finalizeAggregation(reports) = finalizeAggregation(fill_ids))"
        f" FROM {generated_db}.deal_orders FINAL"
    )
    assert orders == [(GENERATED_FILLS // generate.FILLS_PER_DEAL,) * 2]


def test_migration_backfills_a_database_that_already_holds_events(chdb: ChdbRunner, session_db: str) -> None:
    name = f"unit_venues_fwd_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, [m for m in load_migrations() if m.version < 6])
    insert_all(chdb, name, SESSION.event_log())
    outcomes = migrate(chdb, name)
    assert (6, "applied") in [(o.version, o.status) for o in outcomes]
    for report in ON_VENUE_TABLES:
        raw, venue = answers(chdb, name, report, OPTIONS)
        assert venue == raw == answers(chdb, session_db, report, OPTIONS)[1]
    # the backfill holds the same idempotent states as the views (the sums differ where the views
    # counted copies that merges had already folded away before the backfill read the table)
    deals = (
        "SELECT rfq_id, month, finalizeAggregation(trade_price), finalizeAggregation(fill_ids),"
        " finalizeAggregation(fill_worst), finalizeAggregation(first_fill_us)"
        " FROM {}.deal_venues FINAL ORDER BY rfq_id, month"
    )
    assert chdb.query(deals.format(name)) == chdb.query(deals.format(session_db))
    orders = (
        "SELECT rfq_id, order_id, finalizeAggregation(order_venue), finalizeAggregation(sent_us),"
        " finalizeAggregation(fill_ids), finalizeAggregation(first_report_us)"
        " FROM {}.deal_orders FINAL ORDER BY rfq_id, order_id"
    )
    assert chdb.query(orders.format(name)) == chdb.query(orders.format(session_db))


def test_fill_quality_with_another_venue_prefix_reads_the_raw_events(chdb: ChdbRunner, session_db: str) -> None:
    """The table bakes the venue_sim prefix in: any other prefix is answered from the raw events."""
    from otcdesk.analytics.queries import parse

    params = {**reports.get("fill_quality").params(SESSION.settings, OPTIONS), "venue_source_prefix": "hedger"}
    raw = parse("fill_quality", (FIXTURES / "fill_quality_raw.sql").read_text()).render(session_db, params)
    assert reports.query_rows(chdb, session_db, reports.get("fill_quality"), params) == chdb.query(raw)


def test_session_and_raw_reference_are_not_trivial(chdb: ChdbRunner, session_db: str) -> None:
    rows = raw_and_deal_answers(chdb, session_db, "hedge_slippage")[1]
    assert len({r[0] for r in rows}) >= 2  # several venues
