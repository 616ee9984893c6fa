"""recon_breaks' candidate pass on the current engine (chDB): the deals deal_bounds's bounds prove
clean are never deals the exact rules would report. Once deal_bounds is merged (every deal judged
by its bounds, none a candidate only for being in a newer part), recon_breaks answers exactly as
the same rules over every deal (tests/fixtures/recon_breaks_raw.sql, the query before the
candidate pass) on the session with injected faults, under the desk's tolerances and under
tolerances of zero and wide ones, at each deal's latest event and past every timeout; and on a
generated history, where the candidates are exactly the deals with an injected FEE break. The
migration also moves a database that already holds events forward. The same on the 18.16 server:
tests/integration/test_recon_candidates.py."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from otcdesk.analytics import reports
from otcdesk.analytics.queries import Value, load, parse
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


def candidates(runner: SqlRunner, db: str, values: dict[str, Value]) -> set[str]:
    """recon_breaks' first pass, as the report runs it."""
    first = load("recon_candidates", reports.PASSES_DIR)
    return {r[0] for r in runner.query(first.render(db, {k: values[k] for k in first.param_names}))}


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
    assert {r[0] for r in raw} <= candidates(chdb, session_db, values)


def test_candidates_are_exactly_the_broken_deals_of_a_generated_history(chdb: ChdbRunner, generated_db: str) -> None:
    raw, answer = raw_and_candidate_answers(chdb, generated_db, params())
    assert answer == raw
    assert {r[2] for r in answer} == {"FEE"} and len(answer) == generate.bad_fees(GENERATED_FILLS)
    # precision: the bounds prove every other deal clean
    assert candidates(chdb, generated_db, params()) == {r[0] for r in answer}


@pytest.mark.parametrize("tolerances", ["zero", "wide"])
def test_candidates_answer_as_every_deal_on_a_generated_history(
    chdb: ChdbRunner, generated_db: str, tolerances: str
) -> None:
    values = params(**TOLERANCES[tolerances])
    raw, answer = raw_and_candidate_answers(chdb, generated_db, values)
    assert answer == raw
    assert {r[0] for r in raw} <= candidates(chdb, generated_db, values)


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
    assert (8, "applied") in [(o.version, o.status) for o in outcomes]
    merge(chdb, name)
    values = params()
    assert candidates(chdb, name, values) == candidates(chdb, session_db, values)
    assert raw_and_candidate_answers(chdb, name, values)[1] == raw_and_candidate_answers(chdb, session_db, values)[1]
