"""`otcdesk stack up | down | status`: the Kafka broker and ClickHouse server the desk runs on."""

from __future__ import annotations

import time

import typer
from pydantic import ValidationError

from otcdesk.cli.output import console, emit
from otcdesk.cli.params import whole
from otcdesk.errors import UserError
from otcdesk.settings import LocalStackSettings, get_settings
from otcdesk.stack import ComponentStatus, stack_for
from otcdesk.stack.local import ComponentFailed

app = typer.Typer(help="The local stack: Kafka (KRaft) and ClickHouse.", no_args_is_help=True)

COLUMNS = ["component", "pid", "address", "version", "healthy", "detail"]


def _say(line: str) -> None:
    console.print(line, highlight=False)


def _rows(statuses: list[ComponentStatus]) -> list[list[object]]:
    return [[s.component, s.pid, s.address, s.version, s.healthy, s.detail] for s in statuses]


@app.command("up")
def up(
    brokers: int = typer.Option(
        None,
        "--brokers",
        callback=whole(ge=1, le=5),
        help=(
            "Kafka nodes (1, 3 or 5), each a broker and a KRaft voter; node 1 stays on 9092. Default: as the "
            "stack's data was formatted, else 1."
        ),
    ),
) -> None:
    """Start the stack (idempotent) and wait until Kafka and ClickHouse answer."""
    settings = get_settings()
    if brokers is not None:
        if settings.stack != "local":
            raise UserError(
                f"--brokers starts local Kafka nodes; OTCDESK_STACK is {settings.stack} "
                "(docker: `docker compose -f docker-compose.yml -f docker-compose.cluster.yml up -d`)"
            )
        try:
            local = LocalStackSettings.model_validate(settings.local.model_dump() | {"brokers": brokers})
        except ValidationError as exc:
            raise UserError(f"--brokers: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        settings = settings.model_copy(update={"local": local})
    begin = time.monotonic()
    try:
        statuses = stack_for(settings, _say).up()
    except ComponentFailed as exc:
        # The operator needs the reason, which is in the component's log, not in our message.
        console.print(f"[red]{exc.component} failed to start[/red]; last lines of its log:", highlight=False)
        for line in exc.log_tail:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        raise
    for s in statuses:
        _say(f"{s.component:<10} {s.address:<22} {s.version or '-':<10} {'healthy' if s.healthy else 'UNHEALTHY'}")
    _say(f"stack {settings.stack} up in {time.monotonic() - begin:.1f}s")


@app.command("down")
def down(wipe: bool = typer.Option(False, "--wipe", help="Also delete Kafka and ClickHouse data and logs.")) -> None:
    """Stop what `stack up` started (nothing else); data is kept unless --wipe."""
    stack_for(get_settings(), _say).down(wipe=wipe)


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Pid, address, version and health of each component; exit 1 if any is unhealthy. A running
    `otcdesk run all` adds its processes' /metrics endpoints (`metrics:<process>`, up or not)."""
    from otcdesk.cli.run_cmd import running_endpoints

    settings = get_settings()
    statuses = stack_for(settings).status()
    desk = [
        [f"metrics:{e['process']}", None, e["address"], "-", e["up"], ",".join(e["stages"]) or e["process"]]
        for e in running_endpoints(settings.state_dir)
    ]  # a running `run all`'s /metrics: not the stack's health
    emit("Stack", COLUMNS, _rows(statuses) + desk, as_json)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)
