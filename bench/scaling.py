"""Scaling out by partitions: the quote path with 1, 2 and 3 worker processes per stage.

The quote path is the aggregator and the quote engine together (both scaled: k workers of each
in its consumer group, the 6 partitions of `rfq` and `rfq-priced` spread over them), because
that is what a desk adds workers to when RFQs queue; the books they price on are produced once
per run (every aggregator worker reads all of `prices`). Once both groups are Stable with their k
members, N RFQs go in at full speed and the time runs until the quote engine has committed all N
priced RFQs: events/s = N / that time. The 1-worker run is the baseline of the 2- and 3-worker
runs (ratio = speed-up); the counts alternate per repeat so noise hits them alike.

On this machine (2 cores, shared) one worker per stage already gives each stage about a core, so
the speed-up flattens at 2 workers and 3 can only add scheduling and group overhead: the figure
shows that partitions spread the work, not that 2 cores become 6.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

from bench.core import BenchContext, Figure
from bench.stagerun import DrainWatch, all_alive, price_snapshots, produce_events, session_env, stage_processes
from otcdesk.client_sim import ClientSim
from otcdesk.clock import wall_now_us
from otcdesk.events import Rfq

log = logging.getLogger(__name__)

PATH = (("aggregator", "rfq"), ("quote-engine", "rfq-priced"))
ENV = {"OTCDESK_QUOTE__STALE_BOOK_MS": str(86_400_000)}  # books made once, RFQs priced minutes later


def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.size(6000, 100)
    counts = (1, 2) if ctx.smoke else (1, 2, 3)
    base_us = wall_now_us()
    clients = ClientSim(
        ctx.seed, clients=ctx.settings.clients, sim=ctx.settings.sim, symbols=ctx.settings.symbols, source="bench"
    )
    rfqs = [clients.next_rfq(base_us + i * 1000) for i in range(n)]
    advance = ctx.task("scaling", ctx.repeats * len(counts))
    runs: dict[int, list[float]] = {k: [] for k in counts}
    for _ in range(ctx.repeats):
        for k in counts:
            runs[k].append(_path_rate(ctx, k, rfqs, base_us))
            advance(1)
    one = tuple(runs[1])
    figures = [
        Figure(
            "scaling",
            "quote path, 1 worker per stage",
            "events/s",
            one,
            note=f"{n} RFQs through aggregator + quote-engine, 6 partitions on 1 worker each",
        )
    ]
    for k in counts[1:]:
        figures.append(
            Figure(
                "scaling",
                f"quote path, {k} workers per stage",
                "events/s",
                tuple(runs[k]),
                baseline="1 worker per stage",
                baseline_runs=one,  # no target: the figure shows the trend
                note=f"{2 * k} processes on 2 cores; partitions {6 // k} per worker; ratio = speed-up"
                + ("; past 2 cores: expected flat or lower" if k > 2 else ""),
            )
        )
    return figures


def _path_rate(ctx: BenchContext, workers: int, rfqs: list[Rfq], base_us: int) -> float:
    with ctx.scratch_namespace("scaling") as ns, ExitStack() as stack:
        produce_events(ns, price_snapshots(ns, base_us))
        env = session_env(ns, start_us=base_us, speed=1.0, extra=ENV)
        sups = [stack.enter_context(stage_processes(stage, workers, env)) for stage, _ in PATH]
        alive = lambda: all(all_alive(s) for s in sups)  # noqa: E731 - the one-line check every watch polls
        watches = [DrainWatch(ns, ns.group(stage), [topic], members=workers) for stage, topic in PATH]
        for watch in watches:
            watch.wait_joined(timeout_s=180, alive=alive)
        time.sleep(3.0)  # the workers' start-up tasks (books) finish: see stagerun.timed_drain
        since = time.monotonic()
        produce_events(ns, rfqs)
        for watch in watches:  # the path is drained when its last stage is
            elapsed = watch.wait_drained(since, expect=len(rfqs), timeout_s=60 + len(rfqs) / 20, alive=alive)
        log.info("quote path, %d workers: %d RFQs in %.2f s", workers, len(rfqs), elapsed)
        return len(rfqs) / elapsed
