"""recon_breaks.sql on the current engine (chDB): the breaks it recomputes from the raw event
tables equal the streaming reconciliation's (otcdesk.recon) deal by deal, kind by kind and
subject by subject, on a session with injected faults (tests/recon_session.py), both when each
deal is judged at its latest event and at an instant past every timeout. The same comparisons run
on the 18.16 server in tests/integration/test_recon_sql.py."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal as D

import pytest

from otcdesk.db.runner import ChdbRunner
from otcdesk.events import ExecType, Fill, Venue
from otcdesk.settings import Settings
from otcdesk.venue_sim import scheduled_fee
from tests.recon_session import (
    INSTRUMENTS,
    Session,
    build_session,
    expected_breaks,
    load_session,
    recon_table_breaks,
    sql_breaks,
    without_subjects,
)

SESSION = build_session()


@pytest.fixture(scope="module")
def db(chdb: ChdbRunner) -> str:
    name = f"unit_recon_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, SESSION)
    return name


def test_the_session_has_every_break_kind() -> None:
    kinds = {kind for _, kind, _ in expected_breaks(SESSION.stream_results(SESSION.timeout_us))}
    assert kinds == {
        "QUANTITY",
        "PRICE",
        "FEE",
        "MISSING_FILL",
        "DUPLICATE_FILL",
        "TIMESTAMP_ORDER",
        "SETTLEMENT_AMOUNT",
        "TX_HASH",
        "CONFIRMATIONS",
    }
    clean = [r.rfq_id for r in SESSION.stream_results() if not r.breaks]
    assert len(clean) >= 3  # clean deals too: SQL must not invent breaks


def test_sql_equals_stream_at_each_deals_latest_event(chdb: ChdbRunner, db: str) -> None:
    assert sql_breaks(chdb, db, SESSION) == expected_breaks(SESSION.stream_results())


def test_sql_equals_stream_past_every_timeout(chdb: ChdbRunner, db: str) -> None:
    late = SESSION.timeout_us
    expected = expected_breaks(SESSION.stream_results(late))
    assert sql_breaks(chdb, db, SESSION, late) == expected
    assert expected != expected_breaks(SESSION.stream_results())  # the timeouts did add breaks


def test_sql_equals_the_recon_tables_latest_results(chdb: ChdbRunner, db: str) -> None:
    """The recon table holds what the stage sent (the timer's revision last): same breaks."""
    assert without_subjects(sql_breaks(chdb, db, SESSION, SESSION.timeout_us)) == recon_table_breaks(chdb, db)


def _tie_session() -> Session:
    """Zero fee tolerance, and fills whose scheduled fee is an exact half at the 9th decimal:
    0.001 * 95000.01 * 0.0005 = 0.047500005 rounds half-even down, 0.047500015 up."""
    strict = Settings().model_copy(
        update={
            "recon": Settings().recon.model_copy(update={"fee_tolerance_bps": D("0"), "fee_tolerance_quote": D("0")})
        }
    )
    session = build_session(strict)
    deal = session.deals[0]
    model = next(f for f in deal.fills if f.exec_type is ExecType.FILL)
    inst = INSTRUMENTS[(Venue.BINANCE, model.symbol)]

    def tie(n: int, price: str) -> Fill:
        return replace(
            model,
            event_id=f"ev-tie-{n}",
            fill_id=f"tie-{n}",
            venue=Venue.BINANCE,
            price_quote=D(price),
            qty_base=D("0.0005"),
            fee=scheduled_fee(inst, D(price), D("0.0005")),
            fee_currency="USDT",
        )

    deal = replace(deal, fills=(*deal.fills, tie(1, "95000.01"), tie(2, "95000.03")))
    return replace(session, deals=(deal, *session.deals[1:]))


def test_fee_rounding_is_half_even_like_the_venue_schedule(chdb: ChdbRunner) -> None:
    session = _tie_session()
    assert {f.fee for f in session.deals[0].fills if f.fill_id.startswith("tie-")} == {D("0.04750000"), D("0.04750002")}
    name = f"unit_recon_tie_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, session)
    try:
        assert sql_breaks(chdb, name, session) == expected_breaks(session.stream_results())
    finally:
        chdb.execute(f"DROP DATABASE IF EXISTS {name}")
