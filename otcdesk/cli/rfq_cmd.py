"""`otcdesk rfq publish | load`: ask the desk for prices.

Both exit 0 only once the broker has acknowledged every RFQ: a missing topic or a broker that
does not answer is one line and exit code 2 before anything is sent; `rfq load` prints its
summary (acked, failed) and exits 2 when any RFQ was not acknowledged.
"""

from __future__ import annotations

import typer
from rich.console import Console

from otcdesk.cli.output import console, print_json
from otcdesk.cli.params import DAY_S, SEED, SPEED, names, number
from otcdesk.client import build_rfq, send_rfq
from otcdesk.errors import DeliveryError, UserError
from otcdesk.events import Quote, QuoteRejected, Rfq, TradeBooked
from otcdesk.kafka import EventProducer, require_topics
from otcdesk.settings import get_settings

#: `rfq load` bounds: beyond them a run is a typo (one broker takes some 10^4 RFQ/s here).
MAX_RATE_PER_S = 1_000_000.0

app = typer.Typer(help="Request quotes: publish RFQs to the rfq topic.", no_args_is_help=True)


@app.command("publish")
def publish(
    client: str = typer.Option(..., "--client", help="Client id, e.g. ACME."),
    symbol: str = typer.Option(..., "--symbol", help="Desk symbol, e.g. BTC/USD."),
    side: str = typer.Option("", "--side", help="buy or sell; omit (or --two-way) for a two-way price."),
    qty: str = typer.Option(None, "--qty", help="Size in base units, e.g. 200 (BTC)."),
    notional: str = typer.Option(None, "--notional", help="Size in quote units, e.g. 5000000 (USD)."),
    two_way: bool = typer.Option(False, "--two-way", help="Ask for both bid and ask."),
    rfq_id: str = typer.Option(None, "--rfq-id", help="Your own id (UUID, <= 36 chars); one is made if absent."),
    follow: bool = typer.Option(False, "--follow", help="Print the quote (and the trade) as they arrive."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds --follow waits.", callback=number(gt=0, le=DAY_S)),
    as_json: bool = typer.Option(False, "--json", help="Print events as JSON."),
) -> None:
    """Publish one RFQ and print its rfq_id once the broker has acknowledged it."""
    if two_way and side.strip() and side.strip().lower().replace("_", "-") != "two-way":
        raise UserError(f"--two-way asks for both sides; it cannot go with --side {side.strip()}")
    settings = get_settings()
    rfq = build_rfq(
        client,
        symbol,
        "two_way" if two_way else side,
        qty_base=qty,
        notional_quote=notional,
        rfq_id=rfq_id,
        settings=settings,
        source="cli",
    )
    follower = send_rfq(rfq, settings, follow)
    print_json({"rfq_id": rfq.rfq_id}) if as_json else console.print(rfq.rfq_id, markup=False, highlight=False)
    if follower is None:
        return
    for event in follower.events(timeout):
        if as_json:
            from otcdesk.events import to_avro

            print_json({"event": type(event).__name__} | to_avro(event))
        else:
            _show(event)
        if isinstance(event, (QuoteRejected, TradeBooked)):
            return
    raise typer.Exit(0)


def _show(event: object) -> None:
    if isinstance(event, Quote):
        console.print(
            f"[bold]quote[/bold] {event.quote_id} {event.symbol} {event.qty_base} "
            f"bid {event.bid_price_quote} / ask {event.ask_price_quote} (mid {event.mid_price_quote}, "
            f"valid until {event.valid_until_us} us)"
        )
    elif isinstance(event, QuoteRejected):
        console.print(f"[red]rejected[/red] {event.reason}: {event.detail}")
    elif isinstance(event, TradeBooked):
        console.print(
            f"[green]trade[/green] {event.trade_id} {event.side} {event.qty_base} {event.symbol} "
            f"@ {event.price_quote} = {event.notional_quote}"
        )


@app.command("load")
def load(
    rate: float = typer.Option(
        100.0,
        "--rate",
        help="Target RFQs per second (open loop: never waits for quotes).",
        callback=number(gt=0, le=MAX_RATE_PER_S),
    ),
    duration: float = typer.Option(
        10.0, "--duration", help="Wall seconds the schedule spans.", callback=number(gt=0, le=DAY_S)
    ),
    seed: int = typer.Option(
        None, "--seed", help="Seed of the client mix and rfq ids (default: settings seed).", callback=SEED
    ),
    clients: str = typer.Option(
        None, "--clients", help="Comma separated client ids (default: every profile).", callback=names()
    ),
    speed: float = typer.Option(
        None, "--speed", help="Sim clock speed for ts_us (default: settings sim_speed).", callback=SPEED
    ),
    start_us: str = typer.Option(
        "now",
        "--start-us",
        help="Sim time of the first RFQ: 'now' (the desk clock) or epoch us for reproducible ts_us.",
    ),
) -> None:
    """Send a seeded mix of client RFQs at a fixed rate, with a progress bar and a summary (exit 2
    unless the broker acknowledged every RFQ sent)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from otcdesk.client_sim import ClientSim
    from producers.feeds.publisher import stop_on_sigterm
    from producers.feeds.sim import resolve_start_us
    from producers.load import LoadGenerator, LoadPlan, select_profiles

    settings = get_settings()
    plan = LoadPlan(
        rate, duration, resolve_start_us(start_us, settings), settings.sim_speed if speed is None else speed
    )
    profiles = select_profiles(settings, clients)
    require_topics(settings, [settings.topic(Rfq.TOPIC)])
    stop_on_sigterm()
    sim = ClientSim(
        settings.seed if seed is None else seed,
        profiles,
        clients=settings.clients,
        sim=settings.sim,
        symbols=settings.symbols,
        source="load",
    )
    columns = [TextColumn("[bold]rfq load"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("rfq", total=plan.count)
        summary = LoadGenerator(plan, sim, EventProducer(settings)).run(
            lambda sent: progress.update(task, completed=sent)
        )
    console.print(summary.line(), highlight=False, soft_wrap=True)
    if not summary.all_acked:
        raise DeliveryError(summary.shortfall())
