"""`otcdesk stage run NAME | list`: one desk stage as a faust worker in this process."""

from __future__ import annotations

import sys

import typer

from otcdesk.cli.output import emit
from otcdesk.cli.params import choice

app = typer.Typer(help="Desk stages (faust workers), one process each.", no_args_is_help=True)


@app.command("list")
def list_stages(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """The stages and their consumer groups."""
    from streams import STAGES

    emit("Stages", ["stage", "consumer group"], [(s, f"otcdesk-{s}") for s in STAGES], as_json)


@app.command("run")
def run(
    name: str = typer.Argument(..., help="Stage name (otcdesk stage list)."),
    loglevel: str = typer.Option("warn", "--loglevel", "-l", help="faust log level: crit, error, warn, info, debug.",
                                 callback=choice("crit", "error", "warn", "info", "debug")),
) -> None:
    """Run a stage until interrupted (Ctrl-C stops it cleanly)."""
    from streams import build_stage

    stage = build_stage(name)
    sys.argv = [f"otcdesk-{name}", "worker", "--without-web", "--loglevel", loglevel]
    stage.app.main()
