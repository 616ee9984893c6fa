"""`otcdesk feed run`: publish PriceUpdates to `prices` from the sim, ccxt venues or a recording.

The command only checks input and wires things up; the sources live in `producers.feeds`.
Progress goes to stderr and the final per-venue line to stdout, so scripts can read the line; the
exit code is 0 only when the broker acknowledged every update published.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from otcdesk.cli.output import console
from otcdesk.cli.params import HOUR_S, METRICS_PORT_HELP, PORT, SEED, SPEED, YEAR_S, names, number
from otcdesk.clock import US_PER_S
from otcdesk.errors import DeliveryError, UserError
from otcdesk.events import PriceUpdate, WatermarkAdvanced
from otcdesk.kafka import require_topics
from otcdesk.metrics import serve
from otcdesk.settings import Settings, get_settings
from producers.feeds.publisher import FeedPublisher, FeedSummary, pump, stop_on_sigterm
from producers.feeds.selection import DESK_VENUES, split_names, venues_of

app = typer.Typer(help="Market-data feeds: PriceUpdates to the prices topic.", no_args_is_help=True)

SOURCES = ("sim", "ccxt", "replay")
_err = Console(stderr=True)
_REFRESH_EVERY_S = 0.1


@contextlib.contextmanager
def _progress(description: str, total: float | None, unit: str) -> Iterator[Callable[[float], None]]:
    """A rich bar on stderr; the yielded hook takes the amount done, throttled to 10 Hz."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}" + ("/{task.total:,.0f}" if total else "") + f" {unit}"),
        TextColumn("{task.fields[updates]:,} updates"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=_err) as progress:
        task = progress.add_task(description, total=total, updates=0)
        state = {"last_s": 0.0, "updates": 0, "done": 0.0}

        def hook(done: float) -> None:
            state["updates"] += 1
            state["done"] = done
            now_s = time.perf_counter()
            if now_s - state["last_s"] >= _REFRESH_EVERY_S:
                progress.update(task, completed=done, updates=int(state["updates"]))
                state["last_s"] = now_s

        try:
            yield hook
        finally:
            progress.update(task, completed=state["done"], updates=int(state["updates"]))


OpenPublisher = Callable[[], FeedPublisher]


def _run_sim(
    settings: Settings,
    open_publisher: OpenPublisher,
    symbols: tuple[str, ...],
    venues_text: str,
    speed: float,
    seed: int,
    duration_s: float | None,
    sleep: bool,
    start_us: int,
    from_now: bool = False,
) -> FeedSummary:
    from otcdesk.venues.providers import offline_instruments
    from producers.feeds.selection import select_instruments
    from producers.feeds.sim import SimFeedPlan, sim_updates

    instruments = select_instruments(offline_instruments(), symbols, venues_of(split_names(venues_text)))
    plan = SimFeedPlan(start_us, settings.sim.step_ms, duration_s, speed, sleep)
    with _progress("sim", duration_s, "sim s") as hook:

        def on_update(update: PriceUpdate) -> None:
            hook((update.ts_us - start_us) / US_PER_S)

        if settings.time == "stream":  # a simulated session: a source of stream time
            from producers.feeds.stream import run_stream_feed

            return run_stream_feed(
                settings,
                instruments.values(),
                seed,
                plan,
                open_publisher(),
                settings.clock() if sleep else None,
                on_update,
            )
        # Live: paced on the desk clock every process of `otcdesk run all` reads, not on a clock of
        # this process, so a feed started late, or restarted, publishes step k when the desk
        # reaches it (late steps at once). `--start-us now` outside a desk at 1x: paced on the
        # wall clock too, so the seconds this process took to start are caught up at once.
        in_desk = sleep and settings.sim_anchor_wall_us is not None and settings.sim_start_us is not None
        on_wall = sleep and from_now and speed == 1
        clock = settings.clock() if in_desk or on_wall else None
        updates = sim_updates(instruments.values(), settings.sim, seed, plan, clock=clock, conflate=in_desk)
        return pump(updates, open_publisher(), on_update)


def _run_replay(
    open_publisher: OpenPublisher, file: Path, speed: float, sleep: bool, start_us: int | None
) -> FeedSummary:
    from producers.feeds.recording import read_recording
    from producers.feeds.replay import replay_updates

    total = sum(1 for _ in read_recording(file))  # also checks every line before publishing
    updates = replay_updates(read_recording(file), speed, sleep=sleep, shift_to_us=start_us)
    publisher = open_publisher()
    with _progress(f"replay {file.name}", total, "records") as hook:
        seen = iter(range(1, total + 1))
        return pump(updates, publisher, lambda _u: hook(next(seen)))


def _run_ccxt(
    open_publisher: OpenPublisher,
    symbols: tuple[str, ...],
    venues_text: str,
    fixtures: bool,
    interval_s: float,
    duration_s: float | None,
) -> FeedSummary:
    from producers.feeds.ccxt_feed import CcxtFeedPlan, run_ccxt_feed

    plan = CcxtFeedPlan(symbols, venues_of(split_names(venues_text)), fixtures, interval_s, duration_s)
    publisher = open_publisher()
    started_s = time.perf_counter()
    with _progress("ccxt fixtures" if fixtures else "ccxt live", duration_s, "s") as hook:
        run_ccxt_feed(plan, publisher, lambda _u: hook(time.perf_counter() - started_s))
    return publisher.close()


@app.command("run")
def run(
    source: str = typer.Option("sim", "--source", help="sim | ccxt | replay."),
    symbols: str = typer.Option(
        None, "--symbols", help="Comma separated desk symbols (default: all the desk quotes).", callback=names()
    ),
    venues: str = typer.Option(
        ",".join(v.value for v in DESK_VENUES), "--venues", help="Comma separated venues.", callback=names()
    ),
    speed: float = typer.Option(
        None, "--speed", help="Sim/replay speed factor (default: settings sim_speed).", callback=SPEED
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the sim (default: settings seed).", callback=SEED),
    duration: float = typer.Option(
        None,
        "--duration",
        help="Sim seconds (ccxt: wall seconds) (default: until Ctrl-C).",
        callback=number(gt=0, le=YEAR_S),
    ),
    no_sleep: bool = typer.Option(False, "--no-sleep", help="Sim/replay as fast as possible (tests, benchmarks)."),
    start_us: str = typer.Option(
        None,
        "--start-us",
        help="Sim start: epoch us, or 'now' (desk clock) (default: session start, else 2025-01-01); "
        "replay: move the first record to this instant.",
    ),
    file: Path = typer.Option(None, "--file", help="Recording to replay (JSON lines)."),
    fixtures: bool = typer.Option(False, "--fixtures", help="ccxt against the loopback fixture server (offline)."),
    interval: float = typer.Option(
        1.0, "--interval", help="ccxt: seconds between two polls of a venue.", callback=number(gt=0, le=HOUR_S)
    ),
    record: Path = typer.Option(None, "--record", help="Also write every published update to this JSON-lines file."),
    metrics_port: int = typer.Option(None, "--metrics-port", help=METRICS_PORT_HELP, callback=PORT),
) -> None:
    """Publish PriceUpdates keyed VENUE:SYMBOL; Ctrl-C (or SIGTERM) flushes and prints the counts per venue."""
    if source not in SOURCES:
        raise UserError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "replay" and file is None:
        raise UserError("--source replay needs --file F (a recording made with --record F)")
    if file is not None and source != "replay":
        raise UserError(f"--file is the recording --source replay reads; it does not go with --source {source}")
    if fixtures and source != "ccxt":
        raise UserError(f"--fixtures serves ccxt's venues; it does not go with --source {source}")
    from producers.feeds.sim import resolve_start_us

    settings = get_settings()
    speed = settings.sim_speed if speed is None else speed
    chosen = split_names(symbols) if symbols else settings.symbols
    sim_start_us = resolve_start_us(start_us, settings) if source == "sim" else None
    shift_to_us = resolve_start_us(start_us, settings) if source == "replay" and start_us is not None else None
    topics = [PriceUpdate.TOPIC] + ([WatermarkAdvanced.TOPIC] if settings.time == "stream" else [])
    require_topics(settings, map(settings.topic, topics))
    stop_on_sigterm()
    serve(settings.metrics.host, metrics_port, "feed")

    def open_publisher() -> FeedPublisher:
        return FeedPublisher(settings, source, record)

    if sim_start_us is not None:
        summary = _run_sim(
            settings,
            open_publisher,
            chosen,
            venues,
            speed,
            settings.seed if seed is None else seed,
            duration,
            not no_sleep,
            sim_start_us,
            from_now=(start_us or "").strip().lower() == "now",
        )
    elif source == "replay":
        summary = _run_replay(open_publisher, file, speed, not no_sleep, shift_to_us)
    else:
        summary = _run_ccxt(open_publisher, chosen, venues, fixtures, interval, duration)
    console.print(summary.line(), highlight=False, soft_wrap=True)
    if summary.failed:  # close() flushed: every record was acknowledged or failed
        raise DeliveryError(f"Kafka refused {summary.failed} records of this feed (acknowledged {summary.delivered})")
