"""`otcdesk simulate`: a whole seeded desk session with progress bars, then its summary."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from otcdesk.cli.output import console, print_json, print_table
from otcdesk.cli.params import HOUR_S, LAYOUT, SEED, WEEK_S, number, whole
from otcdesk.errors import UserError
from otcdesk.kafka import check_broker
from otcdesk.settings import get_settings
from otcdesk.simulate import NAMESPACE, SessionPlan, SessionSummary

if TYPE_CHECKING:
    from otcdesk.session import SessionRunner

#: Bounds of a session's options (also `otcdesk chaos`): beyond them a run is a typo.
MAX_RFQS = 100_000
MAX_RATE_PER_S = 1_000.0
RFQS = whole(ge=1, le=MAX_RFQS)
RATE = number(gt=0, le=MAX_RATE_PER_S)
STARTUP = number(ge=0, le=HOUR_S)
TIMEOUT = number(gt=0, le=WEEK_S)


def parse_speed(text: str) -> float | None:
    """`max` (as fast as the CPUs allow) -> None; a positive number -> that factor."""
    if text.strip().lower() == "max":
        return None
    try:
        return float(text)
    except ValueError:
        raise UserError(f"--speed must be 'max' or a number, got {text!r}") from None


def simulate(
    rfqs: int = typer.Option(500, "--rfqs", help="RFQs in the session.", callback=RFQS),
    speed: str = typer.Option(
        "max",
        "--speed",
        help="'max' (as fast as the CPUs allow) or a factor of the "
        "wall clock the sources are paced on (600: ten sim minutes a second). Same result.",
    ),
    seed: int = typer.Option(
        None, "--seed", help="Seed of every random choice (default: settings seed).", callback=SEED
    ),
    rate: float = typer.Option(0.02, "--rate", help="Mean RFQ arrivals per sim second (Poisson).", callback=RATE),
    faults: bool = typer.Option(
        True, "--faults/--no-faults", help="Inject venue faults (fees, dropped/duplicate fills)."
    ),
    sink: bool = typer.Option(False, "--sink/--no-sink", help="Also run the ClickHouse sink (for `otcdesk report`)."),
    startup: float = typer.Option(
        10.0,
        "--startup",
        help="With a numeric --speed: wall seconds the processes get to start before the paced clock runs.",
        callback=STARTUP,
    ),
    timeout: float = typer.Option(900.0, "--timeout", help="Give up after this many wall seconds.", callback=TIMEOUT),
    kill: list[str] = typer.Option(
        [],
        "--kill",
        help="Chaos: PROCESS@SHARE, kill -9 PROCESS once SHARE (0-1) of "
        "the RFQs are out (restarted by the supervisor). Repeatable.",
    ),
    namespace: str = typer.Option(NAMESPACE, "--namespace", help="Topic/group prefix of the session (wiped first)."),
    layout: str = typer.Option(
        None,
        "--layout",
        help="Stage processes: per-stage, offices or desks (default: settings layout). Same result.",
        callback=LAYOUT,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    expect: Path = typer.Option(
        None,
        "--expect",
        help="The --json output of an earlier run: exit 1 unless this run "
        "is the same session, naming the first deal line that differs.",
    ),
) -> None:
    """Run the desk on seeded RFQs until every deal is settled or failed and reconciled."""
    expected = _expected(expect) if expect is not None else None
    settings = get_settings()
    plan = SessionPlan(
        seed=settings.seed if seed is None else seed,
        speed=parse_speed(speed),
        rfqs=rfqs,
        rate_per_s=rate,
        faults=faults,
        namespace=namespace,
    )
    screen = Console(stderr=True) if as_json else console  # --json: stdout carries the JSON only
    result = run_session(
        plan, screen, startup_s=startup, timeout_s=timeout, sink=sink, kills=parse_kills(kill), layout=layout
    )
    if as_json:
        print_json(result.as_json())
    else:
        _print(result.summary)
        console.print(f"wall time {result.wall_s:.0f} s; {'complete' if result.complete else 'INCOMPLETE (timed out)'}")
    if not result.complete:
        raise typer.Exit(1)
    if expected is not None:
        difference = result.difference_from(expected)
        if difference is not None:
            typer.echo(f"not the session of {expect}: {difference}", err=True)  # unwrapped: a log greps it
            raise typer.Exit(1)
        typer.echo(f"the same session as {expect} (digest {result.summary.digest})", err=True)


def _expected(path: Path) -> dict[str, Any]:
    """An earlier run's --json output, read before the session starts (a bad file fails at once)."""
    try:
        expected = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"--expect {path}: not the --json output of otcdesk simulate ({exc})") from exc
    if not isinstance(expected, dict) or not isinstance(expected.get("deal_lines"), list) or "digest" not in expected:
        raise UserError(f"--expect {path}: not the --json output of otcdesk simulate (no digest and deal lines)")
    return expected


@dataclass(frozen=True)
class SessionResult:
    summary: SessionSummary
    complete: bool
    wall_s: float
    killed: tuple[str, ...]
    restarts: int = 0  # processes the supervisor started again (killed or crashed)
    recover_s: tuple[float, ...] = ()  # per kill: wall seconds until the process published again
    deal_lines: tuple[str, ...] = ()  # one per RFQ (SessionTally.deal_lines): where two sessions differ

    def as_json(self) -> dict[str, object]:
        return self.summary.as_json() | {
            "complete": self.complete,
            "wall_s": round(self.wall_s, 1),
            "killed": list(self.killed),
            "restarts": self.restarts,
            "recover_s": [round(s, 1) for s in self.recover_s],
            "deal_lines": list(self.deal_lines),
        }

    def difference_from(self, expected: dict[str, Any]) -> str | None:
        """None if `expected` (another run's `as_json`) is the same session, else what differs
        first: a deal line, or the digest (a total the deal lines do not cover)."""
        other = replace(self, deal_lines=tuple(map(str, expected["deal_lines"])))
        line = self.first_difference(other)
        if line is not None:
            return f"first differing deal line:\n  {line}"
        if expected["digest"] != self.summary.digest:
            return f"digest {self.summary.digest} vs {expected['digest']} (every deal line the same)"
        return None

    def first_difference(self, other: SessionResult) -> str | None:
        """The first deal line that differs from `other`'s (None: every line is the same)."""
        for mine, theirs in zip(self.deal_lines, other.deal_lines, strict=False):
            if mine != theirs:
                return f"{mine}\n  vs {theirs}"
        return None if len(self.deal_lines) == len(other.deal_lines) else "a different number of RFQs"


def run_session(
    plan: SessionPlan,
    screen: Console,
    *,
    startup_s: float,
    timeout_s: float,
    sink: bool = False,
    kills: list[tuple[str, float]] | None = None,
    then: Callable[[Any], None] | None = None,
    layout: str | None = None,
) -> SessionResult:
    """One session from an empty namespace to its summary, with a progress display on `screen`;
    its stages placed in processes by `layout` (default: the settings').

    `then(runner)`, if given, runs once the session is complete, with its processes still up
    (chaos: replay topics into the running desk); the summary is the one after it, once quiet."""
    from otcdesk.session import SessionRunner

    settings = get_settings()
    check_broker(settings)  # one line now, not a session that cannot start
    if layout:
        settings = settings.model_copy(update={"layout": layout})
    runner = SessionRunner(settings, plan, startup_s=startup_s, with_sink=sink, kills=kills or [])
    pace = "full speed" if plan.speed is None else f"{plan.speed:g}x"
    screen.print(
        f"session: {plan.rfqs} RFQs, seed {plan.seed}, {pace}, namespace {plan.namespace!r}, "
        f"logs in {runner.log_dir}" + (f", kill -9: {kills}" if kills else "")
    )
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
    restarts = sum(child.restarts for child in runner.supervisor.children)
    return SessionResult(
        runner.tally.summary(),
        complete,
        time.monotonic() - started,
        tuple(runner.killed),
        restarts,
        tuple(runner.recover_s),
        tuple(runner.tally.deal_lines()),
    )


def parse_kills(texts: list[str]) -> list[tuple[str, float]]:
    """`recon@0.5` -> ("recon", 0.5); a one-line UserError for anything else. PROCESS is a stage
    process of some layout (`streams.LAYOUTS`), the feed or the sink; the session checks that its
    layout has it."""
    from streams import LAYOUTS

    processes = {name for layout in LAYOUTS.values() for name in layout} | {"feed", "sink"}
    kills = []
    for text in texts:
        name, _, share = text.partition("@")
        try:
            at = float(share)
        except ValueError:
            at = -1.0
        if name not in processes or not math.isfinite(at) or not 0 <= at <= 1:
            raise UserError(
                f"--kill wants PROCESS@SHARE with a stage process, feed or sink and 0 <= SHARE <= 1, got {text!r:.80}"
            )
        kills.append((name, at))
    return kills


def _drive(runner: SessionRunner, started: float, timeout: float, screen: Console) -> bool:
    """Step the session until every producer has ended its streams (its result is then final)."""
    tally = runner.tally
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=screen, transient=False) as progress:
        boot = progress.add_task("desk starting (stages ready)", total=len(runner.stages))
        sent = progress.add_task("RFQs published", total=len(runner.rfqs))
        answered = progress.add_task("RFQs answered", total=len(runner.rfqs))
        closed = progress.add_task("deals settled+reconciled", total=None)
        desk = progress.add_task("desk time", total=None)
        while time.monotonic() - started < timeout:
            for line in runner.step():
                progress.console.print(f"[yellow]{line}")
            progress.update(boot, completed=runner.ready_stages())
            progress.update(sent, completed=runner.published)
            progress.update(answered, completed=tally.answered)
            progress.update(closed, completed=tally.closed_deals, total=len(tally.trades) or None)
            desk_us = runner.desk_time_us()
            if desk_us is not None:
                progress.update(desk, description=f"desk time {_stamp(desk_us)}")
            if runner.ended:
                progress.update(desk, description="desk time: every stream ended")
                return tally.done and (not runner.with_sink or _drain_sink(runner, progress, started, timeout))
    return False


def _stamp(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _drain_sink(runner: SessionRunner, progress: Progress, started: float, timeout: float) -> bool:
    """With `--sink`: wait until ClickHouse has every record of the session (the sink's lag is 0)."""
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
        ("RFQs / answered", f"{s.rfqs} / {s.answered}"),
        ("quotes", s.quotes),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in s.outcomes.items())),
        ("deals", s.deals),
        ("hit ratio (deals / quotes)", s.hit_ratio),
        ("notional (quote ccy)", s.notional_quote),
        ("hedged %", s.hedged_pct),
        ("settled", f"{s.settled} ({s.settled_pct} %)"),
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
