"""`otcdesk run all`: the feed, every stage (and the sink) as supervised processes."""

from __future__ import annotations

import signal
import time
from types import FrameType

import typer
from rich.live import Live
from rich.table import Table

from otcdesk.cli.output import console
from otcdesk.cli.params import LAYOUT, SEED, SPEED, YEAR_S, names, number
from otcdesk.errors import UserError
from otcdesk.kafka import require_topics
from otcdesk.settings import get_settings
from otcdesk.supervisor import Supervisor, desk_children, session_env

app = typer.Typer(help="Run the desk: every process, supervised.", no_args_is_help=True)


def _table(supervisor: Supervisor, started: float) -> Table:
    table = Table(title=f"otcdesk: {time.monotonic() - started:.0f} s (Ctrl-C stops everything)", title_justify="left")
    for column in ("process", "pid", "state", "restarts", "last exit"):
        table.add_column(column)
    for child in supervisor.children:
        pid = child.proc.pid if child.proc is not None else "-"
        table.add_row(child.name, str(pid), child.state, str(child.restarts),
                      "-" if child.last_exit is None else str(child.last_exit))
    return table


@app.command("all")
def run_all(
    speed: float = typer.Option(None, "--speed", help="Sim clock speed factor (default: settings sim_speed).",
                                callback=SPEED),
    seed: int = typer.Option(None, "--seed", help="Seed of every random choice (default: settings seed).",
                             callback=SEED),
    stages: str = typer.Option("", "--stages", help="Comma separated stages (default: all).",
                               callback=names()),
    feed: bool = typer.Option(True, "--feed/--no-feed", help="Run the sim market-data feed."),
    sink: bool = typer.Option(False, "--sink/--no-sink", help="Run the ClickHouse sink too."),
    layout: str = typer.Option(None, "--layout", help="Stage processes: per-stage, offices or desks (default: settings "
                               "layout).", callback=LAYOUT),
    duration: float = typer.Option(0, "--duration", help="Stop after this many wall seconds (0: until Ctrl-C).",
                                   callback=number(ge=0, le=YEAR_S)),
) -> None:
    """Start the desk; restart a crashed process with backoff; stop all on Ctrl-C."""
    from otcdesk.topics import topic_specs
    from streams import STAGES

    settings = get_settings()
    chosen = [s.strip() for s in stages.split(",") if s.strip()] or list(STAGES)
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGES)}")
    require_topics(settings, [spec.name for spec in topic_specs(settings)])
    env = session_env(settings.seed if seed is None else seed, settings.sim_speed if speed is None else speed,
                      namespace=settings.namespace)
    children = desk_children(chosen, with_feed=feed, with_sink=sink, layout=layout or settings.layout)
    supervisor = Supervisor(children, env, settings.state_dir / "logs" / "desk")
    stop = {"now": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    supervisor.start()
    console.print(f"logs: {supervisor.logs}")
    try:
        with Live(_table(supervisor, started), console=console, refresh_per_second=2) as live:
            while not stop["now"] and not (duration and time.monotonic() - started >= duration):
                for line in supervisor.tick():
                    live.console.print(line)
                live.update(_table(supervisor, started))
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping...")
        supervisor.stop()
        console.print("stopped")
