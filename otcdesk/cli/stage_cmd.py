"""`otcdesk stage run NAME... | list`: desk stages as one faust worker process."""

from __future__ import annotations

import typer

from otcdesk.cli.output import emit
from otcdesk.cli.params import METRICS_PORT_HELP, PORT, choice

app = typer.Typer(help="Desk stages (faust apps), one or more per worker process.", no_args_is_help=True)


@app.command("list")
def list_stages(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """The stages and their consumer groups (with OTCDESK_NAMESPACE, as `otcdesk lag` shows them)."""
    from otcdesk.settings import get_settings
    from streams import STAGES

    group = get_settings().group
    emit("Stages", ["stage", "consumer group"], [(s, group(s)) for s in STAGES], as_json)


@app.command("run")
def run(
    names: list[str] = typer.Argument(..., help="Stage names (otcdesk stage list); several share one process."),
    loglevel: str = typer.Option(
        "warn",
        "--loglevel",
        "-l",
        help="faust log level: crit, error, warn, info, debug.",
        callback=choice("crit", "error", "warn", "info", "debug"),
    ),
    metrics_port: int = typer.Option(None, "--metrics-port", help=METRICS_PORT_HELP, callback=PORT),
) -> None:
    """Run stages until interrupted (Ctrl-C stops them cleanly), each its own consumer group."""
    from otcdesk.metrics import serve
    from otcdesk.settings import get_settings
    from streams import build_stage
    from streams.host import host

    stages = [build_stage(name) for name in dict.fromkeys(names)]
    serve(get_settings().metrics.host, metrics_port, "stage " + ",".join(s.name for s in stages))
    host(stages, loglevel)
