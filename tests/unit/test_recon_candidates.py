"""recon_breaks' first passes on the current engine (chDB): the deals deal_bounds's bounds prove
clean of every break but FEE are never deals the exact rules would report another break for, and
the fee_breaks pass finds every FEE break. Once deal_bounds is merged (every deal judged by its
bounds, none a candidate only for being in a newer part), recon_breaks answers exactly as the same
rules over every deal (tests/fixtures/recon_breaks_raw.sql, the query before the first passes) on
the session with injected faults, under the desk's tolerances and under tolerances of zero and wide
ones, at each deal's latest event and past every timeout; and on a generated history, where no deal
is a candidate and the fee pass finds exactly the injected FEE breaks. The migrations also move a
database that already holds events forward. The same on the 18.16 server:
tests/integration/test_recon_candidates.py."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from otcdesk.analytics import reports
from otcdesk.analytics.queries import Value, parse
from otcdesk.db import generate
from otcdesk.db.migrate import load_migrations, migrate
from otcdesk.db.runner import ChdbRunner, SqlRunner
from tests.recon_session import INSTRUMENTS, build_session, insert_all, load_session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SESSION = build_session()
OPTIONS = reports.ReportOptions(instruments=INSTRUMENTS)
GENERATED_FILLS = 20_000
#: tolerances the bounds must hold under: the desk's, none at all, and wide ones
TOLERANCES: dict[str, dict[str, Value]] = {
    "desk": {},
    "zero": {
        "price_tolerance_bps": Decimal("0"),
        "fee_tolerance_bps": Decimal("0"),
        "fee_tolerance_quote": Decimal("0"),
    },
    "wide": {
        "price_tolerance_bps": Decimal("500"),
        "fee_tolerance_bps": Decimal("100"),
        "fee_tolerance_quote": Decimal("1"),
    },
}


def params(as_of_us: int = 0, **overrides: Value) -> dict[str, Value]:
    options = reports.ReportOptions(instruments=INSTRUMENTS, as_of_us=as_of_us)
    return {**reports.get("recon_breaks").params(SESSION.settings, options), **overrides}


def raw_and_candidate_answers(runner: SqlRunner, db: str, values: dict[str, Value]) -> tuple[list, list]:
    raw = parse("recon_breaks", (FIXTURES / "recon_breaks_raw.sql").read_text()).render(db, values)
    return runner.query(raw), reports.query_rows(runner, db, reports.get("recon_breaks"), values)


def merge(runner: SqlRunner, db: str) -> None:
    """One part: every deal judged by its bounds (rows in a newer part make a deal a candidate)."""
    runner.execute(f"OPTIMIZE TABLE {db}.deal_bounds FINAL")
    parts = runner.query(
        f"SELECT count() FROM system.parts WHERE database = '{db}' AND table = 'deal_bounds' AND active"
    )
    assert parts[0][0] == 1


def _first_pass(name: str) -> reports.FirstPass:
    return next(p for p in reports.get("recon_breaks").passes if p.name == name)


def candidates(runner: SqlRunner, db: str, values: dict[str, Value]) -> set[str]:
    """recon_breaks' candidate pass, as the report runs it."""
    return {r[0] for r in reports.pass_rows(runner, db, _first_pass("recon_candidates"), values)}


def fee_breaks(runner: SqlRunner, db: str, values: dict[str, Value]) -> set[tuple[str, str]]:
    """(rfq_id, fill_id) of recon_breaks' fee pass, as the report runs it."""
    return {(r[2], r[3]) for r in reports.pass_rows(runner, db, _first_pass("fee_breaks"), values)}


def found_by_the_passes(runner: SqlRunner, db: str, values: dict[str, Value], raw: list) -> bool:
    """Every break of the raw query is a candidate's, or a FEE break the fee pass found."""
    deals, fees = candidates(runner, db, values), fee_breaks(runner, db, values)
    return all(r[0] in deals or (r[2] == "FEE" and (r[0], r[3]) in fees) for r in raw)


@pytest.fixture(scope="module")
def session_db(chdb: ChdbRunner) -> str:
    name = f"unit_cand_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, SESSION)
    merge(chdb, name)
    return name


@pytest.fixture(scope="module")
def generated_db(chdb: ChdbRunner) -> str:
    name = f"unit_cand_gen_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name)
    generate.generate(chdb, name, GENERATED_FILLS, params(), seed=5)
    merge(chdb, name)
    return name


@pytest.mark.parametrize("tolerances", sorted(TOLERANCES))
@pytest.mark.parametrize("late", [False, True])
def test_candidates_answer_as_every_deal_on_the_faulted_session(
    chdb: ChdbRunner, session_db: str, tolerances: str, late: bool
) -> None:
    values = params(SESSION.timeout_us if late else 0, **TOLERANCES[tolerances])
    raw, answer = raw_and_candidate_answers(chdb, session_db, values)
    assert raw and answer == raw
    assert found_by_the_passes(chdb, session_db, values, raw)


def test_candidates_are_exactly_the_broken_deals_of_a_generated_history(chdb: ChdbRunner, generated_db: str) -> None:
    raw, answer = raw_and_candidate_answers(chdb, generated_db, params())
    assert answer == raw
    assert {r[2] for r in answer} == {"FEE"} and len(answer) == generate.bad_fees(GENERATED_FILLS)
    # precision: the bounds prove every deal clean of every other break, and the fee pass reads
    # only the fills off the band around the schedule, of which exactly the broken ones stay
    assert candidates(chdb, generated_db, params()) == set()
    assert fee_breaks(chdb, generated_db, params()) == {(r[0], r[3]) for r in answer}


@pytest.mark.parametrize("tolerances", ["zero", "wide"])
def test_candidates_answer_as_every_deal_on_a_generated_history(
    chdb: ChdbRunner, generated_db: str, tolerances: str
) -> None:
    values = params(**TOLERANCES[tolerances])
    raw, answer = raw_and_candidate_answers(chdb, generated_db, values)
    assert answer == raw
    assert found_by_the_passes(chdb, generated_db, values, raw)


def test_unmerged_deals_are_candidates(chdb: ChdbRunner) -> None:
    """Before any merge every deal is in some part other than the largest, or is judged by it."""
    name = f"unit_cand_parts_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, SESSION)
    raw, answer = raw_and_candidate_answers(chdb, name, params())
    assert raw and answer == raw


def test_migration_backfills_a_database_that_already_holds_events(chdb: ChdbRunner, session_db: str) -> None:
    name = f"unit_cand_fwd_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, [m for m in load_migrations() if m.version < 8])
    insert_all(chdb, name, SESSION.event_log())
    outcomes = migrate(chdb, name)
    assert {(8, "applied"), (10, "applied")} <= {(o.version, o.status) for o in outcomes}
    merge(chdb, name)
    values = params()
    assert candidates(chdb, name, values) == candidates(chdb, session_db, values)
    assert raw_and_candidate_answers(chdb, name, values)[1] == raw_and_candidate_answers(chdb, session_db, values)[1]


def test_fill_rows_written_twice_by_a_backfill_racing_the_views_count_once(chdb: ChdbRunner) -> None:
    """deal_fill_fees is a plain MergeTree: a row the migration's backfill writes again beside its
    view is a second row, which the fee pass reads as one copy (event_id, _offset)."""
    name = f"unit_cand_twice_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name)
    generate.generate(chdb, name, GENERATED_FILLS, params(), seed=5)
    merge(chdb, name)
    before = raw_and_candidate_answers(chdb, name, params())
    chdb.execute(f"INSERT INTO {name}.deal_fill_fees SELECT * FROM {name}.deal_fill_fees")
    assert raw_and_candidate_answers(chdb, name, params()) == before
