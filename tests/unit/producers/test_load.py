"""Load generator: open-loop schedule math, sim-time stamps, seeded RFQs, never waiting on replies."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from otcdesk.client_sim import ClientSim
from otcdesk.errors import TransientError, UserError
from otcdesk.events import Rfq
from otcdesk.kafka import DeliveryStats
from otcdesk.serde import AvroSerde, default_serde
from otcdesk.settings import Settings
from producers.load import LoadGenerator, LoadPlan, RfqRecords, select_profiles

from .conftest import FakeWall

T0 = 1_735_689_600_000_000


SERDE = default_serde()


@dataclass
class FakeProducer:
    """Takes `cost_s` of (fake) wall time per RFQ; every send is acked at flush. Keeps each RFQ
    decoded from the bytes it was given, with the (fake) wall time it was produced at."""

    wall: FakeWall
    cost_s: float = 0.0
    sent: list[tuple[float, Rfq]] = field(default_factory=list)
    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    settings: Settings = field(default_factory=Settings)
    serde: AvroSerde = SERDE
    records_produced: int = 0

    def produce_records(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        for key, value in records:
            rfq = SERDE.decode(value)
            assert isinstance(rfq, Rfq) and key == rfq.key.encode()
            self.sent.append((self.wall.wall_s(), rfq))
            self.records.append((topic, key, value))
            self.records_produced += 1
            self.wall.work(self.cost_s)

    def flush(self, timeout_s: float = 30.0) -> None:
        self.stats.delivered = len(self.sent)


def generate(plan: LoadPlan, cost_s: float = 0.0, seed: int = 4) -> tuple[FakeProducer, object]:
    wall = FakeWall()
    producer = FakeProducer(wall, cost_s)
    generator = LoadGenerator(plan, ClientSim(seed), producer, wall_s=wall.wall_s, sleep=wall.sleep)
    return producer, generator.run()


def test_schedule_is_i_over_rate_and_count_is_rate_times_duration() -> None:
    plan = LoadPlan(200, 2, T0)
    assert plan.count == 400
    assert [plan.send_offset_s(i) for i in (0, 1, 399)] == [0.0, 0.005, 1.995]
    assert LoadPlan(0.1, 10, T0).count == 1 and LoadPlan(3, 0.5, T0).count == 1


def test_event_time_is_the_sim_clock_at_the_scheduled_instant() -> None:
    assert LoadPlan(200, 2, T0).event_ts_us(3) == T0 + 15_000
    assert LoadPlan(200, 2, T0, speed=60).event_ts_us(3) == T0 + 900_000


@pytest.mark.parametrize("rate, duration", [(-1, 2), (0, 2), (float("nan"), 2), (10, 0), (10, -5)])
def test_bad_rate_or_duration_is_a_user_error(rate: float, duration: float) -> None:
    with pytest.raises(UserError):
        LoadPlan(rate, duration, T0)


def test_sends_on_schedule_when_the_producer_keeps_up() -> None:
    producer, summary = generate(LoadPlan(100, 1, T0))
    times = [at for at, _ in producer.sent]
    assert times == pytest.approx([i / 100 for i in range(100)], abs=1e-6)
    assert summary.sent == summary.acked == 100 and summary.failed == 0
    assert summary.achieved_rate_per_s == pytest.approx(100)


def test_a_slow_producer_never_shifts_the_schedule_or_the_stamps() -> None:
    """Open loop: late sends go out back to back and are reported late; ts_us stay on the formula."""
    plan = LoadPlan(100, 1, T0)
    producer, summary = generate(plan, cost_s=0.02)  # can only do 50/s
    assert [r.ts_us for _, r in producer.sent] == [plan.event_ts_us(i) for i in range(100)]
    assert summary.max_behind_ms > 900
    assert summary.achieved_rate_per_s == pytest.approx(50, rel=0.05)


def test_same_seed_same_rfqs_ids_included() -> None:
    plan = LoadPlan(50, 2, T0)
    first = [r for _, r in generate(plan, seed=8)[0].sent]
    second = [r for _, r in generate(plan, seed=8)[0].sent]
    assert first == second and len({r.rfq_id for r in first}) == 100
    assert [r.rfq_id for _, r in generate(plan, seed=9)[0].sent] != [r.rfq_id for r in first]
    assert len({r.client_id for r in first}) > 1  # a mix of clients


def test_clients_filter() -> None:
    settings = Settings()
    assert [p.name for p in select_profiles(settings, "acme, deltax")] == ["ACME", "DELTAX"]
    assert len(select_profiles(settings, None)) == 4
    with pytest.raises(UserError, match="NOPE"):
        select_profiles(settings, "ACME,NOPE")


@dataclass
class RefusingProducer(FakeProducer):
    """The broker acknowledges all but the RFQs whose index `refused` holds; `unanswered` more are
    still in flight when the flush gives up."""

    refused: frozenset[int] = frozenset()
    unanswered: int = 0

    def flush(self, timeout_s: float = 30.0) -> None:
        failed = [i for i in range(len(self.sent)) if i in self.refused]
        self.stats.failed = len(failed)
        self.stats.errors = [f"rfq[{i % 6}]: Broker: Message size too large" for i in failed]
        self.stats.delivered = len(self.sent) - len(failed) - self.unanswered
        if self.unanswered:
            raise TransientError(f"{self.unanswered} events not acknowledged by Kafka within {timeout_s}s")


@pytest.mark.parametrize(
    "refused, unanswered, acked", [(frozenset({3, 7}), 0, 18), (frozenset(), 5, 15), (frozenset({0}), 4, 15)]
)
def test_the_summary_counts_what_the_broker_did_not_acknowledge(
    refused: frozenset[int], unanswered: int, acked: int
) -> None:
    producer = RefusingProducer(FakeWall(), refused=refused, unanswered=unanswered)
    summary = LoadGenerator(LoadPlan(20, 1, T0), ClientSim(4), producer).run()
    assert (summary.sent, summary.acked, summary.failed, summary.unanswered) == (20, acked, len(refused), unanswered)
    assert not summary.all_acked
    assert f"acked {acked}, failed {len(refused)}" in summary.line()
    assert summary.shortfall().startswith(
        f"Kafka acknowledged {acked} of 20 RFQs sent ({len(refused)} failed, {unanswered} unanswered)"
    )
    if refused:
        assert summary.shortfall().endswith(f"first failure rfq[{min(refused) % 6}]: Broker: Message size too large")


def test_a_fully_acknowledged_run_has_no_shortfall() -> None:
    _, summary = generate(LoadPlan(20, 1, T0))
    assert summary.all_acked and summary.shortfall() == "" and "unanswered" not in summary.line()


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_speed_that_is_not_a_positive_finite_number_is_a_user_error(speed: float) -> None:
    with pytest.raises(UserError, match="--speed must be a positive number"):
        LoadPlan(10, 1, T0, speed=speed)


def _digest(records: Sequence[tuple[str, bytes, bytes]]) -> str:
    digest = hashlib.sha256()
    for _, key, value in records:
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    return digest.hexdigest()


#: sha256 over (len, key, len, value) of every record of seed 7's plans (default client settings,
#: source "load"), as the generator sent them
#: when it drew and encoded each RFQ at its send (pinned from that implementation).
MAX_RATE_2000 = "6ebef0eaa348479319a68ecb8c9880ff4e4440c188587ca906041ab712000365"
PACED_1000_AT_60X = "784156bc9feae4d2b237fe0da8907f779cc9faf1afca71dfc0c1b6ede260ce33"


@pytest.mark.parametrize(
    "plan, pinned",
    [(LoadPlan(1e7, 2000 / 1e7, T0), MAX_RATE_2000), (LoadPlan(250, 4, T0, speed=60.0), PACED_1000_AT_60X)],
)
def test_pre_built_rfqs_are_the_very_bytes_of_drawing_each_at_its_send(plan: LoadPlan, pinned: str) -> None:
    """Same seed, same event ids, keys and bytes, whether built before the start or on the way.
    The digest covers the Avro encoding too: a deliberate change of the wire format changes it."""
    wall = FakeWall()
    producer = FakeProducer(wall)
    clients = ClientSim(7, source="load")
    summary = LoadGenerator(plan, clients, producer, wall_s=wall.wall_s, sleep=wall.sleep).run()
    assert summary.sent == summary.acked == plan.count
    assert _digest(producer.records) == pinned
    assert [r.event_id for _, r in producer.sent[:2]] == [
        "2b03e914-5896-45d6-be9d-3647daf1d633",
        "36fca27f-7846-41c0-aef7-543cf9f0f069",
    ]
    assert producer.records[0][1] == b"fe18cb31-2800-4d5e-8301-ff838728a0de"
    assert {topic for topic, _, _ in producer.records} == {Settings().topic("rfq")}


def test_records_built_in_pieces_equal_records_built_at_once() -> None:
    plan = LoadPlan(1e7, 300 / 1e7, T0)
    whole = RfqRecords(plan, ClientSim(3))
    whole.build(10_000)
    pieces = RfqRecords(plan, ClientSim(3))
    for stop in (1, 2, 50, 120, 300):
        pieces.build(stop)
    assert whole.built == pieces.built == 300
    assert whole.window(0, 300) == pieces.window(0, 300)
    pieces.release(300)
    with pytest.raises(ValueError):
        pieces.window(0, 1)


def test_a_paced_plan_never_sends_before_the_due_time() -> None:
    """Built ahead while idle, each RFQ still waits for its instant: sends at exactly i / rate."""
    plan = LoadPlan(1000, 3, T0)
    producer, summary = generate(plan)
    times = [at for at, _ in producer.sent]
    assert all(at >= plan.send_offset_s(i) for i, at in enumerate(times))
    assert times == pytest.approx([plan.send_offset_s(i) for i in range(plan.count)], abs=2e-9)
    assert summary.max_behind_ms < 1e-3


def test_a_plan_longer_than_the_build_ahead_is_built_on_the_way_and_released() -> None:
    plan = LoadPlan(1e7, 2_500 / 1e7, T0)
    wall = FakeWall()
    producer = FakeProducer(wall)
    generator = LoadGenerator(
        plan,
        ClientSim(5),
        producer,
        build_ahead=700,
        wall_s=wall.wall_s,
        sleep=wall.sleep,
    )
    summary = generator.run()
    assert summary.sent == summary.acked == plan.count == len({r.rfq_id for _, r in producer.sent})
    assert [r.ts_us for _, r in producer.sent[-3:]] == [plan.event_ts_us(i) for i in range(plan.count - 3, plan.count)]
    assert generator.records.built == plan.count and not generator.records.window(plan.count, plan.count)
    whole = RfqRecords(plan, ClientSim(5))
    whole.build(plan.count)
    assert [(k, v) for _, k, v in producer.records] == whole.window(0, plan.count)


def test_due_count_agrees_with_the_send_offsets() -> None:
    plan = LoadPlan(3, 10, T0)
    assert [plan.due_count(t) for t in (-0.1, 0.0, 0.3, 1 / 3, 0.34, 9.99, 100.0)] == [0, 1, 1, 2, 2, 30, 30]
    fine = LoadPlan(1e7, 0.01, T0)
    for elapsed_s in (0.0, 1e-7, 2.9e-6, 3e-6, 0.004):
        n = fine.due_count(elapsed_s)
        assert fine.send_offset_s(n - 1) <= elapsed_s < fine.send_offset_s(n)


@dataclass
class InterruptedProducer(FakeProducer):
    """Ctrl-C arrives while the record of index `stop_at` is being handed over."""

    stop_at: int = 0

    def produce_records(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        for record in records:
            if self.records_produced == self.stop_at:
                raise KeyboardInterrupt
            super().produce_records(topic, [record])


def test_a_stop_in_the_middle_of_a_batch_counts_exactly_what_was_handed_over() -> None:
    wall = FakeWall()
    producer = InterruptedProducer(wall, stop_at=1_234)
    summary = LoadGenerator(
        LoadPlan(1e7, 3_000 / 1e7, T0),
        ClientSim(2),
        producer,
        wall_s=wall.wall_s,
        sleep=wall.sleep,
    ).run()
    assert summary.interrupted and summary.sent == summary.acked == 1_234 and summary.all_acked
