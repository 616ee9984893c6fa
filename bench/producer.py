"""Producing RFQs: the desk's load generator at max rate vs a bare confluent-kafka loop vs kcat.

Three ways to put the same N RFQs on a scratch namespace's `rfq` topic (the desk's partition
count and retention), interleaved over the repeats:

- desk: `producers.load.LoadGenerator` with an `EventProducer`, exactly what `otcdesk rfq load`
  runs, in-process (the CLI adds only its start-up and a progress bar), at a rate so high that
  every RFQ is due at once. The generator builds (ClientSim draw + Avro encode) every RFQ of such
  a plan before its schedule starts; here that build (`RfqRecords`, what `LoadGenerator.prebuild`
  does) runs before the clock, like the bare loop's encoding, and is timed on its own: the
  figures are the send (client creation to last acknowledgement, the target's figure), the build,
  and both together (what a max-rate `rfq load` of N RFQs takes end to end);
- bare: a plain `confluent_kafka.Producer` loop over the same payload bytes and keys, encoded
  beforehand (same seed, same stamps), no delivery callback;
- kcat: Debian's `kcat -P -l` reading the same keys and payloads from a file, framed with
  multi-byte key and message delimiters checked to occur nowhere else in the file.

All three use the desk's producer settings (`otcdesk.kafka.producer_config`: idempotence on,
acks=all, linger.ms=5, murmur2_random partitioner, no compression), kcat through a `-F` file. Each
timing spans client creation to the last acknowledgement. After each side the topic's end
offsets must have grown by exactly N, so every figure counts only messages that landed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import KafkaException, Producer

from bench.core import BenchContext, Figure, Target, interleaved
from bench.stagerun import end_offsets
from otcdesk.client_sim import ClientSim
from otcdesk.kafka import EventProducer, producer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from producers.load import LoadGenerator, LoadPlan, RfqRecords, select_profiles

TARGET = Target("ratio>=", 0.5)
MAX_RATE = 1e7  # RFQ/s in the plan: every RFQ is due before the generator's first send
START_US = 1_767_225_600_000_000  # fixed stamps, so both sides send the very same bytes
KEY_DELIM = b"\xff\xfeK\xfd\x01\xfc"  # no NUL: kcat reads the -K/-D argument as a C string
MSG_DELIM = b"\xff\xfeM\xfd\x01\xfc"


def plan(count: int) -> LoadPlan:
    return LoadPlan(MAX_RATE, count / MAX_RATE, START_US)


def clients(settings: Settings, seed: int) -> ClientSim:
    return ClientSim(
        seed,
        select_profiles(settings, None),
        clients=settings.clients,
        sim=settings.sim,
        symbols=settings.symbols,
        source="load",
    )


def payloads(settings: Settings, count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of the RFQs the load generator sends for this seed and plan."""
    sim, serde, p = clients(settings, seed), default_serde(), plan(count)
    return [(rfq.key.encode(), serde.encode(rfq)) for rfq in (sim.next_rfq(p.event_ts_us(i)) for i in range(count))]


def messages(settings: Settings, patience_s: float = 30.0) -> int:
    """Messages on the namespace's rfq topic (sum of its end offsets). Retried: on a loaded machine
    a just-created topic's first watermark request may meet stale metadata (NOT_LEADER) or time out."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return sum(end_offsets(settings, ["rfq"]).values())
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def landed(
    settings: Settings, count: int, side: str, send: Callable[[], None], prepare: Callable[[], None] | None = None
) -> Callable[[], float]:
    """A measure: messages/s of `send`, refused unless the topic grew by exactly `count`;
    `prepare` runs first, off the clock."""

    def measure() -> float:
        if prepare is not None:
            prepare()
        before = messages(settings)
        started = time.perf_counter()
        send()
        elapsed = time.perf_counter() - started
        grown = messages(settings) - before
        if grown != count:
            raise RuntimeError(f"{side}: the rfq topic grew by {grown} messages, {count} were sent")
        return count / elapsed

    return measure


def desk_records(settings: Settings, count: int, seed: int) -> RfqRecords:
    """Every RFQ of the plan drawn and encoded, as `LoadGenerator.run` builds them before its
    schedule starts when the plan's rate is beyond what the machine builds."""
    records = RfqRecords(plan(count), clients(settings, seed), default_serde())
    records.build(count)
    return records


def desk_load(settings: Settings, records: RfqRecords) -> None:
    count = records.plan.count
    summary = LoadGenerator(records.plan, records, EventProducer(settings)).run()
    if summary.acked != count or summary.failed:
        raise RuntimeError(f"rfq load: {summary.line()}")


class DeskSide:
    """The desk's side of each repeat: the RFQs built (timed apart, `build_s`), then sent."""

    def __init__(self, settings: Settings, count: int, seed: int) -> None:
        self._settings, self._count, self._seed = settings, count, seed
        self._records: RfqRecords | None = None
        self.build_s: list[float] = []

    def prepare(self) -> None:
        started = time.perf_counter()
        self._records = desk_records(self._settings, self._count, self._seed)
        self.build_s.append(time.perf_counter() - started)

    def send(self) -> None:
        if self._records is None:
            raise RuntimeError("DeskSide.send before prepare")
        records, self._records = self._records, None
        desk_load(self._settings, records)


def bare_loop(settings: Settings, data: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(settings))
    topic = settings.topic("rfq")
    for key, value in data:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("bare producer: messages left unacknowledged")


def kcat_file(data: list[tuple[bytes, bytes]], path: Path) -> None:
    body = b"".join(key + KEY_DELIM + value + MSG_DELIM for key, value in data)
    # delimiter-safe: each delimiter occurs exactly where it was put, nowhere inside a key or value
    if body.count(KEY_DELIM) != len(data) or body.count(MSG_DELIM) != len(data):
        raise RuntimeError("a kcat delimiter occurs inside the payloads; choose other bytes")
    path.write_bytes(body)


def _escaped(delim: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in delim)


def kcat(settings: Settings, path: Path, conf_path: Path) -> None:
    args = [
        "kcat",
        "-P",
        "-q",
        "-F",
        str(conf_path),
        "-t",
        settings.topic("rfq"),
        "-K",
        _escaped(KEY_DELIM),
        "-D",
        _escaped(MSG_DELIM),
        "-l",
        str(path),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kcat failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def kcat_config(settings: Settings, path: Path) -> None:
    """The desk's producer settings as a kcat `-F` file (not `-X`: a SASL password on a command
    line is visible to every user of the machine in `ps`)."""
    lines = [
        f"{k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in producer_config(settings).items()
        if isinstance(v, (str, int, float))
    ]  # not the Python `logger` object: kcat has no such property
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")


def run(ctx: BenchContext) -> list[Figure]:
    if shutil.which("kcat") is None:
        raise RuntimeError("kcat is not installed (Debian package kcat)")
    count = ctx.size(100_000, 2_000)
    advance = ctx.task(f"producer: {count:,} RFQs x 3 sides x {ctx.repeats}", 3 * ctx.repeats)
    with ctx.scratch_namespace("producer") as settings, tempfile.TemporaryDirectory() as tmp:
        data = payloads(settings, count, ctx.seed)
        path, conf_path = Path(tmp) / "rfqs.bin", Path(tmp) / "kcat.conf"
        kcat_file(data, path)
        kcat_config(settings, conf_path)

        def step(side: str, send: Callable[[], None], prepare: Callable[[], None] | None = None) -> Callable[[], float]:
            measure = landed(settings, count, side, send, prepare)

            def counted() -> float:
                rate = measure()
                advance(1)
                return rate

            return counted

        desk_side = DeskSide(settings, count, ctx.seed)
        desk, bare, tool = interleaved(
            ctx.repeats,
            step("rfq load", desk_side.send, desk_side.prepare),
            step("bare producer", lambda: bare_loop(settings, data)),
            step("kcat", lambda: kcat(settings, path, conf_path)),
        )
    extra = {
        "rfqs": count,
        "payload_bytes_mean": sum(len(v) for _, v in data) / count,
        "producer_config": "enable.idempotence=true acks=all linger.ms=5 murmur2_random compression none",
    }
    built = tuple(count / s for s in desk_side.build_s)
    end_to_end = tuple(count / (s + count / rate) for s, rate in zip(desk_side.build_s, desk, strict=False))
    note = "all three: idempotent, acks=all, linger 5 ms; counted by end offsets after each run"
    return [
        Figure(
            "producer",
            "rfq load send, RFQs pre-built (LoadGenerator + EventProducer)",
            "RFQ/s",
            tuple(desk),
            "bare confluent-kafka loop, pre-encoded",
            tuple(bare),
            TARGET,
            note + "; the RFQs built before the clock, as the bare loop's bytes",
            extra,
        ),
        Figure(
            "producer",
            "rfq load pre-build (ClientSim draw + Avro encode)",
            "RFQ/s",
            built,
            None,
            (),
            None,
            "RfqRecords.build of the whole plan, one thread; no send",
            extra,
        ),
        Figure(
            "producer",
            "rfq load end to end (pre-build + send)",
            "RFQ/s",
            end_to_end,
            "bare confluent-kafka loop, pre-encoded",
            tuple(bare),
            None,
            "N / (build s + send s) of each repeat: a max-rate `rfq load` of N RFQs",
            extra,
        ),
        Figure(
            "producer",
            "rfq load vs kcat -P",
            "RFQ/s",
            tuple(desk),
            "kcat -P -l, same bytes from a file",
            tuple(tool),
            None,
            note,
            extra,
        ),
        Figure(
            "producer",
            "bare confluent-kafka loop vs kcat -P",
            "RFQ/s",
            tuple(bare),
            "kcat -P -l, same bytes from a file",
            tuple(tool),
            None,
            "the Python client's own cost",
            extra,
        ),
    ]
