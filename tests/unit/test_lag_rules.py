"""Burrow's lag rules on crafted commit histories: each status, their priority, the sampling policy."""

from __future__ import annotations

from hypothesis import given, strategies as st

from consumers.lag import GroupLag, LagHistory, PartitionLag, exit_code
from consumers.lag_rules import (
    MIN_GAP_S,
    WINDOW,
    GroupStatus,
    PartitionStatus,
    Sample,
    clamp_lag,
    evaluate_group,
    evaluate_partition,
    record,
)

P = PartitionStatus
G = GroupStatus


def window(*rows: tuple[int, int], start: float = 1000.0, step: float = 10.0) -> list[Sample]:
    """(offset, lag) pairs, one commit every `step` seconds from `start`."""
    return [Sample(offset, start + i * step, lag) for i, (offset, lag) in enumerate(rows)]


def now_after(w: list[Sample], silence: float = 1.0) -> float:
    return w[-1].ts + silence


# -- partition rules ----------------------------------------------------------------------------


def test_ok_when_offsets_advance_and_lag_shrinks() -> None:
    w = window((10, 50), (20, 40), (30, 30), (40, 20))
    assert evaluate_partition(w, 20, now_after(w)) is P.OK


def test_warn_when_offsets_advance_but_lag_never_decreases() -> None:
    w = window((10, 50), (20, 55), (30, 55), (40, 70))
    assert evaluate_partition(w, 70, now_after(w)) is P.WARN


def test_stall_when_commits_repeat_one_offset_with_lag() -> None:
    w = window((10, 5), (10, 9), (10, 12))
    assert evaluate_partition(w, 12, now_after(w)) is P.STALL


def test_stop_when_silent_longer_than_the_window_spans() -> None:
    w = window((10, 50), (20, 40), (30, 30))  # spans 20 s
    assert evaluate_partition(w, 30, now_after(w, 20.0)) is P.OK  # exactly the span: not yet
    assert evaluate_partition(w, 30, now_after(w, 20.5)) is P.STOP


def test_rewind_when_an_offset_goes_back_and_stays_below() -> None:
    w = window((100, 5), (120, 8), (40, 90), (50, 85))
    assert evaluate_partition(w, 85, now_after(w)) is P.REWIND


def test_a_recovered_rewind_is_not_held_against_the_consumer() -> None:
    # a rebalance replays a few records, then the consumer is back past where it was
    w = window((100, 5), (120, 8), (110, 25), (130, 6))
    assert evaluate_partition(w, 6, now_after(w)) is P.OK


def test_zero_current_lag_is_never_an_error() -> None:
    for w in (window((10, 5), (10, 5)), window((100, 5), (40, 70)), window((10, 50), (20, 60))):
        assert evaluate_partition(w, 0, now_after(w, 1e6)) is P.OK


def test_lag_zero_anywhere_in_the_window_makes_it_ok() -> None:
    stall_like = window((10, 0), (10, 3), (10, 8))
    warn_like = window((10, 0), (20, 5), (30, 9))
    assert evaluate_partition(stall_like, 8, now_after(stall_like)) is P.OK
    assert evaluate_partition(warn_like, 9, now_after(warn_like)) is P.OK


def test_one_sample_is_no_trend() -> None:
    w = window((10, 50))
    assert evaluate_partition(w, 50, now_after(w, 3600)) is P.OK
    assert evaluate_partition([], 50, 0.0) is P.OK


# -- priority: STOP > REWIND > OK-if-lag-ever-zero > STALL > WARN > OK ---------------------------


def test_stop_beats_rewind_and_lag_ever_zero() -> None:
    w = window((100, 0), (40, 60))  # rewound, and lag was zero once; spans 10 s
    assert evaluate_partition(w, 60, now_after(w, 11)) is P.STOP


def test_rewind_beats_lag_ever_zero() -> None:
    w = window((100, 0), (120, 3), (40, 83))
    assert evaluate_partition(w, 83, now_after(w)) is P.REWIND


def test_lag_ever_zero_beats_stall() -> None:
    w = window((10, 0), (10, 4))
    assert evaluate_partition(w, 4, now_after(w)) is P.OK


def test_stall_beats_warn() -> None:
    # identical offsets with a growing lag satisfy both rules: STALL is the worse one
    w = window((10, 5), (10, 6), (10, 7))
    assert evaluate_partition(w, 7, now_after(w)) is P.STALL


# -- group rules --------------------------------------------------------------------------------


def test_group_err_when_any_partition_is_stop_stall_or_rewind() -> None:
    for bad in (P.STOP, P.STALL, P.REWIND):
        assert evaluate_group([P.OK, bad, P.WARN], exists=True, members=2, total_lag=9) is G.ERR


def test_group_warn_ok_notfound_stopped() -> None:
    assert evaluate_group([P.OK, P.WARN], exists=True, members=1, total_lag=9) is G.WARN
    assert evaluate_group([P.OK, P.OK], exists=True, members=1, total_lag=9) is G.OK
    assert evaluate_group([], exists=False, members=0, total_lag=0) is G.NOTFOUND
    assert evaluate_group([P.STOP], exists=True, members=0, total_lag=9) is G.STOPPED
    assert evaluate_group([P.OK], exists=True, members=0, total_lag=0) is G.OK  # idle, caught up


def test_exit_code_fires_on_err_and_stopped_only() -> None:
    def group(status: GroupStatus) -> GroupLag:
        return GroupLag("g", "Stable", 1, status, ())

    assert exit_code([group(G.OK), group(G.WARN), group(G.NOTFOUND)]) == 0
    assert exit_code([group(G.OK), group(G.ERR)]) == 1
    assert exit_code([group(G.STOPPED)]) == 1
    assert exit_code([]) == 0


# -- lag arithmetic and sampling ----------------------------------------------------------------


def test_lag_is_clamped_and_missing_stays_missing() -> None:
    assert clamp_lag(100, 40) == 60
    assert clamp_lag(100, 150) == 0  # commit past the end (truncation): never negative
    assert clamp_lag(100, None) is None  # no commit: "-" like kafka-consumer-groups.sh
    assert clamp_lag(None, 5) is None


def test_record_appends_on_offset_move_and_keeps_the_last_ten() -> None:
    w: tuple[Sample, ...] = ()
    for i in range(WINDOW + 5):
        w = record(w, Sample(i, 1000.0 + i, 3), consumer_alive=False)
    assert len(w) == WINDOW and w[0].offset == 5 and w[-1].offset == WINDOW + 4


def test_record_skips_unchanged_offsets_of_a_silent_consumer() -> None:
    w = record((), Sample(10, 1000.0, 5), consumer_alive=False)
    w = record(w, Sample(10, 1000.0 + 10 * MIN_GAP_S, 9), consumer_alive=False)
    assert w == (Sample(10, 1000.0, 5),)  # silence is what STOP measures


def test_record_heartbeat_of_a_live_consumer_every_min_gap() -> None:
    w = record((), Sample(10, 1000.0, 5), consumer_alive=True)
    w = record(w, Sample(10, 1000.0 + MIN_GAP_S / 2, 6), consumer_alive=True)
    assert len(w) == 1
    w = record(w, Sample(10, 1000.0 + MIN_GAP_S, 7), consumer_alive=True)
    assert len(w) == 2  # a live owner re-commits its position: this is what makes STALL visible


def test_record_ignores_time_that_did_not_move_forward() -> None:
    w = record((), Sample(10, 1000.0, 5), consumer_alive=True)
    assert record(w, Sample(20, 1000.0, 1), consumer_alive=True) == w
    assert record(w, Sample(20, 999.0, 1), consumer_alive=True) == w


def test_history_round_trips_through_its_file(tmp_path) -> None:
    path = tmp_path / "lag-history.json"
    history = LagHistory()
    for i in range(12):
        history.observe(("otcdesk-recon", "trades", 2), Sample(i, 1000.0 + i, 12 - i), consumer_alive=False)
    history.save(path)
    again = LagHistory.load(path)
    assert again.windows == history.windows
    assert len(again.windows[("otcdesk-recon", "trades", 2)]) == WINDOW


def test_a_corrupt_history_file_starts_fresh(tmp_path) -> None:
    path = tmp_path / "lag-history.json"
    path.write_text("{not json")
    assert LagHistory.load(path).windows == {}


def test_history_expires_partitions_not_seen_for_a_week() -> None:
    history = LagHistory()
    history.observe(("g", "t", 0), Sample(1, 0.0, 0), consumer_alive=False)
    history.observe(("g", "t", 1), Sample(1, 8 * 86400.0, 0), consumer_alive=False)
    history.expire(now=8 * 86400.0 + 1)
    assert list(history.windows) == [("g", "t", 1)]


def test_partition_json_uses_none_for_missing_values() -> None:
    row = PartitionLag("rfq", 0, None, 42, None, None, P.OK, None).as_json()
    assert row["current_offset"] is None and row["lag"] is None and row["log_end_offset"] == 42


# -- properties ---------------------------------------------------------------------------------

samples = st.lists(
    st.builds(Sample, offset=st.integers(0, 10**6), ts=st.floats(0, 1e6, allow_nan=False), lag=st.integers(0, 10**6)),
    max_size=WINDOW,
).map(lambda xs: sorted(xs, key=lambda s: s.ts))


@given(samples, st.integers(-10, 10**6), st.floats(0, 2e6, allow_nan=False))
def test_status_is_always_one_of_the_enum(w: list[Sample], lag: int, now: float) -> None:
    assert evaluate_partition(w, lag, now) in set(PartitionStatus)


@given(samples, st.floats(0, 2e6, allow_nan=False))
def test_zero_current_lag_is_always_ok(w: list[Sample], now: float) -> None:
    assert evaluate_partition(w, 0, now) is P.OK


@given(st.one_of(st.none(), st.integers(0, 10**9)), st.one_of(st.none(), st.integers(0, 10**9)))
def test_lag_is_never_negative(end: int | None, committed: int | None) -> None:
    lag = clamp_lag(end, committed)
    assert lag is None or lag >= 0


@given(st.lists(st.sampled_from(list(PartitionStatus))), st.booleans(), st.integers(0, 5), st.integers(0, 100))
def test_group_status_is_always_one_of_the_enum(
    statuses: list[PartitionStatus], exists: bool, members: int, total_lag: int
) -> None:
    status = evaluate_group(statuses, exists=exists, members=members, total_lag=total_lag)
    assert status in set(GroupStatus)
    if exists and members > 0 and any(s in (P.STOP, P.STALL, P.REWIND) for s in statuses):
        assert status is G.ERR
