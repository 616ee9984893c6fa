"""recon_breaks' first passes on the real ClickHouse 18.16 server: the same comparisons as
tests/unit/test_recon_candidates.py (chDB), on throwaway databases the tests create and drop. The
session's rows go through the sink's own writer (some twice, as after a sink crash), so the
materialized views of deal_bounds and deal_fill_fees see what they see in production."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from otcdesk.db import generate
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.settings import Settings
from tests.integration.test_recon_sql import sink_insert
from tests.recon_session import build_session
from tests.unit.test_recon_candidates import (
    GENERATED_FILLS,
    TOLERANCES,
    candidates,
    fee_breaks,
    found_by_the_passes,
    merge,
    params,
    raw_and_candidate_answers,
)

pytestmark = pytest.mark.integration

SESSION = build_session()


@pytest.fixture(scope="module")
def session_db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_cand_{uuid.uuid4().hex[:8]}"
    migrate(server, name)
    sink_insert(stack, name, SESSION.event_log())
    merge(server, name)
    yield name
    server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def generated_db(server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_cand_gen_{uuid.uuid4().hex[:8]}"
    migrate(server, name)
    generate.generate(server, name, GENERATED_FILLS, params(), seed=5)
    merge(server, name)
    yield name
    server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize("tolerances", sorted(TOLERANCES))
@pytest.mark.parametrize("late", [False, True])
def test_candidates_answer_as_every_deal_on_the_faulted_session(
    server: DriverRunner, session_db: str, tolerances: str, late: bool
) -> None:
    values = params(SESSION.timeout_us if late else 0, **TOLERANCES[tolerances])
    raw, answer = raw_and_candidate_answers(server, session_db, values)
    assert raw and answer == raw
    assert found_by_the_passes(server, session_db, values, raw)


def test_candidates_are_exactly_the_broken_deals_of_a_generated_history(
    server: DriverRunner, generated_db: str
) -> None:
    raw, answer = raw_and_candidate_answers(server, generated_db, params())
    assert answer == raw
    assert {r[2] for r in answer} == {"FEE"} and len(answer) == generate.bad_fees(GENERATED_FILLS)
    assert candidates(server, generated_db, params()) == set()
    assert fee_breaks(server, generated_db, params()) == {(r[0], r[3]) for r in answer}


@pytest.mark.parametrize("tolerances", ["zero", "wide"])
def test_candidates_answer_as_every_deal_on_a_generated_history(
    server: DriverRunner, generated_db: str, tolerances: str
) -> None:
    values = params(**TOLERANCES[tolerances])
    raw, answer = raw_and_candidate_answers(server, generated_db, values)
    assert answer == raw
    assert found_by_the_passes(server, generated_db, values, raw)
