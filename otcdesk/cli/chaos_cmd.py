"""`otcdesk chaos`: fault scenarios on the real stack, judged by a clean run of the same seed.

A seeded session is a function of its seed (`otcdesk simulate`), so the strongest invariant a
fault can be held to is "the same session as without it": same outcome for every RFQ, same
trades, hedges, settlements and reconciliation, i.e. the same digest. Nothing lost (a missing
event changes a line), nothing doubled (a second trade, fill or result changes one too).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console

from otcdesk.chaos.figures import Figures
from otcdesk.chaos.session_faults import ReplayCheck, check_invariants, event_ids, kill_schedule, summary_differences
from otcdesk.cli.output import console, print_json, print_table
from otcdesk.cli.params import HOUR_S, LAYOUT, MAX_SPEED, SEED, WEEK_S, number, whole
from otcdesk.cli.simulate_cmd import RATE, RFQS, STARTUP, TIMEOUT, SessionResult, parse_kills, parse_speed, run_session
from otcdesk.settings import get_settings
from otcdesk.simulate import NAMESPACE, SessionPlan
from streams import stage_processes

app = typer.Typer(help="Fault scenarios on the real stack (docs/reliability.md).", no_args_is_help=True)


def restart_safe(layout: str) -> list[str]:
    """The processes of a session in `layout` that come back from kill -9 with nothing lost: every
    one (docs/reliability.md, "What a restart keeps")."""
    return [*stage_processes(layout), "feed"]


EVENTS = whole(ge=1, le=10_000_000)
EVENT_RATE = number(ge=1, le=1_000_000)
DOWN = number(ge=0, le=HOUR_S)


@app.command("kill")
def kill(
    stages: str = typer.Option(
        "",
        "--stages",
        help="Comma separated processes to kill -9 in turn (default: every "
        "stage process of the layout, then the feed).",
    ),
    layout: str = typer.Option(
        None,
        "--layout",
        help="Stage processes: per-stage, offices or desks (default: settings layout).",
        callback=LAYOUT,
    ),
    rfqs: int = typer.Option(60, "--rfqs", help="RFQs per session.", callback=RFQS),
    seed: int = typer.Option(
        None, "--seed", help="Seed of both sessions and of the kill moments (default: settings seed).", callback=SEED
    ),
    rounds: int = typer.Option(
        1, "--rounds", help="Kills per process, each at a seeded moment.", callback=whole(ge=1, le=100)
    ),
    rate: float = typer.Option(0.02, "--rate", help="Mean RFQ arrivals per sim second.", callback=RATE),
    speed: str = typer.Option("max", "--speed", help="'max' or a pacing factor (otcdesk simulate --speed)."),
    startup: float = typer.Option(
        10.0, "--startup", help="With a numeric --speed: wall seconds to start.", callback=STARTUP
    ),
    timeout: float = typer.Option(
        900.0, "--timeout", help="Give up a session after this many wall seconds.", callback=TIMEOUT
    ),
    namespace: str = typer.Option(NAMESPACE, "--namespace", help="Topic/group prefix of the sessions (wiped first)."),
    as_json: bool = typer.Option(False, "--json", help="Print both summaries and the verdict as JSON."),
) -> None:
    """A clean session, then the same seed with each process killed (-9) at seeded moments: same
    digest, and the lifecycle invariants on the faulted session's topics?"""
    settings = get_settings()
    layout = layout or settings.layout
    names = [n.strip() for n in stages.split(",") if n.strip()] or restart_safe(layout)
    seed = settings.seed if seed is None else seed
    kills = parse_kills([f"{name}@{at}" for name, at in kill_schedule(names, seed, rounds)])
    plan = SessionPlan(seed=seed, speed=parse_speed(speed), rfqs=rfqs, rate_per_s=rate, namespace=namespace)
    screen = Console(stderr=True) if as_json else console
    clean = run_session(plan, screen, startup_s=startup, timeout_s=timeout, layout=layout)
    faulted = run_session(plan, screen, startup_s=startup, timeout_s=timeout, kills=kills, layout=layout)
    scoped = settings.model_copy(update={"namespace": namespace, "seed": seed})
    invariants = check_invariants(scoped, (r.rfq_id for r in plan.schedule(scoped)))
    differences = session_differences(clean, faulted)
    same = clean.complete and faulted.complete and not differences and invariants.hold
    Figures(
        "kill",
        faults=len(kills),
        processed=sum(map(len, event_ids(scoped).values())),
        lost=len(invariants.without_outcome) + max(0, clean.summary.deals - faulted.summary.deals),
        duplicated=len(invariants.booked_twice) + len(invariants.two_outcomes),
        recover_s=list(faulted.recover_s),
        detail={
            "same_session": same,
            "digests": [clean.summary.digest, faulted.summary.digest],
            "wall_s": [round(clean.wall_s), round(faulted.wall_s)],
        },
    ).save(settings.state_dir)
    if as_json:
        differ = [
            {"clean": a, "faulted": b} for a, b in zip(clean.deal_lines, faulted.deal_lines, strict=False) if a != b
        ]
        print_json(
            {
                "same": same,
                "kills": kills,
                "invariants": asdict(invariants) | {"hold": invariants.hold},
                "differences": differences,
                "deals_differ": differ,
                "clean": clean.as_json(),
                "faulted": faulted.as_json(),
            }
        )
    else:
        console.print(f"invariants: {'hold' if invariants.hold else asdict(invariants)}")
        rows = [
            (field, getattr(clean.summary, field), getattr(faulted.summary, field))
            for field in ("answered", "deals", "settled", "recon", "breaks", "desk_pnl_quote", "digest")
        ]
        rows.append(("wall s", f"{clean.wall_s:.0f}", f"{faulted.wall_s:.0f}"))
        rows.append(
            ("restarts", "-", f"{faulted.restarts}, back after {', '.join(f'{s:.0f}' for s in faulted.recover_s)} s")
        )
        print_table(
            f"kill -9 of {', '.join(faulted.killed)}: {'SAME session' if same else 'DIFFERENT'}",
            ("figure", "clean", "with kills"),
            rows,
        )
    if not same:
        raise typer.Exit(1)


def session_differences(clean: SessionResult, faulted: SessionResult) -> list[str]:
    """What differs between two runs of one seed (`summary_differences`), dead letters compared by
    reason: a record refused once is refused again wherever it comes again (at a new offset)."""
    reasons_differ = set(clean.summary.dead_letters) != set(faulted.summary.dead_letters)
    return summary_differences(clean.summary, faulted.summary, clean.deal_lines, faulted.deal_lines) + (
        ["dead_letters"] if reasons_differ else []
    )


@app.command("replay")
def replay(
    rfqs: int = typer.Option(30, "--rfqs", help="RFQs of the session.", callback=RFQS),
    seed: int = typer.Option(
        None, "--seed", help="Seed of the session and of the replay's order (default: settings seed).", callback=SEED
    ),
    share: float = typer.Option(
        0.3, "--share", help="Share of each partition re-published.", callback=number(ge=0.01, le=1)
    ),
    speed: str = typer.Option("max", "--speed", help="'max' or a pacing factor (otcdesk simulate --speed)."),
    startup: float = typer.Option(
        10.0, "--startup", help="With a numeric --speed: wall seconds to start.", callback=STARTUP
    ),
    timeout: float = typer.Option(900.0, "--timeout", help="Give up after this many wall seconds.", callback=TIMEOUT),
    namespace: str = typer.Option(NAMESPACE, "--namespace", help="Topic/group prefix of the session (wiped first)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """A session, then a slice of every lifecycle topic published again (duplicates, out of order)
    while the desk runs: the same summary, and no event id the desk had not written before?"""
    settings = get_settings()
    seed = settings.seed if seed is None else seed
    plan = SessionPlan(seed=seed, speed=parse_speed(speed), rfqs=rfqs, namespace=namespace)
    check = ReplayCheck(seed, share)
    screen = Console(stderr=True) if as_json else console
    result = run_session(plan, screen, startup_s=startup, timeout_s=timeout, then=check)
    new_ids = check.new_ids(settings.model_copy(update={"namespace": namespace})) if check.before else {}
    changed = check.changed(result.summary)
    same = result.complete and not changed and not any(n for topic, n in new_ids.items() if topic != "dlq")
    Figures(
        "replay",
        faults=check.replayed,
        processed=sum(map(len, check.ids_before.values())),
        lost=len(changed),
        duplicated=sum(n for topic, n in new_ids.items() if topic != "dlq"),
        recover_s=[check.drain_s],
        detail={"same_results": same},
    ).save(settings.state_dir)
    verdict = {
        "same": same,
        "changed": changed,
        "replayed": check.replayed,
        "drain_s": round(check.drain_s, 1),
        "new_ids": new_ids,
        "before": check.before.as_json() if check.before else None,
        "after": result.as_json(),
    }
    if as_json:
        print_json(verdict)
    else:
        print_table(
            f"replay of {check.replayed} records: {'SAME results' if same else 'DIFFERENT'}",
            ("figure", "value"),
            [(k, v) for k, v in verdict.items() if k not in ("before", "after")]
            + [("digest before / after", f"{check.before.digest if check.before else '-'} / {result.summary.digest}")],
        )
    if not same:
        raise typer.Exit(1)


# -- scenarios 2-5 (otcdesk/chaos/): figures instead of a clean run to compare with ----


def _scratch(scenario: str) -> Path:
    """Where a scenario keeps its throwaway servers and logs: emptied first, kept afterwards."""
    home = get_settings().state_dir / "chaos" / scenario
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return home


def _report(figures: Figures, as_json: bool) -> None:
    path = figures.save(get_settings().state_dir)
    if as_json:
        print_json(figures.as_json())
    else:
        rows = [
            ("runs", figures.runs),
            ("faults injected", figures.faults),
            ("events processed", figures.processed),
            ("lost", figures.lost),
            ("duplicated", figures.duplicated),
            ("time to recover s", ", ".join(f"{s:.1f}" for s in figures.recover_s) or "-"),
            *((k, str(v)) for k, v in figures.detail.items()),
            ("figures", str(path)),
        ]
        print_table(
            f"{figures.scenario}: {'nothing lost, nothing doubled' if figures.ok else 'FAILED'}",
            ("figure", "value"),
            rows,
        )
    if not figures.ok:
        raise typer.Exit(1)


def _say(as_json: bool) -> Callable[[str], None]:
    screen = Console(stderr=True) if as_json else console
    return lambda line: screen.print(line, highlight=False)


@app.command("sink-kill")
def sink_kill_cmd(
    events: int = typer.Option(20_000, "--events", help="RFQ events published beside the kills.", callback=EVENTS),
    kills: int = typer.Option(
        3, "--kills", help="kill -9 at seeded moments, after the worst-moment crash.", callback=whole(ge=0, le=100)
    ),
    rate: float = typer.Option(500.0, "--rate", help="Events published per second.", callback=EVENT_RATE),
    seed: int = typer.Option(7, "--seed", help="Seed of the events and of the kill moments.", callback=SEED),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Scenario 2: the sink killed -9 (first between insert and commit): every event stored once."""
    from otcdesk.chaos import sink_kill

    home = _scratch("sink-kill")
    _report(
        sink_kill.run(
            get_settings(), events=events, kills=kills, rate_per_s=rate, seed=seed, logs=home, say=_say(as_json)
        ),
        as_json,
    )


@app.command("broker-restart")
def broker_restart_cmd(
    rfqs: int = typer.Option(40, "--rfqs", help="RFQs of the session.", callback=RFQS),
    down: float = typer.Option(10.0, "--down", help="Seconds the broker stays stopped.", callback=DOWN),
    at: float = typer.Option(0.4, "--at", help="Share of the RFQs out when it stops.", callback=number(ge=0, le=1)),
    speed: float = typer.Option(60.0, "--speed", help="Sim clock speed factor.", callback=number(ge=1, le=MAX_SPEED)),
    seed: int = typer.Option(7, "--seed", help="Seed of the session.", callback=SEED),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Scenario 3: a throwaway broker stopped and restarted mid-session: every RFQ answered once."""
    from otcdesk.chaos import broker_restart

    _report(
        broker_restart.run(
            get_settings(),
            _scratch("broker-restart"),
            rfqs=rfqs,
            speed=speed,
            at_share=at,
            down_s=down,
            seed=seed,
            say=_say(as_json),
        ),
        as_json,
    )


@app.command("broker-failover")
def broker_failover_cmd(
    rfqs: int = typer.Option(12, "--rfqs", help="RFQs of the session (run twice: clean, then faulted).", callback=RFQS),
    rate: float = typer.Option(0.002, "--rate", help="Mean RFQ arrivals per sim second.", callback=RATE),
    at: float = typer.Option(
        0.4, "--at", help="Share of the RFQs answered when the broker dies.", callback=number(ge=0, le=1)
    ),
    down: float = typer.Option(5.0, "--down", help="Seconds the broker stays dead after the election.", callback=DOWN),
    seed: int = typer.Option(7, "--seed", help="Seed of the session.", callback=SEED),
    timeout: float = typer.Option(
        900.0, "--timeout", help="Give up a session after this many wall seconds.", callback=TIMEOUT
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Scenario 8: the leader of the busiest partitions of a throwaway 3-broker cluster killed -9
    mid-session: the same session as without it, nothing lost or doubled on the topics or in ClickHouse."""
    from otcdesk.chaos import broker_failover

    figures = broker_failover.run(
        get_settings(),
        _scratch("broker-failover"),
        rfqs=rfqs,
        rate=rate,
        at_share=at,
        down_s=down,
        seed=seed,
        say=_say(as_json),
        timeout_s=timeout,
    )
    _report(figures, as_json)
    if not figures.detail["same_session"]:
        _say(as_json)(f"[red]not the same session: {figures.detail['differences']}")
        raise typer.Exit(1)


@app.command("clickhouse-down")
def clickhouse_down_cmd(
    events: int = typer.Option(10_000, "--events", help="RFQ events published across the outage.", callback=EVENTS),
    rate: float = typer.Option(200.0, "--rate", help="Events published per second.", callback=EVENT_RATE),
    down: float = typer.Option(30.0, "--down", help="Seconds ClickHouse stays stopped.", callback=DOWN),
    seed: int = typer.Option(7, "--seed", help="Seed of the events.", callback=SEED),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Scenario 4: a throwaway ClickHouse stopped mid-flow: the sink backs off, catches up, loses nothing."""
    from otcdesk.chaos import clickhouse_down

    _report(
        clickhouse_down.run(
            get_settings(),
            _scratch("clickhouse-down"),
            events=events,
            rate_per_s=rate,
            down_s=down,
            seed=seed,
            say=_say(as_json),
        ),
        as_json,
    )


@app.command("fuzz")
def fuzz_cmd(
    messages: int = typer.Option(
        10_000,
        "--messages",
        help="Malformed messages over the stages' input topics.",
        callback=whole(ge=1, le=1_000_000),
    ),
    rfqs: int = typer.Option(10, "--rfqs", help="RFQs of the normal session beside them.", callback=RFQS),
    seed: int = typer.Option(7, "--seed", help="Seed of the messages and of the session.", callback=SEED),
    timeout: float = typer.Option(
        1800.0, "--timeout", help="Give up after this many wall seconds.", callback=number(ge=1, le=WEEK_S)
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Scenario 5: hostile input on every input topic: all dead-lettered, no stage down, the session served."""
    from otcdesk.chaos import hostile

    figures = hostile.run(
        get_settings(),
        messages=messages,
        rfqs=rfqs,
        seed=seed,
        logs=_scratch("fuzz"),
        say=_say(as_json),
        timeout_s=timeout,
    )
    _report(figures, as_json)
    if figures.detail.get("restarts"):
        _say(as_json)(f"[red]stages exited and were restarted: {figures.detail['restarts']}")
        raise typer.Exit(1)
