"""Burrow's storage and its STOP exemption: commits followed one by one, the log-end ring, the
release the rules follow, and the exporter's gauges built from a snapshot."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from consumers.commit_feed import Commit
from consumers.lag import GroupLag, LagHistory, PartitionLag
from consumers.lag_exporter import LagCollector
from consumers.lag_history import FollowedHistory
from consumers.lag_rules import (
    MIN_DISTANCE_S,
    OFFSET_REFRESH_S,
    WINDOW,
    GroupStatus,
    PartitionStatus,
    Sample,
    evaluate_partition,
    record_end,
    store_commit,
)

P = PartitionStatus


def commits(*rows: tuple[int, int], start: float = 1000.0, step: float = 2.0) -> list[Sample]:
    return [Sample(offset, start + i * step, lag) for i, (offset, lag) in enumerate(rows)]


# -- the "lag was zero recently" exemption on STOP ----------------------------------------------


def test_stop_waits_while_a_recent_log_end_was_reached() -> None:
    w = commits((10, 3), (20, 2), (30, 0))  # caught up at its last commit, then silent, input grows
    silent = w[-1].ts + 10.0
    assert evaluate_partition(w, 7, silent, recent_ends=(30, 33, 37)) is P.OK
    assert evaluate_partition(w, 7, silent, recent_ends=(33, 37)) is P.STOP  # 30 aged out of the ring
    assert evaluate_partition(w, 7, silent) is P.STOP


def test_the_exemption_does_not_hide_a_consumer_that_never_reached_the_end() -> None:
    w = commits((10, 30), (20, 25), (30, 22))
    assert evaluate_partition(w, 40, w[-1].ts + 10.0, recent_ends=(52, 60, 70)) is P.STOP


# -- which Burrow: 1.9 (current), not Debian's 1.2.1 ---------------------------------------------


def test_one_backward_reset_after_zero_lag_is_rewind_as_in_current_burrow() -> None:
    # 1.2.1 checked REWIND only when the lag was never zero: it said OK here
    w = commits((100, 0), (120, 0), (40, 80), (45, 78))
    assert evaluate_partition(w, 78, w[-1].ts + 1.0, recent_ends=(120,)) is P.REWIND


# -- Burrow's storage: every commit, min-distance merge ------------------------------------------


def test_commits_closer_than_min_distance_replace_the_last_and_keep_its_time() -> None:
    w = store_commit((), Sample(10, 1000.0, 5))
    w = store_commit(w, Sample(12, 1000.0 + MIN_DISTANCE_S / 2, 3))
    assert w == (Sample(12, 1000.0, 3),)
    w = store_commit(w, Sample(15, 1000.0 + MIN_DISTANCE_S, 0))
    assert w == (Sample(12, 1000.0, 3), Sample(15, 1000.0 + MIN_DISTANCE_S, 0))


def test_store_commit_keeps_the_last_window_and_drops_older_commits() -> None:
    w: tuple[Sample, ...] = ()
    for i in range(WINDOW + 3):
        w = store_commit(w, Sample(i, 1000.0 + 2 * i, 1))
    assert len(w) == WINDOW and w[0].offset == 3
    assert store_commit(w, Sample(99, 1000.0, 0)) == w


def test_an_unchanged_offset_recommitted_is_stored_so_stall_is_seen() -> None:
    w: tuple[Sample, ...] = ()
    for i in range(4):
        w = store_commit(w, Sample(10, 1000.0 + 2 * i, 5 + i))
    assert len(w) == 4 and evaluate_partition(w, 8, w[-1].ts + 1.0, recent_ends=(18,)) is P.STALL


def test_the_log_end_ring_records_every_offset_refresh() -> None:
    ring: tuple[tuple[float, int], ...] = ()
    for i in range(40):
        ring = record_end(ring, 1000.0 + i, 100 + i)
    assert [ts for ts, _ in ring][:2] == [1000.0, 1000.0 + OFFSET_REFRESH_S] and len(ring) == 4
    for i in range(200):
        ring = record_end(ring, 2000.0 + i, i, every_s=0.0)
    assert len(ring) == WINDOW and ring[-1] == (2199.0, 199)


def test_followed_history_stores_commits_and_forgets_deleted_ones() -> None:
    history = FollowedHistory()
    ends = {("t", 0): 50, ("t", 1): 9}
    history.ingest(
        [
            Commit("g", "t", 0, 40, 1000.0),
            Commit("g", "t", 0, 45, 1002.0),
            Commit("g", "t", 1, 9, 1000.0),
            Commit("g", "gone", 0, 3, 1000.0),
            Commit("h", "t", 0, 1, 1000.0),
        ],
        ends,
    )
    assert history.windows[("g", "t", 0)] == (Sample(40, 1000.0, 10), Sample(45, 1002.0, 5))
    assert ("g", "gone", 0) not in history.windows  # no log end known: dropped, as Burrow does
    assert history.commits_read == 4
    history.ingest([Commit("g", "t", 1, None, 0.0)], ends)  # one partition's commit deleted
    assert set(history.windows) == {("g", "t", 0), ("h", "t", 0)}
    history.ingest([Commit("g", "", -1, None, 0.0)], ends)  # the group deleted
    assert set(history.windows) == {("h", "t", 0)}


def test_sampled_history_round_trips_its_log_ends(tmp_path) -> None:
    history = LagHistory()
    history.note_ends({("t", 0): 5}, 1000.0)
    history.note_ends({("t", 0): 9}, 1000.0 + OFFSET_REFRESH_S)
    history.save(tmp_path / "h.json")
    assert LagHistory.load(tmp_path / "h.json").recent_ends(("t", 0)) == (5, 9)


# -- the exporter ----------------------------------------------------------------------------------


def _group(name: str, status: GroupStatus, *parts: PartitionLag) -> GroupLag:
    return GroupLag(name, "Stable", 1, status, parts)


def _scrape(collector: LagCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_gauges_follow_the_snapshot_and_gone_groups_disappear() -> None:
    collector = LagCollector()
    lagging = PartitionLag("rfq", 0, 40, 50, 10, 3.5, P.STOP, None)
    fine = PartitionLag("rfq", 1, 7, 7, 0, 0.0, P.OK, "m-1")
    collector.update(
        [
            _group("a", GroupStatus.STOPPED, lagging, fine),
            _group("b", GroupStatus.OK, fine),
            _group("c", GroupStatus.NOTFOUND),
        ],
        1234.0,
    )
    text = _scrape(collector)
    assert 'otcdesk_lag_group_lag{group="a",partition="0",topic="rfq"} 10.0' in text
    assert 'otcdesk_lag_group_lag_seconds{group="a",partition="0",topic="rfq"} 3.5' in text
    assert 'otcdesk_lag_partition_latest_offset{partition="0",topic="rfq"} 50.0' in text
    assert 'otcdesk_lag_group_max_lag{group="a"} 10.0' in text
    assert 'otcdesk_lag_group_status{group="a",status="STOP"} 1.0' in text
    assert 'otcdesk_lag_group_status{group="a",status="OK"} 0.0' in text
    assert 'otcdesk_lag_partition_status{group="a",partition="0",status="STOP",topic="rfq"} 1.0' in text
    assert "otcdesk_lag_last_refresh_timestamp_seconds 1234.0" in text
    assert 'group="c"' not in text
    collector.update([_group("b", GroupStatus.OK, fine)], 1240.0)
    text = _scrape(collector)
    assert 'group="a"' not in text and 'partition="0"' not in text
    assert 'otcdesk_lag_group_status{group="b",status="OK"} 1.0' in text


def test_unknown_values_are_left_out_not_zero() -> None:
    collector = LagCollector()
    collector.update([_group("a", GroupStatus.OK, PartitionLag("rfq", 2, None, 30, None, None, P.OK, "m"))], 1.0)
    text = _scrape(collector)
    assert "otcdesk_lag_group_offset{" not in text and "otcdesk_lag_group_lag{" not in text
    assert 'otcdesk_lag_partition_latest_offset{partition="2",topic="rfq"} 30.0' in text
