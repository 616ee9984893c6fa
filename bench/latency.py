"""RFQ -> quote latency on the real stack, open loop, at 50, 200 and 1,000 RFQ/s.

The sim feed, the aggregator and the quote engine run as processes in a scratch namespace. RFQs
go out on a schedule made up front (`t_i = start + i / rate`), never waiting for answers, so a
slow desk cannot slow the load down (no coordinated omission). Latency of an RFQ = wall time its
quote (or reject) is read back by a consumer in this process minus the instant the RFQ was *due*,
so time an RFQ spent queued behind a late producer counts too. Both ends read the same clock.
There is no baseline: the desk's target (p99 <= 20 ms at 200 RFQ/s) is absolute.

`python -m bench --only latency` is the normal way; for tuning work on the stages,
`python -m bench.latency --rates 200 --duration 10` runs chosen rates and prints the figures.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.core import BenchContext, Figure, Target
from otcdesk.child_processes import processes, tails
from otcdesk.client_sim import ClientSim
from otcdesk.clock import Clock
from otcdesk.events import DeadLetter, Quote, QuoteRejected
from otcdesk.kafka import EventProducer, consumer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from streams import stage_processes

RATES = (50.0, 200.0, 1000.0)
P99_TARGET = {50.0: Target("value<=", 25.0), 200.0: Target("value<=", 50.0)}
FEED = ["feed", "run", "--source", "sim", "--start-us", "now"]
QUOTE_PATH = ("aggregator", "quote-engine")
#: layout -> the processes of the quote path as streams.LAYOUTS places it (`offices`: one process)
COMMANDS = {
    layout: {"feed": FEED}
    | {name: ["stage", "run", *hosted] for name, hosted in stage_processes(layout, QUOTE_PATH).items()}
    for layout in ("per-stage", "offices")
}
READY_TIMEOUT_S = 240.0  # workers join their groups and the books reach the aggregator (minutes on a loaded machine)
DRAIN_S = 30.0  # how long after its last send a rate waits for late answers
SETTLE_S = 300.0  # how long the next run waits for a saturated run's backlog to be answered


class Answers(threading.Thread):
    """Reads quotes and dead letters of the namespace; records the wall time of each answer."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(consumer_config(settings, settings.group(f"bench-answers-{uuid.uuid4().hex[:6]}")))
        names = [settings.topic("quotes"), settings.topic("dlq")]
        meta = self.consumer.list_topics(timeout=10).topics
        self.consumer.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])
        self.answered: dict[str, tuple[float, str]] = {}
        self.dead_letters: list[DeadLetter] = []
        self.reject_details: dict[str, str] = {}  # reason -> an example detail, to explain the figures
        self.stop = threading.Event()

    def run(self) -> None:
        serde = default_serde()
        try:
            while not self.stop.is_set():
                # poll returns with the first message; consume(n, timeout) would hold it until n
                # arrived or the timeout ran out (librdkafka's batch semantics): up to 50 ms of the
                # reader's own in every latency. What else is already there is drained without waiting.
                first = self.consumer.poll(0.05)
                if first is None:
                    continue
                now = time.time()
                for msg in [first, *self.consumer.consume(1000, 0)]:
                    if msg.error():
                        continue
                    try:
                        event = serde.decode(msg.value())
                    except DecodeError:
                        continue
                    if isinstance(event, (Quote, QuoteRejected)) and event.rfq_id not in self.answered:
                        kind = "quote" if isinstance(event, Quote) else f"reject:{event.reason.value}"
                        self.answered[event.rfq_id] = (now, kind)
                        if isinstance(event, QuoteRejected):
                            self.reject_details[kind] = event.detail  # the latest: start-up ones are stale news
                    elif isinstance(event, DeadLetter):
                        self.dead_letters.append(event)
        finally:
            self.consumer.close()

    def kind(self, rfq_id: str) -> str:
        return self.answered.get(rfq_id, (0.0, "unanswered"))[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a p99 is a latency some RFQ really had)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def send(producer: EventProducer, clock: Clock, clients: ClientSim, rate: float, count: int) -> dict[str, float]:
    """Publish `count` RFQs open loop at `rate`; returns rfq_id -> due wall time. The producer is
    one the run has used before: a new idempotent producer holds its first records until it has
    its producer id and metadata, which the first RFQs of a run would count as the desk's delay."""
    due: dict[str, float] = {}
    start = time.time()
    for i in range(count):
        at = start + i / rate
        pause = at - time.time()
        if pause > 0:
            time.sleep(pause)
        rfq = clients.next_rfq(clock.now_us())
        due[rfq.rfq_id] = at
        producer.produce(rfq)
    producer.flush()
    return due


def measure(
    settings: Settings, producer: EventProducer, answers: Answers, rate: float, duration_s: float, seed: int
) -> dict[str, Any]:
    """One open-loop run at `rate`; an unanswered RFQ counts with its wait until given up (a lower
    bound), so a desk that drops RFQs cannot look fast."""
    clients = ClientSim(seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols)
    dead_before = len(answers.dead_letters)
    due = send(producer, settings.clock(), clients, rate, max(1, int(rate * duration_s)))
    deadline = time.time() + DRAIN_S
    while time.time() < deadline and not all(r in answers.answered for r in due):
        time.sleep(0.1)
    gave_up = time.time()
    latencies = [(answers.answered.get(r, (gave_up, ""))[0] - at) * 1000 for r, at in due.items()]
    outcomes: dict[str, int] = {}
    for r in due:
        outcomes[answers.kind(r)] = outcomes.get(answers.kind(r), 0) + 1
    return {
        "rfqs": len(due),
        "due": list(due),
        "answered": sum(r in answers.answered for r in due),
        "dead_letters": len(answers.dead_letters) - dead_before,
        "outcomes": outcomes,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
    }


def settle(answers: Answers, rfq_ids: Iterable[str], timeout_s: float = SETTLE_S) -> float:
    """Seconds until every one of `rfq_ids` is answered (at most `timeout_s`)."""
    started, pending = time.time(), set(rfq_ids)
    while time.time() - started < timeout_s and (pending := pending - answers.answered.keys()):
        time.sleep(0.2)
    return round(time.time() - started, 1)


def wait_ready(settings: Settings, answers: Answers, seed: int, logs: Path, *, quotes: bool = True) -> None:
    """RFQs every 0.2 s until one of every symbol gets a quote: the desk is up and has all books
    (a `no books` reject in a measured run would be start-up, not latency). `quotes=False` (smoke)
    settles for any answer: on an overloaded machine the sim feed falls behind real time and the
    desk rightly rejects every RFQ for stale books, yet the code path is the same."""
    clients = ClientSim(seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols)
    clock = settings.clock()
    quoted: set[str] = set()
    sent: dict[str, str] = {}  # rfq_id -> symbol
    deadline = time.time() + READY_TIMEOUT_S
    with EventProducer(settings) as producer:
        while time.time() < deadline:
            rfq = clients.next_rfq(clock.now_us())
            sent[rfq.rfq_id] = rfq.symbol
            producer.produce(rfq)
            producer.flush()
            time.sleep(0.2)
            quoted |= {sym for r, sym in sent.items() if answers.kind(r) == "quote"}
            if quoted >= set(settings.symbols) or (not quotes and any(r in answers.answered for r in sent)):
                return
    seen = Counter(answers.kind(r) for r in sent)
    raise RuntimeError(
        f"no quote for {sorted(set(settings.symbols) - quoted)} within {READY_TIMEOUT_S:.0f}s "
        f"of starting the desk; answers to the {len(sent)} RFQs sent: {dict(seen)}, "
        f"examples {answers.reject_details}\n{tails(logs)}"
    )


def measure_rates(
    ctx: BenchContext, rates: Sequence[float], duration_s: float, layout: str = "per-stage"
) -> list[Figure]:
    advance = ctx.task(
        f"latency ({layout}): {len(rates)} rates x {ctx.repeats} x {duration_s:g}s", 1 + len(rates) * ctx.repeats
    )
    results: dict[float, list[dict[str, Any]]] = {rate: [] for rate in rates}
    with ctx.scratch_namespace("latency") as settings, tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        answers = Answers(settings)
        answers.start()
        try:
            with (
                processes(settings, COMMANDS[layout], logs) as procs,
                EventProducer(settings, **{"linger.ms": 1}) as producer,
            ):
                wait_ready(settings, answers, ctx.seed + 999, logs, quotes=not ctx.smoke)
                measure(settings, producer, answers, 5.0, 2.0, ctx.seed + 1000)  # warm-up, not reported
                advance(1)
                for repeat in range(ctx.repeats):
                    for rate in rates:
                        run_ = measure(
                            settings, producer, answers, rate, duration_s, ctx.seed + int(rate) + 10_000 * repeat
                        )
                        # a rate past the desk's capacity leaves a backlog: the next run starts once it
                        # is answered, or it would measure that backlog's queue instead of its own rate
                        run_["settle_s"] = settle(answers, run_.pop("due"))
                        results[rate].append(run_)
                        advance(1)
                dead = [name for name, proc in procs.items() if proc.poll() is not None]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} exited during the run\n{tails(logs)}")
        finally:
            answers.stop.set()
            answers.join(10)
    method = (
        f"{layout}: {', '.join(COMMANDS[layout])} as processes; open loop, {duration_s:g}s per run; "
        "latency = quote read - RFQ due time (an unanswered RFQ counts with its wait until given up)"
    )
    label = "" if layout == "per-stage" else f" ({layout})"
    figures = []
    for rate, runs in results.items():
        extra = {
            "duration_s": duration_s,
            "rfqs": [r["rfqs"] for r in runs],
            "answered": [r["answered"] for r in runs],
            "settle_s": [r["settle_s"] for r in runs],
            "dead_letters": [r["dead_letters"] for r in runs],
            "outcomes": [r["outcomes"] for r in runs],
            "reject_examples": answers.reject_details,
        }
        for stat in ("p50", "p99", "max"):
            figures.append(
                Figure(
                    "latency",
                    f"RFQ->quote {stat} at {rate:g} RFQ/s{label}",
                    "ms",
                    tuple(float(r[stat]) for r in runs),
                    target=P99_TARGET.get(rate) if stat == "p99" else None,
                    note=method,
                    extra=extra,
                )
            )
    return figures


def run(ctx: BenchContext) -> list[Figure]:
    rates, duration_s = ((50.0,), 2.0) if ctx.smoke else (RATES, 30.0)
    return [figure for layout in COMMANDS for figure in measure_rates(ctx, rates, duration_s, layout)]


def main() -> None:
    from bench.report import markdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,1000")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--layout", choices=sorted(COMMANDS), default="per-stage")
    args = parser.parse_args()
    ctx = BenchContext(Settings(), repeats=args.repeats)
    figures = measure_rates(ctx, [float(r) for r in args.rates.split(",")], args.duration, args.layout)
    print(markdown({"date": "", "runs": [], "figures": [f.as_json() for f in figures]}))
    for fig in figures[::3]:
        print(fig.name.replace(" p50", ""), fig.extra["outcomes"], "dead letters", fig.extra["dead_letters"])


if __name__ == "__main__":
    main()
