"""The per-quote and per-leg tables (migration 0007: deal_quote, deal_settlement) on the current
engine (chDB): hit_ratio and settlement_latency answer exactly as the same report over the raw
events (tests/fixtures/*_raw.sql: the query before these tables) on a session with redelivered
copies, unmerged parts and merged ones, quotes, trades and legs split over two months, a leg of
another name, `--since` windows, and a generated history; the migration backfills a database that
already holds events. The same on the 18.16 server: tests/integration/test_quote_leg_tables.py."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from otcdesk.analytics import reports
from otcdesk.analytics.queries import parse
from otcdesk.db import generate
from otcdesk.db.migrate import MIGRATIONS_DIR, Migration, load_migrations, migrate
from otcdesk.db.runner import ChdbRunner, SqlRunner
from otcdesk.events import Event, Quote, SettlementLeg, SettlementState, SettlementUpdated, TradeBooked
from tests.recon_session import build_session, insert_all, sink_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SESSION = build_session()
REPORTS = ("hit_ratio", "settlement_latency")
VERSION = 7
TABLES = ("deal_quote", "deal_settlement")
GENERATED_FILLS = 4_000
DAY_US = 86_400 * 1_000_000
DECEMBER_2025_US = 1_764_547_200_000_000  # the session lies in late November 2025


def options(since_us: int = 0) -> reports.ReportOptions:
    return reports.ReportOptions(since_us=since_us)


def raw_and_new(
    runner: SqlRunner, db: str, name: str, opts: reports.ReportOptions | None = None
) -> tuple[list[tuple], list[tuple]]:
    params = reports.get(name).params(SESSION.settings, opts or options())
    raw = parse(name, (FIXTURES / f"{name}_raw.sql").read_text()).render(db, params)
    return runner.query(raw), reports.query_rows(runner, db, reports.get(name), params)


def windows() -> list[reports.ReportOptions]:
    """Everything, a window from the middle of the session, one from the next month on."""
    times = sorted(e.ts_us for e in SESSION.event_log() if isinstance(e, TradeBooked))
    return [options(), options(times[len(times) // 2]), options(DECEMBER_2025_US)]


def split_over_months(events: list[Event]) -> list[Event]:
    """The session with, for the first deal, its SETTLED events ten days later (the legs settle in
    December); for the second, everything from its trade on ten days later (quoted in November,
    traded in December); and a leg of another name (UNKNOWN) on the third deal."""
    first, second, third = (d.trade.rfq_id for d in SESSION.deals[:3])
    out: list[Event] = []
    for e in events:
        rfq_id = getattr(e, "rfq_id", None)
        late = (rfq_id == first and isinstance(e, SettlementUpdated) and e.state is SettlementState.SETTLED) or (
            rfq_id == second and not isinstance(e, Quote) and e.ts_us >= SESSION.deals[1].trade.ts_us
        )
        out.append(replace(e, ts_us=e.ts_us + 10 * DAY_US) if late else e)
        if isinstance(e, SettlementUpdated) and rfq_id == third and e.leg is SettlementLeg.BASE:
            out.append(
                replace(e, event_id=f"{e.event_id}-u", settlement_id=f"{e.settlement_id}-u", leg=SettlementLeg.UNKNOWN)
            )
    return out


def states(runner: SqlRunner, db: str) -> list[tuple]:
    """Every quote's and leg's merged states, as the reports see them."""
    return runner.query(
        f"SELECT rfq_id, quote_id, maxIfMerge(quoted), minIfMerge(quote_us), anyIfMerge(quote_client),"
        f" maxIfMerge(quote_notional_at_mid), maxIfMerge(traded), argMaxIfMerge(trade_notional)"
        f" FROM {db}.deal_quote GROUP BY rfq_id, quote_id ORDER BY rfq_id, quote_id"
    ) + runner.query(
        f"SELECT rfq_id, leg_name, maxIfMerge(booked), argMaxIfMerge(trade_us), maxIfMerge(leg_seen),"
        f" anyIfMerge(leg_network), anyIfMerge(leg_asset), minIfMerge(settled_us), maxIfMerge(failed)"
        f" FROM {db}.deal_settlement GROUP BY rfq_id, leg_name ORDER BY rfq_id, leg_name"
    )


def up_to_mine() -> list[Migration]:
    """The event tables, deal_hedge and 0007: these tests read no other per-deal table."""
    return [m for m in load_migrations() if m.version <= 4 or m.version == VERSION]


def load_events(runner: SqlRunner, events: list[Event], prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    migrate(runner, name, up_to_mine())
    insert_all(runner, name, events)  # every 7th event twice, as a restarted sink stores it
    return name


@pytest.fixture(scope="module")
def session_db(chdb: ChdbRunner) -> str:
    return load_events(chdb, SESSION.event_log(), "unit_quote_legs")


@pytest.fixture(scope="module")
def split_db(chdb: ChdbRunner) -> str:
    return load_events(chdb, split_over_months(SESSION.event_log()), "unit_split")


@pytest.fixture(scope="module")
def generated_db(chdb: ChdbRunner) -> str:
    name = f"unit_generated_ql_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, up_to_mine())
    params = reports.get("recon_breaks").params(SESSION.settings, options())
    generate.generate(chdb, name, GENERATED_FILLS, params, seed=3)
    return name


def optimized(runner: SqlRunner, db: str) -> str:
    for table in TABLES:
        runner.execute(f"OPTIMIZE TABLE {db}.{table} FINAL")
    return db


@pytest.mark.parametrize("name", REPORTS)
def test_report_equals_the_raw_events_on_a_session_with_copies(chdb: ChdbRunner, session_db: str, name: str) -> None:
    inserted = sink_rows(SESSION.event_log())
    for cls in (Quote, TradeBooked, SettlementUpdated):  # redelivered copies of each (same event_id)
        assert len(inserted[cls]) > len({row[0] for row in inserted[cls]})
    for opts in windows()[:2]:
        raw, new = raw_and_new(chdb, session_db, name, opts)
        assert raw and new == raw


@pytest.mark.parametrize("name", REPORTS)
def test_report_equals_the_raw_events_across_months_and_after_merges(
    chdb: ChdbRunner, split_db: str, name: str
) -> None:
    assert len(chdb.query(f"SELECT DISTINCT month FROM {split_db}.deal_settlement")) == 2
    for db in (split_db, optimized(chdb, split_db)):
        for opts in windows():
            raw, new = raw_and_new(chdb, db, name, opts)
            assert new == raw, (opts, raw, new)
        assert raw_and_new(chdb, db, name)[0]


def test_the_split_session_really_moves_answers(chdb: ChdbRunner, session_db: str, split_db: str) -> None:
    """The split is seen: December windows are not empty, the UNKNOWN leg is a row of its own."""
    december = options(DECEMBER_2025_US)
    assert raw_and_new(chdb, split_db, "hit_ratio", december)[1] == []  # the quote is November's
    legs = raw_and_new(chdb, split_db, "settlement_latency", december)[1]
    assert legs and all(r[2] in ("BASE", "QUOTE") for r in legs)
    every = raw_and_new(chdb, split_db, "settlement_latency")[1]
    assert "UNKNOWN" in {r[2] for r in every} and every != raw_and_new(chdb, session_db, "settlement_latency")[1]


@pytest.mark.parametrize("name", REPORTS)
def test_report_equals_the_raw_events_on_a_generated_history(chdb: ChdbRunner, generated_db: str, name: str) -> None:
    raw, new = raw_and_new(chdb, generated_db, name)
    assert raw and new == raw


def test_copies_change_no_state(chdb: ChdbRunner, session_db: str) -> None:
    """Every state is idempotent: the session inserted again (all copies) leaves the same states."""
    name = load_events(chdb, SESSION.event_log(), "unit_twice")
    insert_all(chdb, name, SESSION.event_log())
    assert states(chdb, name) == states(chdb, session_db)
    for report in REPORTS:
        assert raw_and_new(chdb, name, report)[1] == raw_and_new(chdb, session_db, report)[1]


def test_migration_backfills_a_database_that_already_holds_events(chdb: ChdbRunner, split_db: str) -> None:
    name = f"unit_forward_ql_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, [m for m in up_to_mine() if m.version < VERSION])
    insert_all(chdb, name, split_over_months(SESSION.event_log()))
    outcomes = migrate(chdb, name, up_to_mine())
    assert (VERSION, "applied") in [(o.version, o.status) for o in outcomes]
    assert states(chdb, name) == states(chdb, split_db)  # the backfill holds what the views write
    for report in REPORTS:
        for opts in windows():
            assert raw_and_new(chdb, name, report, opts)[1] == raw_and_new(chdb, split_db, report, opts)[0]


def test_the_trades_view_writes_the_legs_the_planner_plays() -> None:
    """The booking time is written for the enum's legs but UNKNOWN (a reader's default for a symbol a
    newer writer adds; such a leg is merged at read time and finds its booking all the same)."""
    text = next(MIGRATIONS_DIR.glob(f"{VERSION:04d}_*.sql")).read_text()
    written = re.findall(r"arrayJoin\(\[([^\]]*)\]\)", text)
    legs = [s.value for s in SettlementLeg if s is not SettlementLeg.UNKNOWN]
    assert written and all([w.strip().strip("'") for w in arr.split(",")] == legs for arr in written), written
