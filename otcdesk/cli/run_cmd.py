"""`otcdesk run all`: the feed, every stage (and the sink) as supervised processes.

With metrics on (settings `metrics.enabled`) the supervisor serves /metrics on `metrics.base_port`
and child n on `base_port + n`; the table and `--json` show each process's port, and
`<state_dir>/metrics.json` holds them while the desk runs (`otcdesk stack status` reads it).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from otcdesk.cli.output import console, print_json
from otcdesk.cli.params import LAYOUT, SEED, SPEED, YEAR_S, names, number
from otcdesk.errors import UserError
from otcdesk.kafka import require_topics
from otcdesk.metrics import serve
from otcdesk.settings import MetricsSettings, get_settings
from otcdesk.stack import state_file
from otcdesk.supervisor import Supervisor, desk_children, session_env, with_metrics_ports

_stderr = Console(stderr=True)

app = typer.Typer(help="Run the desk: every process, supervised.", no_args_is_help=True)


def _table(supervisor: Supervisor, started: float) -> Table:
    table = Table(title=f"otcdesk: {time.monotonic() - started:.0f} s (Ctrl-C stops everything)", title_justify="left")
    for column in ("process", "pid", "state", "restarts", "last exit", "metrics"):
        table.add_column(column)
    for child in supervisor.children:
        pid = child.proc.pid if child.proc is not None else "-"
        table.add_row(
            child.name,
            str(pid),
            child.state,
            str(child.restarts),
            "-" if child.last_exit is None else str(child.last_exit),
            "-" if child.metrics_port is None else str(child.metrics_port),
        )
    return table


def processes(supervisor: Supervisor, supervisor_port: int | None) -> list[dict[str, Any]]:
    """Every process of the desk with its pid and /metrics port (None: no endpoint), supervisor first."""
    rows = [{"process": "supervisor", "pid": os.getpid(), "stages": [], "metrics_port": supervisor_port}]
    rows += [
        {
            "process": c.name,
            "pid": c.proc.pid if c.proc is not None else None,
            "stages": list(c.stages),
            "metrics_port": c.metrics_port,
        }
        for c in supervisor.children
    ]
    return rows


def metrics_file(state_dir: Path) -> Path:
    """Where a running `run all` leaves its processes' metrics ports."""
    return state_dir / "metrics.json"


def running_endpoints(state_dir: Path) -> list[dict[str, Any]]:
    """The /metrics endpoints of the `run all` whose file is in `state_dir`, each with `up` (its port
    answers); none when no file or its supervisor is gone (a file a killed supervisor left)."""
    state = state_file.read(metrics_file(state_dir))
    try:
        os.kill(int(state["supervisor_pid"]), 0)
    except (KeyError, TypeError, ValueError, OSError):
        return []
    host = str(state.get("host", "127.0.0.1"))
    return [
        {**row, "address": f"{host}:{row['metrics_port']}", "up": _answers(host, int(row["metrics_port"]))}
        for row in state.get("processes", [])
        if row.get("metrics_port")
    ]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _serve_metrics(supervisor: Supervisor, conf: MetricsSettings) -> int | None:
    """Ports for every child and the supervisor's own endpoint (None: metrics off)."""
    if not conf.enabled:
        return None
    last = conf.base_port + len(supervisor.children)
    if last > 65535:
        raise UserError(f"metrics.base_port {conf.base_port} leaves no port for {len(supervisor.children)} processes")
    with_metrics_ports(supervisor.children, conf.base_port)
    return serve(conf.host, conf.base_port, "supervisor")


@app.command("all")
def run_all(
    speed: float = typer.Option(
        None, "--speed", help="Sim clock speed factor (default: settings sim_speed).", callback=SPEED
    ),
    seed: int = typer.Option(
        None, "--seed", help="Seed of every random choice (default: settings seed).", callback=SEED
    ),
    stages: str = typer.Option("", "--stages", help="Comma separated stages (default: all).", callback=names()),
    feed: bool = typer.Option(True, "--feed/--no-feed", help="Run the sim market-data feed."),
    sink: bool = typer.Option(False, "--sink/--no-sink", help="Run the ClickHouse sink too."),
    layout: str = typer.Option(
        None,
        "--layout",
        help="Stage processes: per-stage, offices or desks (default: settings layout).",
        callback=LAYOUT,
    ),
    duration: float = typer.Option(
        0, "--duration", help="Stop after this many wall seconds (0: until Ctrl-C).", callback=number(ge=0, le=YEAR_S)
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the processes (pid, stages, metrics port) as JSON once started, instead of the live table.",
    ),
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
    env = session_env(
        settings.seed if seed is None else seed,
        settings.sim_speed if speed is None else speed,
        namespace=settings.namespace,
    )
    children = desk_children(chosen, with_feed=feed, with_sink=sink, layout=layout or settings.layout)
    supervisor = Supervisor(children, env, settings.state_dir / "logs" / "desk")
    stop = {"now": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    supervisor_port = _serve_metrics(supervisor, settings.metrics)
    supervisor.start()
    ports = metrics_file(settings.state_dir)
    if settings.metrics.enabled:
        rows = [
            {k: row[k] for k in ("process", "stages", "metrics_port")} for row in processes(supervisor, supervisor_port)
        ]
        state_file.write(ports, {"host": settings.metrics.host, "supervisor_pid": os.getpid(), "processes": rows})
    if as_json:
        print_json({"logs": str(supervisor.logs), "processes": processes(supervisor, supervisor_port)})
    else:
        console.print(f"logs: {supervisor.logs}; supervisor /metrics port: {supervisor_port or '-'}")
    try:
        if as_json:
            _watch(supervisor, started, duration, stop, None)
        else:
            with Live(_table(supervisor, started), console=console, refresh_per_second=2) as live:
                _watch(supervisor, started, duration, stop, live)
    except KeyboardInterrupt:
        pass
    finally:
        if not as_json:
            console.print("stopping...")
        supervisor.stop()
        if settings.metrics.enabled:
            ports.unlink(missing_ok=True)
        if not as_json:
            console.print("stopped")


def _watch(supervisor: Supervisor, started: float, duration: float, stop: dict[str, bool], live: Live | None) -> None:
    """Tick the supervisor until stopped; restarts go to the live table's console, else to stderr."""
    while not stop["now"] and not (duration and time.monotonic() - started >= duration):
        for line in supervisor.tick():
            (live.console if live is not None else _stderr).print(line)
        if live is not None:
            live.update(_table(supervisor, started))
        time.sleep(0.5)
