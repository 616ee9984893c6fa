"""Scenario 1's verdict: what counts as the same session when one run had its processes killed."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from otcdesk.cli.chaos_cmd import session_differences
from otcdesk.cli.simulate_cmd import SessionResult
from otcdesk.simulate import SessionTally


def _result(lines: tuple[str, ...] = ("r1 TRADED t1", "r2 DECLINED"), **letters: int) -> SessionResult:
    tally = SessionTally(frozenset({"r1", "r2"}), dead_letters=Counter(letters))
    return SessionResult(tally.summary(), True, 60.0, (), deal_lines=lines)


def test_a_refused_answer_refused_again_is_the_same_session() -> None:
    clean, faulted = _result(**{"invalid:quote_expired": 1}), _result(**{"invalid:quote_expired": 2})
    assert clean.summary.digest != faulted.summary.digest  # the digest counts them ...
    assert session_differences(clean, faulted) == []  # ... the verdict compares reasons


def test_a_new_reason_a_figure_or_a_deal_line_is_another_session() -> None:
    clean = _result(**{"invalid:quote_expired": 1})
    assert session_differences(clean, _result(**{"invalid:side_mismatch": 1})) == ["dead_letters"]
    assert session_differences(clean, _result(("r1 TRADED t2", "r2 DECLINED"), **{"invalid:quote_expired": 1})) == [
        "deal_lines"
    ]
    other = replace(clean, summary=replace(clean.summary, deals=3))
    assert session_differences(clean, other) == ["deals"]


def test_expect_names_the_first_differing_deal_line_then_the_digest() -> None:
    run = _result()
    same = run.as_json()
    assert run.difference_from(same) is None
    other = same | {"deal_lines": ["r1 TRADED t1", "r2 EXPIRED"]}
    assert run.difference_from(other) == "first differing deal line:\n  r2 DECLINED\n  vs r2 EXPIRED"
    assert "every deal line the same" in (run.difference_from(same | {"digest": "0" * 16}) or "")
