"""`otcdesk chaos`: fault scenarios on the real stack, judged by a clean run of the same seed.

A seeded session is a function of its seed (`otcdesk simulate`), so the strongest invariant a
fault can be held to is "the same session as without it": same outcome for every RFQ, same
trades, hedges, settlements and reconciliation, i.e. the same digest. Nothing lost (a missing
event changes a line), nothing doubled (a second trade, fill or result changes one too).
"""

from __future__ import annotations

import typer
from rich.console import Console

from otcdesk.cli.output import console, print_json, print_table
from otcdesk.cli.simulate_cmd import parse_kills, run_session
from otcdesk.settings import get_settings
from otcdesk.simulate import NAMESPACE, SessionPlan

app = typer.Typer(help="Fault scenarios on the real stack (docs/reliability.md).", no_args_is_help=True)

#: The processes that come back from kill -9 with nothing lost (docs/reliability.md says why the
#: others do not yet: their in-flight state is in memory).
RESTART_SAFE = ("aggregator", "quote-engine", "acceptance", "settlement", "recon")


@app.command("kill")
def kill(
    stages: str = typer.Option(",".join(RESTART_SAFE), "--stages", help="Comma separated processes to kill -9 in turn."),
    rfqs: int = typer.Option(60, "--rfqs", help="RFQs per session."),
    seed: int = typer.Option(None, "--seed", help="Seed of both sessions (default: settings seed)."),
    speed: float = typer.Option(600.0, "--speed", help="Sim clock speed factor."),
    startup: float = typer.Option(15.0, "--startup", help="Wall seconds the processes get to start."),
    timeout: float = typer.Option(900.0, "--timeout", help="Give up a session after this many wall seconds."),
    namespace: str = typer.Option(NAMESPACE, "--namespace", help="Topic/group prefix of the sessions (wiped first)."),
    as_json: bool = typer.Option(False, "--json", help="Print both summaries and the verdict as JSON."),
) -> None:
    """A clean session, then the same seed with each stage killed (-9) once, in turn: same digest?"""
    names = [n.strip() for n in stages.split(",") if n.strip()]
    step = 1 / (len(names) + 1)
    kills = parse_kills([f"{name}@{round(step * (i + 1), 3)}" for i, name in enumerate(names)])
    settings = get_settings()
    plan = SessionPlan(seed=settings.seed if seed is None else seed, speed=speed, rfqs=rfqs, namespace=namespace)
    screen = Console(stderr=True) if as_json else console
    clean = run_session(plan, screen, startup_s=startup, timeout_s=timeout)
    faulted = run_session(plan, screen, startup_s=startup, timeout_s=timeout, kills=kills)
    same = clean.complete and faulted.complete and clean.summary == faulted.summary
    if as_json:
        print_json({"same": same, "clean": clean.as_json(), "faulted": faulted.as_json()})
    else:
        rows = [(field, getattr(clean.summary, field), getattr(faulted.summary, field))
                for field in ("answered", "deals", "settled", "recon", "breaks", "desk_pnl_quote", "digest")]
        rows.append(("wall s", f"{clean.wall_s:.0f}", f"{faulted.wall_s:.0f}"))
        print_table(f"kill -9 of {', '.join(faulted.killed)}: {'SAME session' if same else 'DIFFERENT'}",
                    ("figure", "clean", "with kills"), rows)
    if not same:
        raise typer.Exit(1)
