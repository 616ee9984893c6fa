"""`otcdesk simulate`: a whole seeded desk session with a progress bar, then its summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from otcdesk.cli.output import console, print_json, print_table
from otcdesk.errors import UserError
from otcdesk.settings import get_settings
from otcdesk.simulate import NAMESPACE, SessionPlan, SessionSummary

#: Every deal closed and nothing new on the topics for this long (wall): the session is over.
#: A BROKEN result may still be revised by late fills; the summary waits for the last revision.
QUIET_S = 3.0


def simulate(
    rfqs: int = typer.Option(500, "--rfqs", help="RFQs in the session."),
    speed: float = typer.Option(600.0, "--speed", help="Sim clock speed factor (600: ten sim minutes a second)."),
    seed: int = typer.Option(None, "--seed", help="Seed of every random choice (default: settings seed)."),
    rate: float = typer.Option(0.02, "--rate", help="Mean RFQ arrivals per sim second (Poisson)."),
    faults: bool = typer.Option(True, "--faults/--no-faults", help="Inject venue faults (fees, dropped/duplicate fills)."),
    sink: bool = typer.Option(False, "--sink/--no-sink", help="Also run the ClickHouse sink (for `otcdesk report`)."),
    startup: float = typer.Option(25.0, "--startup", help="Wall seconds the processes get to start before sim time runs."),
    timeout: float = typer.Option(900.0, "--timeout", help="Give up after this many wall seconds."),
    kill: list[str] = typer.Option([], "--kill", help="Chaos: PROCESS@SHARE, kill -9 PROCESS once SHARE (0-1) of "
                                   "the RFQs are out (restarted by the supervisor). Repeatable."),
    namespace: str = typer.Option(NAMESPACE, "--namespace", help="Topic/group prefix of the session (wiped first)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run the desk on seeded RFQs until every deal is settled or failed and reconciled."""
    settings = get_settings()
    plan = SessionPlan(seed=settings.seed if seed is None else seed, speed=speed, rfqs=rfqs, rate_per_s=rate,
                       faults=faults, namespace=namespace)
    screen = Console(stderr=True) if as_json else console  # --json: stdout carries the JSON only
    result = run_session(plan, screen, startup_s=startup, timeout_s=timeout, sink=sink, kills=parse_kills(kill))
    if as_json:
        print_json(result.as_json())
    else:
        _print(result.summary)
        console.print(f"wall time {result.wall_s:.0f} s; {'complete' if result.complete else 'INCOMPLETE (timed out)'}")
    if not result.complete:
        raise typer.Exit(1)


@dataclass(frozen=True)
class SessionResult:
    summary: SessionSummary
    complete: bool
    wall_s: float
    killed: tuple[str, ...]
    pauses_s: tuple[float, ...] = ()  # wall seconds the clock stood still for each restart (otcdesk.pause)
    deal_lines: tuple[str, ...] = ()  # one per RFQ (SessionTally.deal_lines): where two sessions differ

    def as_json(self) -> dict[str, object]:
        return self.summary.as_json() | {"complete": self.complete, "wall_s": round(self.wall_s, 1),
                                         "killed": list(self.killed), "pauses_s": [round(s, 1) for s in self.pauses_s]}


def run_session(plan: SessionPlan, screen: Console, *, startup_s: float, timeout_s: float, sink: bool = False,
                kills: list[tuple[str, float]] | None = None, then: Callable[[Any], None] | None = None) -> SessionResult:
    """One session from an empty namespace to its summary, with a progress display on `screen`.

    `then(runner)`, if given, runs once the session is complete, with its processes still up
    (chaos: replay topics into the running desk); the summary is the one after it, once quiet."""
    from otcdesk.session import SessionRunner

    runner = SessionRunner(get_settings(), plan, startup_s=startup_s, with_sink=sink, kills=kills or [])
    screen.print(f"session: {plan.rfqs} RFQs, seed {plan.seed}, {plan.speed:g}x, namespace {plan.namespace!r}, "
                 f"logs in {runner.log_dir}" + (f", kill -9: {kills}" if kills else ""))
    runner.prepare()
    started = time.monotonic()
    complete = False
    try:
        runner.start()
        complete = _drive(runner, started, timeout_s, screen)
        if complete and then is not None:
            then(runner)
            complete = _drive(runner, started, timeout_s, screen)
    finally:
        runner.stop()
    return SessionResult(runner.tally.summary(), complete, time.monotonic() - started, tuple(runner.killed),
                         tuple(runner.pause.lengths_s), tuple(runner.tally.deal_lines()))


def parse_kills(texts: list[str]) -> list[tuple[str, float]]:
    """`recon@0.5` -> ("recon", 0.5); a one-line UserError for anything else."""
    from streams import STAGES

    kills = []
    for text in texts:
        name, _, share = text.partition("@")
        try:
            at = float(share)
        except ValueError:
            at = -1.0
        if name not in (*STAGES, "feed", "sink") or not 0 <= at <= 1:
            raise UserError(f"--kill wants PROCESS@SHARE with a stage, feed or sink and 0 <= SHARE <= 1, got {text!r}")
        kills.append((name, at))
    return kills


def _drive(runner, started: float, timeout: float, screen: Console) -> bool:  # noqa: ANN001 - SessionRunner
    tally = runner.tally
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=screen, transient=False) as progress:
        boot = progress.add_task("desk starting (stages ready)", total=len(runner.stages))
        sent = progress.add_task("RFQs published", total=len(runner.rfqs))
        answered = progress.add_task("RFQs answered", total=len(runner.rfqs))
        closed = progress.add_task("deals settled+reconciled", total=None)
        quiet_since: float | None = None
        events_then = 0
        while time.monotonic() - started < timeout:
            for line in runner.step():
                progress.console.print(f"[yellow]{line}")
            if progress.tasks[boot].completed < len(runner.stages):
                progress.update(boot, completed=runner.ready_stages())
            progress.update(sent, completed=runner.published)
            progress.update(answered, completed=tally.answered)
            progress.update(closed, completed=tally.closed_deals, total=len(tally.trades) or None)
            if not (runner.published == len(runner.rfqs) and tally.done):
                quiet_since = None
            elif quiet_since is None or tally.events != events_then:
                quiet_since, events_then = time.monotonic(), tally.events
            elif time.monotonic() - quiet_since >= QUIET_S:
                return not runner.with_sink or _drain_sink(runner, progress, started, timeout)
    return False


def _drain_sink(runner, progress: Progress, started: float, timeout: float) -> bool:  # noqa: ANN001
    """With `--sink`: wait until ClickHouse has every record of the session (the sink's lag is 0).

    The feed is stopped first: every deal is closed, and a feed that goes on would keep the sink
    busy with books forever."""
    runner.supervisor.retire("feed")
    task = progress.add_task("sink -> ClickHouse (records left)", total=None)
    while time.monotonic() - started < timeout:
        lag = runner.sink_lag()
        progress.update(task, completed=lag or 0)
        if lag == 0:
            return True
        time.sleep(1.0)
    return False


def _print(s: SessionSummary) -> None:
    rows = [
        ("RFQs / answered", f"{s.rfqs} / {s.answered}"), ("quotes", s.quotes),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in s.outcomes.items())),
        ("deals", s.deals), ("hit ratio (deals / quotes)", s.hit_ratio), ("notional (quote ccy)", s.notional_quote),
        ("hedged %", s.hedged_pct), ("settled", f"{s.settled} ({s.settled_pct} %)"),
        ("failed legs", "; ".join(f"{k} x{v}" for k, v in s.failed_legs.items()) or "none"),
        ("recon", ", ".join(f"{k} {v}" for k, v in s.recon.items())),
        ("breaks by kind", ", ".join(f"{k} {v}" for k, v in s.breaks.items()) or "none"),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in s.faults_injected.items()) or "none"),
        ("deals with faults", s.deals_with_faults),
        ("breaks without a fault", ", ".join(s.breaks_without_fault) or "none"),
        ("desk P&L (quote ccy)", s.desk_pnl_quote),
        ("dead letters", ", ".join(f"{k} {v}" for k, v in s.dead_letters.items()) or "none"),
        ("digest", s.digest),
    ]
    print_table("session summary", ("figure", "value"), rows)
