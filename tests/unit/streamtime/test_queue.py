"""The order a stage handles its work in: (event time, rank, stable key), never arrival order."""

from __future__ import annotations

from hypothesis import given, strategies as st

from otcdesk.streamtime.queue import TIMER, EventQueue

ITEMS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 50), st.integers(0, 3), st.text("abc", max_size=3)), max_size=40
)


def _drain(queue: EventQueue) -> list[tuple[int, int, str]]:
    out = []
    while (item := queue.peek()) is not None:
        queue.pop(item)
        out.append((item.ts_us, item.rank, item.tiebreak))
    return out


@given(ITEMS, st.randoms(use_true_random=False))
def test_records_come_out_in_event_time_order_whatever_order_they_went_in(items: list, rng) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)
    orders = []
    for batch in (items, shuffled):
        queue = EventQueue(3)
        for index, ts_us, rank, key in batch:
            queue.push(index, ts_us, rank, key, None)
        orders.append(_drain(queue))
    assert orders[0] == orders[1] == sorted(orders[0])


def test_a_timer_filed_again_moves_and_a_cancelled_one_never_fires() -> None:
    queue = EventQueue(1)
    queue.schedule("hedge:a", 30, 4, "first")
    queue.schedule("hedge:b", 20, 4, "b")
    queue.schedule("hedge:a", 10, 4, "moved")
    queue.schedule("hedge:c", 5, 4, "c")
    queue.cancel("hedge:c")
    queue.push(0, 10, 1, "record", "r")
    fired = []
    while (item := queue.peek()) is not None:
        queue.pop(item)
        fired.append((item.ts_us, item.payload, item.source == TIMER))
    assert fired == [(10, "r", False), (10, "moved", True), (20, "b", True)]
    assert len(queue) == 0 and not queue.scheduled("hedge:a")


def test_live_timers_wait_for_the_clock_records_do_not() -> None:
    queue = EventQueue(1)
    queue.schedule("t", 100, 0, None)
    queue.push(0, 500, 0, "x", None)
    assert queue.peek(timers_until_us=50).source == 0
    assert queue.peek(timers_until_us=100).source == TIMER
