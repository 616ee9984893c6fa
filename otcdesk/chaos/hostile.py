"""Scenario 5: hostile input on every input topic of the stages, beside a normal seeded session.

The session (`otcdesk simulate`'s runner: feed, every stage under the supervisor) runs in its own
namespace; once its first RFQ is out, `fuzz.generate` messages go to the stages' input topics at
full speed. Judged on the topics: no stage exits (supervisor restarts 0), every malformed message
is dead-lettered by every stage that must refuse it, with its coordinates and a reason of the
right kind, and the session itself still ends with an outcome for every RFQ.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from otcdesk.chaos.figures import Figures
from otcdesk.chaos.flow import stop_session
from otcdesk.chaos.fuzz import Malformed, generate
from otcdesk.errors import DeskError
from otcdesk.events import DeadLetter
from otcdesk.kafka import check_broker, consumer_config, producer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.session import SessionRunner
from otcdesk.settings import Settings
from otcdesk.simulate import SessionPlan

NAMESPACE = "chaos.fuzz-"
Coord = tuple[str, str, int, int]  # stage, desk topic, partition, offset


def publish(settings: Settings, messages: list[Malformed]) -> dict[tuple[str, int, int], Malformed]:
    """Every message produced and acknowledged; returns them by (topic, partition, offset)."""
    sent: dict[tuple[str, int, int], Malformed] = {}
    errors: list[str] = []
    producer = Producer(producer_config(settings, **{"linger.ms": 20, "message.max.bytes": 2_000_000}))

    def delivered(message: Malformed) -> Callable[[KafkaError | None, Message], None]:
        def done(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(err.str())
            else:
                sent[(message.topic, int(msg.partition() or 0), int(msg.offset() or 0))] = message

        return done

    for message in messages:
        while True:
            try:
                producer.produce(
                    settings.topic(message.topic), key=message.key, value=message.value, on_delivery=delivered(message)
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) or errors:
        raise DeskError(f"malformed messages not delivered: {errors[:3]}")
    return sent


class DeadLetters:
    """Reads the namespace's `dlq` from the start: each stage's dead letter by its source record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = Consumer(consumer_config(settings, "otcdesk.chaos-dlq-reader"))
        name = settings.topic(DeadLetter.TOPIC)
        parts = self.consumer.list_topics(name, timeout=10).topics[name].partitions
        self.consumer.assign([TopicPartition(name, p, 0) for p in parts])
        self.reasons: dict[Coord, list[str]] = {}

    def read(self, timeout_s: float = 0.5) -> None:
        serde = default_serde()
        for msg in self.consumer.consume(5000, timeout_s):
            if msg.error() or msg.value() is None:
                continue
            try:
                letter = serde.decode(msg.value())
            except DecodeError:
                continue
            if isinstance(letter, DeadLetter):
                stage = letter.consumer_group.removeprefix(self.settings.group(""))
                topic = letter.source_topic.removeprefix(self.settings.namespace)
                coord = (stage, topic, letter.source_partition, letter.source_offset)
                self.reasons.setdefault(coord, []).append(letter.reason)

    def close(self) -> None:
        self.consumer.close()


def expected(sent: dict[tuple[str, int, int], Malformed]) -> dict[Coord, str]:
    return {(stage, t, p, o): m.reason for (t, p, o), m in sent.items() for stage in m.stages}


def run(
    settings: Settings,
    *,
    messages: int = 10_000,
    rfqs: int = 10,
    seed: int = 7,
    speed: float = 600.0,
    namespace: str = NAMESPACE,
    logs: Path | None = None,
    say: Callable[[str], None] = print,
    timeout_s: float = 600.0,
) -> Figures:
    check_broker(settings)  # one line before any work when the broker is not there
    began = time.monotonic()
    malformed = generate(messages, seed)
    figures = Figures("hostile-input", faults=len(malformed), detail={"generate_s": round(time.monotonic() - began, 1)})
    runner = SessionRunner(
        settings, SessionPlan(seed=seed, speed=speed, rfqs=rfqs, namespace=namespace), startup_s=25.0, with_sink=False
    )
    runner.supervisor.logs = logs or settings.state_dir / "chaos" / "hostile"
    runner.prepare()
    letters = DeadLetters(runner.settings)
    want: dict[Coord, str] = {}
    fuzzed_at: float | None = None
    at_fuzz: dict[str, int] = {}
    try:
        runner.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in runner.step():
                say(line)
            letters.read(0.1)
            # once every stage is up (a stage that failed at its start is restarted before that)
            if fuzzed_at is None and runner.published >= 1 and runner.ready_stages() == len(runner.stages):
                at_fuzz = _restarts(runner)
                want = expected(publish(runner.settings, malformed))
                fuzzed_at = time.monotonic()
                say(f"{len(malformed)} malformed messages published; {len(want)} dead letters expected")
            if (
                fuzzed_at is not None
                and runner.tally.answered == len(runner.rfqs)
                and want.keys() <= letters.reasons.keys()
            ):
                break
        drained_s = None if fuzzed_at is None else time.monotonic() - fuzzed_at
        restarts = {name: n - at_fuzz.get(name, 0) for name, n in _restarts(runner).items() if n > at_fuzz.get(name, 0)}
        down = [c.name for c in runner.supervisor.children if c.state not in ("running", "finished")]
    finally:
        letters.close()
        stop_session(runner)
    _judge(figures, want, letters.reasons, runner, restarts, drained_s)
    figures.detail |= {"restarts_before_fuzz": {k: v for k, v in at_fuzz.items() if v}, "not_running": down}
    return figures


def _restarts(runner: SessionRunner) -> dict[str, int]:
    return {c.name: c.restarts for c in runner.supervisor.children}


def _judge(
    figures: Figures,
    want: dict[Coord, str],
    got: dict[Coord, list[str]],
    runner: SessionRunner,
    restarts: dict[str, int],
    drained_s: float | None,
) -> None:
    tally = runner.tally
    missing = [c for c in want if c not in got]
    wrong = [(c, got[c][0], r) for c, r in want.items() if c in got and not got[c][0].startswith(r)]
    doubled = sum(len(v) - 1 for c, v in got.items() if c in want)
    per_topic = Counter(c[1] for c in want)
    figures.processed = len(want) + tally.events
    # a dead letter with the wrong kind of reason explains nothing: counted with the missing ones
    figures.lost = len(missing) + len(wrong) + (len(tally.rfq_ids) - tally.answered)
    figures.duplicated = doubled
    if drained_s is not None:
        figures.recover_s.append(drained_s)
    figures.detail |= {
        "rfqs": len(tally.rfq_ids),
        "answered": tally.answered,
        "deals": len(tally.trades),
        "closed_deals": tally.closed_deals,
        "restarts": restarts,
        "dead_letters_expected": len(want),
        "expected_per_topic": dict(sorted(per_topic.items())),
        "missing": len(missing),
        "wrong_reason": len(wrong),
        "wrong_reason_sample": [str(w) for w in wrong[:5]],
        "missing_sample": [str(m) for m in missing[:5]],
        "normal_flow_dead_letters": sum(len(v) for c, v in got.items() if c not in want),
    }
