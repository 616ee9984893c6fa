"""Per-stage saturation: events/s through each desk stage alone vs a bare faust agent (the floor).

Method. The inputs are a chain of real desk output: N RFQs of `ClientSim` (1 ms apart in event
time) and books of the market simulator go into a source namespace; each stage, in flow order,
then runs once as an `otcdesk stage run` process on its input there, and what it wrote becomes
the next stage's input (the aggregator's priced RFQs feed the quote engine, its quotes the client
simulator, quotes and responses the acceptance, its trades the hedger and so on). Every
measured run gets a fresh namespace holding a copy of the stage's input as it was before the
stage ran (same partitions, keys, bytes), starts the process, and times from its group's join to
the commit of every input offset: events/s = committed input records / that time. The floor
runs the same way on the same copy: `bench.floor`, one faust agent per input topic with the same
app settings and codec, that decodes, re-encodes and sends each event. A second floor,
`bench.floor_confluent`, does the same with a bare confluent-kafka loop (consume a batch, decode,
encode, produce, commit every second): the faust floor against it is what the framework costs on
top of the Python client. Floors and stage alternate per repeat. A run's dead letters are
counted: a stage must do its real work, not dead-letter.

Sim time. Every process gets a desk clock starting at the RFQs' event time; its speed is chosen
per stage (SPEED) so that what the stage waits for in sim time happens during the run (client
and venue latencies, settlement legs) or, for the stages whose timers would act on the whole
backlog at once (quote expiry, TWAP clips), does not happen at all: the notes say which.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from functools import partial

from bench.core import BenchContext, Figure, Target
from bench.stagerun import (
    FLOOR_OUT,
    FOLDS,
    READS_PRICES,
    STAGE_INPUTS,
    Drain,
    DrainWatch,
    Offsets,
    all_alive,
    copy_records,
    end_offsets,
    floor_process,
    make_topic,
    price_snapshots,
    produce_events,
    session_env,
    stage_processes,
    tally,
    timed_drain,
    wait_quiet,
)
from otcdesk.client_sim import ClientSim
from otcdesk.clock import wall_now_us
from otcdesk.settings import ALL_TOPICS, LIFECYCLE_TOPICS, Settings

log = logging.getLogger(__name__)

#: flow order: each stage's input is what the stages before it wrote
CHAIN = ("aggregator", "quote-engine", "client-sim", "acceptance", "hedger", "venue-sim", "settlement", "recon")
FROZEN, FAST = 0.001, 1000.0
SPEED = {"client-sim": FAST, "venue-sim": FAST, "settlement": 10_000.0, "acceptance": FROZEN, "hedger": FROZEN}
#: books are made once at the RFQs' event time; live pricing must not call them stale later on
ENV = {"OTCDESK_QUOTE__STALE_BOOK_MS": str(86_400_000)}
NOTES = {
    "aggregator": "RFQs validated, consolidated book of 4 venues, VWAP sweep, rfq-priced encoded and sent",
    "quote-engine": "priced RFQs -> spread, skew, credit -> Quote or QuoteRejected (trades/fills folds empty)",
    "client-sim": "quotes -> seeded client decisions; responses sent after their sim latency (clock 1000x: "
    "within the run, and read back as input: quotes + responses counted)",
    "acceptance": "quotes stored in the live-quotes table (changelog), responses -> TradeBooked or refusal; "
    "clock frozen: the expiry sweep expires nothing during the run",
    "hedger": "trades -> TWAP plan on the books, first clip routed and sent at once (clock frozen: the later "
    "clips never fall due, or its own stream of clips on `orders`, an input, would keep the drain from "
    "ending), its own order events read back; no venue: no fills",
    "venue-sim": "hedge orders -> IOC match on the venue's book after its latency (clock 1000x) -> fills + "
    "venue report; venue reports and the desk's updates on orders are read and skipped",
    "settlement": "trades -> both legs planned; the legs' events sent on the 50 ms timer as sim time passes "
    "(clock 10,000x: hours of legs in seconds, partly during the drain)",
    "recon": "trades + orders + fills + settlements folded per deal, judged every 200 ms (hedges hold first "
    "clips only: mostly pending, few results); its start-up rebuild read the topics empty",
}
FLOOR = "bare faust agent: decode + re-encode + send (bench.floor)"
#: share of the faust floor a stage must keep (0.8; settlement plans two legs per trade)
RATIO_TARGET = {"settlement": 0.5}
PYTHON_FLOOR = "bare confluent-kafka loop: decode + re-encode + produce, commit 1 s (bench.floor_confluent)"


def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(6000, 80)
    chain = CHAIN[:2] if ctx.smoke else CHAIN  # smoke: the quote path and one floor (about a minute)
    advance = ctx.task("stages", len(chain))
    figures: list[Figure] = []
    rates: dict[str, list[float]] = {}
    with ctx.scratch_namespace("stages") as src:
        base_us = wall_now_us()
        # the load generator's source: client-sim answers quotes of simulated RFQs only
        clients = ClientSim(ctx.seed, clients=src.clients, sim=src.sim, symbols=src.symbols, source="load")
        produce_events(src, (clients.next_rfq(base_us + i * 1000) for i in range(n)))
        for stage in chain:
            try:
                figure = _bench_stage(ctx, src, stage, base_us, with_floor=not ctx.smoke or stage == chain[0])
            except TimeoutError as exc:  # one stage that does not drain must not lose the others' figures
                figure = Figure("stages", f"{stage} drain", "events/s", (), note=f"not measured: {exc}")
            rates[stage] = list(figure.runs)
            figures.append(figure)
            if figure.extra.get("python_floor_runs"):
                figures.append(
                    Figure(
                        "stages",
                        f"{stage} faust floor vs confluent-kafka floor",
                        "events/s",
                        tuple(figure.baseline_runs),
                        baseline=PYTHON_FLOOR,
                        baseline_runs=tuple(figure.extra["python_floor_runs"]),
                        note="same records, same codec: the ratio is the share of the Python client's throughput "
                        "faust keeps",
                    )
                )
            advance(1)
    path = [min(a, q) for a, q in zip(rates["aggregator"], rates["quote-engine"], strict=False)]
    figures.append(
        Figure(
            "stages",
            "quote path (aggregator + quote-engine)",
            "events/s",
            tuple(path),
            target=Target("value>=", 3000),
            note="per repeat the slower of the two stages' drains (each its own process: the path runs at its "
            "slower stage when both have a core); bench.scaling measures both running together",
        )
    )
    return figures


def _bench_stage(ctx: BenchContext, src: Settings, stage: str, base_us: int, *, with_floor: bool) -> Figure:
    inputs = STAGE_INPUTS[stage]
    before = end_offsets(src, inputs)
    expect = sum(before.values())
    if expect == 0:
        return Figure(
            "stages",
            f"{stage} drain",
            "events/s",
            (),
            note=f"no input: the stages before it wrote nothing on {', '.join(inputs)}; not measured",
        )
    stage_runs: list[Drain] = []
    floor_runs: list[Drain] = []
    python_floor_runs: list[Drain] = []
    written: Counter[str] = Counter()
    for repeat in range(ctx.repeats):
        if with_floor:
            with ctx.scratch_namespace("floor") as ns:
                floor_runs.append(_drain(src, ns, stage, before, base_us, floor="bench.floor"))
            with ctx.scratch_namespace("floor") as ns:
                python_floor_runs.append(_drain(src, ns, stage, before, base_us, floor="bench.floor_confluent"))
        with ctx.scratch_namespace("stage") as ns:
            stage_runs.append(_drain(src, ns, stage, before, base_us))
            if repeat == 0:  # what it wrote is the input of the stages after it
                written = tally(ns, [t for t in ALL_TOPICS if t != "prices"], start=before)
                copy_records(ns, src, LIFECYCLE_TOPICS, start=before)
    letters = {k: v for k, v in written.items() if k.startswith("dlq:")}
    note = NOTES[stage] + (f"; dead letters: {letters}" if letters else "")
    return Figure(
        "stages",
        f"{stage} drain",
        "events/s",
        tuple(d.rate for d in stage_runs),
        baseline=FLOOR,
        baseline_runs=tuple(d.rate for d in floor_runs),
        target=Target("ratio>=", RATIO_TARGET.get(stage, 0.8)),
        note=note,
        extra={
            "input_records": expect,
            "events": [d.events for d in stage_runs],
            "join_s": [round(d.join_s, 2) for d in stage_runs],
            "drain_s": [round(d.drain_s, 2) for d in stage_runs],
            "floor_drain_s": [round(d.drain_s, 2) for d in floor_runs],
            "written": dict(written),
            "python_floor_runs": [d.rate for d in python_floor_runs],
            "clock_speed": SPEED.get(stage, 1.0),
        },
    )


def _drain(
    src: Settings, ns: Settings, stage: str, before: Offsets, base_us: int, *, floor: str | None = None
) -> Drain:
    """One drain of `stage` (or of the floor module `floor`) in the fresh namespace `ns`, its input
    copied from `src` once it has joined; a stage run ends once what it sends on sim time has
    been sent."""
    inputs = STAGE_INPUTS[stage]
    env = session_env(ns, start_us=base_us, speed=SPEED.get(stage, 1.0), extra=ENV)
    load = partial(copy_records, src, ns, inputs, stop=before)
    started = time.monotonic()
    if floor:
        make_topic(ns, FLOOR_OUT)
        with floor_process(inputs, env, floor) as proc:
            return timed_drain(
                DrainWatch(ns, ns.group("floor"), inputs), load, started=started, alive=lambda: proc.poll() is None
            )
    if stage in READS_PRICES:  # the stage reads the last 60 wall s of `prices` at start
        produce_events(ns, price_snapshots(ns, base_us))
    if stage in FOLDS:
        copy_records(src, ns, FOLDS[stage])
    with stage_processes(stage, 1, env) as sup:
        drain = timed_drain(
            DrainWatch(ns, ns.group(stage), inputs), load, started=started, alive=partial(all_alive, sup)
        )
        wait_quiet(ns, LIFECYCLE_TOPICS, quiet_s=2.0, timeout_s=30)
    log.info("%s in %s: %s", stage, ns.namespace, drain)
    return drain
