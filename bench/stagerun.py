"""What the process benchmarks (stages, scaling, lifecycle) share: inputs, processes, drain timing.

A saturation figure is "start the consumer, load its input at full speed once its group has
joined, time until the group has committed every input offset" (`timed_drain` says why the load
follows the join). The pieces here:

- `STAGE_INPUTS`: the topics each stage's agents consume (a unit test checks it against the
  agents the stages really register, so it cannot drift);
- `produce_events`, `read_records`, `copy_records`, `tally`, `end_offsets`, `wait_quiet`: topic
  I/O on the real broker;
  a copy keeps each record's partition, key, value and headers, so a run in a fresh namespace
  sees exactly what another namespace held;
- `stage_processes`: N workers of a stage as `otcdesk stage run` processes under the desk's own
  `Supervisor`; `floor_process`: the bare faust agent of `bench.floor`;
- `DrainWatch`: polls a group's state, committed offsets and end offsets until it is drained;
- `OTCDESK_BENCH_PYSPY=DIR`: every stage worker profiled by py-spy, `hottest` sums a profile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from consumers.lag import LagMonitor
from otcdesk.clock import wall_now_us
from otcdesk.events import Event, PriceUpdate
from otcdesk.kafka import EventProducer, admin_client, consumer_config, position, producer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from otcdesk.supervisor import Child, Supervisor
from otcdesk.topics import replication

#: the topics each stage's agents consume (streams/<stage>.py); tests/unit/test_bench_stage_inputs.py
#: compares it with the agents the stages register
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "aggregator": ("rfq",),
    "quote-engine": ("rfq-priced",),
    "acceptance": ("quotes",),
    "client-sim": ("quotes",),
    "hedger": ("trades", "fills", "orders"),
    "venue-sim": ("orders",),
    "settlement": ("trades",),
    "recon": ("trades", "orders", "fills", "settlements"),
}
#: stages that read `prices` on the side (streams/books.py: the records of the last 60 wall s)
READS_PRICES = frozenset({"aggregator", "hedger", "venue-sim"})
#: topics a stage folds (group-less, from the first offset) that the source namespace holds: copied
#: whole before the stage starts (client-sim answers only quotes of RFQs it has read as simulated)
FOLDS: dict[str, tuple[str, ...]] = {"client-sim": ("rfq",)}
FLOOR_OUT = "bench-floor-out"
LOGS = Path(__file__).resolve().parent / "results" / "logs"

Offsets = dict[tuple[str, int], int]  # (topic, partition) -> offset


# -- inputs ------------------------------------------------------------------------------------
def price_snapshots(settings: Settings, ts_us: int, steps: int = 4) -> list[PriceUpdate]:
    """Books of every venue and symbol from the desk's market simulator, the last step at `ts_us`."""
    from otcdesk.market.sim import MarketSim
    from otcdesk.venues.providers import offline_instruments

    sim = MarketSim(offline_instruments().values(), settings.sim, settings.seed)
    step_us = settings.sim.step_ms * 1000
    return [u for i in range(steps) for u in sim.step(ts_us - (steps - 1 - i) * step_us)]


def produce_events(settings: Settings, events: Iterable[Event]) -> int:
    with EventProducer(settings, **{"linger.ms": 20}) as producer:
        count = 0
        for event in events:
            producer.produce(event)
            count += 1
    return count


def end_offsets(settings: Settings, topics: Iterable[str]) -> Offsets:
    """High watermarks of every partition of the (namespaced) `topics`."""
    consumer = Consumer(consumer_config(settings, "otcdesk-bench-offsets"))
    try:
        meta = consumer.list_topics(timeout=10).topics
        out: Offsets = {}
        for name in topics:
            full = settings.topic(name)
            for p in sorted(meta[full].partitions):
                out[(name, p)] = consumer.get_watermark_offsets(TopicPartition(full, p), timeout=10)[1]
        return out
    finally:
        consumer.close()


def read_records(
    settings: Settings, topics: Sequence[str], *, start: Offsets | None = None, stop: Offsets | None = None
) -> Iterator[tuple[str, Message]]:
    """(topic, message) of records [start, stop) of each partition of the (namespaced) `topics`,
    read by assignment (no group, nothing committed); `stop` defaults to the end offsets now."""
    start = start or {}
    stop = stop if stop is not None else end_offsets(settings, topics)
    left = {tp: (start.get(tp, 0), end) for tp, end in stop.items() if tp[0] in topics and end > start.get(tp, 0)}
    if not left:
        return
    consumer = Consumer(consumer_config(settings, "otcdesk-bench-read", **{"enable.auto.commit": False}))
    consumer.assign([TopicPartition(settings.topic(t), p, first) for (t, p), (first, _) in left.items()])
    deadline = time.monotonic() + 120
    try:
        while left and time.monotonic() < deadline:
            for msg in consumer.consume(5000, 0.5):
                topic, partition, offset = position(msg)
                tp = (topic.removeprefix(settings.namespace), partition)
                if msg.error() or tp not in left or offset >= left[tp][1]:
                    continue
                yield tp[0], msg
                if offset + 1 >= left[tp][1]:
                    del left[tp]
        if left:
            raise RuntimeError(f"reading {sorted(left)} of {settings.namespace} did not finish")
    finally:
        consumer.close()


def copy_records(
    src: Settings, dst: Settings, topics: Sequence[str], *, start: Offsets | None = None, stop: Offsets | None = None
) -> int:
    """Copy records [start, stop) of each partition of `topics` from namespace `src` to `dst`,
    same partition, key, value and headers (a fresh namespace then holds the same input)."""
    producer = Producer(producer_config(dst, **{"linger.ms": 20}))
    copied = 0
    for topic, msg in read_records(src, topics, start=start, stop=stop):
        while True:
            try:
                producer.produce(
                    dst.topic(topic),
                    value=msg.value(),
                    key=msg.key(),
                    partition=position(msg)[1],
                    headers=msg.headers(),
                )
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.05)
        producer.poll(0)
        copied += 1
    if producer.flush(30):
        raise RuntimeError(f"copy to {dst.namespace}: records not acknowledged")
    return copied


def tally(settings: Settings, topics: Sequence[str], start: Offsets | None = None) -> Counter[str]:
    """What is on `topics` from `start` on, by kind: `quotes:Quote`, `quotes:QuoteRejected:NO_LIQUIDITY`,
    `dlq:DeadLetter:<reason>`: shows whether a stage did its real work or refused its input."""
    serde = default_serde()
    return Counter(
        f"{topic}:{_kind(serde.decode(msg.value()))}" for topic, msg in read_records(settings, topics, start=start)
    )


def _kind(event: Event) -> str:
    detail = getattr(event, "reason", None)
    detail = getattr(detail, "value", detail)
    return type(event).__name__ + (f":{detail}" if detail else "")


def wait_quiet(settings: Settings, topics: Sequence[str], quiet_s: float, timeout_s: float) -> Offsets:
    """Until the end offsets of `topics` stop moving for `quiet_s` (a stage emitting on sim time)."""
    last, since = end_offsets(settings, topics), time.monotonic()
    deadline = since + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = end_offsets(settings, topics)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


def make_topic(settings: Settings, name: str) -> None:
    """An extra topic in the namespace (deleted with it), like the desk's lifecycle topics."""
    admin = admin_client(settings)  # kept alive until the future resolves
    factor, config = replication(settings, len(admin.list_topics(timeout=30).brokers))
    topic = NewTopic(
        settings.topic(name), num_partitions=settings.topics.partitions, replication_factor=factor, config=config
    )
    admin.create_topics([topic], operation_timeout=30)[settings.topic(name)].result(30)


# -- processes ---------------------------------------------------------------------------------
def session_env(
    settings: Settings, *, start_us: int, speed: float, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a benchmark's processes: its namespace, seed and a desk clock at
    `start_us` from now on, running `speed` times wall time."""
    return {
        "OTCDESK_NAMESPACE": settings.namespace,
        "OTCDESK_SEED": str(settings.seed),
        "OTCDESK_SIM_START_US": str(start_us),
        "OTCDESK_SIM_ANCHOR_WALL_US": str(wall_now_us()),
        "OTCDESK_SIM_SPEED": repr(float(speed)),
        **dict(extra or {}),
    }


@contextmanager
def stage_processes(stage: str, workers: int, env: Mapping[str, str], loglevel: str = "warn") -> Iterator[Supervisor]:
    """`workers` processes of `stage` (one consumer group), stopped whatever happens."""
    loglevel = os.environ.get("OTCDESK_BENCH_LOGLEVEL", loglevel)  # info: to see what a stage did
    children = [Child(f"{stage}-{i}", ("stage", "run", stage, "--loglevel", loglevel)) for i in range(workers)]
    supervisor = Supervisor(children, env, LOGS / env["OTCDESK_NAMESPACE"].rstrip("-"))
    profilers: list[subprocess.Popen[bytes]] = []
    try:
        supervisor.start()
        profilers = [_py_spy(c) for c in children if os.environ.get("OTCDESK_BENCH_PYSPY")]
        yield supervisor
    finally:
        for prof in profilers:
            prof.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        supervisor.stop(grace_s=10)
        for prof in profilers:
            prof.wait(30)


def _py_spy(child: Child) -> subprocess.Popen[bytes]:
    """`py-spy record` of one worker into $OTCDESK_BENCH_PYSPY/<name>-<pid>.txt (collapsed stacks:
    `bench.stagerun.hottest` sums them); for finding what limits a stage, never in a figure."""
    assert child.proc is not None
    out = Path(os.environ["OTCDESK_BENCH_PYSPY"]) / f"{child.name}-{child.proc.pid}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(child.proc.pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--rate",
            "50",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def hottest(path: Path, top: int = 15, within: str = "streams/stage.py") -> list[tuple[str, float]]:
    """From a py-spy raw file: the share of the process's samples spent under `within` (the
    stage loop: per-event work), then the top frames by self time and the desk's own frames by
    inclusive time, as shares of those samples. Start-up (imports) is left out."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = inside = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "_find_and_load" in stack:
            continue
        n = int(count)
        total += n
        if within not in stack:
            continue
        inside += n
        frames = stack.split(";")
        self_time[frames[-1]] += n
        for frame in set(frames):
            if any(pkg in frame for pkg in ("otcdesk/", "streams/", "consumers/")):
                inclusive["incl " + frame] += n
    out = [(f"under {within} (of all samples after start-up)", inside / max(total, 1))]
    out += [(f, c / max(inside, 1)) for f, c in self_time.most_common(top)]
    return out + [(f, c / max(inside, 1)) for f, c in inclusive.most_common(top)]


def all_alive(supervisor: Supervisor) -> bool:
    """Every child still running (a benchmark run fails fast instead of waiting for a dead one)."""
    return all(c.proc is not None and c.proc.poll() is None for c in supervisor.children)


@contextmanager
def floor_process(
    topics: Sequence[str], env: Mapping[str, str], module: str = "bench.floor"
) -> Iterator[subprocess.Popen[bytes]]:
    """A floor over `topics`: the bare faust agent (`bench.floor`) or the bare confluent-kafka
    loop (`bench.floor_confluent`); not an `otcdesk` command, so not under the desk's Supervisor,
    but stopped the same way (SIGTERM, then SIGKILL)."""
    logs = LOGS / env["OTCDESK_NAMESPACE"].rstrip("-")
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{module.rsplit('.', 1)[-1]}.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "OTCDESK_BENCH_FLOOR_TOPICS": ",".join(topics)},
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- drain -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drain:
    events: int  # input records the group committed
    join_s: float  # process start -> group Stable with its members
    drain_s: float  # input load started -> every input partition committed to its end offset

    @property
    def rate(self) -> float:
        return self.events / self.drain_s if self.drain_s > 0 else float("nan")


class DrainWatch:
    """Polls one group: joined (Stable, `members` members) and drained (committed == end offset on
    every partition of its input topics; an empty partition counts as drained).

    `LagMonitor.snapshot` also reads each lagging record's timestamp with a fresh consumer per
    call (a few hundred ms); a drain is timed to one poll, so this reads only the offsets, through
    the monitor's own requests. The faust commit interval (1 s) bounds the precision: size the
    input so a drain lasts well over that.
    """

    def __init__(self, settings: Settings, group: str, topics: Sequence[str], members: int = 1) -> None:
        self.monitor = LagMonitor(settings)
        self.settings = settings
        self.group, self.members = group, members
        self.topics = {settings.topic(t) for t in topics}

    def _read(self) -> tuple[bool, dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        """(joined, committed offset, log end offset) per input partition the group knows."""
        desc = self.monitor._describe([self.group])[self.group]  # private calls: see the class doc
        raw = self.monitor._group_offsets(self.group, desc)
        joined = raw.state == "Stable" and raw.members >= self.members
        parts = {tp for tp in (*raw.owners, *raw.committed) if tp[0] in self.topics}
        return joined, {tp: raw.committed.get(tp, 0) for tp in parts}, self.monitor.log_end_offsets(parts)

    def poll(self) -> tuple[bool, int, int]:
        """(joined, committed records, records left; -1 before it has any partition) of the inputs."""
        joined, committed, ends = self._read()
        left = sum(max(ends.get(tp, 0) - done, 0) for tp, done in committed.items())
        return joined, sum(committed.values()), left if committed else -1

    def ends(self) -> dict[tuple[str, int], int]:
        """The log end offset of every input partition the group knows, now."""
        return self._read()[2]

    def wait_past(
        self,
        ends: dict[tuple[str, int], int],
        since: float,
        *,
        timeout_s: float,
        alive: Callable[[], bool],
        poll_s: float = 0.2,
    ) -> float:
        """Block until the group has committed every partition up to `ends` (what was on its
        inputs at some moment; later records do not count); returns the seconds from `since`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"a worker of {self.group} exited (logs in {LOGS})")
            committed = self._read()[1]
            if all(committed.get(tp, 0) >= end for tp, end in ends.items()):
                return time.monotonic() - since
            time.sleep(poll_s)
        raise TimeoutError(f"{self.group} not past {sum(ends.values())} records after {timeout_s:.0f} s")

    def wait_joined(self, *, timeout_s: float, alive: Callable[[], bool], poll_s: float = 0.2) -> float:
        """Block until the group is Stable with its members; returns that monotonic time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"a worker of {self.group} exited (logs in {LOGS})")
            if self.poll()[0]:
                return time.monotonic()
            time.sleep(poll_s)
        raise TimeoutError(f"{self.group} did not join within {timeout_s:.0f} s")

    def wait_drained(
        self, since: float, *, expect: int, timeout_s: float, alive: Callable[[], bool], poll_s: float = 0.2
    ) -> float:
        """Block until every input partition is committed to its end with at least `expect`
        records committed; returns the seconds from `since` (monotonic) to then."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"a worker of {self.group} exited (logs in {LOGS})")
            _, committed, left = self.poll()
            if left == 0 and committed >= expect:
                return time.monotonic() - since
            time.sleep(poll_s)
        raise TimeoutError(f"{self.group} not drained after {timeout_s:.0f} s (last poll {self.poll()})")

    def committed(self) -> int:
        return self.poll()[1]


def timed_drain(
    watch: DrainWatch, load: Callable[[], int], *, started: float, alive: Callable[[], bool], settle_s: float = 3.0
) -> Drain:
    """Wait for the group to join, then `load()` its input (returns the records loaded) at full
    speed and time until the group has committed all of it.

    The input goes in after the join, not before the start: a stage reads its side data
    (`prices`, its folds) from start-up tasks that race its agents, so a backlog present at start
    is partly handled before the books are in (the aggregator rejects it NO_FRESH_VENUE).
    `settle_s` after the join lets those tasks finish. A copy runs far faster than any stage
    drains, so the stage is saturated from the first record on either way.
    """
    joined = watch.wait_joined(timeout_s=180, alive=alive)
    time.sleep(settle_s)
    since = time.monotonic()
    expect = load()
    drain_s = watch.wait_drained(since, expect=expect, timeout_s=60 + expect / 20, alive=alive)
    return Drain(watch.committed(), joined - started, drain_s)
