"""RFQ -> quote latency on the real stack, open loop (issue: front office; benchmarks).

Starts the sim feed, the aggregator and the quote engine as processes in a fresh namespace,
then publishes RFQs at a fixed rate on a schedule made up front (never waiting for answers, so
a slow desk cannot slow the load down: no coordinated omission). Latency of an RFQ = wall time
its quote (or reject) is read back minus the instant the RFQ was *due*, so time an RFQ spent
queued behind a late producer counts too.

    .venv/bin/python -m bench.latency --rates 50,200,1000 --duration 30

Writes bench/results/latency-<date>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from otcdesk.clients import ClientSim
from otcdesk.events import DeadLetter, Quote, QuoteRejected
from otcdesk.kafka import EventProducer, admin_client, consumer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.topics import create_topics, topic_specs

RESULTS = Path(__file__).resolve().parent / "results"


class Answers(threading.Thread):
    """Reads quotes and dead letters of the namespace; records the wall time of each answer."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(consumer_config(settings, f"bench-latency-{uuid.uuid4().hex[:6]}"))
        names = [settings.topic("quotes"), settings.topic("dlq")]
        meta = self.consumer.list_topics(timeout=10).topics
        self.consumer.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])
        self.answered: dict[str, tuple[float, str]] = {}
        self.dead_letters: list[DeadLetter] = []
        self.stop = threading.Event()

    def run(self) -> None:
        serde = default_serde()
        while not self.stop.is_set():
            for msg in self.consumer.consume(1000, 0.05):
                now = time.time()
                if msg.error():
                    continue
                try:
                    event = serde.decode(msg.value())
                except DecodeError:
                    continue
                if isinstance(event, (Quote, QuoteRejected)) and event.rfq_id not in self.answered:
                    kind = "quote" if isinstance(event, Quote) else f"reject:{event.reason.value}"
                    self.answered[event.rfq_id] = (now, kind)
                elif isinstance(event, DeadLetter):
                    self.dead_letters.append(event)
        self.consumer.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_rate(settings: Settings, rate: float, duration_s: float, answers: Answers, seed: int) -> dict:
    clients = ClientSim(seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols)
    due: dict[str, float] = {}
    count = int(rate * duration_s)
    clock = settings.clock()
    with EventProducer(settings, **{"linger.ms": 1}) as producer:
        start = time.time()
        for i in range(count):
            at = start + i / rate
            pause = at - time.time()
            if pause > 0:
                time.sleep(pause)
            rfq = clients.next_rfq(clock.now_us())
            due[rfq.rfq_id] = at
            producer.produce(rfq)
    deadline = time.time() + 30
    while time.time() < deadline and not all(r in answers.answered for r in due):
        time.sleep(0.2)
    latencies = [(answers.answered[r][0] - at) * 1000 for r, at in due.items() if r in answers.answered]
    kinds: dict[str, int] = {}
    for r in due:
        kind = answers.answered.get(r, (0, "unanswered"))[1]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "rate_per_s": rate, "duration_s": duration_s, "rfqs": count, "answered": len(latencies),
        "p50_ms": round(_percentile(latencies, 0.50), 2), "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None, "outcomes": kinds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,1000")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = Settings().model_copy(update={"namespace": f"bench{uuid.uuid4().hex[:6]}-"})
    create_topics(settings)
    env = dict(os.environ, OTCDESK_NAMESPACE=settings.namespace)
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands = {"feed": ["feed", "run", "--source", "sim", "--start-us", "now"],
                "aggregator": ["stage", "run", "aggregator"], "quote-engine": ["stage", "run", "quote-engine"]}
    procs = [subprocess.Popen([sys.executable, "-m", "otcdesk.cli.main", *cmd], env=env,
                              stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
             for name, cmd in commands.items()]
    answers = Answers(settings)
    answers.start()
    results = []
    try:
        time.sleep(15)  # workers join their groups, books reach the aggregator
        run_rate(settings, 5, 4, answers, args.seed + 1000)  # warm-up, not reported
        for rate in (float(r) for r in args.rates.split(",")):
            results.append(run_rate(settings, rate, args.duration, answers, args.seed + int(rate)))
            print(json.dumps(results[-1]))
    finally:
        answers.stop.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        admin = admin_client(settings)
        names = [s.name for s in topic_specs(settings)]
        names += [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"otcdesk-{settings.namespace}")]
        admin.delete_topics(names)
    report = {
        "benchmark": "rfq_to_quote_latency", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "method": "open loop; latency = answer read - RFQ due time; feed + aggregator + quote engine as processes",
        "dead_letters": [(d.source_topic, d.reason) for d in answers.dead_letters],
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"latency-{datetime.now(timezone.utc):%Y-%m-%d}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"dead letters: {len(answers.dead_letters)}; written {out}")


if __name__ == "__main__":
    main()
